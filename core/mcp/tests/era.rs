//! Era detection: a [`ClientSession`] with [`Era::Auto`] (the default)
//! against a stateless 2026-07-28 server and against servers of the
//! `initialize` era that refuse `server/discover` with various errors or
//! ignore it, on a virtual clock; and the forced eras.

use std::time::Duration;

use serde_json::{Map, Value, json};
use wirestate_mcp::schema::{ClientCapabilities, Implementation, LoggingLevel, Tool, version};
use wirestate_mcp::{
    ClientConfig, ClientEvent, ClientPhase, ClientResult, ClientSession, Config, Era, Error,
    ServerSession,
};
use wirestate_testkit::VirtualClock;

/// How the server side treats `server/discover`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Server {
    /// A [`ServerSession`]: it answers (it speaks both eras).
    Modern,
    /// A legacy server answering with this JSON-RPC error code (the
    /// TypeScript SDK: -32601; the Python SDK: -32602; others -32600 or
    /// an "initialize first" error of their own).
    Rejects(i64),
    /// A legacy server that drops a request it does not know.
    Ignores,
    /// A server answering -32022 that lists only `initialize`-era
    /// revisions.
    OnlyLegacyVersions,
}

struct Pair {
    clock: VirtualClock,
    client: ClientSession,
    server: ServerSession,
    mode: Server,
    /// The methods the client sent, in order.
    sent: Vec<String>,
    /// Discoveries the server side dropped (their ids).
    dropped: Vec<Value>,
    events: Vec<ClientEvent>,
}

impl Pair {
    fn new(config: ClientConfig, mode: Server) -> Self {
        let mut server = ServerSession::new(Config::default());
        server.add_tool(Tool::new("t", Map::new()));
        Self {
            clock: VirtualClock::new(),
            client: ClientSession::new(config),
            server,
            mode,
            sent: Vec::new(),
            dropped: Vec::new(),
            events: Vec::new(),
        }
    }

    fn auto(mode: Server) -> Self {
        Self::new(ClientConfig::default(), mode)
    }

    /// Carries messages both ways until both queues are empty.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            let now = self.clock.now();
            while let Some(m) = self.client.poll_message() {
                moved = true;
                let v: Value = serde_json::from_slice(&m).unwrap();
                let method = v["method"].as_str().unwrap_or("").to_owned();
                self.sent.push(method.clone());
                if method != "server/discover" {
                    let _ = self.server.handle_message(now, &m);
                    continue;
                }
                let error = match self.mode {
                    Server::Modern => {
                        let _ = self.server.handle_message(now, &m);
                        continue;
                    }
                    Server::Ignores => {
                        self.dropped.push(v["id"].clone());
                        continue;
                    }
                    Server::Rejects(code) => json!({"code": code, "message": "not now"}),
                    Server::OnlyLegacyVersions => json!({"code": -32022,
                        "message": "Unsupported protocol version",
                        "data": {"supported": ["2025-11-25", "2025-06-18"],
                            "requested": "2026-07-28"}}),
                };
                let answer = json!({"jsonrpc": "2.0", "id": v["id"], "error": error});
                let _ = self
                    .client
                    .handle_message(now, answer.to_string().as_bytes());
            }
            while let Some(m) = self.server.poll_message() {
                moved = true;
                let _ = self.client.handle_message(now, &m);
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            while self.server.poll_event().is_some() {}
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

    fn start(&mut self) {
        let now = self.clock.now();
        self.client
            .initialize(
                now,
                Implementation::new("c", "1"),
                ClientCapabilities::default(),
            )
            .unwrap();
        self.run();
    }

    fn initialized(&mut self) -> &'static str {
        let events = std::mem::take(&mut self.events);
        match events.as_slice() {
            [
                ClientEvent::Initialized {
                    protocol_version, ..
                },
            ] => protocol_version,
            other => panic!("{other:?}"),
        }
    }

    /// `tools/list` works in whichever era was chosen.
    fn lists_tools(&mut self) {
        let id = self.client.list_tools(self.clock.now(), None).unwrap();
        self.run();
        let events = std::mem::take(&mut self.events);
        match events.as_slice() {
            [ClientEvent::Response { request, result }] if *request == id => {
                assert!(
                    matches!(&**result, ClientResult::ListTools(r) if r.tools.len() == 1),
                    "{result:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn detection_is_the_default() {
    assert_eq!(ClientConfig::default().era, Era::Auto);
    assert_eq!(
        ClientConfig::default().discover_timeout,
        Duration::from_secs(5)
    );
    // A shorter request timeout bounds the discovery too.
    let mut config = ClientConfig::default();
    config.jsonrpc.request_timeout = Some(Duration::from_secs(1));
    let mut p = Pair::new(config, Server::Ignores);
    p.start();
    assert_eq!(
        p.client.poll_timeout().unwrap() - p.clock.now(),
        Duration::from_secs(1)
    );
    p.advance(Duration::from_secs(1));
    assert_eq!(p.initialized(), version::LATEST);
}

#[test]
fn a_stateless_server_is_spoken_to_statelessly() {
    let mut p = Pair::auto(Server::Modern);
    p.start();
    assert_eq!(p.initialized(), "2026-07-28");
    assert!(p.client.is_stateless());
    assert_eq!(p.client.phase(), ClientPhase::Ready);
    p.lists_tools();
    // No `initialize` lifecycle at all.
    assert_eq!(p.sent, ["server/discover", "tools/list"]);
    // The era has no ping: the round trip is a discovery.
    let id = p.client.ping(p.clock.now()).unwrap();
    p.run();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::Response { request, result }]
            if *request == id && matches!(**result, ClientResult::Empty)
    ));
    assert_eq!(p.sent[2], "server/discover");
}

#[test]
fn stateless_requests_ask_for_the_configured_log_level() {
    let mut config = ClientConfig::default();
    config.log_level = Some(LoggingLevel::Info);
    let mut c = ClientSession::new(config);
    let now = VirtualClock::new().now();
    c.initialize(
        now,
        Implementation::new("c", "1"),
        ClientCapabilities::default(),
    )
    .unwrap();
    let discover: Value = serde_json::from_slice(&c.poll_message().unwrap()).unwrap();
    assert_eq!(
        discover["params"]["_meta"]["io.modelcontextprotocol/logLevel"],
        "info"
    );
    // Without one, no level is asked for.
    let mut c = ClientSession::default();
    c.initialize(
        now,
        Implementation::new("c", "1"),
        ClientCapabilities::default(),
    )
    .unwrap();
    let discover: Value = serde_json::from_slice(&c.poll_message().unwrap()).unwrap();
    assert!(
        discover["params"]["_meta"]
            .get("io.modelcontextprotocol/logLevel")
            .is_none()
    );
}

#[test]
fn the_fallback_initialize_is_known_by_the_discoverys_handle() {
    // The transport names a failed POST by its wire id; the application
    // waits on the id initialize() returned.
    let mut p = Pair::auto(Server::Ignores);
    let handle = p
        .client
        .initialize(
            p.clock.now(),
            Implementation::new("c", "1"),
            ClientCapabilities::default(),
        )
        .unwrap();
    let discover = p.client.poll_message().unwrap();
    let discover: Value = serde_json::from_slice(&discover).unwrap();
    assert_eq!(discover["id"], serde_json::to_value(&handle).unwrap());
    assert_eq!(p.client.request_handle(&handle), Some(handle.clone()));
    assert!(p.client.fail_discovery(p.clock.now(), &handle));
    let init = p.client.poll_message().unwrap();
    let init: Value = serde_json::from_slice(&init).unwrap();
    assert_eq!(init["method"], "initialize");
    assert_ne!(init["id"], discover["id"]);
    let wire = serde_json::from_value(init["id"].clone()).unwrap();
    assert_eq!(p.client.request_handle(&wire), Some(handle.clone()));
    // The discovery is no longer pending under its own id.
    assert_eq!(p.client.request_handle(&handle), None);
}

#[test]
fn any_error_to_discover_means_the_initialize_era() {
    // Method not found (TypeScript SDK), invalid request, invalid params
    // (Python SDK), internal error, a server's own "initialize first".
    for code in [-32601, -32600, -32602, -32603, -32000, 1] {
        let mut p = Pair::auto(Server::Rejects(code));
        p.start();
        assert_eq!(p.initialized(), version::LATEST, "code {code}");
        assert!(!p.client.is_stateless());
        p.lists_tools();
        assert_eq!(
            p.sent,
            [
                "server/discover",
                "initialize",
                "notifications/initialized",
                "tools/list"
            ],
            "code {code}"
        );
    }
}

#[test]
fn unsupported_version_listing_only_legacy_revisions_falls_back() {
    let mut p = Pair::auto(Server::OnlyLegacyVersions);
    p.start();
    assert_eq!(p.initialized(), version::LATEST);
    assert!(!p.client.is_stateless());
    assert_eq!(p.sent[..2], ["server/discover", "initialize"]);
}

#[test]
fn a_server_ignoring_discover_is_given_initialize_after_the_timeout() {
    let mut config = ClientConfig::default();
    config.discover_timeout = Duration::from_secs(2);
    let mut p = Pair::new(config, Server::Ignores);
    p.start();
    assert_eq!(p.client.phase(), ClientPhase::Initializing);
    let due = p.client.poll_timeout().unwrap();
    assert_eq!(due - p.clock.now(), Duration::from_secs(2));
    p.advance(Duration::from_millis(1999));
    assert_eq!(p.sent, ["server/discover"]);
    assert!(p.events.is_empty());
    p.advance(Duration::from_millis(1));
    // No notifications/cancelled for the discovery: the server is not
    // initialized and may refuse anything but initialize.
    assert_eq!(
        p.sent,
        ["server/discover", "initialize", "notifications/initialized"]
    );
    assert_eq!(p.initialized(), version::LATEST);
    assert!(!p.client.is_stateless());
    // The discovery answered late (a slow server) is dropped quietly.
    let late = json!({"jsonrpc": "2.0", "id": p.dropped[0], "result": {
        "supportedVersions": ["2026-07-28"], "capabilities": {}}});
    let now = p.clock.now();
    p.client
        .handle_message(now, late.to_string().as_bytes())
        .unwrap();
    p.run();
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert!(!p.client.is_stateless());
    p.lists_tools();
}

#[test]
fn an_http_refusal_falls_back_once() {
    let mut p = Pair::auto(Server::Ignores);
    p.start();
    let id = serde_json::from_value(p.dropped[0].clone()).unwrap();
    // The transport saw 404/405/400 for the discovery's POST.
    assert!(p.client.fail_discovery(p.clock.now(), &id));
    p.run();
    assert_eq!(p.initialized(), version::LATEST);
    // Reported again (a second POST of it failing late): nothing changes.
    assert!(p.client.fail_discovery(p.clock.now(), &id));
    p.run();
    assert!(p.events.is_empty());
    assert_eq!(
        p.sent,
        ["server/discover", "initialize", "notifications/initialized"]
    );
}

#[test]
fn forced_legacy_never_discovers() {
    let mut config = ClientConfig::default();
    config.era = Era::Legacy;
    let mut p = Pair::new(config, Server::Modern);
    p.start();
    assert_eq!(p.initialized(), version::LATEST);
    assert!(!p.client.is_stateless());
    p.lists_tools();
    assert_eq!(
        p.sent,
        ["initialize", "notifications/initialized", "tools/list"]
    );
}

#[test]
fn forced_stateless_does_not_fall_back() {
    let stateless = || {
        let mut c = ClientConfig::default();
        c.era = Era::Stateless;
        c.jsonrpc.request_timeout = Some(Duration::from_secs(30));
        c
    };
    // A modern server: as with Auto.
    let mut p = Pair::new(stateless(), Server::Modern);
    p.start();
    assert_eq!(p.initialized(), "2026-07-28");
    p.lists_tools();
    // A refusal fails the session.
    let mut p = Pair::new(stateless(), Server::Rejects(-32601));
    p.start();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::InitializeFailed(Error::InitializeRefused {
            code: -32601,
            ..
        })]
    ));
    assert_eq!(p.client.phase(), ClientPhase::Failed);
    assert_eq!(p.sent, ["server/discover"]);
    // Only legacy revisions on offer: unsupported.
    let mut p = Pair::new(stateless(), Server::OnlyLegacyVersions);
    p.start();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::InitializeFailed(Error::InitializeRefused {
            code: -32022,
            ..
        })]
    ));
    // Silence: the ordinary request timeout, not the discovery's.
    let mut p = Pair::new(stateless(), Server::Ignores);
    p.start();
    p.advance(Duration::from_secs(29));
    assert!(p.events.is_empty());
    assert_eq!(p.client.phase(), ClientPhase::Initializing);
    p.advance(Duration::from_secs(1));
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::InitializeFailed(Error::InitializeTimedOut)]
    ));
    assert_eq!(p.sent, ["server/discover"]);
    // A transport refusal fails it too.
    let mut p = Pair::new(stateless(), Server::Ignores);
    p.start();
    let id = serde_json::from_value(p.dropped[0].clone()).unwrap();
    assert!(p.client.fail_discovery(p.clock.now(), &id));
    p.run();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::InitializeFailed(
            Error::InitializeRefused { .. }
        )]
    ));
    assert_eq!(p.sent, ["server/discover"]);
}

#[test]
fn era_names() {
    assert_eq!(Era::parse("auto"), Some(Era::Auto));
    assert_eq!(Era::parse("legacy"), Some(Era::Legacy));
    assert_eq!(Era::parse("2026-07-28"), Some(Era::Stateless));
    assert_eq!(Era::parse("stateless"), Some(Era::Stateless));
    assert_eq!(Era::parse("2025-11-25"), Some(Era::Legacy));
    assert_eq!(Era::parse("2024-11-05"), Some(Era::Legacy));
    assert_eq!(Era::parse("1999-01-01"), None);
}
