//! The client session of the `initialize` era, on the JSON-RPC peer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use wirestate_jsonrpc::{
    ErrorCode, ErrorObject, Event as PeerEvent, Notification, Peer, RawJson, Request, RequestId,
};

use crate::error::Error;
use crate::schema::{
    CallToolParams, CallToolResult, CancelledParams, ClientCapabilities, CompleteParams,
    CompleteResult, CreateMessageParams, CreateMessageResult, ElicitAction, ElicitParams,
    ElicitResult, Empty, GetPromptParams, GetPromptResult, Implementation, InitializeParams,
    InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListRootsResult, ListToolsResult, LoggingLevel, LoggingMessageParams, Meta, PaginatedParams,
    ProgressParams, ProgressToken, ReadResourceResult, ServerCapabilities, SetLevelParams,
    UriParams, methods, version,
};
use crate::schema::{
    DiscoverResult, InputRequiredResult, RequestMeta, Tool, stateless_codes, stateless_methods,
};

/// How many ids of server requests it cancelled are remembered, so that
/// the application's late answer to one is dropped quietly.
const CANCELLED_MEMORY: usize = 1024;

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The JSON-RPC peer's limits, and the default timeout of our requests
    /// ([`request_timeout`](wirestate_jsonrpc::Config::request_timeout),
    /// 60 s by default).
    pub jsonrpc: wirestate_jsonrpc::Config,
    /// The revision proposed in `initialize`. Default
    /// [`version::LATEST`].
    pub protocol_version: &'static str,
    /// The revisions accepted when the server answers with another one.
    /// Default [`version::SUPPORTED`].
    pub supported_versions: Vec<&'static str>,
    /// Whether `tools/call`, `resources/read`, `prompts/get` and
    /// `completion/complete` carry a `_meta.progressToken`, so the server
    /// may report progress ([`ClientEvent::Progress`]). Default true.
    pub progress_tokens: bool,
    /// Whether a progress notification moves its request's deadline to
    /// `now` + the request's timeout. Default true.
    pub progress_resets_timeout: bool,
    /// The longest a request may run, however much progress it reports
    /// (counted from when it was sent). `None`: no bound. Default 10 min.
    pub max_total_timeout: Option<Duration>,
    /// Whether [`ClientSession::respond_elicit`] fills the fields an
    /// accepted form answer leaves out with the `default` values of the
    /// server's requested schema (SEP-1034, 2025-11-25: the form is
    /// pre-populated with them, so a user who accepts without touching a
    /// field chose its default). Default true.
    pub elicitation_defaults: bool,
    /// Which era [`ClientSession::initialize`] speaks. Default
    /// [`Era::Auto`]: `server/discover` first, the `initialize` lifecycle
    /// with a server that shows it does not speak 2026-07-28.
    pub era: Era,
    /// [`Era::Auto`]: how long `server/discover` may go unanswered before
    /// the server is taken for one of the `initialize` era (on stdio a
    /// legacy server may ignore a request it does not know). A modern
    /// server that answers later still works: it accepts `initialize`
    /// too. Bounded by the request timeout. Default 5 s.
    pub discover_timeout: Duration,
    /// The stateless era: the log level every request asks for in its
    /// `_meta` (`io.modelcontextprotocol/logLevel`), so the server sends
    /// log notifications with its answers ([`ClientEvent::Log`]); that era
    /// has no `logging/setLevel`, and a request that asks for no level
    /// gets no logs. Default `None`.
    pub log_level: Option<LoggingLevel>,
    /// Streamable HTTP transports: how long to wait before resuming an SSE
    /// stream (a GET with `Last-Event-ID`) when the server sent no
    /// `retry:`. Default 1 s.
    pub sse_retry: Duration,
    /// The longest `retry:` honoured, so a server cannot park a request.
    /// Default 30 s.
    pub sse_max_retry: Duration,
    /// Resumptions of one request's SSE answer in a row that bring no new
    /// event id before the request fails. Default 5.
    pub sse_max_resumes: u32,
}

impl ClientConfig {
    /// The wait before resuming an SSE stream: the server's `retry:`
    /// (milliseconds) bounded by [`sse_max_retry`](Self::sse_max_retry),
    /// else [`sse_retry`](Self::sse_retry).
    pub fn sse_retry_delay(&self, server: Option<u64>) -> Duration {
        server.map_or(self.sse_retry, |ms| {
            Duration::from_millis(ms).min(self.sse_max_retry)
        })
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            jsonrpc: wirestate_jsonrpc::Config::default(),
            protocol_version: version::LATEST,
            supported_versions: version::SUPPORTED.to_vec(),
            progress_tokens: true,
            progress_resets_timeout: true,
            max_total_timeout: Some(Duration::from_secs(600)),
            elicitation_defaults: true,
            era: Era::Auto,
            discover_timeout: Duration::from_secs(5),
            log_level: None,
            sse_retry: Duration::from_secs(1),
            sse_max_retry: Duration::from_secs(30),
            sse_max_resumes: 5,
        }
    }
}

/// Which spec era a [`ClientSession`] speaks ([`ClientConfig::era`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Era {
    /// Detect it (2026-07-28, lifecycle: backward compatibility): send
    /// `server/discover` and speak the stateless era if the answer lists a
    /// revision of [`version::STATELESS`] we speak (after one retry if the
    /// server answers -32022 listing one); fall back to `initialize` on
    /// any other sign — a JSON-RPC error of any code, a result without
    /// such a revision, an HTTP refusal
    /// ([`fail_discovery`](ClientSession::fail_discovery)), or no answer
    /// within [`ClientConfig::discover_timeout`]. When the `initialize`
    /// sent after such a silence is refused, the server was only slow to
    /// start and answered the discovery late: one more discovery, with
    /// the usual timeout, decides.
    #[default]
    Auto,
    /// The `initialize` lifecycle only (2024-11-05 … 2025-11-25).
    Legacy,
    /// The stateless 2026-07-28 era only: `server/discover`, and a server
    /// that does not speak it fails the session
    /// ([`ClientEvent::InitializeFailed`]).
    Stateless,
}

impl Era {
    /// The era named `auto`, `legacy` or a revision (`2026-07-28`, or
    /// one of the `initialize` era such as `2025-11-25`); `stateless` and
    /// `modern` name the 2026-07-28 era too.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            "legacy" => Some(Self::Legacy),
            "stateless" | "modern" => Some(Self::Stateless),
            v if version::STATELESS.contains(&v) => Some(Self::Stateless),
            v if version::SUPPORTED.contains(&v) => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// How a `server/discover` of ours ended.
#[derive(Debug)]
enum Discovery {
    /// A result (which may list no stateless revision we speak).
    Answer(RawJson),
    /// A JSON-RPC error.
    Error(ErrorObject),
    /// Refused outside JSON-RPC (an HTTP status), or not deliverable.
    Refused,
    /// No answer in time.
    Silent,
}

/// Where a [`ClientSession`] is in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientPhase {
    /// Nothing sent yet; call [`ClientSession::initialize`].
    New,
    /// `initialize` sent, waiting for its result.
    Initializing,
    /// The result accepted and `notifications/initialized` sent.
    Ready,
    /// `initialize` failed (an error answer, a timeout, or a revision we
    /// do not speak); only `ping` may still be sent.
    Failed,
}

/// The typed result of one of our requests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientResult {
    /// `tools/list`.
    ListTools(ListToolsResult),
    /// `tools/call`.
    CallTool(CallToolResult),
    /// `resources/list`.
    ListResources(ListResourcesResult),
    /// `resources/templates/list`.
    ListResourceTemplates(ListResourceTemplatesResult),
    /// `resources/read`.
    ReadResource(ReadResourceResult),
    /// `prompts/list`.
    ListPrompts(ListPromptsResult),
    /// `prompts/get`.
    GetPrompt(GetPromptResult),
    /// `completion/complete`.
    Complete(CompleteResult),
    /// An empty result: `ping`, `logging/setLevel`, `resources/subscribe`,
    /// `resources/unsubscribe`.
    Empty,
}

/// What the client session reports to the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// `initialize` succeeded: the result was accepted and
    /// `notifications/initialized` sent.
    Initialized {
        /// The negotiated revision.
        protocol_version: &'static str,
        /// The server's answer (info, capabilities, instructions).
        result: Box<InitializeResult>,
    },
    /// `initialize` failed; the session is [`ClientPhase::Failed`].
    InitializeFailed(Error),
    /// The typed result of one of our requests.
    Response {
        /// Our request.
        request: RequestId,
        /// The result.
        result: Box<ClientResult>,
    },
    /// The server answered one of our requests with an error (or with a
    /// result that does not parse: code -32603).
    RequestFailed {
        /// Our request.
        request: RequestId,
        /// The error.
        error: ErrorObject,
    },
    /// One of our requests passed its deadline; it is forgotten (a late
    /// answer is dropped) and the server was sent `notifications/cancelled`.
    RequestTimedOut {
        /// Our request.
        request: RequestId,
    },
    /// `roots/list` from the server. Answer with
    /// [`respond_roots`](ClientSession::respond_roots).
    ListRoots {
        /// The request to answer.
        id: RequestId,
    },
    /// `sampling/createMessage` from the server. Answer with
    /// [`respond_create_message`](ClientSession::respond_create_message).
    CreateMessage {
        /// The request to answer.
        id: RequestId,
        /// What to sample.
        params: Box<CreateMessageParams>,
    },
    /// `elicitation/create` from the server. Answer with
    /// [`respond_elicit`](ClientSession::respond_elicit).
    Elicit {
        /// The request to answer.
        id: RequestId,
        /// What to ask the user.
        params: Box<ElicitParams>,
    },
    /// The server cancelled one of its requests to us: an answer given
    /// later is dropped.
    Cancelled {
        /// The server's request.
        id: RequestId,
        /// Why, if the server said.
        reason: Option<String>,
    },
    /// `notifications/progress` for one of our requests.
    Progress {
        /// Our request, if still pending.
        request: Option<RequestId>,
        /// The progress.
        params: ProgressParams,
    },
    /// `notifications/message`: a log message.
    Log(LoggingMessageParams),
    /// `notifications/tools/list_changed`.
    ToolsListChanged,
    /// `notifications/resources/list_changed`.
    ResourcesListChanged,
    /// `notifications/prompts/list_changed`.
    PromptsListChanged,
    /// `notifications/resources/updated` for a subscribed resource.
    ResourceUpdated {
        /// The resource.
        uri: String,
    },
    /// A notification this session does not know.
    Notification(Notification),
    /// The server sent an error response with a `null` id.
    PeerError(ErrorObject),
    /// Input refused (already answered when its
    /// [`hint`](Error::hint) is `Some`).
    Invalid(Error),
    /// The transport closed; our pending requests were abandoned.
    Closed {
        /// Our requests that will never be answered.
        abandoned: Vec<RequestId>,
    },
}

/// What kind of request of ours is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initialize,
    Discover,
    ListTools,
    CallTool,
    ListResources,
    ListResourceTemplates,
    ReadResource,
    ListPrompts,
    GetPrompt,
    Complete,
    Empty,
}

/// One of our requests in flight.
#[derive(Debug, Clone)]
struct Pending {
    kind: Kind,
    sent: Instant,
    timeout: Option<Duration>,
    progress: Option<ProgressToken>,
    /// The id the application knows the request by: the id of its first
    /// transmission (a retry goes out with a new id).
    handle: RequestId,
    /// The method and params as first built (before the era's `_meta`),
    /// kept in the stateless era for retries.
    resend: Option<(String, Value)>,
    /// Retries so far (a revision the server refused, input rounds).
    retries: u32,
}

/// A request of ours whose answer asked for input (2026-07-28,
/// `input_required`): retried once the application answered every input
/// request.
#[derive(Debug, Clone)]
struct Awaiting {
    pending: Pending,
    request_state: Option<String>,
    answers: Map<String, Value>,
    outstanding: usize,
}

/// Most retries of one request (refused revisions and input rounds).
const MAX_RETRIES: u32 = 16;
/// Most tools whose `x-mcp-header` designations are remembered.
const MAX_TOOL_HEADERS: usize = 4096;

/// A sans-IO MCP client session (`initialize` era, revisions 2024-11-05
/// to 2025-11-25) over one JSON-RPC [`Peer`].
///
/// * **Lifecycle.** [`initialize`](Self::initialize) proposes
///   [`ClientConfig::protocol_version`]; a result with a revision in
///   [`ClientConfig::supported_versions`] is accepted
///   ([`ClientEvent::Initialized`]) and `notifications/initialized` is
///   sent; any other revision fails the session with
///   [`Error::UnsupportedVersion`] ([`ClientEvent::InitializeFailed`]).
///   Requests other than `ping` need the session
///   [`Ready`](ClientPhase::Ready).
/// * **Requests** (`list_tools`, `call_tool`, …) return the request's id;
///   its typed result comes out as [`ClientEvent::Response`] (or
///   [`ClientEvent::RequestFailed`] / [`ClientEvent::RequestTimedOut`]).
///   Following `nextCursor` is the caller's ([`Pagination`] helps).
/// * **Progress** for a request (it carries a progress token when
///   [`ClientConfig::progress_tokens`]) is reported and moves its deadline
///   ([`ClientConfig::progress_resets_timeout`], bounded by
///   [`ClientConfig::max_total_timeout`]).
/// * **Cancellation.** [`cancel`](Self::cancel) sends
///   `notifications/cancelled` and forgets the request: a response
///   arriving later is dropped. A timed-out request is cancelled the same
///   way.
/// * **Server requests.** `ping` is answered at once; `roots/list`,
///   `sampling/createMessage` and `elicitation/create` become events when
///   the capability was declared in `initialize` (otherwise, and for
///   unknown methods, -32601).
///
/// Framing is the transport's (one message per line on stdio, HTTP bodies
/// or SSE events on Streamable HTTP).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    peer: Peer,
    phase: ClientPhase,
    protocol_version: Option<&'static str>,
    capabilities: ClientCapabilities,
    server: Option<InitializeResult>,
    pending: BTreeMap<RequestId, Pending>,
    tokens: BTreeMap<ProgressToken, RequestId>,
    next_token: i64,
    incoming: BTreeSet<RequestId>,
    cancelled: BTreeSet<RequestId>,
    cancelled_order: VecDeque<RequestId>,
    /// The `default` values of the requested schema of each form
    /// elicitation handed to the application and not yet answered (only
    /// those with at least one), for [`ClientConfig::elicitation_defaults`].
    elicit_defaults: BTreeMap<RequestId, Map<String, Value>>,
    /// `clientInfo`, for `_meta` in the stateless era.
    client_info: Option<Implementation>,
    /// The session speaks the stateless 2026-07-28 era.
    stateless: bool,
    /// The wire id of our `server/discover`, kept after it was given up
    /// on, so a transport reporting its failure late is told it was the
    /// discovery (and does not fail the `initialize` that replaced it).
    discovery: Option<RequestId>,
    /// The `initialize` in flight replaced a discovery that got no answer
    /// in time ([`Era::Auto`]).
    silent_discovery: bool,
    /// That `initialize` was refused and a second discovery is out: a
    /// server only slow to start (a stdio child fetched by `uvx` or
    /// `npx`) answers the first discovery late, speaks 2026-07-28 from
    /// then on and refuses `initialize` (-32022). The refusal is the
    /// session's failure if the second discovery fails too.
    refused_initialize: Option<Error>,
    /// The wire id of each retried request, by its handle.
    wire_of: BTreeMap<RequestId, RequestId>,
    /// Requests waiting for the application's input, by handle.
    awaiting: BTreeMap<RequestId, Awaiting>,
    /// The input requests handed to the application: (handle, key).
    inputs: BTreeMap<RequestId, (RequestId, String)>,
    next_input: u64,
    /// The `(property, header)` pairs of each listed tool's `x-mcp-header`
    /// designations, for the `Mcp-Param-*` headers of its calls.
    tool_headers: BTreeMap<String, Vec<(String, String)>>,
    /// The latest `now` given; a retry after the application's answer
    /// (which carries no time) is sent at it.
    last_now: Option<Instant>,
    events: VecDeque<ClientEvent>,
}

impl Default for ClientSession {
    fn default() -> Self {
        Self::new(ClientConfig::default())
    }
}

impl ClientSession {
    /// A session that has sent nothing yet.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            peer: Peer::new(config.jsonrpc.clone()),
            config,
            phase: ClientPhase::New,
            protocol_version: None,
            capabilities: ClientCapabilities::default(),
            server: None,
            pending: BTreeMap::new(),
            tokens: BTreeMap::new(),
            next_token: 1,
            incoming: BTreeSet::new(),
            cancelled: BTreeSet::new(),
            cancelled_order: VecDeque::new(),
            elicit_defaults: BTreeMap::new(),
            client_info: None,
            stateless: false,
            discovery: None,
            silent_discovery: false,
            refused_initialize: None,
            wire_of: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            inputs: BTreeMap::new(),
            next_input: 1,
            tool_headers: BTreeMap::new(),
            last_now: None,
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ---- inputs ----

    /// Takes one complete JSON-RPC message (single or batch) from the
    /// server.
    ///
    /// # Errors
    ///
    /// The first problem of the message, as the JSON-RPC layer reports it
    /// (also a [`ClientEvent::Invalid`]). Never sticky.
    pub fn handle_message(&mut self, now: Instant, message: &[u8]) -> Result<(), Error> {
        self.last_now = Some(now);
        let r = self.peer.handle_message(now, message);
        self.pump(now);
        r.map_err(Error::from)
    }

    /// [`handle_message`](Self::handle_message) without the copy.
    ///
    /// # Errors
    ///
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_message_bytes(&mut self, now: Instant, message: Bytes) -> Result<(), Error> {
        self.last_now = Some(now);
        let r = self.peer.handle_message_bytes(now, message);
        self.pump(now);
        r.map_err(Error::from)
    }

    /// Fires the deadlines of our requests due at `now`: each becomes
    /// [`ClientEvent::RequestTimedOut`] (or, for `initialize`,
    /// [`ClientEvent::InitializeFailed`]), and the server is sent
    /// `notifications/cancelled` for it.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.peer.handle_timeout(now);
        self.pump(now);
    }

    /// The transport closed: our pending requests are abandoned
    /// ([`ClientEvent::Closed`]).
    pub fn handle_close(&mut self) {
        let wire = self.peer.cancel_all();
        let mut abandoned: Vec<RequestId> = wire
            .iter()
            .map(|w| {
                self.pending
                    .get(w)
                    .map_or_else(|| w.clone(), |p| p.handle.clone())
            })
            .collect();
        abandoned.extend(self.awaiting.keys().cloned());
        self.pending.clear();
        self.tokens.clear();
        self.elicit_defaults.clear();
        self.wire_of.clear();
        self.awaiting.clear();
        for id in std::mem::take(&mut self.inputs).into_keys() {
            self.incoming.remove(&id);
        }
        if self.phase == ClientPhase::Initializing {
            self.phase = ClientPhase::Failed;
        }
        self.events.push_back(ClientEvent::Closed { abandoned });
    }

    // ---- outputs ----

    /// The next complete message to send.
    pub fn poll_message(&mut self) -> Option<Bytes> {
        self.peer.poll_message()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peer.poll_timeout()
    }

    // ---- lifecycle ----

    /// Sends `initialize` with our info and capabilities. The answer is
    /// [`ClientEvent::Initialized`] or [`ClientEvent::InitializeFailed`].
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyInitialized`] unless the session is
    /// [`New`](ClientPhase::New); the JSON-RPC layer's limits.
    pub fn initialize(
        &mut self,
        now: Instant,
        client_info: Implementation,
        capabilities: ClientCapabilities,
    ) -> Result<RequestId, Error> {
        if self.phase != ClientPhase::New {
            return Err(Error::AlreadyInitialized);
        }
        self.last_now = Some(now);
        self.client_info = Some(client_info);
        self.capabilities = capabilities;
        let id = if self.config.era == Era::Legacy {
            self.send_initialize(now, None)?
        } else {
            // Auto: a legacy server on stdio may never answer, so the wait
            // is short (and no longer than any request's); forcing the
            // era, the usual request timeout.
            let timeout = (self.config.era == Era::Auto).then(|| {
                self.config
                    .jsonrpc
                    .request_timeout
                    .map_or(self.config.discover_timeout, |t| {
                        t.min(self.config.discover_timeout)
                    })
            });
            self.send(
                now,
                stateless_methods::SERVER_DISCOVER,
                Kind::Discover,
                &Empty::default(),
                timeout,
                None,
            )?
        };
        self.phase = ClientPhase::Initializing;
        Ok(id)
    }

    /// `initialize` with our info and capabilities; `handle` is the id the
    /// application knows (that of a `server/discover` it replaces).
    fn send_initialize(
        &mut self,
        now: Instant,
        handle: Option<RequestId>,
    ) -> Result<RequestId, Error> {
        let params = InitializeParams {
            protocol_version: self.config.protocol_version.to_owned(),
            capabilities: self.capabilities.clone(),
            client_info: self.client_info.clone().unwrap_or_default(),
            meta: None,
            extra: Map::new(),
        };
        let value = serde_json::to_value(&params).map_err(Error::serialize)?;
        self.send_value(
            now,
            methods::INITIALIZE,
            Kind::Initialize,
            value,
            None,
            None,
            handle,
            0,
        )
    }

    /// The transport could not deliver our `server/discover` or the server
    /// refused it outside JSON-RPC (an HTTP status without a JSON-RPC
    /// answer, as a server of the `initialize` era gives: 400 without a
    /// session id, 404, 405): with [`Era::Auto`] the session falls back to
    /// `initialize`; with [`Era::Stateless`] it fails. Returns whether
    /// `request` (a wire id) was that discovery — also when it had already
    /// been given up on (timed out), in which case nothing changes.
    pub fn fail_discovery(&mut self, now: Instant, request: &RequestId) -> bool {
        self.last_now = Some(now);
        if self.discovery.as_ref() != Some(request) {
            return false;
        }
        if self.pending.get(request).map(|p| p.kind) == Some(Kind::Discover) {
            let _ = self.peer.cancel(request);
            if let Some(pending) = self.forget(request) {
                self.on_discover(now, pending, Discovery::Refused);
            }
        }
        true
    }

    // ---- requests ----

    /// `ping`; allowed in every phase. The answer is
    /// [`ClientResult::Empty`]. The stateless era has no `ping` (a server
    /// answers -32601), so there the round trip is a `server/discover`,
    /// which every such server implements.
    ///
    /// # Errors
    ///
    /// The JSON-RPC layer's limits.
    pub fn ping(&mut self, now: Instant) -> Result<RequestId, Error> {
        let method = if self.stateless {
            stateless_methods::SERVER_DISCOVER
        } else {
            methods::PING
        };
        self.send(now, method, Kind::Empty, &Empty::default(), None, None)
    }

    /// `tools/list` from `cursor` (`None`: the first page).
    ///
    /// # Errors
    ///
    /// [`Error::NotInitialized`] unless [`Ready`](ClientPhase::Ready); the
    /// JSON-RPC layer's limits.
    pub fn list_tools(&mut self, now: Instant, cursor: Option<&str>) -> Result<RequestId, Error> {
        self.list(now, methods::TOOLS_LIST, Kind::ListTools, cursor)
    }

    /// `tools/call` of `name` with `arguments` (an object, or `None`).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn call_tool(
        &mut self,
        now: Instant,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<RequestId, Error> {
        self.call_tool_with(now, name, arguments, None)
    }

    /// [`call_tool`](Self::call_tool) with its own timeout (`None`: the
    /// configured one).
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn call_tool_with(
        &mut self,
        now: Instant,
        name: &str,
        arguments: Option<Map<String, Value>>,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Error> {
        self.check_ready()?;
        let token = self.token();
        let params = CallToolParams {
            name: name.to_owned(),
            arguments,
            meta: meta_with(token.as_ref()),
            extra: Map::new(),
        };
        self.send(
            now,
            methods::TOOLS_CALL,
            Kind::CallTool,
            &params,
            timeout,
            token,
        )
    }

    /// `resources/list` from `cursor`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn list_resources(
        &mut self,
        now: Instant,
        cursor: Option<&str>,
    ) -> Result<RequestId, Error> {
        self.list(now, methods::RESOURCES_LIST, Kind::ListResources, cursor)
    }

    /// `resources/templates/list` from `cursor`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn list_resource_templates(
        &mut self,
        now: Instant,
        cursor: Option<&str>,
    ) -> Result<RequestId, Error> {
        self.list(
            now,
            methods::RESOURCES_TEMPLATES_LIST,
            Kind::ListResourceTemplates,
            cursor,
        )
    }

    /// `resources/read` of `uri`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn read_resource(&mut self, now: Instant, uri: &str) -> Result<RequestId, Error> {
        self.check_ready()?;
        let token = self.token();
        let mut params = UriParams::new(uri);
        params.meta = meta_with(token.as_ref());
        self.send(
            now,
            methods::RESOURCES_READ,
            Kind::ReadResource,
            &params,
            None,
            token,
        )
    }

    /// `resources/subscribe` to `uri`; updates come as
    /// [`ClientEvent::ResourceUpdated`].
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn subscribe(&mut self, now: Instant, uri: &str) -> Result<RequestId, Error> {
        self.check_ready()?;
        let params = UriParams::new(uri);
        self.send(
            now,
            methods::RESOURCES_SUBSCRIBE,
            Kind::Empty,
            &params,
            None,
            None,
        )
    }

    /// `resources/unsubscribe` from `uri`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn unsubscribe(&mut self, now: Instant, uri: &str) -> Result<RequestId, Error> {
        self.check_ready()?;
        let params = UriParams::new(uri);
        self.send(
            now,
            methods::RESOURCES_UNSUBSCRIBE,
            Kind::Empty,
            &params,
            None,
            None,
        )
    }

    /// `prompts/list` from `cursor`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn list_prompts(&mut self, now: Instant, cursor: Option<&str>) -> Result<RequestId, Error> {
        self.list(now, methods::PROMPTS_LIST, Kind::ListPrompts, cursor)
    }

    /// `prompts/get` of `name` with its arguments.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn get_prompt(
        &mut self,
        now: Instant,
        name: &str,
        arguments: Option<BTreeMap<String, String>>,
    ) -> Result<RequestId, Error> {
        self.check_ready()?;
        let token = self.token();
        let params = GetPromptParams {
            name: name.to_owned(),
            arguments,
            meta: meta_with(token.as_ref()),
            extra: Map::new(),
        };
        self.send(
            now,
            methods::PROMPTS_GET,
            Kind::GetPrompt,
            &params,
            None,
            token,
        )
    }

    /// `completion/complete`.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn complete(
        &mut self,
        now: Instant,
        mut params: CompleteParams,
    ) -> Result<RequestId, Error> {
        self.check_ready()?;
        let token = self.token();
        if let Some(t) = &token {
            insert_token(&mut params.meta, t);
        }
        self.send(
            now,
            methods::COMPLETION_COMPLETE,
            Kind::Complete,
            &params,
            None,
            token,
        )
    }

    /// `logging/setLevel`: the least severe log level the server sends.
    ///
    /// # Errors
    ///
    /// As [`list_tools`](Self::list_tools).
    pub fn set_level(&mut self, now: Instant, level: LoggingLevel) -> Result<RequestId, Error> {
        self.check_ready()?;
        let params = SetLevelParams {
            level,
            meta: None,
            extra: Map::new(),
        };
        self.send(
            now,
            methods::LOGGING_SET_LEVEL,
            Kind::Empty,
            &params,
            None,
            None,
        )
    }

    /// Cancels one of our requests: it is forgotten (a response arriving
    /// later is dropped) and the server is sent `notifications/cancelled`.
    ///
    /// # Errors
    ///
    /// [`Error::CannotCancel`] for `initialize` (the specification forbids
    /// it); the JSON-RPC layer's
    /// [`NotPending`](wirestate_jsonrpc::Error::NotPending) if `request` is
    /// not pending. Nothing changes.
    pub fn cancel(&mut self, request: &RequestId, reason: Option<&str>) -> Result<(), Error> {
        if let Some(waiting) = self.awaiting.remove(request) {
            // Not on the wire: forget it and the input it asked for.
            self.drop_inputs(request);
            if let Some(t) = &waiting.pending.progress {
                self.tokens.remove(t);
            }
            return Ok(());
        }
        let wire = self.wire(request);
        if self
            .pending
            .get(&wire)
            .is_some_and(|p| matches!(p.kind, Kind::Initialize | Kind::Discover))
        {
            return Err(Error::CannotCancel);
        }
        self.peer.cancel(&wire)?;
        self.forget(&wire);
        self.send_cancelled(&wire, reason);
        Ok(())
    }

    /// Sends `notifications/roots/list_changed`.
    ///
    /// # Errors
    ///
    /// [`Error::NotInitialized`] unless [`Ready`](ClientPhase::Ready).
    pub fn notify_roots_changed(&mut self) -> Result<(), Error> {
        self.check_ready()?;
        self.peer
            .send_notification(methods::NOTIFICATION_ROOTS_LIST_CHANGED, None)?;
        Ok(())
    }

    // ---- answers to the server ----

    /// Answers a [`ClientEvent::ListRoots`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_roots(&mut self, id: &RequestId, result: ListRootsResult) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a [`ClientEvent::CreateMessage`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_create_message(
        &mut self,
        id: &RequestId,
        result: CreateMessageResult,
    ) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a [`ClientEvent::Elicit`]. When the answer accepts a form
    /// and [`ClientConfig::elicitation_defaults`] is set, every field of
    /// the requested schema that has a `default` and is missing from
    /// `content` is sent with its default.
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_elicit(
        &mut self,
        id: &RequestId,
        mut result: ElicitResult,
    ) -> Result<(), Error> {
        if self.config.elicitation_defaults && result.action == ElicitAction::Accept {
            if let Some(defaults) = self.elicit_defaults.get(id) {
                let content = result.content.get_or_insert_with(Map::new);
                for (name, value) in defaults {
                    content.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        self.respond(id, &result)
    }

    /// Answers a server request with an error (for example -1 when the
    /// user declined sampling). An answer to a request the server
    /// cancelled is dropped: `Ok`, and nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnswerable`] if `id` is not waiting for an answer.
    pub fn respond_error(&mut self, id: &RequestId, error: ErrorObject) -> Result<(), Error> {
        self.finish(id, Err(error))
    }

    /// The headers a Streamable HTTP POST of `message` (one of ours, from
    /// [`poll_message`](Self::poll_message)) carries besides the content
    /// headers and the session id (SEP-2243): `mcp-method`; `mcp-name` for
    /// `tools/call` and `prompts/get` (the name) and `resources/read` (the
    /// URI); `mcp-protocol-version` (the `_meta` revision of a stateless
    /// request, else the negotiated one); and for `tools/call` of a listed
    /// tool, an `mcp-param-{name}` per argument its input schema designates
    /// with `x-mcp-header` (strings that are not plain visible ASCII
    /// without surrounding space as `=?base64?…?=`; null arguments
    /// omitted). Names are lowercase; values may still be refused by an
    /// HTTP library (a name with a control character): skip those.
    pub fn request_headers(&self, message: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(message) else {
            return out;
        };
        let Some(method) = m.get("method").and_then(Value::as_str) else {
            if let Some(v) = self.protocol_version {
                out.push((crate::http::MCP_PROTOCOL_VERSION.into(), v.into()));
            }
            return out;
        };
        let params = m.get("params").and_then(Value::as_object);
        let meta = params
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        if let Some(v) = RequestMeta::version_of(meta).or(self.protocol_version) {
            out.push((crate::http::MCP_PROTOCOL_VERSION.into(), v.into()));
        }
        out.push((crate::http::stateless::MCP_METHOD.into(), method.into()));
        if let Some(name) = crate::http::stateless::name_member(method)
            .and_then(|member| params?.get(member)?.as_str())
        {
            out.push((crate::http::stateless::MCP_NAME.into(), name.into()));
        }
        if method != methods::TOOLS_CALL {
            return out;
        }
        let designated = params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .and_then(|name| self.tool_headers.get(name));
        let arguments = params
            .and_then(|p| p.get("arguments"))
            .and_then(Value::as_object);
        for (property, header) in designated.into_iter().flatten() {
            if let Some(value) = arguments
                .and_then(|a| a.get(property))
                .and_then(param_header_value)
            {
                out.push((
                    format!(
                        "{}{}",
                        crate::http::stateless::MCP_PARAM_PREFIX,
                        header.to_ascii_lowercase()
                    ),
                    value,
                ));
            }
        }
        out
    }

    /// Whether the session speaks the stateless 2026-07-28 era (chosen by
    /// `server/discover`, [`ClientConfig::era`]).
    pub fn is_stateless(&self) -> bool {
        self.stateless
    }

    fn respond<T: Serialize>(&mut self, id: &RequestId, result: &T) -> Result<(), Error> {
        if !self.incoming.contains(id) && !self.cancelled.contains(id) {
            return Err(Error::NotAnswerable { id: id.clone() });
        }
        let raw = RawJson::from_serialize(result).map_err(Error::serialize)?;
        self.finish(id, Ok(raw))
    }

    fn finish(
        &mut self,
        id: &RequestId,
        outcome: Result<RawJson, ErrorObject>,
    ) -> Result<(), Error> {
        if !self.incoming.remove(id) {
            self.elicit_defaults.remove(id);
            if self.cancelled.remove(id) {
                self.cancelled_order.retain(|c| c != id);
                return Ok(());
            }
            return Err(Error::NotAnswerable { id: id.clone() });
        }
        self.elicit_defaults.remove(id);
        if let Some((handle, key)) = self.inputs.remove(id) {
            self.on_input_answer(&handle, key, outcome);
            return Ok(());
        }
        match outcome {
            Ok(raw) => self.peer.respond(id, raw)?,
            Err(e) => self.peer.respond_error(id, e)?,
        }
        Ok(())
    }

    // ---- queries ----

    /// Where the session is in the lifecycle.
    pub fn phase(&self) -> ClientPhase {
        self.phase
    }

    /// The negotiated revision, once initialized.
    pub fn protocol_version(&self) -> Option<&'static str> {
        self.protocol_version
    }

    /// The server's `initialize` result, once initialized.
    pub fn server(&self) -> Option<&InitializeResult> {
        self.server.as_ref()
    }

    /// The server, once initialized.
    pub fn server_info(&self) -> Option<&Implementation> {
        self.server.as_ref().map(|s| &s.server_info)
    }

    /// What the server supports, once initialized.
    pub fn server_capabilities(&self) -> Option<&ServerCapabilities> {
        self.server.as_ref().map(|s| &s.capabilities)
    }

    /// The capabilities we declared.
    pub fn capabilities(&self) -> &ClientCapabilities {
        &self.capabilities
    }

    /// Whether our request `request` is waiting for its answer.
    /// (A request waiting for the application's input counts.)
    pub fn is_pending(&self, request: &RequestId) -> bool {
        self.pending.contains_key(&self.wire(request)) || self.awaiting.contains_key(request)
    }

    /// Our requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len() + self.awaiting.len()
    }

    /// The deadline of our pending request, if it has one.
    pub fn deadline(&self, request: &RequestId) -> Option<Instant> {
        self.peer.deadline(&self.wire(request))
    }

    /// Server requests handed to the application and not yet answered.
    pub fn pending_server_requests(&self) -> usize {
        self.incoming.len()
    }

    /// Whether queued output is below the JSON-RPC write high-water mark.
    pub fn wants_message(&self) -> bool {
        self.peer.wants_message()
    }

    /// The JSON-RPC peer's counters (late responses to cancelled requests
    /// among them).
    pub fn stats(&self) -> wirestate_jsonrpc::Stats {
        self.peer.stats()
    }

    // ---- internals ----

    fn check_ready(&self) -> Result<(), Error> {
        if self.phase == ClientPhase::Ready {
            Ok(())
        } else {
            Err(Error::NotInitialized)
        }
    }

    fn token(&mut self) -> Option<ProgressToken> {
        if !self.config.progress_tokens {
            return None;
        }
        let t = ProgressToken::Number(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(1);
        Some(t)
    }

    fn list(
        &mut self,
        now: Instant,
        method: &str,
        kind: Kind,
        cursor: Option<&str>,
    ) -> Result<RequestId, Error> {
        self.check_ready()?;
        let params = PaginatedParams {
            cursor: cursor.map(str::to_owned),
            ..PaginatedParams::default()
        };
        self.send(now, method, kind, &params, None, None)
    }

    fn send<T: Serialize>(
        &mut self,
        now: Instant,
        method: &str,
        kind: Kind,
        params: &T,
        timeout: Option<Duration>,
        progress: Option<ProgressToken>,
    ) -> Result<RequestId, Error> {
        let value = serde_json::to_value(params).map_err(Error::serialize)?;
        self.send_value(now, method, kind, value, timeout, progress, None, 0)
    }

    /// Sends a request; in the stateless era (and for `server/discover`)
    /// its params get the `_meta` of the era and are kept for a retry.
    /// `handle`: the id the application already knows (a retry).
    #[allow(clippy::too_many_arguments)]
    fn send_value(
        &mut self,
        now: Instant,
        method: &str,
        kind: Kind,
        value: Value,
        timeout: Option<Duration>,
        progress: Option<ProgressToken>,
        handle: Option<RequestId>,
        retries: u32,
    ) -> Result<RequestId, Error> {
        let stateless = self.stateless || kind == Kind::Discover;
        let resend = stateless.then(|| (method.to_owned(), value.clone()));
        let mut value = value;
        if stateless {
            if let Value::Object(m) = &mut value {
                let meta = m
                    .entry("_meta")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(meta) = meta {
                    let mut request_meta = RequestMeta::new(
                        version::STATELESS
                            .last()
                            .copied()
                            .unwrap_or(version::LATEST),
                        self.capabilities.clone(),
                    );
                    request_meta.client_info = self.client_info.clone();
                    request_meta.log_level = self.config.log_level;
                    request_meta.write_into(meta);
                }
            }
        }
        let raw = RawJson::from_serialize(&value).map_err(Error::serialize)?;
        let id = self.peer.send_request(now, method, Some(raw), timeout)?;
        if kind == Kind::Discover {
            self.discovery = Some(id.clone());
        }
        let handle = handle.unwrap_or_else(|| id.clone());
        if handle != id {
            self.wire_of.insert(handle.clone(), id.clone());
        }
        if let Some(t) = &progress {
            self.tokens.insert(t.clone(), id.clone());
        }
        self.pending.insert(
            id,
            Pending {
                kind,
                sent: now,
                timeout: timeout.or(self.config.jsonrpc.request_timeout),
                progress,
                handle: handle.clone(),
                resend,
                retries,
            },
        );
        Ok(handle)
    }

    /// The id the application knows a request by (the one its call
    /// returned) for the id it went out with on the wire, while it is
    /// pending: they differ for a request sent again (a refused revision,
    /// an input round of 2026-07-28) and for the `initialize` that
    /// replaced a `server/discover`. A transport that fails one of its
    /// messages (an HTTP POST) names the request by it.
    pub fn request_handle(&self, wire: &RequestId) -> Option<RequestId> {
        self.pending.get(wire).map(|p| p.handle.clone())
    }

    /// The id on the wire of the request the application knows as
    /// `handle`.
    fn wire(&self, handle: &RequestId) -> RequestId {
        self.wire_of.get(handle).unwrap_or(handle).clone()
    }

    /// Sends `pending` again with a new id (and `extra` members merged
    /// into its params); the answer keeps being reported under its handle.
    fn retry(&mut self, now: Instant, pending: Pending, extra: Map<String, Value>) {
        let handle = pending.handle.clone();
        let outcome = match pending.resend.clone() {
            Some(_) if pending.retries >= MAX_RETRIES => Err(ErrorObject::new(
                ErrorCode::INTERNAL_ERROR,
                format!("gave up after {MAX_RETRIES} retries"),
            )),
            Some((method, original)) => {
                let mut params = original.clone();
                if let Value::Object(m) = &mut params {
                    m.extend(extra);
                }
                let sent = self.send_value(
                    now,
                    &method,
                    pending.kind,
                    params,
                    pending.timeout,
                    pending.progress.clone(),
                    Some(handle.clone()),
                    pending.retries + 1,
                );
                // A later round starts from the request as first built, not
                // with this round's answers and state.
                let wire = self.wire(&handle);
                if let Some(p) = self.pending.get_mut(&wire) {
                    p.resend = Some((method, original));
                }
                sent.map(|_| ())
                    .map_err(|e| ErrorObject::new(ErrorCode::INTERNAL_ERROR, e.to_string()))
            }
            None => Err(ErrorObject::new(
                ErrorCode::INTERNAL_ERROR,
                "the request cannot be sent again",
            )),
        };
        if let Err(error) = outcome {
            if pending.kind == Kind::Discover {
                self.on_discover(now, pending, Discovery::Error(error));
            } else {
                self.events.push_back(ClientEvent::RequestFailed {
                    request: handle,
                    error,
                });
            }
        }
    }

    /// Forgets our pending request by its wire id.
    fn forget(&mut self, request: &RequestId) -> Option<Pending> {
        let p = self.pending.remove(request)?;
        if let Some(t) = &p.progress {
            self.tokens.remove(t);
        }
        self.wire_of.remove(&p.handle);
        Some(p)
    }

    fn send_cancelled(&mut self, id: &RequestId, reason: Option<&str>) {
        let params = CancelledParams {
            request_id: Some(id.clone()),
            reason: reason.map(str::to_owned),
            ..CancelledParams::default()
        };
        if let Ok(raw) = RawJson::from_serialize(&params) {
            let _ = self
                .peer
                .send_notification(methods::NOTIFICATION_CANCELLED, Some(raw));
        }
    }

    fn remember_cancelled(&mut self, id: RequestId) {
        if self.cancelled_order.len() >= CANCELLED_MEMORY {
            if let Some(old) = self.cancelled_order.pop_front() {
                self.cancelled.remove(&old);
            }
        }
        self.cancelled.insert(id.clone());
        self.cancelled_order.push_back(id);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.peer.poll_event() {
            match event {
                PeerEvent::Request(r) => self.on_request(r),
                PeerEvent::Notification(n) => self.on_notification(now, n),
                PeerEvent::Response { request, result } => {
                    self.on_response(now, request, Ok(result));
                }
                PeerEvent::ErrorResponse { request, error } => {
                    self.on_response(now, request, Err(error));
                }
                PeerEvent::TimedOut { request } => {
                    let pending = self.forget(&request);
                    match pending {
                        // No `notifications/cancelled`: a legacy server
                        // that ignored the discovery may refuse anything
                        // before `initialize`.
                        Some(p) if p.kind == Kind::Discover => {
                            self.on_discover(now, p, Discovery::Silent);
                        }
                        Some(p) if p.kind == Kind::Initialize => {
                            self.phase = ClientPhase::Failed;
                            self.events.push_back(ClientEvent::InitializeFailed(
                                Error::InitializeTimedOut,
                            ));
                        }
                        _ => {
                            self.send_cancelled(&request, Some("timed out"));
                            let request = pending.map_or(request, |p| p.handle);
                            self.events
                                .push_back(ClientEvent::RequestTimedOut { request });
                        }
                    }
                }
                PeerEvent::PeerError(e) => self.events.push_back(ClientEvent::PeerError(e)),
                PeerEvent::Invalid(e) => self.events.push_back(ClientEvent::Invalid(e.into())),
                _ => {}
            }
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        wire: RequestId,
        outcome: Result<RawJson, ErrorObject>,
    ) {
        let Some(pending) = self.forget(&wire) else {
            return;
        };
        if pending.kind == Kind::Initialize {
            if let Err(error) = &outcome {
                if std::mem::take(&mut self.silent_discovery) {
                    // Answered, so not a silent legacy server: it may be
                    // one that was slow to start (see `refused_initialize`).
                    // Ask once more, with the usual timeout.
                    self.refused_initialize = Some(Error::InitializeRefused {
                        code: error.code.code(),
                        message: error.message.clone(),
                    });
                    let sent = self.send_value(
                        now,
                        stateless_methods::SERVER_DISCOVER,
                        Kind::Discover,
                        Value::Object(Map::new()),
                        None,
                        None,
                        Some(pending.handle),
                        0,
                    );
                    if let Err(e) = sent {
                        self.refused_initialize = None;
                        self.phase = ClientPhase::Failed;
                        self.events.push_back(ClientEvent::InitializeFailed(e));
                    }
                    return;
                }
            }
            self.silent_discovery = false;
            self.on_initialize(outcome);
            return;
        }
        // 2026-07-28: a revision the server refused is retried with one it
        // lists, if we speak it.
        if let Err(e) = &outcome {
            if e.code.code() == stateless_codes::UNSUPPORTED_PROTOCOL_VERSION
                && pending.resend.is_some()
                && supported_stateless(e)
            {
                self.retry(now, pending, Map::new());
                return;
            }
        }
        if pending.kind == Kind::Discover {
            let outcome = match outcome {
                Ok(raw) => Discovery::Answer(raw),
                Err(e) => Discovery::Error(e),
            };
            self.on_discover(now, pending, outcome);
            return;
        }
        if self.stateless {
            if let Ok(raw) = &outcome {
                if result_type(raw).as_deref() == Some(InputRequiredResult::RESULT_TYPE) {
                    self.on_input_required(now, pending, raw);
                    return;
                }
            }
        }
        let request = pending.handle.clone();
        let raw = match outcome {
            Err(error) => {
                self.events
                    .push_back(ClientEvent::RequestFailed { request, error });
                return;
            }
            Ok(r) => r,
        };
        let result = match pending.kind {
            Kind::ListTools => raw
                .decode()
                .map(|r| ClientResult::ListTools(self.on_tools(r))),
            Kind::CallTool => raw.decode().map(ClientResult::CallTool),
            Kind::ListResources => raw.decode().map(ClientResult::ListResources),
            Kind::ListResourceTemplates => raw.decode().map(ClientResult::ListResourceTemplates),
            Kind::ReadResource => raw.decode().map(ClientResult::ReadResource),
            Kind::ListPrompts => raw.decode().map(ClientResult::ListPrompts),
            Kind::GetPrompt => raw.decode().map(ClientResult::GetPrompt),
            Kind::Complete => raw.decode().map(ClientResult::Complete),
            Kind::Empty | Kind::Initialize | Kind::Discover => Ok(ClientResult::Empty),
        };
        self.events.push_back(match result {
            Ok(result) => ClientEvent::Response {
                request,
                result: Box::new(result),
            },
            Err(e) => ClientEvent::RequestFailed {
                request,
                error: ErrorObject::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("malformed result: {e}"),
                ),
            },
        });
    }

    /// The answer to `server/discover` (`None`: an error or no answer): a
    /// server listing a stateless revision we speak makes the session
    /// stateless and ready; anything else falls back to `initialize`.
    fn on_discover(&mut self, now: Instant, pending: Pending, outcome: Discovery) {
        let decoded = match &outcome {
            Discovery::Answer(raw) => raw.decode::<DiscoverResult>().ok(),
            _ => None,
        };
        let found = decoded.and_then(|d| {
            let v = version::STATELESS
                .iter()
                .copied()
                .find(|v| d.supported_versions.iter().any(|s| s == v))?;
            Some((v, d))
        });
        let Some((v, d)) = found else {
            if let Some(e) = self.refused_initialize.take() {
                self.phase = ClientPhase::Failed;
                self.events.push_back(ClientEvent::InitializeFailed(e));
                return;
            }
            let failed = if self.config.era == Era::Stateless {
                Err(match outcome {
                    Discovery::Error(e) => Error::InitializeRefused {
                        code: e.code.code(),
                        message: e.message,
                    },
                    Discovery::Answer(raw) => Error::UnsupportedVersion {
                        version: raw
                            .decode::<DiscoverResult>()
                            .map(|d| d.supported_versions.join(", "))
                            .unwrap_or_else(|_| "none (not a discovery result)".into()),
                    },
                    Discovery::Refused => Error::InitializeRefused {
                        code: 0,
                        message: "server/discover refused by the transport".into(),
                    },
                    Discovery::Silent => Error::InitializeTimedOut,
                })
            } else {
                self.silent_discovery = matches!(outcome, Discovery::Silent);
                self.send_initialize(now, Some(pending.handle)).map(|_| ())
            };
            if let Err(e) = failed {
                self.phase = ClientPhase::Failed;
                self.events.push_back(ClientEvent::InitializeFailed(e));
            }
            return;
        };
        // serverInfo is in `_meta`; servers of the drafts put it beside.
        let server_info = d
            .server_info()
            .or_else(|| serde_json::from_value(d.extra.get("serverInfo")?.clone()).ok())
            .unwrap_or_default();
        let result = InitializeResult {
            protocol_version: v.to_owned(),
            capabilities: d.capabilities,
            server_info,
            instructions: d.instructions,
            meta: d.meta,
            extra: d.extra,
        };
        self.stateless = true;
        self.phase = ClientPhase::Ready;
        self.protocol_version = Some(v);
        self.server = Some(result.clone());
        self.events.push_back(ClientEvent::Initialized {
            protocol_version: v,
            result: Box::new(result),
        });
    }

    /// A listed page of tools: those whose `x-mcp-header` designations are
    /// invalid are dropped (SEP-2243: a client MUST exclude them); the
    /// others' designations are remembered for their calls' headers.
    fn on_tools(&mut self, mut page: ListToolsResult) -> ListToolsResult {
        page.tools.retain(|tool| match tool_param_headers(tool) {
            Some(headers) => {
                if headers.is_empty() {
                    self.tool_headers.remove(&tool.name);
                } else if self.tool_headers.len() < MAX_TOOL_HEADERS
                    || self.tool_headers.contains_key(&tool.name)
                {
                    self.tool_headers.insert(tool.name.clone(), headers);
                }
                true
            }
            None => false,
        });
        page
    }

    /// 2026-07-28 `input_required`: each input request becomes an event
    /// for the application under an id of ours; once all are answered the
    /// request goes again with `inputResponses` and the `requestState`.
    fn on_input_required(&mut self, now: Instant, pending: Pending, raw: &RawJson) {
        let handle = pending.handle.clone();
        let parsed = match raw.decode::<InputRequiredResult>() {
            Ok(p) => p,
            Err(e) => {
                self.events.push_back(ClientEvent::RequestFailed {
                    request: handle,
                    error: ErrorObject::new(
                        ErrorCode::INTERNAL_ERROR,
                        format!("malformed input_required result: {e}"),
                    ),
                });
                return;
            }
        };
        let requests = parsed.input_requests.unwrap_or_default();
        let mut events = Vec::new();
        for (key, request) in &requests {
            let id = RequestId::String(format!("wirestate-input-{}", self.next_input).into());
            self.next_input = self.next_input.wrapping_add(1);
            let params = request.params.clone().unwrap_or(Value::Object(Map::new()));
            let caps = &self.capabilities;
            let event = match request.method.as_str() {
                methods::ELICITATION_CREATE if caps.elicitation.is_some() => {
                    serde_json::from_value::<ElicitParams>(params)
                        .ok()
                        .map(|params| ClientEvent::Elicit {
                            id: id.clone(),
                            params: Box::new(params),
                        })
                }
                methods::SAMPLING_CREATE_MESSAGE if caps.sampling.is_some() => {
                    serde_json::from_value::<CreateMessageParams>(params)
                        .ok()
                        .map(|params| ClientEvent::CreateMessage {
                            id: id.clone(),
                            params: Box::new(params),
                        })
                }
                methods::ROOTS_LIST if caps.roots.is_some() => {
                    Some(ClientEvent::ListRoots { id: id.clone() })
                }
                _ => None,
            };
            let Some(event) = event else {
                for (id, _) in events {
                    self.inputs.remove(&id);
                    self.elicit_defaults.remove(&id);
                }
                self.events.push_back(ClientEvent::RequestFailed {
                    request: handle,
                    error: ErrorObject::new(
                        stateless_codes::MISSING_REQUIRED_CLIENT_CAPABILITY,
                        format!(
                            "the server asked for input the client cannot give: {} ({key})",
                            request.method
                        ),
                    ),
                });
                return;
            };
            if let ClientEvent::Elicit { params, .. } = &event {
                let defaults = form_defaults(params);
                if !defaults.is_empty() {
                    self.elicit_defaults.insert(id.clone(), defaults);
                }
            }
            self.inputs
                .insert(id.clone(), (handle.clone(), key.clone()));
            events.push((id, event));
        }
        let waiting = Awaiting {
            pending,
            request_state: parsed.request_state,
            answers: Map::new(),
            outstanding: events.len(),
        };
        if events.is_empty() {
            self.retry_with_answers(now, waiting);
            return;
        }
        for (id, event) in events {
            self.incoming.insert(id);
            self.events.push_back(event);
        }
        self.awaiting.insert(handle, waiting);
    }

    /// The application answered input request `key` of `handle`.
    fn on_input_answer(
        &mut self,
        handle: &RequestId,
        key: String,
        outcome: Result<RawJson, ErrorObject>,
    ) {
        let Some(waiting) = self.awaiting.get_mut(handle) else {
            return;
        };
        match outcome {
            Ok(raw) => {
                let value = serde_json::from_str(raw.as_str()).unwrap_or(Value::Null);
                waiting.answers.insert(key, value);
                waiting.outstanding = waiting.outstanding.saturating_sub(1);
                if waiting.outstanding > 0 {
                    return;
                }
                let Some(waiting) = self.awaiting.remove(handle) else {
                    return;
                };
                match self.last_now {
                    Some(now) => self.retry_with_answers(now, waiting),
                    None => self.events.push_back(ClientEvent::RequestFailed {
                        request: handle.clone(),
                        error: ErrorObject::internal_error(),
                    }),
                }
            }
            Err(error) => {
                // The application refused: the request fails with its error.
                if let Some(waiting) = self.awaiting.remove(handle) {
                    if let Some(t) = &waiting.pending.progress {
                        self.tokens.remove(t);
                    }
                }
                self.drop_inputs(handle);
                self.events.push_back(ClientEvent::RequestFailed {
                    request: handle.clone(),
                    error,
                });
            }
        }
    }

    fn retry_with_answers(&mut self, now: Instant, waiting: Awaiting) {
        let mut extra = Map::new();
        extra.insert("inputResponses".into(), Value::Object(waiting.answers));
        if let Some(state) = waiting.request_state {
            extra.insert("requestState".into(), Value::String(state));
        }
        self.retry(now, waiting.pending, extra);
    }

    /// Forgets the input requests of `handle` still with the application;
    /// a late answer to one is dropped quietly.
    fn drop_inputs(&mut self, handle: &RequestId) {
        let ids: Vec<RequestId> = self
            .inputs
            .iter()
            .filter(|(_, (h, _))| h == handle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.inputs.remove(&id);
            self.elicit_defaults.remove(&id);
            if self.incoming.remove(&id) {
                self.remember_cancelled(id);
            }
        }
    }

    fn on_initialize(&mut self, outcome: Result<RawJson, ErrorObject>) {
        let result = match outcome {
            Err(error) => Err(Error::InitializeRefused {
                code: error.code.code(),
                message: error.message,
            }),
            Ok(raw) => raw
                .decode::<InitializeResult>()
                .map_err(|e| Error::MalformedResult {
                    message: e.to_string(),
                }),
        };
        let result = result.and_then(|r| {
            match self
                .config
                .supported_versions
                .iter()
                .copied()
                .find(|v| *v == r.protocol_version)
            {
                Some(v) => Ok((v, r)),
                None => Err(Error::UnsupportedVersion {
                    version: r.protocol_version,
                }),
            }
        });
        match result {
            Ok((v, r)) => {
                self.phase = ClientPhase::Ready;
                self.protocol_version = Some(v);
                self.server = Some(r.clone());
                let _ = self
                    .peer
                    .send_notification(methods::NOTIFICATION_INITIALIZED, None);
                self.events.push_back(ClientEvent::Initialized {
                    protocol_version: v,
                    result: Box::new(r),
                });
            }
            Err(e) => {
                self.phase = ClientPhase::Failed;
                self.events.push_back(ClientEvent::InitializeFailed(e));
            }
        }
    }

    fn on_request(&mut self, r: Request) {
        let caps = &self.capabilities;
        let event = match r.method.as_str() {
            methods::PING => {
                let answer = RawJson::from_serialize(&Empty::default())
                    .map_err(|_| ErrorObject::internal_error());
                let _ = match answer {
                    Ok(raw) => self.peer.respond(&r.id, raw),
                    Err(e) => self.peer.respond_error(&r.id, e),
                };
                return;
            }
            methods::ROOTS_LIST if caps.roots.is_some() => {
                Ok(ClientEvent::ListRoots { id: r.id.clone() })
            }
            methods::SAMPLING_CREATE_MESSAGE if caps.sampling.is_some() => r
                .params::<CreateMessageParams>()
                .map(|params| ClientEvent::CreateMessage {
                    id: r.id.clone(),
                    params: Box::new(params),
                }),
            methods::ELICITATION_CREATE if caps.elicitation.is_some() => r
                .params::<ElicitParams>()
                .map(|params| ClientEvent::Elicit {
                    id: r.id.clone(),
                    params: Box::new(params),
                }),
            _ => Err(ErrorObject::method_not_found()),
        };
        match event {
            Ok(event) => {
                if let ClientEvent::Elicit { id, params } = &event {
                    let defaults = form_defaults(params);
                    if !defaults.is_empty() {
                        self.elicit_defaults.insert(id.clone(), defaults);
                    }
                }
                self.cancelled.remove(&r.id);
                self.incoming.insert(r.id);
                self.events.push_back(event);
            }
            Err(e) => {
                // The peer just reported this request, so answering it
                // cannot fail.
                let _ = self.peer.respond_error(&r.id, e);
            }
        }
    }

    fn on_notification(&mut self, now: Instant, n: Notification) {
        let event = match n.method.as_str() {
            methods::NOTIFICATION_PROGRESS => match n.params::<ProgressParams>() {
                Ok(params) => {
                    let wire = self.tokens.get(&params.progress_token).cloned();
                    if let Some(id) = &wire {
                        self.extend(now, id);
                    }
                    let request = wire.map(|w| {
                        self.pending
                            .get(&w)
                            .map_or_else(|| w.clone(), |p| p.handle.clone())
                    });
                    ClientEvent::Progress { request, params }
                }
                Err(_) => ClientEvent::Notification(n),
            },
            methods::NOTIFICATION_MESSAGE => match n.params::<LoggingMessageParams>() {
                Ok(p) => ClientEvent::Log(p),
                Err(_) => ClientEvent::Notification(n),
            },
            methods::NOTIFICATION_TOOLS_LIST_CHANGED => ClientEvent::ToolsListChanged,
            methods::NOTIFICATION_RESOURCES_LIST_CHANGED => ClientEvent::ResourcesListChanged,
            methods::NOTIFICATION_PROMPTS_LIST_CHANGED => ClientEvent::PromptsListChanged,
            methods::NOTIFICATION_RESOURCES_UPDATED => match n.params::<UriParams>() {
                Ok(p) => ClientEvent::ResourceUpdated { uri: p.uri },
                Err(_) => ClientEvent::Notification(n),
            },
            methods::NOTIFICATION_CANCELLED => {
                let Ok(p) = n.params::<CancelledParams>() else {
                    return;
                };
                let Some(id) = p.request_id else { return };
                if !self.incoming.remove(&id) {
                    return;
                }
                let _ = self.peer.abandon(&id);
                self.elicit_defaults.remove(&id);
                self.remember_cancelled(id.clone());
                ClientEvent::Cancelled {
                    id,
                    reason: p.reason,
                }
            }
            _ => ClientEvent::Notification(n),
        };
        self.events.push_back(event);
    }

    /// Progress for `id`: its deadline moves to `now` + its timeout,
    /// bounded by the total.
    fn extend(&mut self, now: Instant, id: &RequestId) {
        if !self.config.progress_resets_timeout {
            return;
        }
        let Some(p) = self.pending.get(id) else {
            return;
        };
        let Some(timeout) = p.timeout else { return };
        let Some(mut deadline) = now.checked_add(timeout) else {
            return;
        };
        if let Some(cap) = self
            .config
            .max_total_timeout
            .and_then(|m| p.sent.checked_add(m))
        {
            deadline = deadline.min(cap);
        }
        if self.peer.deadline(id).is_some_and(|d| d < deadline) {
            let _ = self.peer.extend_timeout(id, deadline);
        }
    }
}

/// The `default` of each property of a form elicitation's requested
/// schema that has one (URL-mode elicitations have none).
fn form_defaults(params: &ElicitParams) -> Map<String, Value> {
    let mut defaults = Map::new();
    if params.mode.as_deref().is_some_and(|m| m != "form") {
        return defaults;
    }
    let properties = params
        .requested_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    for (name, schema) in properties.into_iter().flatten() {
        if let Some(value) = schema.get("default") {
            defaults.insert(name.clone(), value.clone());
        }
    }
    defaults
}

/// Whether an error answer (-32022) lists a stateless revision we speak.
fn supported_stateless(e: &ErrorObject) -> bool {
    let Some(data) = &e.data else { return false };
    let Ok(data) = data.decode::<Value>() else {
        return false;
    };
    data.get("supported")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .any(|v| version::STATELESS.contains(&v))
        })
}

/// The `resultType` of a result (2026-07-28; absent means complete).
fn result_type(raw: &RawJson) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "resultType")]
        result_type: Option<String>,
    }
    raw.decode::<Probe>().ok()?.result_type
}

/// A tool's `x-mcp-header` designations as `(property, header name)`, or
/// `None` when one is invalid (SEP-2243): a name that is empty, not an
/// HTTP token, or repeated (case-insensitively), or a designated property
/// whose type is not string, integer or boolean.
fn tool_param_headers(tool: &Tool) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(properties) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    else {
        return Some(out);
    };
    for (property, schema) in properties {
        let Some(header) = schema.get("x-mcp-header") else {
            continue;
        };
        let name = header.as_str()?;
        let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        if name.is_empty() || !name.bytes().all(token) {
            return None;
        }
        if !matches!(
            schema.get("type").and_then(Value::as_str),
            Some("string" | "integer" | "boolean")
        ) {
            return None;
        }
        if out.iter().any(|(_, h)| h.eq_ignore_ascii_case(name)) {
            return None;
        }
        out.push((property.clone(), name.to_owned()));
    }
    Some(out)
}

/// The `Mcp-Param-*` value of an argument: strings as they are when they
/// are visible ASCII (inner spaces allowed) with no space at either end,
/// else `=?base64?…?=` of their UTF-8; numbers and booleans as JSON; null
/// and the rest omitted.
fn param_header_value(value: &Value) -> Option<String> {
    use base64::Engine as _;
    match value {
        Value::String(s) => {
            let plain = s.bytes().all(|b| (0x20..0x7f).contains(&b)) && s.trim() == s;
            Some(if plain {
                s.clone()
            } else {
                format!(
                    "=?base64?{}?=",
                    base64::engine::general_purpose::STANDARD.encode(s)
                )
            })
        }
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn meta_with(token: Option<&ProgressToken>) -> Option<Meta> {
    let mut meta = None;
    if let Some(t) = token {
        insert_token(&mut meta, t);
    }
    meta
}

fn insert_token(meta: &mut Option<Meta>, token: &ProgressToken) {
    let value = match token {
        ProgressToken::String(s) => Value::String(s.clone()),
        ProgressToken::Number(n) => Value::from(*n),
    };
    meta.get_or_insert_with(Map::new)
        .insert("progressToken".into(), value);
}

/// Follows `nextCursor` through the pages of a list, refusing a cursor
/// seen before (a server looping) and stopping after a number of pages.
///
/// ```
/// use wirestate_mcp::Pagination;
///
/// let mut pages = Pagination::new(100);
/// assert_eq!(pages.next(Some("2")).unwrap(), Some("2".to_owned()));
/// assert_eq!(pages.next(None).unwrap(), None); // the last page
/// let mut pages = Pagination::new(100);
/// pages.next(Some("2")).unwrap();
/// assert!(pages.next(Some("2")).is_err()); // the same cursor again
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pagination {
    seen: BTreeSet<String>,
    pages: usize,
    max_pages: usize,
}

impl Pagination {
    /// A walk of at most `max_pages` pages.
    pub fn new(max_pages: usize) -> Self {
        Self {
            seen: BTreeSet::new(),
            pages: 0,
            max_pages,
        }
    }

    /// Pages received so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Records a received page by its `nextCursor` and returns the cursor
    /// to request next, or `None` when it was the last page.
    ///
    /// # Errors
    ///
    /// [`Error::CursorLoop`] for a cursor seen before,
    /// [`Error::TooManyPages`] past the bound.
    pub fn next(&mut self, next_cursor: Option<&str>) -> Result<Option<String>, Error> {
        self.pages = self.pages.saturating_add(1);
        let Some(c) = next_cursor else {
            return Ok(None);
        };
        if self.pages >= self.max_pages {
            return Err(Error::TooManyPages {
                max: self.max_pages,
            });
        }
        if !self.seen.insert(c.to_owned()) {
            return Err(Error::CursorLoop);
        }
        Ok(Some(c.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::ElicitationCapability;

    /// A session past `initialize` that declared form elicitation.
    fn ready(config: ClientConfig) -> (ClientSession, Instant) {
        let now = Instant::now();
        let mut c = ClientSession::new(config);
        let caps = ClientCapabilities {
            elicitation: Some(ElicitationCapability {
                form: Some(Map::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = c
            .initialize(now, Implementation::new("c", "1"), caps)
            .unwrap();
        c.poll_message();
        let init = json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": version::LATEST, "capabilities": {},
            "serverInfo": {"name": "s", "version": "0"}}});
        c.handle_message(now, init.to_string().as_bytes()).unwrap();
        while c.poll_message().is_some() {}
        while c.poll_event().is_some() {}
        (c, now)
    }

    /// The conformance suite's SEP-1034 form: every field has a default.
    fn elicit(c: &mut ClientSession, now: Instant, id: u64, mode: Option<&str>) -> RequestId {
        let mut params = json!({"message": "defaults?", "requestedSchema": {
            "type": "object", "required": [], "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
                "verified": {"type": "boolean", "default": true},
                "note": {"type": "string"}}}});
        if let Some(m) = mode {
            params["mode"] = json!(m);
        }
        let req =
            json!({"jsonrpc": "2.0", "id": id, "method": "elicitation/create", "params": params});
        c.handle_message(now, req.to_string().as_bytes()).unwrap();
        match c.poll_event() {
            Some(ClientEvent::Elicit { id, .. }) => id,
            other => panic!("{other:?}"),
        }
    }

    fn accept(content: Option<Map<String, Value>>) -> ElicitResult {
        ElicitResult {
            action: ElicitAction::Accept,
            content,
            meta: None,
            extra: Map::new(),
        }
    }

    fn answer(c: &mut ClientSession) -> Value {
        let m = c.poll_message().expect("an answer");
        serde_json::from_slice::<Value>(&m).unwrap()["result"].clone()
    }

    #[test]
    fn accepted_form_gets_the_schema_defaults_for_missing_fields() {
        let (mut c, now) = ready(ClientConfig::default());
        // No content at all: every default.
        let id = elicit(&mut c, now, 7, None);
        c.respond_elicit(&id, accept(None)).unwrap();
        assert_eq!(
            answer(&mut c),
            json!({"action": "accept", "content": {"name": "John Doe", "age": 30,
                "score": 95.5, "status": "active", "verified": true}})
        );
        // What the user entered wins over the default.
        let id = elicit(&mut c, now, 8, Some("form"));
        let mut content = Map::new();
        content.insert("name".into(), json!("Ada"));
        content.insert("note".into(), json!("hi"));
        c.respond_elicit(&id, accept(Some(content))).unwrap();
        let got = answer(&mut c);
        assert_eq!(got["content"]["name"], "Ada");
        assert_eq!(got["content"]["note"], "hi");
        assert_eq!(got["content"]["age"], 30);
        // Declined: no content is made up; the defaults are forgotten.
        let id = elicit(&mut c, now, 9, None);
        let decline = ElicitResult {
            action: ElicitAction::Decline,
            ..accept(None)
        };
        c.respond_elicit(&id, decline).unwrap();
        assert_eq!(answer(&mut c), json!({"action": "decline"}));
        assert!(c.elicit_defaults.is_empty());
    }

    #[test]
    fn defaults_are_not_applied_when_disabled_or_cancelled() {
        let config = ClientConfig {
            elicitation_defaults: false,
            ..ClientConfig::default()
        };
        let (mut c, now) = ready(config);
        let id = elicit(&mut c, now, 1, None);
        c.respond_elicit(&id, accept(None)).unwrap();
        assert_eq!(answer(&mut c), json!({"action": "accept"}));
        // The server cancels: the remembered defaults go with the request.
        let (mut c, now) = ready(ClientConfig::default());
        let id = elicit(&mut c, now, 2, None);
        assert_eq!(c.elicit_defaults.len(), 1);
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 2}});
        c.handle_message(now, cancel.to_string().as_bytes())
            .unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(ClientEvent::Cancelled { .. })
        ));
        assert!(c.elicit_defaults.is_empty());
        c.respond_elicit(&id, accept(None)).unwrap();
        assert!(c.poll_message().is_none());
        // URL mode has no form, so nothing is remembered.
        let _ = elicit(&mut c, now, 3, Some("url"));
        assert!(c.elicit_defaults.is_empty());
    }

    /// A session that discovered a stateless server (2026-07-28).
    fn stateless(caps: ClientCapabilities) -> (ClientSession, Instant) {
        let now = Instant::now();
        let mut c = ClientSession::new(ClientConfig {
            era: Era::Auto,
            ..ClientConfig::default()
        });
        let handle = c
            .initialize(now, Implementation::new("c", "1"), caps)
            .unwrap();
        let sent = sent(&mut c);
        assert_eq!(sent["method"], "server/discover");
        assert_eq!(
            sent["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert_eq!(
            sent["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["name"],
            "c"
        );
        let answer = json!({"jsonrpc": "2.0", "id": handle, "result": {
            "resultType": "complete", "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}}, "serverInfo": {"name": "s", "version": "1"}}});
        c.handle_message(now, answer.to_string().as_bytes())
            .unwrap();
        match c.poll_event() {
            Some(ClientEvent::Initialized {
                protocol_version,
                result,
            }) => {
                assert_eq!(protocol_version, "2026-07-28");
                assert_eq!(result.server_info.name, "s");
            }
            other => panic!("{other:?}"),
        }
        assert!(c.is_stateless());
        // No notifications/initialized in this era.
        assert!(c.poll_message().is_none());
        (c, now)
    }

    fn sent(c: &mut ClientSession) -> Value {
        serde_json::from_slice(&c.poll_message().expect("a message")).unwrap()
    }

    fn feed(c: &mut ClientSession, now: Instant, v: Value) {
        c.handle_message(now, v.to_string().as_bytes()).unwrap();
    }

    #[test]
    fn discovery_falls_back_to_initialize() {
        let now = Instant::now();
        let config = ClientConfig {
            era: Era::Auto,
            ..ClientConfig::default()
        };
        // A JSON-RPC error (an `initialize`-era server): initialize follows.
        let mut c = ClientSession::new(config.clone());
        let id = c
            .initialize(
                now,
                Implementation::new("c", "1"),
                ClientCapabilities::default(),
            )
            .unwrap();
        sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": "no"}}),
        );
        let init = sent(&mut c);
        assert_eq!(init["method"], "initialize");
        assert!(init["params"].get("_meta").is_none());
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": init["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "serverInfo": {"name": "legacy", "version": "0"}}}),
        );
        assert!(matches!(
            c.poll_event(),
            Some(ClientEvent::Initialized { .. })
        ));
        assert!(!c.is_stateless());
        assert_eq!(sent(&mut c)["method"], "notifications/initialized");
        // A result that is not a discovery (`{}`), and an HTTP refusal.
        for http in [false, true] {
            let mut c = ClientSession::new(config.clone());
            let id = c
                .initialize(
                    now,
                    Implementation::new("c", "1"),
                    ClientCapabilities::default(),
                )
                .unwrap();
            sent(&mut c);
            if http {
                assert!(c.fail_discovery(now, &id));
            } else {
                feed(
                    &mut c,
                    now,
                    json!({"jsonrpc": "2.0", "id": id, "result": {}}),
                );
            }
            let init = sent(&mut c);
            assert_eq!(init["method"], "initialize");
            assert_eq!(c.phase(), ClientPhase::Initializing);
            // A late report of the discovery's failure is recognised and
            // changes nothing; the initialize's own id is not a discovery.
            assert!(c.fail_discovery(now, &id));
            assert!(c.poll_message().is_none());
            assert_eq!(c.phase(), ClientPhase::Initializing);
            let init_id: RequestId = serde_json::from_value(init["id"].clone()).unwrap();
            assert!(!c.fail_discovery(now, &init_id));
        }
    }

    /// A stdio server slow to start (`uvx`, `npx`) reads our discovery
    /// after it timed out, answers it late (dropped) and then refuses the
    /// `initialize` that replaced it, as the Python SDK 2.x does (-32022):
    /// one more discovery finds the era. Refused again, the session fails
    /// with the `initialize` refusal; an `initialize` refused after an
    /// answered discovery is not retried.
    #[test]
    fn a_late_stateless_server_refusing_initialize_is_discovered_again() {
        let now = Instant::now();
        let config = ClientConfig {
            era: Era::Auto,
            ..ClientConfig::default()
        };
        for rediscovered in [true, false] {
            let mut c = ClientSession::new(config.clone());
            c.initialize(
                now,
                Implementation::new("c", "1"),
                ClientCapabilities::default(),
            )
            .unwrap();
            let first = sent(&mut c);
            assert_eq!(first["method"], "server/discover");
            let later = now + config.discover_timeout + Duration::from_secs(1);
            c.handle_timeout(later);
            let init = sent(&mut c);
            assert_eq!(init["method"], "initialize");
            // The late answer to the first discovery changes nothing.
            feed(
                &mut c,
                later,
                json!({"jsonrpc": "2.0", "id": first["id"], "result": {
                "resultType": "complete", "supportedVersions": ["2026-07-28"],
                "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}}),
            );
            assert!(c.poll_event().is_none());
            feed(
                &mut c,
                later,
                json!({"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32022,
                "message": "connection is serving the 2026-07-28 protocol"}}),
            );
            assert!(c.poll_event().is_none());
            let again = sent(&mut c);
            assert_eq!(again["method"], "server/discover");
            assert_ne!(again["id"], first["id"]);
            if rediscovered {
                feed(
                    &mut c,
                    later,
                    json!({"jsonrpc": "2.0", "id": again["id"], "result": {
                    "resultType": "complete", "supportedVersions": ["2026-07-28"],
                    "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}}),
                );
                match c.poll_event() {
                    Some(ClientEvent::Initialized {
                        protocol_version, ..
                    }) => assert_eq!(protocol_version, "2026-07-28"),
                    other => panic!("{other:?}"),
                }
                assert!(c.is_stateless());
            } else {
                feed(
                    &mut c,
                    later,
                    json!({"jsonrpc": "2.0", "id": again["id"],
                    "error": {"code": -32601, "message": "no"}}),
                );
                match c.poll_event() {
                    Some(ClientEvent::InitializeFailed(Error::InitializeRefused {
                        code, ..
                    })) => assert_eq!(code, -32022),
                    other => panic!("{other:?}"),
                }
                assert!(c.poll_message().is_none(), "no second initialize");
            }
        }
        // Discovery answered with an error, initialize refused: no retry.
        let mut c = ClientSession::new(config);
        let id = c
            .initialize(
                now,
                Implementation::new("c", "1"),
                ClientCapabilities::default(),
            )
            .unwrap();
        sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
        );
        let init = sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32600, "message": "no"}}),
        );
        assert!(matches!(
            c.poll_event(),
            Some(ClientEvent::InitializeFailed(Error::InitializeRefused {
                code: -32600,
                ..
            }))
        ));
        assert!(c.poll_message().is_none());
    }

    #[test]
    fn stateless_requests_carry_meta_and_retry_a_refused_revision() {
        let (mut c, now) = stateless(ClientCapabilities::default());
        let handle = c.call_tool(now, "t", None).unwrap();
        let first = sent(&mut c);
        let meta = &first["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert!(meta["progressToken"].is_number());
        // -32022 naming a revision we speak: sent again with a new id.
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": first["id"], "error": {
            "code": -32022, "message": "unsupported",
            "data": {"supported": ["2026-07-28"], "requested": "x"}}}),
        );
        let again = sent(&mut c);
        assert_ne!(again["id"], first["id"]);
        assert_eq!(again["params"]["name"], "t");
        assert_eq!(
            again["params"]["_meta"]["progressToken"],
            meta["progressToken"]
        );
        assert!(c.is_pending(&handle));
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": again["id"],
            "result": {"content": []}}),
        );
        match c.poll_event() {
            Some(ClientEvent::Response { request, .. }) => assert_eq!(request, handle),
            other => panic!("{other:?}"),
        }
        // Naming only revisions we do not speak: the error stands.
        let handle = c.list_tools(now, None).unwrap();
        let m = sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": m["id"], "error": {
            "code": -32022, "message": "unsupported", "data": {"supported": ["2099-01-01"]}}}),
        );
        assert!(matches!(c.poll_event(),
            Some(ClientEvent::RequestFailed { request, error }) if request == handle && error.code.code() == -32022));
        assert!(c.poll_message().is_none());
    }

    #[test]
    fn input_required_is_answered_and_retried() {
        let caps = ClientCapabilities {
            elicitation: Some(ElicitationCapability::default()),
            ..Default::default()
        };
        let (mut c, now) = stateless(caps);
        let handle = c.call_tool(now, "t", None).unwrap();
        let first = sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": first["id"], "result": {
            "resultType": "input_required", "requestState": "opaque\"state",
            "inputRequests": {"confirm": {"method": "elicitation/create", "params": {
                "message": "ok?", "requestedSchema": {"type": "object", "properties": {
                    "confirmed": {"type": "boolean", "default": true}}}}}}}}),
        );
        assert!(c.poll_message().is_none());
        assert!(c.is_pending(&handle));
        let input = match c.poll_event() {
            Some(ClientEvent::Elicit { id, params }) => {
                assert_eq!(params.message, "ok?");
                id
            }
            other => panic!("{other:?}"),
        };
        c.respond_elicit(&input, accept(None)).unwrap();
        let retry = sent(&mut c);
        assert_ne!(retry["id"], first["id"]);
        assert_eq!(retry["params"]["requestState"], "opaque\"state");
        assert_eq!(
            retry["params"]["inputResponses"]["confirm"],
            json!({"action": "accept", "content": {"confirmed": true}})
        );
        assert_eq!(
            retry["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        // Answering twice is refused.
        assert!(c.respond_elicit(&input, accept(None)).is_err());
        // A second round without state: no requestState goes back.
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": retry["id"], "result": {
            "resultType": "input_required",
            "inputRequests": {"again": {"method": "elicitation/create",
                "params": {"message": "sure?"}}}}}),
        );
        let Some(ClientEvent::Elicit { id, .. }) = c.poll_event() else {
            panic!()
        };
        c.respond_elicit(&id, accept(None)).unwrap();
        let second = sent(&mut c);
        assert!(second["params"].get("requestState").is_none());
        assert_eq!(
            second["params"]["inputResponses"]["again"]["action"],
            "accept"
        );
        // The final result, without resultType, is complete.
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": second["id"],
            "result": {"content": [{"type": "text", "text": "done"}]}}),
        );
        assert!(matches!(c.poll_event(),
            Some(ClientEvent::Response { request, .. }) if request == handle));
        assert!(!c.is_pending(&handle));
        // Input the client did not declare (sampling): the call fails.
        let handle = c.call_tool(now, "t", None).unwrap();
        let m = sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": m["id"], "result": {
            "resultType": "input_required", "inputRequests": {"s": {
                "method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 1}}}}}),
        );
        assert!(matches!(c.poll_event(),
            Some(ClientEvent::RequestFailed { request, error }) if request == handle && error.code.code() == -32021));
        // Cancelled while waiting for input: a late answer is dropped.
        let handle = c.call_tool(now, "t", None).unwrap();
        let m = sent(&mut c);
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": m["id"], "result": {
            "resultType": "input_required", "inputRequests": {"k": {
                "method": "elicitation/create", "params": {"message": "?"}}}}}),
        );
        let Some(ClientEvent::Elicit { id, .. }) = c.poll_event() else {
            panic!()
        };
        c.cancel(&handle, None).unwrap();
        assert!(!c.is_pending(&handle));
        c.respond_elicit(&id, accept(None)).unwrap();
        assert!(c.poll_message().is_none());
        assert_eq!(c.pending_requests(), 0);
    }

    #[test]
    fn http_headers_and_invalid_tools() {
        let (mut c, now) = stateless(ClientCapabilities::default());
        let list = c.list_tools(now, None).unwrap();
        let m = sent(&mut c);
        let h = c.request_headers(&serde_json::to_vec(&m).unwrap());
        assert!(h.contains(&("mcp-method".into(), "tools/list".into())));
        assert!(h.contains(&("mcp-protocol-version".into(), "2026-07-28".into())));
        assert!(!h.iter().any(|(n, _)| n == "mcp-name"));
        let tool = |name: &str, props: Value| {
            json!({"name": name, "inputSchema": {
            "type": "object", "properties": props}})
        };
        feed(
            &mut c,
            now,
            json!({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": [
                tool("good", json!({"region": {"type": "string", "x-mcp-header": "Region"},
                    "n": {"type": "integer", "x-mcp-header": "N"},
                    "flag": {"type": "boolean", "x-mcp-header": "Flag"},
                    "q": {"type": "string"}})),
                tool("number", json!({"x": {"type": "number", "x-mcp-header": "X"}})),
                tool("empty", json!({"x": {"type": "string", "x-mcp-header": ""}})),
                tool("space", json!({"x": {"type": "string", "x-mcp-header": "A B"}})),
                tool("colon", json!({"x": {"type": "string", "x-mcp-header": "A:B"}})),
                tool("accent", json!({"x": {"type": "string", "x-mcp-header": "Régión"}})),
                tool("twice", json!({"a": {"type": "string", "x-mcp-header": "Same"},
                    "b": {"type": "string", "x-mcp-header": "same"}})),
                tool("object", json!({"o": {"type": "object", "x-mcp-header": "O"}})),
            ]}}),
        );
        match c.poll_event() {
            Some(ClientEvent::Response { request, result }) => {
                assert_eq!(request, list);
                let ClientResult::ListTools(r) = *result else {
                    panic!()
                };
                let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
                assert_eq!(names, ["good"]);
            }
            other => panic!("{other:?}"),
        }
        let mut args = Map::new();
        args.insert("region".into(), json!(" us west\u{e9}"));
        args.insert("n".into(), json!(42));
        args.insert("flag".into(), Value::Null);
        args.insert("q".into(), json!("SELECT 1"));
        c.call_tool(now, "good", Some(args)).unwrap();
        let m = sent(&mut c);
        let h = c.request_headers(&serde_json::to_vec(&m).unwrap());
        assert!(h.contains(&("mcp-name".into(), "good".into())));
        assert!(h.contains(&("mcp-method".into(), "tools/call".into())));
        let region = h.iter().find(|(n, _)| n == "mcp-param-region").unwrap();
        assert_eq!(
            crate::http::stateless::decode_param_header(&region.1).unwrap(),
            " us west\u{e9}"
        );
        assert!(region.1.starts_with("=?base64?"));
        assert!(h.contains(&("mcp-param-n".into(), "42".into())));
        assert!(
            !h.iter()
                .any(|(n, _)| n == "mcp-param-flag" || n == "mcp-param-q")
        );
        // Plain values stay plain; resources/read names the URI.
        assert_eq!(
            param_header_value(&json!("us west 1")).unwrap(),
            "us west 1"
        );
        assert_eq!(param_header_value(&json!(false)).unwrap(), "false");
        c.read_resource(now, "file:///a%20b").unwrap();
        let m = sent(&mut c);
        let h = c.request_headers(&serde_json::to_vec(&m).unwrap());
        assert!(h.contains(&("mcp-name".into(), "file:///a%20b".into())));
        // Not JSON: nothing.
        assert!(c.request_headers(b"{").is_empty());
    }
}
