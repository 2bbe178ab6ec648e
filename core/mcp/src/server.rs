//! The server session of both eras on the JSON-RPC peer: the `initialize`
//! lifecycle, and stateless 2026-07-28 requests chosen per request by
//! their `_meta`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wirestate_jsonrpc::{
    Decoded, ErrorCode, ErrorObject, Event as PeerEvent, Notification, Peer, RawJson, Request,
    RequestId,
};

use crate::catalogue::Catalogue;
use crate::error::Error;
use crate::schema::{
    AcknowledgedParams, DiscoverResult, InputRequiredResult, ListenParams, MetaParams, RequestMeta,
    SubscriptionFilter, meta_keys, stateless_codes, stateless_methods,
};
use crate::schema::{
    CallToolParams, CallToolResult, CancelledParams, ClientCapabilities, CompleteParams,
    CompleteResult, CreateMessageParams, CreateMessageResult, ElicitParams, ElicitResult, Empty,
    GetPromptParams, GetPromptResult, Implementation, InitializeParams, InitializeResult,
    ListChangedCapability, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListRootsResult, ListToolsResult, LoggingLevel, LoggingMessageParams, PaginatedParams,
    ProgressParams, ProgressToken, Prompt, ReadResourceParams, ReadResourceResult, Resource,
    ResourceTemplate, ResourcesCapability, ServerCapabilities, SetLevelParams, Tool, UriParams,
    methods, progress_token, version,
};

/// How many ids of cancelled requests are remembered, so that the
/// application's late answer to one is dropped quietly instead of refused.
const CANCELLED_MEMORY: usize = 1024;

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The JSON-RPC peer's limits and the timeout of requests to the client.
    pub jsonrpc: wirestate_jsonrpc::Config,
    /// `serverInfo` of the `initialize` result.
    pub server_info: Implementation,
    /// `instructions` of the `initialize` result.
    pub instructions: Option<String>,
    /// Most entries per page of `tools/list`, `resources/list`,
    /// `resources/templates/list` and `prompts/list` (at least 1). Default 100.
    pub page_size: usize,
    /// Capabilities to advertise beyond those the catalogue implies (for
    /// example `completions`, or `tools` while no tool is registered yet).
    /// Fields set here win over the derived ones.
    pub capabilities: ServerCapabilities,
    /// The least severe log level sent before the client sets one with
    /// `logging/setLevel`; `None`: nothing until it does. Default `Info`.
    /// (Stateless requests get log messages only when their `_meta` asks.)
    pub default_log_level: Option<LoggingLevel>,
    /// `ttlMs` of cacheable stateless results (`server/discover`, the
    /// lists, `resources/read`) the application left without one.
    /// Default 0: not to be reused.
    pub cache_ttl_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self::new(Implementation::new(
            "wirestate-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
    }
}

impl Config {
    /// The defaults, with this `serverInfo`.
    pub fn new(server_info: Implementation) -> Self {
        Self {
            jsonrpc: wirestate_jsonrpc::Config::default(),
            server_info,
            instructions: None,
            page_size: 100,
            capabilities: ServerCapabilities::default(),
            default_log_level: Some(LoggingLevel::Info),
            cache_ttl_ms: 0,
        }
    }
}

/// Where the session is in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Waiting for `initialize`; only `ping` is answered otherwise.
    New,
    /// `initialize` answered; waiting for `notifications/initialized`.
    /// Requests are served already (clients often do not wait).
    Initializing,
    /// `notifications/initialized` received.
    Ready,
}

/// What the session reports to the application.
///
/// Requests the application must answer carry the `id` to answer with the
/// matching `respond_*` command (or [`ServerSession::respond_error`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// `initialize` was answered: the session speaks `protocol_version`.
    Initialize {
        /// The negotiated revision.
        protocol_version: &'static str,
        /// The client.
        client_info: Implementation,
        /// What it supports.
        capabilities: ClientCapabilities,
    },
    /// `notifications/initialized`: the client is ready for requests.
    Initialized,
    /// `tools/call` of a registered tool. Answer with
    /// [`respond_call_tool`](ServerSession::respond_call_tool); the
    /// arguments are not validated against the input schema.
    CallTool {
        /// The request to answer.
        id: RequestId,
        /// Tool name and arguments.
        params: CallToolParams,
    },
    /// `resources/read`. Answer with
    /// [`respond_read_resource`](ServerSession::respond_read_resource), or
    /// an error with code -32002 for an unknown resource.
    ReadResource {
        /// The request to answer.
        id: RequestId,
        /// The URI.
        params: ReadResourceParams,
    },
    /// `prompts/get` of a registered prompt. Answer with
    /// [`respond_get_prompt`](ServerSession::respond_get_prompt).
    GetPrompt {
        /// The request to answer.
        id: RequestId,
        /// Name and arguments.
        params: GetPromptParams,
    },
    /// `completion/complete`. Answer with
    /// [`respond_complete`](ServerSession::respond_complete).
    Complete {
        /// The request to answer.
        id: RequestId,
        /// What to complete.
        params: CompleteParams,
    },
    /// The client cancelled a request it was waiting for: it is forgotten,
    /// and an answer given later is dropped.
    Cancelled {
        /// The request.
        id: RequestId,
        /// Why, if the client said.
        reason: Option<String>,
    },
    /// `resources/subscribe` (answered).
    Subscribed {
        /// The resource.
        uri: String,
    },
    /// `resources/unsubscribe` (answered).
    Unsubscribed {
        /// The resource.
        uri: String,
    },
    /// `logging/setLevel` (answered).
    LevelSet {
        /// The least severe level the client wants.
        level: LoggingLevel,
    },
    /// `notifications/roots/list_changed`.
    RootsListChanged,
    /// `notifications/progress` for one of our requests.
    Progress(ProgressParams),
    /// A notification this session does not know.
    Notification(Notification),
    /// The client answered our ping.
    Pong {
        /// Our request.
        request: RequestId,
    },
    /// The client's roots.
    Roots {
        /// Our request.
        request: RequestId,
        /// The result.
        result: ListRootsResult,
    },
    /// The client sampled a message.
    Sampled {
        /// Our request.
        request: RequestId,
        /// The result.
        result: Box<CreateMessageResult>,
    },
    /// The user answered an elicitation.
    Elicited {
        /// Our request.
        request: RequestId,
        /// The result.
        result: ElicitResult,
    },
    /// The client answered one of our requests with an error (or with a
    /// result that does not parse: code -32603).
    RequestFailed {
        /// Our request.
        request: RequestId,
        /// The error.
        error: ErrorObject,
    },
    /// One of our requests passed its deadline; the client was sent
    /// `notifications/cancelled` for it.
    RequestTimedOut {
        /// Our request.
        request: RequestId,
    },
    /// The client sent an error response with a `null` id.
    PeerError(ErrorObject),
    /// Input refused (already answered when its
    /// [`hint`](Error::hint) is `Some`).
    Invalid(Error),
    /// The transport's input ended; our pending requests were abandoned.
    Closed {
        /// Our requests that will never be answered.
        abandoned: Vec<RequestId>,
    },
}

/// What kind of request of ours is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outgoing {
    Ping,
    Roots,
    Sampling,
    Elicitation,
}

/// A client request handed to the application.
#[derive(Debug, Clone)]
struct InFlight {
    progress: Option<ProgressToken>,
    /// A stateless (2026-07-28) request: its method and `_meta`.
    stateless: Option<(String, RequestMeta)>,
}

/// A sans-IO MCP server session (`initialize` era, revisions 2024-11-05
/// to 2025-11-25) over one JSON-RPC [`Peer`].
///
/// * **Lifecycle.** Before `initialize` only `ping` is answered; other
///   requests get -32600. `initialize` negotiates the revision
///   ([`version::negotiate`]) and advertises the capabilities the
///   catalogue implies (plus [`Config::capabilities`]); they stay fixed
///   for the session. A second `initialize` gets -32600.
/// * **Catalogue.** Tools, resources, resource templates and prompts are
///   registered with the session, which answers the list requests itself,
///   paginated ([`Config::page_size`], cursors are opaque offsets;
///   an invalid cursor gets -32602), and sends the `list_changed`
///   notifications when the catalogue changes after `initialize`.
/// * **Calls** (`tools/call` of a registered tool, `resources/read`,
///   `prompts/get` of a registered prompt, `completion/complete`) become
///   [`ServerEvent`]s the application answers with `respond_*`; unknown
///   tools and prompts get -32602, methods of capabilities not advertised
///   and unknown methods -32601, params that do not parse -32602.
/// * **Cancellation.** `notifications/cancelled` for a request in flight
///   forgets it ([`ServerEvent::Cancelled`]); the application's answer is
///   then dropped, never sent.
/// * **Out:** progress ([`notify_progress`](Self::notify_progress)),
///   logging ([`log`](Self::log), filtered by the level set), resource
///   updates for subscribed URIs, and requests to the client (ping, roots,
///   sampling, elicitation) with timeouts ([`poll_timeout`](Self::poll_timeout)).
///
/// Framing is the transport's: see [`StdioServer`](crate::StdioServer).
#[derive(Debug)]
pub struct ServerSession {
    config: Config,
    peer: Peer,
    phase: Phase,
    protocol_version: Option<&'static str>,
    client_info: Option<Implementation>,
    client_capabilities: Option<ClientCapabilities>,
    advertised: ServerCapabilities,
    catalogue: Catalogue,
    log_level: Option<LoggingLevel>,
    subscriptions: BTreeSet<String>,
    in_flight: BTreeMap<RequestId, InFlight>,
    progress: BTreeMap<ProgressToken, Option<f64>>,
    cancelled: BTreeSet<RequestId>,
    cancelled_order: VecDeque<RequestId>,
    outgoing: BTreeMap<RequestId, Outgoing>,
    events: VecDeque<ServerEvent>,
    /// Every request is stateless, `_meta` or not (the HTTP transport's
    /// sessions for stateless POSTs).
    stateless_only: bool,
    /// Open `subscriptions/listen` requests and what each asked for.
    listens: BTreeMap<RequestId, SubscriptionFilter>,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl ServerSession {
    /// A session waiting for `initialize`, with an empty catalogue.
    pub fn new(config: Config) -> Self {
        Self::with_catalogue(config, Catalogue::default())
    }

    /// A session that starts with `catalogue` (the HTTP transport seeds
    /// each session it opens with its own).
    pub(crate) fn with_catalogue(config: Config, catalogue: Catalogue) -> Self {
        Self {
            peer: Peer::new(config.jsonrpc.clone()),
            log_level: config.default_log_level,
            config,
            phase: Phase::New,
            protocol_version: None,
            client_info: None,
            client_capabilities: None,
            advertised: ServerCapabilities::default(),
            catalogue,
            subscriptions: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            progress: BTreeMap::new(),
            cancelled: BTreeSet::new(),
            cancelled_order: VecDeque::new(),
            outgoing: BTreeMap::new(),
            events: VecDeque::new(),
            stateless_only: false,
            listens: BTreeMap::new(),
        }
    }

    /// A session that treats every request as a stateless one (the HTTP
    /// transport opens one per stateless POST).
    pub(crate) fn stateless(config: Config, catalogue: Catalogue) -> Self {
        let mut s = Self::with_catalogue(config, catalogue);
        s.stateless_only = true;
        s.log_level = None;
        s
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- inputs ----

    /// Takes one complete JSON-RPC message (single or batch) from the
    /// client.
    ///
    /// # Errors
    ///
    /// The first problem of the message, as the JSON-RPC layer reports it
    /// (already answered; also an [`ServerEvent::Invalid`]). Never sticky.
    pub fn handle_message(&mut self, now: Instant, message: &[u8]) -> Result<(), Error> {
        let r = self.peer.handle_message(now, message);
        self.pump();
        r.map_err(Error::from)
    }

    /// [`handle_message`](Self::handle_message) without the copy.
    ///
    /// # Errors
    ///
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_message_bytes(&mut self, now: Instant, message: Bytes) -> Result<(), Error> {
        let r = self.peer.handle_message_bytes(now, message);
        self.pump();
        r.map_err(Error::from)
    }

    /// [`handle_message_bytes`](Self::handle_message_bytes) for a message
    /// the transport has already decoded (with
    /// [`wirestate_jsonrpc::decode`] and limits no looser than the
    /// session's), so that it is not decoded twice.
    ///
    /// # Errors
    ///
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_decoded(&mut self, now: Instant, message: Decoded) -> Result<(), Error> {
        let r = self.peer.handle_decoded(now, message);
        self.pump();
        r.map_err(Error::from)
    }

    /// Fires the deadlines of our requests due at `now`: each becomes
    /// [`ServerEvent::RequestTimedOut`], and the client is sent
    /// `notifications/cancelled` for it.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.peer.handle_timeout(now);
        self.pump();
    }

    /// The transport's input ended: our pending requests are abandoned
    /// ([`ServerEvent::Closed`]). Requests of the client's still in flight
    /// may still be answered (the output may still be open).
    pub fn handle_close(&mut self) {
        // Listen streams end with their result, so that every request of
        // the client's is answered.
        let listens = std::mem::take(&mut self.listens);
        for id in listens.into_keys() {
            let mut meta = Map::new();
            meta.insert(meta_keys::SUBSCRIPTION_ID.into(), id_value(&id));
            let mut result = Map::new();
            result.insert("resultType".into(), Value::String("complete".into()));
            result.insert("_meta".into(), Value::Object(meta));
            if let Ok(raw) = RawJson::from_serialize(&result) {
                let _ = self.peer.respond(&id, raw);
            }
        }
        let abandoned = self.peer.cancel_all();
        self.outgoing.clear();
        self.events.push_back(ServerEvent::Closed { abandoned });
    }

    // ---- outputs ----

    /// The next complete message to send.
    pub fn poll_message(&mut self) -> Option<Bytes> {
        self.peer.poll_message()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peer.poll_timeout()
    }

    // ---- catalogue ----

    /// Registers a tool, replacing one of the same name. After
    /// `initialize`, sends `notifications/tools/list_changed` if advertised.
    pub fn add_tool(&mut self, tool: Tool) {
        self.catalogue.add_tool(tool);
        self.list_changed(methods::NOTIFICATION_TOOLS_LIST_CHANGED);
    }

    /// Removes a tool; returns whether it was registered.
    pub fn remove_tool(&mut self, name: &str) -> bool {
        let removed = self.catalogue.remove_tool(name);
        if removed {
            self.list_changed(methods::NOTIFICATION_TOOLS_LIST_CHANGED);
        }
        removed
    }

    /// The registered tools, in registration order.
    pub fn tools(&self) -> &[Tool] {
        &self.catalogue.tools
    }

    /// Registers a resource, replacing one with the same URI.
    pub fn add_resource(&mut self, resource: Resource) {
        self.catalogue.add_resource(resource);
        self.list_changed(methods::NOTIFICATION_RESOURCES_LIST_CHANGED);
    }

    /// Removes a resource; returns whether it was registered.
    pub fn remove_resource(&mut self, uri: &str) -> bool {
        let removed = self.catalogue.remove_resource(uri);
        if removed {
            self.list_changed(methods::NOTIFICATION_RESOURCES_LIST_CHANGED);
        }
        removed
    }

    /// The registered resources.
    pub fn resources(&self) -> &[Resource] {
        &self.catalogue.resources
    }

    /// Registers a resource template, replacing one with the same URI
    /// template.
    pub fn add_resource_template(&mut self, template: ResourceTemplate) {
        self.catalogue.add_template(template);
        self.list_changed(methods::NOTIFICATION_RESOURCES_LIST_CHANGED);
    }

    /// Registers a prompt, replacing one of the same name.
    pub fn add_prompt(&mut self, prompt: Prompt) {
        self.catalogue.add_prompt(prompt);
        self.list_changed(methods::NOTIFICATION_PROMPTS_LIST_CHANGED);
    }

    /// Removes a prompt; returns whether it was registered.
    pub fn remove_prompt(&mut self, name: &str) -> bool {
        let removed = self.catalogue.remove_prompt(name);
        if removed {
            self.list_changed(methods::NOTIFICATION_PROMPTS_LIST_CHANGED);
        }
        removed
    }

    /// The registered prompts.
    pub fn prompts(&self) -> &[Prompt] {
        &self.catalogue.prompts
    }

    /// A subscribed resource changed: sends
    /// `notifications/resources/updated` if the client subscribed to `uri`,
    /// and returns whether it did.
    /// Listen streams whose `resourceSubscriptions` name `uri` are told
    /// too.
    pub fn resource_updated(&mut self, uri: &str) -> bool {
        let listeners: Vec<RequestId> = self
            .listens
            .iter()
            .filter(|(_, f)| {
                f.resource_subscriptions
                    .as_ref()
                    .is_some_and(|l| l.iter().any(|u| u == uri))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut sent = false;
        for id in listeners {
            let mut params = Map::new();
            params.insert("uri".into(), Value::String(uri.to_owned()));
            sent |= self
                .notify_listener(&id, methods::NOTIFICATION_RESOURCES_UPDATED, params)
                .is_ok();
        }
        if !self.subscriptions.contains(uri) {
            return sent;
        }
        self.notify(
            methods::NOTIFICATION_RESOURCES_UPDATED,
            &UriParams::new(uri),
        )
        .is_ok()
            || sent
    }

    /// A notification on the listen stream `id`, tagged with it.
    fn notify_listener(
        &mut self,
        id: &RequestId,
        method: &str,
        mut params: Map<String, Value>,
    ) -> Result<(), Error> {
        let mut meta = Map::new();
        meta.insert(meta_keys::SUBSCRIPTION_ID.into(), id_value(id));
        params.insert("_meta".into(), Value::Object(meta));
        self.notify(method, &params)
    }

    // ---- answers ----

    /// Answers a [`ServerEvent::CallTool`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_call_tool(
        &mut self,
        id: &RequestId,
        result: CallToolResult,
    ) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a [`ServerEvent::CallTool`] with the JSON text of a
    /// [`CallToolResult`] (the caller's to vouch for), sent as it is:
    /// what [`handler::structured_result`](crate::handler::structured_result)
    /// writes.
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_call_tool_raw(&mut self, id: &RequestId, result: RawJson) -> Result<(), Error> {
        if !self.in_flight.contains_key(id) && !self.cancelled.contains(id) {
            return Err(Error::NotAnswerable { id: id.clone() });
        }
        self.finish(id, Ok(result))
    }

    /// Answers a [`ServerEvent::ReadResource`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_read_resource(
        &mut self,
        id: &RequestId,
        result: ReadResourceResult,
    ) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a [`ServerEvent::GetPrompt`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_get_prompt(
        &mut self,
        id: &RequestId,
        result: GetPromptResult,
    ) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a [`ServerEvent::Complete`].
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_complete(
        &mut self,
        id: &RequestId,
        result: CompleteResult,
    ) -> Result<(), Error> {
        self.respond(id, &result)
    }

    /// Answers a request handed to the application with an error (for
    /// example -32002 for `resources/read` of an unknown resource).
    ///
    /// An answer to a request the client cancelled is dropped: `Ok`, and
    /// nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnswerable`] if `id` is not waiting for an answer;
    /// nothing changes.
    pub fn respond_error(&mut self, id: &RequestId, error: ErrorObject) -> Result<(), Error> {
        self.finish(id, Err(error))
    }

    /// Answers a stateless `tools/call`, `prompts/get` or `resources/read`
    /// with an [`InputRequiredResult`] (SEP-2322): the client fulfils the
    /// input requests and retries with `inputResponses` and the
    /// `requestState` (which the application must protect against
    /// tampering).
    ///
    /// # Errors
    ///
    /// [`Error::InputRequiredNotAllowed`] for a request of the
    /// `initialize` era or another method; otherwise as
    /// [`respond_error`](Self::respond_error).
    pub fn respond_input_required(
        &mut self,
        id: &RequestId,
        result: InputRequiredResult,
    ) -> Result<(), Error> {
        if let Some(flight) = self.in_flight.get(id) {
            let allowed = flight.stateless.as_ref().is_some_and(|(m, _)| {
                stateless_methods::INPUT_REQUIRED_ALLOWED.contains(&m.as_str())
            });
            if !allowed {
                return Err(Error::InputRequiredNotAllowed);
            }
        }
        let raw = RawJson::from_serialize(&result.to_value()).map_err(Error::serialize)?;
        self.finish(id, Ok(raw))
    }

    /// Answers with `MissingRequiredClientCapabilityError` (-32021): the
    /// request needs `required`, which its `_meta` did not declare.
    ///
    /// # Errors
    ///
    /// As [`respond_error`](Self::respond_error).
    pub fn respond_missing_capability(
        &mut self,
        id: &RequestId,
        required: &ClientCapabilities,
    ) -> Result<(), Error> {
        self.finish(id, Err(missing_capability(required)))
    }

    fn respond<T: Serialize>(&mut self, id: &RequestId, result: &T) -> Result<(), Error> {
        if !self.in_flight.contains_key(id) && !self.cancelled.contains(id) {
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
        let Some(flight) = self.in_flight.remove(id) else {
            if self.cancelled.remove(id) {
                self.cancelled_order.retain(|c| c != id);
                return Ok(());
            }
            return Err(Error::NotAnswerable { id: id.clone() });
        };
        if let Some(token) = flight.progress {
            self.progress.remove(&token);
        }
        let outcome = match (&flight.stateless, outcome) {
            (Some((method, _)), Ok(raw)) => Ok(self.decorate(method, raw)),
            (_, other) => other,
        };
        match outcome {
            Ok(raw) => self.peer.respond(id, raw)?,
            Err(e) => self.peer.respond_error(id, e)?,
        }
        Ok(())
    }

    // ---- notifications out ----

    /// Sends `notifications/progress` for the request in flight that
    /// carries `token`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownProgressToken`] if no request in flight carries it,
    /// [`Error::ProgressNotIncreasing`] if `progress` is not greater than
    /// the last value sent (or not finite); nothing is sent.
    pub fn notify_progress(
        &mut self,
        token: &ProgressToken,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> Result<(), Error> {
        let Some(last) = self.progress.get_mut(token) else {
            return Err(Error::UnknownProgressToken);
        };
        if !progress.is_finite() || last.is_some_and(|l| progress <= l) {
            return Err(Error::ProgressNotIncreasing);
        }
        *last = Some(progress);
        let params = ProgressParams {
            progress_token: token.clone(),
            progress,
            total: total.filter(|t| t.is_finite()),
            message,
            meta: None,
            extra: Map::new(),
        };
        self.notify(methods::NOTIFICATION_PROGRESS, &params)
    }

    /// Sends a log message (`notifications/message`) if `level` is at
    /// least the level the client set (or [`Config::default_log_level`]),
    /// and returns whether it was sent. Nothing is sent before
    /// `initialize` or when logging is not advertised.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] if `data` cannot be written.
    pub fn log(
        &mut self,
        level: LoggingLevel,
        logger: Option<&str>,
        data: Value,
    ) -> Result<bool, Error> {
        if self.phase == Phase::New {
            // Stateless: only while a request that asked for this level
            // (`_meta` logLevel) is in flight.
            let wanted = self
                .in_flight
                .values()
                .filter_map(|f| f.stateless.as_ref()?.1.log_level)
                .any(|min| level >= min);
            if !wanted {
                return Ok(false);
            }
        } else {
            let wanted = self.log_level.is_some_and(|min| level >= min);
            if self.advertised.logging.is_none() || !wanted {
                return Ok(false);
            }
        }
        let params = LoggingMessageParams {
            level,
            logger: logger.map(str::to_owned),
            data,
            meta: None,
            extra: Map::new(),
        };
        self.notify(methods::NOTIFICATION_MESSAGE, &params)?;
        Ok(true)
    }

    fn notify<T: Serialize>(&mut self, method: &str, params: &T) -> Result<(), Error> {
        let raw = RawJson::from_serialize(params).map_err(Error::serialize)?;
        self.peer.send_notification(method, Some(raw))?;
        Ok(())
    }

    fn list_changed(&mut self, method: &str) {
        let listeners: Vec<RequestId> = self
            .listens
            .iter()
            .filter(|(_, f)| {
                let wanted = match method {
                    methods::NOTIFICATION_TOOLS_LIST_CHANGED => f.tools_list_changed,
                    methods::NOTIFICATION_PROMPTS_LIST_CHANGED => f.prompts_list_changed,
                    _ => f.resources_list_changed,
                };
                wanted == Some(true)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in listeners {
            let _ = self.notify_listener(&id, method, Map::new());
        }
        if self.phase == Phase::New {
            return;
        }
        let advertised = match method {
            methods::NOTIFICATION_TOOLS_LIST_CHANGED => {
                self.advertised.tools.as_ref().and_then(|c| c.list_changed)
            }
            methods::NOTIFICATION_PROMPTS_LIST_CHANGED => self
                .advertised
                .prompts
                .as_ref()
                .and_then(|c| c.list_changed),
            _ => self
                .advertised
                .resources
                .as_ref()
                .and_then(|c| c.list_changed),
        };
        if advertised == Some(true) {
            // An empty object serializes; this cannot fail.
            let _ = self.peer.send_notification(method, None);
        }
    }

    // ---- requests to the client ----

    /// Pings the client; the answer is [`ServerEvent::Pong`]. Allowed once
    /// `initialize` is answered.
    ///
    /// # Errors
    ///
    /// [`Error::NotInitialized`], or the JSON-RPC layer's limits.
    pub fn ping(&mut self, now: Instant) -> Result<RequestId, Error> {
        if self.phase == Phase::New {
            return Err(Error::NotInitialized);
        }
        self.request(now, methods::PING, Outgoing::Ping, &Empty::default())
    }

    /// Asks for the client's roots; the answer is [`ServerEvent::Roots`].
    ///
    /// # Errors
    ///
    /// [`Error::NotInitialized`] before `notifications/initialized`,
    /// [`Error::ClientLacksCapability`], or the JSON-RPC layer's limits.
    pub fn list_roots(&mut self, now: Instant) -> Result<RequestId, Error> {
        self.check_client("roots", |c| c.roots.is_some())?;
        self.request(now, methods::ROOTS_LIST, Outgoing::Roots, &Empty::default())
    }

    /// Asks the client to sample its model; the answer is
    /// [`ServerEvent::Sampled`].
    ///
    /// # Errors
    ///
    /// As [`list_roots`](Self::list_roots) (capability `sampling`).
    pub fn create_message(
        &mut self,
        now: Instant,
        params: &CreateMessageParams,
    ) -> Result<RequestId, Error> {
        self.check_client("sampling", |c| c.sampling.is_some())?;
        self.request(
            now,
            methods::SAMPLING_CREATE_MESSAGE,
            Outgoing::Sampling,
            params,
        )
    }

    /// Asks the user for information; the answer is
    /// [`ServerEvent::Elicited`].
    ///
    /// # Errors
    ///
    /// As [`list_roots`](Self::list_roots) (capability `elicitation`).
    pub fn elicit(&mut self, now: Instant, params: &ElicitParams) -> Result<RequestId, Error> {
        self.check_client("elicitation", |c| c.elicitation.is_some())?;
        self.request(
            now,
            methods::ELICITATION_CREATE,
            Outgoing::Elicitation,
            params,
        )
    }

    /// Cancels one of our requests: it is forgotten (a late answer is
    /// dropped) and the client is sent `notifications/cancelled`.
    ///
    /// # Errors
    ///
    /// The JSON-RPC layer's [`NotPending`](wirestate_jsonrpc::Error::NotPending).
    pub fn cancel_request(&mut self, id: &RequestId, reason: Option<&str>) -> Result<(), Error> {
        self.peer.cancel(id)?;
        self.outgoing.remove(id);
        self.send_cancelled(id, reason);
        Ok(())
    }

    fn check_client(
        &self,
        capability: &'static str,
        has: impl Fn(&ClientCapabilities) -> bool,
    ) -> Result<(), Error> {
        if self.phase != Phase::Ready {
            return Err(Error::NotInitialized);
        }
        match &self.client_capabilities {
            Some(c) if has(c) => Ok(()),
            _ => Err(Error::ClientLacksCapability { capability }),
        }
    }

    fn request<T: Serialize>(
        &mut self,
        now: Instant,
        method: &str,
        kind: Outgoing,
        params: &T,
    ) -> Result<RequestId, Error> {
        let raw = RawJson::from_serialize(params).map_err(Error::serialize)?;
        let id = self.peer.send_request(now, method, Some(raw), None)?;
        self.outgoing.insert(id.clone(), kind);
        Ok(id)
    }

    fn send_cancelled(&mut self, id: &RequestId, reason: Option<&str>) {
        let params = CancelledParams {
            request_id: Some(id.clone()),
            reason: reason.map(str::to_owned),
            ..CancelledParams::default()
        };
        let _ = self.notify(methods::NOTIFICATION_CANCELLED, &params);
    }

    // ---- queries ----

    /// Where the session is in the lifecycle.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The negotiated revision, once `initialize` is answered.
    pub fn protocol_version(&self) -> Option<&'static str> {
        self.protocol_version
    }

    /// Whether a JSON-RPC batch is taken: until `initialize` and on
    /// revisions that have them (2024-11-05, 2025-03-26); a batch on a
    /// session of 2025-06-18 or later is refused with one -32600 error
    /// ([`version::has_batches`]). Never, if the configuration's JSON-RPC
    /// limits turn batches off.
    pub fn accepts_batches(&self) -> bool {
        self.peer.config().limits.allow_batches
    }

    /// The client, once `initialize` is answered.
    pub fn client_info(&self) -> Option<&Implementation> {
        self.client_info.as_ref()
    }

    /// What the client supports, once `initialize` is answered.
    pub fn client_capabilities(&self) -> Option<&ClientCapabilities> {
        self.client_capabilities.as_ref()
    }

    /// What the server advertised (empty before `initialize`).
    pub fn capabilities(&self) -> &ServerCapabilities {
        &self.advertised
    }

    /// The least severe log level sent, if any.
    pub fn log_level(&self) -> Option<LoggingLevel> {
        self.log_level
    }

    /// Whether the client subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions.contains(uri)
    }

    /// The `_meta` of a stateless request handed to the application (its
    /// client's capabilities, identity and log level); `None` for a
    /// request of the `initialize` era or one not in flight.
    pub fn request_meta(&self, id: &RequestId) -> Option<&RequestMeta> {
        self.in_flight.get(id)?.stateless.as_ref().map(|(_, m)| m)
    }

    /// Open `subscriptions/listen` requests.
    pub fn listens(&self) -> usize {
        self.listens.len()
    }

    /// Client requests handed to the application and not yet answered.
    pub fn pending_requests(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether every request of the client's has been answered (or
    /// cancelled).
    pub fn is_idle(&self) -> bool {
        self.peer.pending_incoming() == 0
    }

    /// Server-to-client requests (roots, sampling, elicitation, ping)
    /// still waiting for the client's answer.
    pub fn pending_server_requests(&self) -> usize {
        self.peer.pending_outgoing()
    }

    /// Whether queued output is below the JSON-RPC write high-water mark.
    pub fn wants_message(&self) -> bool {
        self.peer.wants_message()
    }

    /// The JSON-RPC peer's counters.
    pub fn stats(&self) -> wirestate_jsonrpc::Stats {
        self.peer.stats()
    }

    // ---- dispatch ----

    fn pump(&mut self) {
        while let Some(event) = self.peer.poll_event() {
            match event {
                PeerEvent::Request(r) => self.on_request(r),
                PeerEvent::Notification(n) => self.on_notification(n),
                PeerEvent::Response { request, result } => self.on_response(request, Ok(result)),
                PeerEvent::ErrorResponse { request, error } => {
                    self.on_response(request, Err(error));
                }
                PeerEvent::TimedOut { request } => {
                    self.outgoing.remove(&request);
                    self.send_cancelled(&request, Some("timed out"));
                    self.events
                        .push_back(ServerEvent::RequestTimedOut { request });
                }
                PeerEvent::PeerError(e) => self.events.push_back(ServerEvent::PeerError(e)),
                PeerEvent::Invalid(e) => self.events.push_back(ServerEvent::Invalid(e.into())),
                _ => {}
            }
        }
    }

    fn on_response(&mut self, request: RequestId, outcome: Result<RawJson, ErrorObject>) {
        let Some(kind) = self.outgoing.remove(&request) else {
            return;
        };
        let result = match outcome {
            Err(error) => {
                self.events
                    .push_back(ServerEvent::RequestFailed { request, error });
                return;
            }
            Ok(r) => r,
        };
        let event = match kind {
            Outgoing::Ping => Ok(ServerEvent::Pong {
                request: request.clone(),
            }),
            Outgoing::Roots => result.decode().map(|result| ServerEvent::Roots {
                request: request.clone(),
                result,
            }),
            Outgoing::Sampling => result.decode().map(|result| ServerEvent::Sampled {
                request: request.clone(),
                result: Box::new(result),
            }),
            Outgoing::Elicitation => result.decode().map(|result| ServerEvent::Elicited {
                request: request.clone(),
                result,
            }),
        };
        self.events
            .push_back(event.unwrap_or_else(|e| ServerEvent::RequestFailed {
                request,
                error: ErrorObject::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!("malformed result: {e}"),
                ),
            }));
    }

    fn on_notification(&mut self, n: Notification) {
        match n.method.as_str() {
            methods::NOTIFICATION_INITIALIZED => {
                if self.phase == Phase::Initializing {
                    self.phase = Phase::Ready;
                    self.events.push_back(ServerEvent::Initialized);
                }
            }
            methods::NOTIFICATION_CANCELLED => {
                let Ok(p) = n.params::<CancelledParams>() else {
                    return;
                };
                let Some(id) = p.request_id else { return };
                if self.listens.remove(&id).is_some() {
                    let _ = self.peer.abandon(&id);
                    return;
                }
                if let Some(flight) = self.in_flight.remove(&id) {
                    if let Some(token) = flight.progress {
                        self.progress.remove(&token);
                    }
                    let _ = self.peer.abandon(&id);
                    self.remember_cancelled(id.clone());
                    self.events.push_back(ServerEvent::Cancelled {
                        id,
                        reason: p.reason,
                    });
                }
            }
            methods::NOTIFICATION_ROOTS_LIST_CHANGED => {
                self.events.push_back(ServerEvent::RootsListChanged);
            }
            methods::NOTIFICATION_PROGRESS => match n.params::<ProgressParams>() {
                Ok(p) => self.events.push_back(ServerEvent::Progress(p)),
                Err(_) => self.events.push_back(ServerEvent::Notification(n)),
            },
            _ => self.events.push_back(ServerEvent::Notification(n)),
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

    fn on_request(&mut self, r: Request) {
        let id = r.id.clone();
        let meta = MetaParams::meta_of(r.params.as_ref());
        let stateless = self.stateless_only || RequestMeta::version_of(meta.as_ref()).is_some();
        let answer = if stateless {
            let method = r.method.clone();
            match self.route_stateless(r, meta.as_ref()) {
                Answer::Result(raw) => Answer::Result(self.decorate(&method, raw)),
                other => other,
            }
        } else {
            self.route(r)
        };
        let outcome = match answer {
            Answer::Deferred => return,
            Answer::Result(raw) => self.peer.respond(&id, raw),
            Answer::Error(e) => self.peer.respond_error(&id, e),
        };
        // The peer just reported this request, so answering it cannot fail.
        let _ = outcome;
    }

    fn route(&mut self, r: Request) -> Answer {
        let method = r.method.as_str();
        if method == methods::PING {
            return Answer::ok(&Empty::default());
        }
        if method == methods::INITIALIZE {
            return self.initialize(&r);
        }
        if self.phase == Phase::New {
            return Answer::Error(ErrorObject::new(
                ErrorCode::INVALID_REQUEST,
                "Server not initialized: send initialize first",
            ));
        }
        self.route_features(r)
    }

    /// The feature requests both eras share, against the advertised
    /// capabilities.
    fn route_features(&mut self, r: Request) -> Answer {
        let method = r.method.as_str();
        let caps = &self.advertised;
        let (tools, resources, prompts) = (
            caps.tools.is_some(),
            caps.resources.is_some(),
            caps.prompts.is_some(),
        );
        let subscribe = caps
            .resources
            .as_ref()
            .is_some_and(|c| c.subscribe == Some(true));
        let (completions, logging) = (caps.completions.is_some(), caps.logging.is_some());
        let page = self.config.page_size.max(1);
        match method {
            methods::TOOLS_LIST if tools => match list_params(&r) {
                Ok(cursor) => paginate(&self.catalogue.tools, cursor, page).map_or_else(
                    Answer::Error,
                    |(tools, next_cursor)| {
                        Answer::ok(&ListToolsResult {
                            tools,
                            next_cursor,
                            ..Default::default()
                        })
                    },
                ),
                Err(e) => Answer::Error(e),
            },
            methods::RESOURCES_LIST if resources => match list_params(&r) {
                Ok(cursor) => paginate(&self.catalogue.resources, cursor, page).map_or_else(
                    Answer::Error,
                    |(resources, next_cursor)| {
                        Answer::ok(&ListResourcesResult {
                            resources,
                            next_cursor,
                            ..Default::default()
                        })
                    },
                ),
                Err(e) => Answer::Error(e),
            },
            methods::RESOURCES_TEMPLATES_LIST if resources => match list_params(&r) {
                Ok(cursor) => paginate(&self.catalogue.templates, cursor, page).map_or_else(
                    Answer::Error,
                    |(resource_templates, next_cursor)| {
                        Answer::ok(&ListResourceTemplatesResult {
                            resource_templates,
                            next_cursor,
                            ..Default::default()
                        })
                    },
                ),
                Err(e) => Answer::Error(e),
            },
            methods::PROMPTS_LIST if prompts => match list_params(&r) {
                Ok(cursor) => paginate(&self.catalogue.prompts, cursor, page).map_or_else(
                    Answer::Error,
                    |(prompts, next_cursor)| {
                        Answer::ok(&ListPromptsResult {
                            prompts,
                            next_cursor,
                            ..Default::default()
                        })
                    },
                ),
                Err(e) => Answer::Error(e),
            },
            methods::TOOLS_CALL if tools => match required::<CallToolParams>(&r) {
                Ok(params) if self.catalogue.tools.iter().any(|t| t.name == params.name) => {
                    let progress = progress_token(params.meta.as_ref());
                    self.hand_over(r.id, progress, |id| ServerEvent::CallTool { id, params })
                }
                Ok(params) => Answer::Error(ErrorObject::new(
                    ErrorCode::INVALID_PARAMS,
                    format!("Unknown tool: {}", params.name),
                )),
                Err(e) => Answer::Error(e),
            },
            methods::RESOURCES_READ if resources => match required::<ReadResourceParams>(&r) {
                Ok(params) => {
                    let progress = progress_token(params.meta.as_ref());
                    self.hand_over(r.id, progress, |id| ServerEvent::ReadResource {
                        id,
                        params,
                    })
                }
                Err(e) => Answer::Error(e),
            },
            methods::PROMPTS_GET if prompts => match required::<GetPromptParams>(&r) {
                Ok(params) if self.catalogue.prompts.iter().any(|p| p.name == params.name) => {
                    let progress = progress_token(params.meta.as_ref());
                    self.hand_over(r.id, progress, |id| ServerEvent::GetPrompt { id, params })
                }
                Ok(params) => Answer::Error(ErrorObject::new(
                    ErrorCode::INVALID_PARAMS,
                    format!("Unknown prompt: {}", params.name),
                )),
                Err(e) => Answer::Error(e),
            },
            methods::COMPLETION_COMPLETE if completions => match required::<CompleteParams>(&r) {
                Ok(params) => {
                    let progress = progress_token(params.meta.as_ref());
                    self.hand_over(r.id, progress, |id| ServerEvent::Complete { id, params })
                }
                Err(e) => Answer::Error(e),
            },
            methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE if subscribe => {
                match required::<UriParams>(&r) {
                    Ok(p) => {
                        if method == methods::RESOURCES_SUBSCRIBE {
                            self.subscriptions.insert(p.uri.clone());
                            self.events
                                .push_back(ServerEvent::Subscribed { uri: p.uri });
                        } else {
                            self.subscriptions.remove(&p.uri);
                            self.events
                                .push_back(ServerEvent::Unsubscribed { uri: p.uri });
                        }
                        Answer::ok(&Empty::default())
                    }
                    Err(e) => Answer::Error(e),
                }
            }
            methods::LOGGING_SET_LEVEL if logging => match required::<SetLevelParams>(&r) {
                Ok(p) => {
                    self.log_level = Some(p.level);
                    self.events
                        .push_back(ServerEvent::LevelSet { level: p.level });
                    Answer::ok(&Empty::default())
                }
                Err(e) => Answer::Error(e),
            },
            _ => Answer::Error(ErrorObject::method_not_found()),
        }
    }

    /// A stateless (2026-07-28) request: its `_meta` carries the revision
    /// and the client's capabilities; there is no lifecycle.
    fn route_stateless(&mut self, r: Request, meta: Option<&Map<String, Value>>) -> Answer {
        let request_meta = match RequestMeta::from_meta(meta) {
            Ok(m) => m,
            Err(e) => {
                return Answer::Error(ErrorObject::invalid_params(e));
            }
        };
        if !version::is_stateless(&request_meta.protocol_version) {
            let data = serde_json::json!({
                "supported": version::STATELESS,
                "requested": request_meta.protocol_version,
            });
            let mut e = ErrorObject::new(
                ErrorCode::new(stateless_codes::UNSUPPORTED_PROTOCOL_VERSION),
                "Unsupported protocol version",
            );
            if let Ok(raw) = RawJson::from_serialize(&data) {
                e = e.with_data(raw);
            }
            return Answer::Error(e);
        }
        let method = r.method.clone();
        let method = method.as_str();
        if stateless_methods::REMOVED.contains(&method) {
            return Answer::Error(ErrorObject::method_not_found());
        }
        // What a stateless client sees is what the catalogue offers now.
        self.advertised = self.derive_capabilities();
        match method {
            stateless_methods::SERVER_DISCOVER => {
                let mut meta = Map::new();
                meta.insert(
                    meta_keys::SERVER_INFO.into(),
                    serde_json::to_value(&self.config.server_info).unwrap_or_default(),
                );
                Answer::ok(&DiscoverResult {
                    supported_versions: version::STATELESS
                        .iter()
                        .map(|v| (*v).to_owned())
                        .collect(),
                    capabilities: self.advertised.clone(),
                    instructions: self.config.instructions.clone(),
                    meta: Some(meta),
                    ..Default::default()
                })
            }
            stateless_methods::SUBSCRIPTIONS_LISTEN => self.listen(&r),
            _ => {
                let id = r.id.clone();
                let answer = self.route_features(r);
                if matches!(answer, Answer::Deferred) {
                    if let Some(flight) = self.in_flight.get_mut(&id) {
                        flight.stateless = Some((method.to_owned(), request_meta));
                    }
                }
                answer
            }
        }
    }

    /// `subscriptions/listen`: acknowledged at once with the part of the
    /// filter this server can honour; the request stays open (its
    /// stream carries the notifications) until cancelled or closed.
    fn listen(&mut self, r: &Request) -> Answer {
        let params = match required::<ListenParams>(r) {
            Ok(p) => p,
            Err(e) => return Answer::Error(e),
        };
        let caps = &self.advertised;
        let tools = caps.tools.as_ref().and_then(|c| c.list_changed) == Some(true);
        let prompts = caps.prompts.as_ref().and_then(|c| c.list_changed) == Some(true);
        let resources = caps.resources.as_ref();
        let resources_list = resources.and_then(|c| c.list_changed) == Some(true);
        let subscribe = resources.and_then(|c| c.subscribe) == Some(true);
        let asked = params.notifications;
        let honoured = SubscriptionFilter {
            tools_list_changed: (tools && asked.tools_list_changed == Some(true)).then_some(true),
            prompts_list_changed: (prompts && asked.prompts_list_changed == Some(true))
                .then_some(true),
            resources_list_changed: (resources_list && asked.resources_list_changed == Some(true))
                .then_some(true),
            resource_subscriptions: asked.resource_subscriptions.filter(|_| subscribe),
            extra: Map::new(),
        };
        let mut meta = Map::new();
        meta.insert(meta_keys::SUBSCRIPTION_ID.into(), id_value(&r.id));
        let ack = AcknowledgedParams {
            notifications: honoured.clone(),
            meta: Some(meta),
            extra: Map::new(),
        };
        if self
            .notify(
                stateless_methods::NOTIFICATION_SUBSCRIPTIONS_ACKNOWLEDGED,
                &ack,
            )
            .is_err()
        {
            return Answer::Error(ErrorObject::internal_error());
        }
        self.listens.insert(r.id.clone(), honoured);
        Answer::Deferred
    }

    /// A stateless result as the 2026-07-28 schema wants it: `resultType`
    /// always, caching hints on cacheable results (values the application
    /// set win).
    fn decorate(&self, method: &str, raw: RawJson) -> RawJson {
        let Ok(Value::Object(mut m)) = raw.decode::<Value>() else {
            return raw;
        };
        m.entry("resultType")
            .or_insert_with(|| Value::String("complete".into()));
        if stateless_methods::CACHEABLE.contains(&method)
            && m.get("resultType").and_then(Value::as_str) == Some("complete")
        {
            m.entry("ttlMs")
                .or_insert_with(|| Value::from(self.config.cache_ttl_ms));
            m.entry("cacheScope")
                .or_insert_with(|| Value::String("private".into()));
        }
        RawJson::from_serialize(&m).unwrap_or(raw)
    }

    fn hand_over(
        &mut self,
        id: RequestId,
        progress: Option<ProgressToken>,
        event: impl FnOnce(RequestId) -> ServerEvent,
    ) -> Answer {
        // A token already in use by another request in flight is ignored
        // for this one (progress must be attributable).
        let progress = progress.filter(|t| !self.progress.contains_key(t));
        if let Some(t) = &progress {
            self.progress.insert(t.clone(), None);
        }
        self.cancelled.remove(&id);
        self.in_flight.insert(
            id.clone(),
            InFlight {
                progress,
                stateless: None,
            },
        );
        self.events.push_back(event(id));
        Answer::Deferred
    }

    fn initialize(&mut self, r: &Request) -> Answer {
        if self.phase != Phase::New {
            return Answer::Error(ErrorObject::new(
                ErrorCode::INVALID_REQUEST,
                "Already initialized",
            ));
        }
        let params = match required::<InitializeParams>(r) {
            Ok(p) => p,
            Err(e) => return Answer::Error(e),
        };
        let protocol_version = version::negotiate(&params.protocol_version);
        self.advertised = self.derive_capabilities();
        self.phase = Phase::Initializing;
        self.protocol_version = Some(protocol_version);
        // 2025-06-18 removed batches; 2025-03-26 requires them. A server
        // configured without batches (`Config::jsonrpc`'s limits) keeps
        // refusing them whatever the revision.
        self.peer.set_allow_batches(
            self.config.jsonrpc.limits.allow_batches && version::has_batches(protocol_version),
        );
        self.client_info = Some(params.client_info.clone());
        self.client_capabilities = Some(params.capabilities.clone());
        self.events.push_back(ServerEvent::Initialize {
            protocol_version,
            client_info: params.client_info,
            capabilities: params.capabilities,
        });
        Answer::ok(&InitializeResult {
            protocol_version: protocol_version.to_owned(),
            capabilities: self.advertised.clone(),
            server_info: self.config.server_info.clone(),
            instructions: self.config.instructions.clone(),
            ..Default::default()
        })
    }

    fn derive_capabilities(&self) -> ServerCapabilities {
        let mut caps = self.config.capabilities.clone();
        if caps.tools.is_none() && !self.catalogue.tools.is_empty() {
            caps.tools = Some(ListChangedCapability::list_changed());
        }
        if caps.prompts.is_none() && !self.catalogue.prompts.is_empty() {
            caps.prompts = Some(ListChangedCapability::list_changed());
        }
        if caps.resources.is_none()
            && !(self.catalogue.resources.is_empty() && self.catalogue.templates.is_empty())
        {
            caps.resources = Some(ResourcesCapability {
                subscribe: Some(true),
                list_changed: Some(true),
                ..Default::default()
            });
        }
        if caps.logging.is_none() {
            caps.logging = Some(Map::new());
        }
        caps
    }
}

/// A request id as JSON (the subscription id of a listen stream).
fn id_value(id: &RequestId) -> Value {
    serde_json::to_value(id).unwrap_or(Value::Null)
}

/// `MissingRequiredClientCapabilityError` naming `required`.
pub(crate) fn missing_capability(required: &ClientCapabilities) -> ErrorObject {
    let data = serde_json::json!({ "requiredCapabilities": required });
    let e = ErrorObject::new(
        ErrorCode::new(stateless_codes::MISSING_REQUIRED_CLIENT_CAPABILITY),
        "Missing required client capability",
    );
    match RawJson::from_serialize(&data) {
        Ok(raw) => e.with_data(raw),
        Err(_) => e,
    }
}

/// How the session answers a request.
enum Answer {
    /// Handed to the application.
    Deferred,
    Result(RawJson),
    Error(ErrorObject),
}

impl Answer {
    fn ok<T: Serialize>(value: &T) -> Self {
        match RawJson::from_serialize(value) {
            Ok(raw) => Self::Result(raw),
            Err(_) => Self::Error(ErrorObject::internal_error()),
        }
    }
}

fn required<T: DeserializeOwned>(r: &Request) -> Result<T, ErrorObject> {
    match &r.params {
        Some(p) => p.decode::<T>().map_err(ErrorObject::invalid_params),
        None => Err(ErrorObject::invalid_params("params missing")),
    }
}

fn list_params(r: &Request) -> Result<Option<String>, ErrorObject> {
    match &r.params {
        None => Ok(None),
        Some(p) => p
            .decode::<PaginatedParams>()
            .map(|p| p.cursor)
            .map_err(ErrorObject::invalid_params),
    }
}

/// One page of `items` from `cursor` (an offset written as decimal).
fn paginate<T: Clone>(
    items: &[T],
    cursor: Option<String>,
    page: usize,
) -> Result<(Vec<T>, Option<String>), ErrorObject> {
    let start = match cursor {
        None => 0,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if n <= items.len() => n,
            _ => return Err(ErrorObject::invalid_params("invalid cursor")),
        },
    };
    let end = start.saturating_add(page).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}
