//! ClientSession against ServerSession: both machines wired through their
//! message queues on a virtual clock, no sockets.

use std::time::Duration;

use serde_json::{Map, json};
use wirestate_jsonrpc::{ErrorCode, RequestId};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, ContentBlock, CreateMessageParams, CreateMessageResult,
    ElicitAction, ElicitParams, ElicitResult, GetPromptResult, Implementation,
    ListChangedCapability, ListRootsResult, LoggingLevel, Prompt, PromptMessage,
    ReadResourceResult, Resource, ResourceContents, Role, Root, SamplingCapability,
    SamplingContent, Tool, version,
};
use wirestate_mcp::{
    ClientConfig, ClientEvent, ClientPhase, ClientResult, ClientSession, Config, Era, Error,
    Pagination, ServerEvent, ServerSession,
};
use wirestate_testkit::VirtualClock;

/// A client that speaks the `initialize` era only (most tests here are
/// about that lifecycle; [`ClientConfig::default`] detects the era, and a
/// [`ServerSession`] speaks both).
fn legacy() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.era = Era::Legacy;
    c
}

/// A client and a server, and the clock.
struct Pair {
    clock: VirtualClock,
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
}

impl Pair {
    fn new(client: ClientConfig, server: Config) -> Self {
        let mut server = ServerSession::new(server);
        for i in 0..5 {
            server.add_tool(Tool::new(format!("tool{i}"), Map::new()));
        }
        server.add_resource(Resource::new("mem://a", "a"));
        server.add_prompt(Prompt {
            name: "greet".into(),
            ..Default::default()
        });
        Self {
            clock: VirtualClock::new(),
            client: ClientSession::new(client),
            server,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn default_pair() -> Self {
        Self::new(legacy(), Config::default())
    }

    /// Carries messages both ways until both queues are empty, collecting
    /// events.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            let now = self.clock.now();
            while let Some(m) = self.client.poll_message() {
                let _ = self.server.handle_message(now, &m);
                moved = true;
            }
            while let Some(m) = self.server.poll_message() {
                let _ = self.client.handle_message(now, &m);
                moved = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        let now = self.clock.advance(by);
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.run();
    }

    fn initialize(&mut self, capabilities: ClientCapabilities) {
        let now = self.clock.now();
        self.client
            .initialize(now, Implementation::new("test-client", "1"), capabilities)
            .unwrap();
        self.run();
        assert_eq!(self.client.phase(), ClientPhase::Ready);
    }

    fn take_client(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    fn take_server(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    fn response(&mut self, request: &RequestId) -> ClientResult {
        let events = self.take_client();
        for e in events {
            if let ClientEvent::Response { request: r, result } = e {
                if &r == request {
                    return *result;
                }
            }
        }
        panic!("no response to {request}");
    }
}

#[test]
fn full_lifecycle() {
    let mut p = Pair::default_pair();
    assert_eq!(p.client.phase(), ClientPhase::New);
    assert!(matches!(
        p.client.list_tools(p.clock.now(), None),
        Err(Error::NotInitialized)
    ));
    p.initialize(ClientCapabilities::default());
    let events = p.take_client();
    let ClientEvent::Initialized {
        protocol_version,
        result,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*protocol_version, version::LATEST);
    assert_eq!(result.server_info.name, "wirestate-mcp");
    assert!(result.capabilities.tools.is_some());
    assert_eq!(p.client.protocol_version(), Some(version::LATEST));
    assert_eq!(p.client.server_info().unwrap().name, "wirestate-mcp");
    // The server saw initialize and then notifications/initialized.
    let server = p.take_server();
    assert!(matches!(server[0], ServerEvent::Initialize { .. }));
    assert!(matches!(server[1], ServerEvent::Initialized));
    assert_eq!(p.server.phase(), wirestate_mcp::Phase::Ready);
    // A second initialize is refused.
    assert!(matches!(
        p.client.initialize(
            p.clock.now(),
            Implementation::new("x", "1"),
            ClientCapabilities::default()
        ),
        Err(Error::AlreadyInitialized)
    ));
    // Ping both ways; the client answers the server's ping by itself.
    let ping = p.client.ping(p.clock.now()).unwrap();
    p.run();
    assert_eq!(p.response(&ping), ClientResult::Empty);
    let server_ping = p.server.ping(p.clock.now()).unwrap();
    p.run();
    assert!(
        p.take_server()
            .iter()
            .any(|e| matches!(e, ServerEvent::Pong { request } if *request == server_ping))
    );
    // Resources, prompts, setLevel, subscribe and the notifications.
    let list = p.client.list_resources(p.clock.now(), None).unwrap();
    p.run();
    let ClientResult::ListResources(r) = p.response(&list) else {
        panic!()
    };
    assert_eq!(r.resources[0].uri, "mem://a");
    let read = p.client.read_resource(p.clock.now(), "mem://a").unwrap();
    p.run();
    let id = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::ReadResource { id, params } => {
                assert_eq!(params.uri, "mem://a");
                Some(id)
            }
            _ => None,
        })
        .unwrap();
    p.server
        .respond_read_resource(
            &id,
            ReadResourceResult {
                contents: vec![ResourceContents::text("mem://a", None, "A")],
                ..Default::default()
            },
        )
        .unwrap();
    p.run();
    let ClientResult::ReadResource(r) = p.response(&read) else {
        panic!()
    };
    assert_eq!(r.contents[0].uri(), "mem://a");
    let prompts = p.client.list_prompts(p.clock.now(), None).unwrap();
    p.run();
    let ClientResult::ListPrompts(r) = p.response(&prompts) else {
        panic!()
    };
    assert_eq!(r.prompts[0].name, "greet");
    let get = p.client.get_prompt(p.clock.now(), "greet", None).unwrap();
    p.run();
    let id = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::GetPrompt { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    p.server
        .respond_get_prompt(
            &id,
            GetPromptResult {
                messages: vec![PromptMessage::text(Role::User, "hello")],
                ..Default::default()
            },
        )
        .unwrap();
    p.run();
    let ClientResult::GetPrompt(r) = p.response(&get) else {
        panic!()
    };
    assert_eq!(r.messages[0].content.as_text(), Some("hello"));
    let level = p
        .client
        .set_level(p.clock.now(), LoggingLevel::Warning)
        .unwrap();
    p.run();
    assert_eq!(p.response(&level), ClientResult::Empty);
    let sub = p.client.subscribe(p.clock.now(), "mem://a").unwrap();
    p.run();
    assert_eq!(p.response(&sub), ClientResult::Empty);
    assert!(
        !p.server
            .log(LoggingLevel::Info, None, json!("quiet"))
            .unwrap()
    );
    assert!(
        p.server
            .log(LoggingLevel::Error, Some("db"), json!("loud"))
            .unwrap()
    );
    assert!(p.server.resource_updated("mem://a"));
    p.server.add_tool(Tool::new("late", Map::new()));
    p.run();
    let events = p.take_client();
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Log(l)
        if l.level == LoggingLevel::Error && l.data == json!("loud"))));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::ResourceUpdated { uri } if uri == "mem://a"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::ToolsListChanged))
    );
    // The transport closes: nothing pending is left.
    let pending = p.client.ping(p.clock.now()).unwrap();
    p.client.handle_close();
    assert_eq!(
        p.client.poll_event(),
        Some(ClientEvent::Closed {
            abandoned: vec![pending]
        })
    );
}

#[test]
fn version_negotiation() {
    // An older revision proposed is answered with the same.
    let mut config = legacy();
    config.protocol_version = version::V2025_03_26;
    let mut p = Pair::new(config, Config::default());
    p.initialize(ClientCapabilities::default());
    assert_eq!(p.client.protocol_version(), Some(version::V2025_03_26));

    // The server picks another supported revision: accepted.
    let mut c = ClientSession::new(legacy());
    let now = VirtualClock::new().now();
    let id = c
        .initialize(
            now,
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    c.poll_message().unwrap();
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "serverInfo": {"name": "old", "version": "0"}}});
    c.handle_message(now, answer.to_string().as_bytes())
        .unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Initialized {
            protocol_version: "2024-11-05",
            ..
        })
    ));
    let initialized: serde_json::Value =
        serde_json::from_slice(&c.poll_message().unwrap()).unwrap();
    assert_eq!(initialized["method"], "notifications/initialized");

    // A revision we do not speak: refused with a typed error, and nothing
    // is sent.
    let mut c = ClientSession::new(legacy());
    let id = c
        .initialize(
            now,
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    c.poll_message().unwrap();
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": {
        "protocolVersion": "2099-01-01", "capabilities": {},
        "serverInfo": {"name": "new", "version": "0"}}});
    c.handle_message(now, answer.to_string().as_bytes())
        .unwrap();
    let Some(ClientEvent::InitializeFailed(e)) = c.poll_event() else {
        panic!()
    };
    assert_eq!(
        e,
        Error::UnsupportedVersion {
            version: "2099-01-01".into()
        }
    );
    assert_eq!(e.kind(), wirestate_machine::ErrorKind::Protocol);
    assert_eq!(c.phase(), ClientPhase::Failed);
    assert!(c.poll_message().is_none());
    assert!(matches!(
        c.list_tools(now, None),
        Err(Error::NotInitialized)
    ));

    // A client restricted to one revision refuses the server's latest.
    let mut config = legacy();
    config.protocol_version = "2023-01-01";
    config.supported_versions = vec![version::V2025_06_18];
    let mut p = Pair::new(config, Config::default());
    p.client
        .initialize(
            p.clock.now(),
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    p.run();
    assert_eq!(p.client.phase(), ClientPhase::Failed);
    assert!(
        p.take_client()
            .iter()
            .any(|e| matches!(e, ClientEvent::InitializeFailed(Error::UnsupportedVersion { version }) if version == version::LATEST))
    );
    // An error answer to initialize.
    let mut c = ClientSession::new(legacy());
    let id = c
        .initialize(
            now,
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    let answer = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "no"}});
    c.handle_message(now, answer.to_string().as_bytes())
        .unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::InitializeFailed(Error::InitializeRefused {
            code: -32602,
            ..
        }))
    ));
    // initialize cannot be cancelled.
    let mut c = ClientSession::new(legacy());
    let id = c
        .initialize(
            now,
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    assert_eq!(c.cancel(&id, None), Err(Error::CannotCancel));
}

#[test]
fn pagination() {
    let mut server = Config::default();
    server.page_size = 2;
    let mut p = Pair::new(legacy(), server);
    p.initialize(ClientCapabilities::default());
    p.take_client();
    let mut names = Vec::new();
    let mut pages = Pagination::new(10);
    let mut cursor: Option<String> = None;
    loop {
        let id = p
            .client
            .list_tools(p.clock.now(), cursor.as_deref())
            .unwrap();
        p.run();
        let ClientResult::ListTools(page) = p.response(&id) else {
            panic!()
        };
        names.extend(page.tools.into_iter().map(|t| t.name));
        cursor = pages.next(page.next_cursor.as_deref()).unwrap();
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(names, ["tool0", "tool1", "tool2", "tool3", "tool4"]);
    assert_eq!(pages.pages(), 3);
    // An invalid cursor is the server's -32602.
    let id = p.client.list_tools(p.clock.now(), Some("zz")).unwrap();
    p.run();
    assert!(p.take_client().iter().any(|e| matches!(e,
        ClientEvent::RequestFailed { request, error } if *request == id && error.code == ErrorCode::INVALID_PARAMS)));
    // The helper's bounds.
    let mut pages = Pagination::new(2);
    assert_eq!(pages.next(Some("a")).unwrap(), Some("a".into()));
    assert_eq!(pages.next(Some("b")), Err(Error::TooManyPages { max: 2 }));
}

#[test]
fn tool_call() {
    let mut p = Pair::default_pair();
    p.initialize(ClientCapabilities::default());
    let mut args = Map::new();
    args.insert("x".into(), json!(1));
    let id = p
        .client
        .call_tool(p.clock.now(), "tool1", Some(args.clone()))
        .unwrap();
    p.run();
    let (sid, params) = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::CallTool { id, params } => Some((id, params)),
            _ => None,
        })
        .unwrap();
    assert_eq!(params.name, "tool1");
    assert_eq!(params.arguments, Some(args));
    assert!(params.meta.unwrap().contains_key("progressToken"));
    p.server
        .respond_call_tool(&sid, CallToolResult::text("done"))
        .unwrap();
    p.run();
    let ClientResult::CallTool(r) = p.response(&id) else {
        panic!()
    };
    assert_eq!(r.content[0].as_text(), Some("done"));
    // An unknown tool: the server's -32602.
    let id = p.client.call_tool(p.clock.now(), "nope", None).unwrap();
    p.run();
    assert!(p.take_client().iter().any(|e| matches!(e,
        ClientEvent::RequestFailed { request, error } if *request == id && error.code == ErrorCode::INVALID_PARAMS)));
    assert_eq!(p.client.pending_requests(), 0);
}

#[test]
fn progress_extends_the_deadline() {
    let mut client = legacy();
    client.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    client.max_total_timeout = Some(Duration::from_secs(25));
    let mut p = Pair::new(client, Config::default());
    p.initialize(ClientCapabilities::default());
    let start = p.clock.now();
    let id = p.client.call_tool(start, "tool0", None).unwrap();
    p.run();
    assert_eq!(
        p.client.deadline(&id),
        Some(start + Duration::from_secs(10))
    );
    let (sid, params) = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::CallTool { id, params } => Some((id, params)),
            _ => None,
        })
        .unwrap();
    let token = wirestate_mcp::schema::progress_token(params.meta.as_ref()).unwrap();
    // Progress at 8 s moves the deadline to 18 s.
    p.advance(Duration::from_secs(8));
    p.server
        .notify_progress(&token, 1.0, Some(3.0), Some("one".into()))
        .unwrap();
    p.run();
    assert!(p.take_client().iter().any(|e| matches!(e,
        ClientEvent::Progress { request: Some(r), params } if *r == id && params.progress == 1.0)));
    assert_eq!(
        p.client.deadline(&id),
        Some(start + Duration::from_secs(18))
    );
    // 12 s: without the progress this would have timed out.
    p.advance(Duration::from_secs(4));
    assert!(p.client.is_pending(&id));
    // Progress at 16 s would give 26 s, but the total caps it at 25 s.
    p.advance(Duration::from_secs(4));
    p.server.notify_progress(&token, 2.0, None, None).unwrap();
    p.run();
    assert_eq!(
        p.client.deadline(&id),
        Some(start + Duration::from_secs(25))
    );
    // The answer at 22 s arrives.
    p.advance(Duration::from_secs(6));
    p.server
        .respond_call_tool(&sid, CallToolResult::text("slow"))
        .unwrap();
    p.run();
    assert!(matches!(p.response(&id), ClientResult::CallTool(_)));
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn cancellation_race_drops_the_late_response() {
    let mut p = Pair::default_pair();
    p.initialize(ClientCapabilities::default());
    let id = p.client.call_tool(p.clock.now(), "tool2", None).unwrap();
    p.run();
    let sid = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::CallTool { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    // The server answers while the client cancels: both messages cross.
    p.server
        .respond_call_tool(&sid, CallToolResult::text("too late"))
        .unwrap();
    let answer = p.server.poll_message().unwrap();
    p.client.cancel(&id, Some("user")).unwrap();
    assert!(!p.client.is_pending(&id));
    let cancel = p.client.poll_message().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&cancel).unwrap();
    assert_eq!(v["method"], "notifications/cancelled");
    assert_eq!(v["params"]["requestId"], json!(id));
    assert_eq!(v["params"]["reason"], "user");
    let now = p.clock.now();
    p.client.handle_message(now, &answer).unwrap();
    assert_eq!(p.client.poll_event(), None, "the late response is dropped");
    assert_eq!(p.client.stats().late_responses, 1);
    // The server, already done, ignores the cancellation.
    p.server.handle_message(now, &cancel).unwrap();
    assert_eq!(p.server.poll_event(), None);
    // Cancelling first: the server forgets the request and never answers.
    let id = p.client.call_tool(p.clock.now(), "tool3", None).unwrap();
    p.run();
    let sid = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::CallTool { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    p.client.cancel(&id, None).unwrap();
    p.run();
    assert!(
        p.take_server()
            .iter()
            .any(|e| matches!(e, ServerEvent::Cancelled { id, .. } if *id == sid))
    );
    p.server
        .respond_call_tool(&sid, CallToolResult::text("dropped"))
        .unwrap();
    assert!(p.server.poll_message().is_none());
    // Cancelling twice is a usage error.
    assert!(p.client.cancel(&id, None).is_err());
}

#[test]
fn timeout() {
    let mut client = legacy();
    client.jsonrpc.request_timeout = Some(Duration::from_secs(5));
    let mut p = Pair::new(client, Config::default());
    p.initialize(ClientCapabilities::default());
    p.take_client();
    let id = p.client.call_tool(p.clock.now(), "tool4", None).unwrap();
    p.run();
    let sid = p
        .take_server()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::CallTool { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    p.advance(Duration::from_secs(4));
    assert!(p.take_client().is_empty());
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.take_client(),
        vec![ClientEvent::RequestTimedOut {
            request: id.clone()
        }]
    );
    assert!(
        p.take_server()
            .iter()
            .any(|e| matches!(e, ServerEvent::Cancelled { id, reason } if *id == sid && reason.as_deref() == Some("timed out")))
    );
    assert_eq!(p.client.poll_timeout(), None);
    // A per-call timeout.
    let id = p
        .client
        .call_tool_with(p.clock.now(), "tool4", None, Some(Duration::from_secs(1)))
        .unwrap();
    p.advance(Duration::from_secs(1));
    assert!(
        p.take_client()
            .iter()
            .any(|e| matches!(e, ClientEvent::RequestTimedOut { request } if *request == id))
    );
    // An unanswered initialize fails the session.
    let mut c = ClientSession::new(legacy());
    let mut clock = VirtualClock::new();
    c.initialize(
        clock.now(),
        Implementation::new("c", "1"),
        ClientCapabilities::default(),
    )
    .unwrap();
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(clock.advance_to(at));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::InitializeFailed(Error::InitializeTimedOut))
    );
    assert_eq!(c.phase(), ClientPhase::Failed);
}

#[test]
fn server_to_client_requests() {
    let mut p = Pair::default_pair();
    let caps = ClientCapabilities {
        roots: Some(ListChangedCapability::list_changed()),
        sampling: Some(SamplingCapability::default()),
        elicitation: Some(Default::default()),
        ..Default::default()
    };
    p.initialize(caps);
    p.take_client();
    p.take_server();
    // roots/list
    let r = p.server.list_roots(p.clock.now()).unwrap();
    p.run();
    let events = p.take_client();
    let Some(ClientEvent::ListRoots { id }) = events.first() else {
        panic!("{events:?}")
    };
    p.client
        .respond_roots(
            id,
            ListRootsResult {
                roots: vec![Root {
                    uri: "file:///tmp".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .unwrap();
    p.run();
    assert!(p.take_server().iter().any(|e| matches!(e,
        ServerEvent::Roots { request, result } if *request == r && result.roots[0].uri == "file:///tmp")));
    // sampling/createMessage
    let params = CreateMessageParams {
        max_tokens: 10,
        ..Default::default()
    };
    let r = p.server.create_message(p.clock.now(), &params).unwrap();
    p.run();
    let events = p.take_client();
    let Some(ClientEvent::CreateMessage { id, params }) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(params.max_tokens, 10);
    p.client
        .respond_create_message(
            id,
            CreateMessageResult {
                role: Role::Assistant,
                content: SamplingContent::One(Box::new(ContentBlock::text("hi"))),
                model: "m".into(),
                stop_reason: None,
                meta: None,
                extra: Map::new(),
            },
        )
        .unwrap();
    p.run();
    assert!(p.take_server().iter().any(|e| matches!(e,
        ServerEvent::Sampled { request, result } if *request == r && result.model == "m")));
    // elicitation/create, answered with an error first by mistake twice.
    let r = p
        .server
        .elicit(
            p.clock.now(),
            &ElicitParams {
                message: "name?".into(),
                ..Default::default()
            },
        )
        .unwrap();
    p.run();
    let events = p.take_client();
    let Some(ClientEvent::Elicit { id, params }) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(params.message, "name?");
    let id = id.clone();
    p.client
        .respond_elicit(
            &id,
            ElicitResult {
                action: ElicitAction::Decline,
                content: None,
                meta: None,
                extra: Map::new(),
            },
        )
        .unwrap();
    assert!(matches!(
        p.client.respond_roots(&id, ListRootsResult::default()),
        Err(Error::NotAnswerable { .. })
    ));
    p.run();
    assert!(p.take_server().iter().any(|e| matches!(e,
        ServerEvent::Elicited { request, result } if *request == r && result.action == ElicitAction::Decline)));
    // The server cancels its request: the client's late answer is dropped.
    let r = p.server.list_roots(p.clock.now()).unwrap();
    p.run();
    let Some(ClientEvent::ListRoots { id }) = p.take_client().into_iter().next() else {
        panic!()
    };
    p.server
        .cancel_request(&r, Some("changed my mind"))
        .unwrap();
    p.run();
    assert_eq!(
        p.take_client(),
        vec![ClientEvent::Cancelled {
            id: id.clone(),
            reason: Some("changed my mind".into())
        }]
    );
    p.client
        .respond_roots(&id, ListRootsResult::default())
        .unwrap();
    assert!(p.client.poll_message().is_none());
    // Unknown methods, and capabilities not declared, get -32601.
    let now = p.clock.now();
    for (n, method) in ["x/unknown", "roots/list"].iter().enumerate() {
        let mut c = ClientSession::new(legacy());
        let id = c
            .initialize(
                now,
                Implementation::new("c", "1"),
                ClientCapabilities::default(),
            )
            .unwrap();
        c.poll_message();
        let init = json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": version::LATEST, "capabilities": {},
            "serverInfo": {"name": "s", "version": "0"}}});
        c.handle_message(now, init.to_string().as_bytes()).unwrap();
        c.poll_message();
        let req = json!({"jsonrpc": "2.0", "id": 100 + n, "method": method});
        c.handle_message(now, req.to_string().as_bytes()).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&c.poll_message().unwrap()).unwrap();
        assert_eq!(answer["id"], 100 + n);
        assert_eq!(answer["error"]["code"], -32601);
    }
}
