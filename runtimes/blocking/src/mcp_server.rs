//! An MCP server on plain threads: tools, resources, resource templates
//! and prompts whose handlers are ordinary closures (no async, no
//! `block_on`), served over stdio ([`McpServer::serve_stdio`],
//! [`McpServer::serve_io`]), Streamable HTTP ([`McpServer::http`], a
//! [`Handler`] for the blocking [`Server`](crate::Server), which also
//! takes WebSocket upgrades) or one WebSocket
//! ([`McpServer::serve_websocket`]).
//!
//! The transports are the sans-IO machines of `wirestate-mcp`
//! ([`StdioServer`], [`HttpServer`], and the WebSocket rules of
//! [`wirestate_mcp::websocket`]) behind a mutex. A call runs where it
//! costs no hand-off between threads when that cannot hold anything up:
//! on stdio, on the thread that read it (which then writes its answer;
//! the reading passes to another thread while a handler waits for the
//! client or runs long); on Streamable HTTP, on the connection thread
//! that waits for its answer when it cannot ask the client anything, has
//! no progress token, and either cannot log or came over HTTP/1.1 (its
//! logs are then written by that thread as they come, as SSE events of
//! its answer). Otherwise it runs on a pooled handler thread. At most
//! [`McpServerBuilder::max_handler_threads`] calls are in progress at
//! once; beyond, a call is answered -32009 at once. A handler talks back
//! through its [`RequestContext`]: logs, progress, sampling and
//! elicitation requests, which block the handler's thread until the
//! client answers or the request times out.
//!
//! ```no_run
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use wirestate_blocking::mcp_server::{McpServer, ToolError};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Add { a: f64, b: f64 }
//!
//! let server = McpServer::builder()
//!     .name("calc", "1.0")
//!     .tool("add", "Adds two numbers.", |args: Add| {
//!         Ok::<_, ToolError>((args.a + args.b).to_string())
//!     })
//!     .build();
//! server.serve_stdio().unwrap();
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::http::{Chunk, ExchangeId, HttpConfig, HttpEvent, HttpServer, Reply, SessionId};
use wirestate_mcp::schema::{
    CallToolParams, CallToolResult, ClientCapabilities, CompleteParams, CompleteResult,
    CreateMessageParams, CreateMessageResult, ElicitParams, ElicitResult, Extra, GetPromptResult,
    Implementation, InputResponses, LoggingLevel, Meta, ProgressToken, Prompt, ReadResourceResult,
    RequestMeta, Resource, ResourceTemplate, Tool, methods, progress_token,
};
use wirestate_mcp::websocket::{self as mcp_ws, BINARY_REASON, SUBPROTOCOL, WsConfig};
use wirestate_mcp::{Config, Phase, ServerEvent, ServerSession, StdioConfig, StdioServer};

use crate::ws::{self, WebSocket};
use crate::{BlockingBody, Handler, ResponseBody, ServerHandle};

use wirestate_mcp::handler::{
    CatalogueEdit, ClientAnswer, Handlers, InFlight, InFlightKey, ToolAnswer, answer_complete,
    answer_get_prompt, answer_read_resource, answer_tool, check_prompt_arguments, no_completion,
    request_meta, route_answer, stateless_input, tool_answer,
};
/// The handler vocabulary, shared with the async server builder of
/// `wirestate-rt`: see [`wirestate_mcp::handler`].
pub use wirestate_mcp::handler::{
    NoArgs, ResourceRequest, Structured, ToolError, ToolOutput, schema_of,
};

type ToolFn =
    Arc<dyn Fn(&RequestContext, Map<String, Value>) -> Result<ToolAnswer, ToolError> + Send + Sync>;
type ResourceFn = Arc<
    dyn Fn(&RequestContext, ResourceRequest) -> Result<ReadResourceResult, ToolError> + Send + Sync,
>;
type PromptFn = Arc<
    dyn Fn(&RequestContext, BTreeMap<String, String>) -> Result<GetPromptResult, ToolError>
        + Send
        + Sync,
>;
type CompleteFn = Arc<dyn Fn(CompleteParams) -> Result<CompleteResult, ToolError> + Send + Sync>;

struct Registry {
    config: Config,
    handlers: Handlers<ToolFn, ResourceFn, PromptFn, CompleteFn>,
    max_threads: usize,
    /// Calls in progress now (admitted, not yet answered).
    running: AtomicUsize,
    /// The threads that run calls off the transport's own threads.
    pool: Arc<Pool>,
    /// The cancellation flags of the calls in progress, by transport,
    /// session and request: what `notifications/cancelled` (or the end of
    /// an HTTP session) sets.
    cancels: Mutex<InFlight<AtomicBool>>,
    /// Every transport serving this server (stdio, Streamable HTTP,
    /// WebSocket), for [`McpServer::resource_updated`].
    transports: Mutex<Vec<Weak<dyn Port>>>,
}

impl Registry {
    /// Adds a transport to [`transports`](Self::transports), forgetting
    /// the ones that ended.
    fn serve_on(&self, port: Arc<dyn Port>) {
        let mut transports = lock(&self.transports);
        transports.retain(|t| t.strong_count() > 0);
        transports.push(Arc::downgrade(&port));
    }
}

/// The transport's part of a call's key in [`Registry::cancels`]: the
/// address of its [`Port`], alive while the call holds it.
fn port_key(port: &Arc<dyn Port>) -> usize {
    Arc::as_ptr(port).cast::<()>() as usize
}

/// Removes its call's flag from [`Registry::cancels`] when the call ends
/// (only its own: a later request that reused the id after the answer
/// has a flag of its own).
struct Cancellable {
    registry: Arc<Registry>,
    key: InFlightKey,
    flag: Arc<AtomicBool>,
}

impl Drop for Cancellable {
    fn drop(&mut self) {
        lock(&self.registry.cancels).remove(&self.key, &self.flag);
    }
}

/// Builds an [`McpServer`].
pub struct McpServerBuilder {
    registry: Registry,
}

impl std::fmt::Debug for McpServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServerBuilder").finish_non_exhaustive()
    }
}

impl McpServerBuilder {
    /// `serverInfo`: name and version.
    pub fn name(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        let title = self.registry.config.server_info.title.take();
        self.registry.config.server_info = Implementation {
            title,
            ..Implementation::new(name, version)
        };
        self
    }

    /// `serverInfo.title`.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.registry.config.server_info.title = Some(title.into());
        self
    }

    /// The `instructions` of the `initialize` result.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.registry.config.instructions = Some(text.into());
        self
    }

    /// The session settings (limits, page size, log level); the name and
    /// instructions set on the builder are kept.
    pub fn config(mut self, mut config: Config) -> Self {
        config.server_info = self.registry.config.server_info.clone();
        config.instructions = self.registry.config.instructions.clone();
        self.registry.config = config;
        self
    }

    /// Most calls in progress at once (queued or running, each on a
    /// thread), over every session (at least 1; default 256). A call
    /// beyond is answered -32009 (server busy).
    pub fn max_handler_threads(mut self, n: usize) -> Self {
        self.registry.max_threads = n.max(1);
        self
    }

    /// A tool with typed arguments: the input schema is generated from
    /// `A`, the output schema from `O` (for [`Structured`] outputs).
    /// Arguments that do not deserialize get an `isError` result.
    pub fn tool<A, O, F>(self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(A) -> Result<O, ToolError> + Send + Sync + 'static,
    {
        self.tool_with_context(name, description, move |_: &RequestContext, a: A| {
            handler(a)
        })
    }

    /// [`tool`](Self::tool) whose handler also gets the [`RequestContext`]
    /// (logs, progress, sampling, elicitation).
    pub fn tool_with_context<A, O, F>(mut self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(&RequestContext, A) -> Result<O, ToolError> + Send + Sync + 'static,
    {
        let mut tool = Tool::new(name, schema_of::<A>());
        tool.description = Some(description.to_owned());
        tool.output_schema = O::output_schema();
        // Asked once: a value that is not an object goes out wrapped.
        let wrap = O::wraps_output();
        let f: ToolFn = Arc::new(move |ctx, args| {
            let a: A = serde_json::from_value(Value::Object(args))
                .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            handler(ctx, a).map(|o| tool_answer(o, wrap))
        });
        self.registry.handlers.add_tool(tool, f);
        self
    }

    /// A tool described by hand (its own schemas), with the arguments as
    /// a JSON object.
    pub fn tool_raw<F>(mut self, tool: Tool, handler: F) -> Self
    where
        F: Fn(&RequestContext, Map<String, Value>) -> Result<CallToolResult, ToolError>
            + Send
            + Sync
            + 'static,
    {
        self.registry.handlers.add_tool(
            tool,
            Arc::new(move |ctx, args| handler(ctx, args).map(ToolAnswer::Result)),
        );
        self
    }

    /// A resource and the handler that reads it.
    pub fn resource<F>(mut self, resource: Resource, handler: F) -> Self
    where
        F: Fn(&RequestContext, ResourceRequest) -> Result<ReadResourceResult, ToolError>
            + Send
            + Sync
            + 'static,
    {
        self.registry
            .handlers
            .resources
            .push((resource, Arc::new(handler)));
        self
    }

    /// A resource template (`{name}` variables, each matching one path
    /// segment) and the handler that reads URIs matching it.
    pub fn resource_template<F>(mut self, template: ResourceTemplate, handler: F) -> Self
    where
        F: Fn(&RequestContext, ResourceRequest) -> Result<ReadResourceResult, ToolError>
            + Send
            + Sync
            + 'static,
    {
        self.registry
            .handlers
            .templates
            .push((template, Arc::new(handler)));
        self
    }

    /// A prompt; its required arguments are checked before the handler
    /// runs (-32602 when one is missing).
    pub fn prompt<F>(mut self, prompt: Prompt, handler: F) -> Self
    where
        F: Fn(&RequestContext, BTreeMap<String, String>) -> Result<GetPromptResult, ToolError>
            + Send
            + Sync
            + 'static,
    {
        self.registry.handlers.add_prompt(prompt, Arc::new(handler));
        self
    }

    /// Argument completion (`completion/complete`); advertises the
    /// `completions` capability.
    pub fn completion<F>(mut self, handler: F) -> Self
    where
        F: Fn(CompleteParams) -> Result<CompleteResult, ToolError> + Send + Sync + 'static,
    {
        self.registry.handlers.complete = Some(Arc::new(handler));
        self.registry.config.capabilities.completions = Some(Map::new());
        self
    }

    /// The server.
    pub fn build(self) -> McpServer {
        McpServer {
            registry: Arc::new(self.registry),
        }
    }
}

/// A registered MCP server, ready to serve over any transport; cheap to
/// clone.
#[derive(Clone)]
pub struct McpServer {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("tools", &self.registry.handlers.tools.len())
            .finish_non_exhaustive()
    }
}

type Waiters = BTreeMap<(Option<SessionId>, RequestId), mpsc::Sender<ClientAnswer>>;

/// What a handler's context needs from a transport.
trait Port: Send + Sync {
    /// Runs `f` on the session, with its messages related to `request`;
    /// `false` when the session is gone.
    fn with(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool;
    /// Applies a finished handler's answer: [`with`](Self::with) unless
    /// the transport writes answers in batches (stdio: its worker writes
    /// once the calls it read are all answered).
    fn answer(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        self.with(session, request, f)
    }
    /// The calling handler is about to block until the client answers: on
    /// stdio, another thread must be reading by then (the handler may run
    /// on the thread that reads).
    fn will_wait(&self) {}
    /// Ends the SSE stream carrying `request`'s answer (Streamable HTTP
    /// only).
    fn close_stream(&self, session: Option<&SessionId>, request: &RequestId) -> bool {
        let _ = (session, request);
        false
    }
    /// Changes the catalogue every session of the transport sees (its
    /// only session, on stdio and WebSocket).
    fn edit(&self, session: Option<&SessionId>, request: &RequestId, edit: CatalogueEdit) {
        self.with(session, request, &mut |s, _| edit.clone().apply(s));
    }
}

/// A handler's view of its request: the session it belongs to, and what it
/// may send while it runs.
#[derive(Clone)]
pub struct RequestContext {
    port: Arc<dyn Port>,
    session: Option<SessionId>,
    request: RequestId,
    progress: Option<ProgressToken>,
    meta: Option<RequestMeta>,
    input: InputResponses,
    cancelled: Arc<AtomicBool>,
    /// How many questions (elicitation, sampling) this run asked: their
    /// keys in the stateless era ([`stateless_input`]).
    asked: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("session", &self.session)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl RequestContext {
    /// The request being served.
    pub fn request_id(&self) -> &RequestId {
        &self.request
    }

    /// Whether the client cancelled this request
    /// (`notifications/cancelled`), or its HTTP session ended: a handler
    /// that works for long looks, and stops (its answer would be dropped
    /// anyway). A handler waiting for the client's answer (sampling,
    /// elicitation) gets an error once its request is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The HTTP session (`None` on stdio and WebSocket).
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The `_meta` of a stateless (2026-07-28) request: the client's
    /// capabilities and identity for this request. `None` in the
    /// `initialize` era.
    pub fn request_meta(&self) -> Option<&RequestMeta> {
        self.meta.as_ref()
    }

    /// The `inputResponses` and `requestState` of a stateless request
    /// retried after an input-required result.
    pub fn input_responses(&self) -> &InputResponses {
        &self.input
    }

    /// Registers (or replaces) a tool with every session; clients that
    /// listen for it are told the list changed.
    pub fn add_tool(&self, tool: Tool) {
        self.edit(CatalogueEdit::AddTool(tool));
    }

    /// Removes a tool from every session.
    pub fn remove_tool(&self, name: &str) {
        self.edit(CatalogueEdit::RemoveTool(name.to_owned()));
    }

    /// Registers (or replaces) a prompt with every session.
    pub fn add_prompt(&self, prompt: Prompt) {
        self.edit(CatalogueEdit::AddPrompt(prompt));
    }

    /// Removes a prompt from every session.
    pub fn remove_prompt(&self, name: &str) {
        self.edit(CatalogueEdit::RemovePrompt(name.to_owned()));
    }

    fn edit(&self, edit: CatalogueEdit) {
        self.port.edit(self.session.as_ref(), &self.request, edit);
    }

    /// Tells the clients of this transport subscribed to `uri` that the
    /// resource changed (`notifications/resources/updated`); for every
    /// transport, [`McpServer::resource_updated`].
    pub fn resource_updated(&self, uri: &str) {
        self.edit(CatalogueEdit::ResourceUpdated(uri.to_owned()));
    }

    /// Ends the HTTP response carrying this request's SSE stream (the
    /// client resumes with GET and `Last-Event-ID`, SEP-1699). `false` on
    /// stdio and WebSocket, or when the answer goes out as JSON.
    pub fn close_stream(&self) -> bool {
        self.port.close_stream(self.session.as_ref(), &self.request)
    }

    /// Sends a log message (if the client's level lets it through);
    /// returns whether it was sent.
    pub fn log(&self, level: LoggingLevel, logger: Option<&str>, data: Value) -> bool {
        let mut sent = false;
        self.port
            .with(self.session.as_ref(), &self.request, &mut |s, _| {
                sent = s.log(level, logger, data.clone()).unwrap_or(false);
            });
        sent
    }

    /// Reports progress, if the client asked for it (a progress token);
    /// returns whether it was sent.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        let Some(token) = &self.progress else {
            return false;
        };
        let mut sent = false;
        self.port
            .with(self.session.as_ref(), &self.request, &mut |s, _| {
                sent = s
                    .notify_progress(token, progress, total, message.map(str::to_owned))
                    .is_ok();
            });
        sent
    }

    /// Sends a request to the client and blocks until its answer, firing
    /// the session's deadlines while it waits.
    fn ask(
        &self,
        send: &mut dyn FnMut(&mut ServerSession) -> Result<RequestId, wirestate_mcp::Error>,
    ) -> Result<ClientAnswer, ToolError> {
        let (tx, rx) = mpsc::channel();
        let mut tx = Some(tx);
        let mut error = None;
        let mut deadline = None;
        let key_session = self.session.clone();
        let found =
            self.port.with(
                self.session.as_ref(),
                &self.request,
                &mut |s, waiters| match send(s) {
                    Ok(id) => {
                        deadline = s.poll_timeout();
                        if let Some(tx) = tx.take() {
                            waiters.insert((key_session.clone(), id), tx);
                        }
                    }
                    Err(e) => error = Some(e),
                },
            );
        if !found {
            return Err(ToolError::Client("the session ended".into()));
        }
        if let Some(e) = error {
            return Err(ToolError::Client(e.to_string()));
        }
        self.port.will_wait();
        loop {
            if self.is_cancelled() {
                return Err(ToolError::Client("the request was cancelled".into()));
            }
            // Woken at least every CANCEL_POLL to look at the flag: a
            // cancellation arrives on another thread, with no channel to
            // this one.
            let wait = deadline
                .map_or(Duration::from_secs(1), |d: Instant| {
                    d.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1))
                })
                .min(CANCEL_POLL);
            match rx.recv_timeout(wait) {
                Ok(answer) => return Ok(answer),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ToolError::Client("the session ended".into()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // The session's own timers answer our waiter with
                    // RequestTimedOut once due.
                    let alive =
                        self.port
                            .with(self.session.as_ref(), &self.request, &mut |s, _| {
                                s.handle_timeout(Instant::now());
                                deadline = s.poll_timeout();
                            });
                    if !alive {
                        return Err(ToolError::Client("the session ended".into()));
                    }
                }
            }
        }
    }

    /// Asks the client to sample its model (`sampling/createMessage`),
    /// blocking until it answers.
    ///
    /// In the stateless (2026-07-28) era, which has no server requests,
    /// the question becomes the call's `InputRequiredResult` (the `?` on
    /// this error returns it): the client answers and retries, and the
    /// handler runs again from the start, this time with the answer
    /// (`wirestate_mcp::handler::stateless_input`). Work done before the
    /// question is done again on the retry.
    ///
    /// # Errors
    ///
    /// [`ToolError::Client`] when the client lacks the capability,
    /// refuses, or does not answer in time; in the stateless era
    /// [`ToolError::InputRequired`] until answered,
    /// [`ToolError::MissingCapability`] without the capability.
    pub fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Result<CreateMessageResult, ToolError> {
        if let Some(meta) = &self.meta {
            // No server requests in the stateless era: an input-required
            // answer, and the call retried with the client's.
            let needs = ClientCapabilities {
                sampling: Some(Default::default()),
                ..ClientCapabilities::default()
            };
            let n = self.asked.fetch_add(1, Ordering::Relaxed);
            return stateless_input(
                meta,
                &self.input,
                n,
                methods::SAMPLING_CREATE_MESSAGE,
                &params,
                needs,
            );
        }
        self.ask(&mut |s| s.create_message(Instant::now(), &params))?
            .sampled()
    }

    /// Asks the user for input (`elicitation/create`), blocking until the
    /// client answers.
    ///
    /// # Errors
    ///
    /// As [`create_message`](Self::create_message).
    pub fn elicit(&self, params: ElicitParams) -> Result<ElicitResult, ToolError> {
        if let Some(meta) = &self.meta {
            let needs = ClientCapabilities {
                elicitation: Some(Default::default()),
                ..ClientCapabilities::default()
            };
            let n = self.asked.fetch_add(1, Ordering::Relaxed);
            return stateless_input(
                meta,
                &self.input,
                n,
                methods::ELICITATION_CREATE,
                &params,
                needs,
            );
        }
        self.ask(&mut |s| s.elicit(Instant::now(), &params))?
            .elicited()
    }
}

/// A handler's outcome, applied to the session.
type Work = Box<
    dyn FnOnce(&RequestContext) -> Box<dyn FnOnce(&mut ServerSession, &RequestId) + Send> + Send,
>;

/// Requests to refuse at once (no handler runs for them), with the error
/// to answer: applied by the transport after its events are handed out,
/// under the lock it already holds.
type Refusals = Vec<(RequestId, ErrorObject)>;

/// Counts a call among those in progress until it is dropped, however
/// it ends (answered, panicked, or abandoned unstarted).
struct Admitted(Arc<Registry>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How often a handler waiting for the client's answer looks whether its
/// own request was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// A call admitted to run: its context and its handler's work. Where it
/// runs is the transport's choice: on the thread that read it when that
/// costs no hand-off and cannot hold up its own stream (stdio; Streamable
/// HTTP when [`inline`](Self::inline)), on a thread of its own otherwise.
struct Job {
    ctx: RequestContext,
    work: Work,
    /// May run on the connection thread that received it (Streamable
    /// HTTP): nothing it can send needs its response stream open before it
    /// ends — no progress token, and a client that cannot be asked
    /// (neither sampling nor elicitation), so the handler never blocks
    /// waiting for an answer that would travel on that stream.
    inline: bool,
    /// May run on the connection thread if that thread writes what it
    /// logs while it runs (Streamable HTTP over HTTP/1.1: see
    /// [`InlineCall`]): as [`inline`](Self::inline), except that logs may
    /// go out.
    streams: bool,
    _admitted: Admitted,
    _cancellable: Cancellable,
}

impl Job {
    /// Runs the handler on the calling thread (a panic is answered
    /// -32603, as the async servers do) and applies its answer through
    /// [`Port::answer`].
    fn run(self) {
        let Job {
            ctx,
            work,
            _admitted,
            _cancellable,
            ..
        } = self;
        let answer = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&ctx))) {
            Ok(answer) => answer,
            // Answered -32603 like the async servers' panicking
            // handlers, so the client does not wait forever.
            Err(_) => {
                tracing::error!(request = %ctx.request, "MCP handler panicked");
                Box::new(|s: &mut ServerSession, id: &RequestId| {
                    ToolError::panicked().answer(s, id)
                })
            }
        };
        let mut answer = Some(answer);
        ctx.port
            .answer(ctx.session.as_ref(), &ctx.request, &mut |s, _| {
                if let Some(a) = answer.take() {
                    a(s, &ctx.request);
                }
            });
    }

    /// Runs the job on a handler thread of the pool (an idle one, or a
    /// new one); answers -32009 when no thread can be started.
    fn spawn(self) {
        let (port, session, request) = (
            self.ctx.port.clone(),
            self.ctx.session.clone(),
            self.ctx.request.clone(),
        );
        let pool = self._admitted.0.pool.clone();
        if !Pool::submit(&pool, self) {
            let error = ErrorObject::new(ErrorCode::SERVER_BUSY, "cannot start a handler thread");
            port.with(session.as_ref(), &request, &mut |s, _| {
                let _ = s.respond_error(&request, error.clone());
            });
        }
    }
}

/// What a handler of this session may send on its call's stream before
/// its answer: `(may_ask, logs)` — questions to a client that can be
/// asked (sampling, elicitation: the question travels on that stream,
/// and the handler waits for the answer), and logs (some asked for, and
/// logging advertised). With neither, and no progress token, the call
/// may run on the connection thread that waits for its answer; with logs
/// only, it may too if that thread writes them as they come
/// ([`InlineCall`]).
fn session_talk(s: &ServerSession) -> (bool, bool) {
    let may_ask = s
        .client_capabilities()
        .is_some_and(|c| c.sampling.is_some() || c.elicitation.is_some());
    let logs =
        s.phase() != Phase::New && s.log_level().is_some() && s.capabilities().logging.is_some();
    (may_ask, logs)
}

/// Handler threads kept for the next calls: starting a thread per call
/// (clone, stack mapping, exit) cost more than a quick call itself. Idle
/// threads end after [`POOL_IDLE`].
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    idle: usize,
}

/// How long a pool thread waits for a call before it ends.
const POOL_IDLE: Duration = Duration::from_secs(10);

impl Pool {
    /// Hands `job` to an idle thread, or starts one for it; `false` (the
    /// job dropped unrun) when no thread can be started.
    fn submit(pool: &Arc<Pool>, job: Job) -> bool {
        let mut st = lock(&pool.state);
        // Each queued job has an idle thread of its own to take it.
        if st.idle > st.jobs.len() {
            st.jobs.push_back(job);
            drop(st);
            pool.ready.notify_one();
            return true;
        }
        drop(st);
        let me = pool.clone();
        std::thread::Builder::new()
            .name("mcp-handler".into())
            .spawn(move || {
                job.run();
                me.serve();
            })
            .is_ok()
    }

    /// A pool thread: runs queued jobs until none comes for a while.
    fn serve(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                job.run();
                st = lock(&self.state);
                continue;
            }
            st.idle += 1;
            let (guard, waited) = self
                .ready
                .wait_timeout(st, POOL_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if waited.timed_out() && st.jobs.is_empty() {
                return;
            }
        }
    }
}

/// Admits a call to run, or refuses it -32009 when
/// [`McpServerBuilder::max_handler_threads`] calls are in progress.
fn admit(
    registry: &Arc<Registry>,
    ctx: RequestContext,
    work: Work,
    jobs: &mut Vec<Job>,
    refused: &mut Refusals,
) {
    let busy = registry
        .running
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < registry.max_threads).then_some(n + 1)
        })
        .is_err();
    if busy {
        let error = ErrorObject::new(ErrorCode::SERVER_BUSY, "too many calls in progress");
        refused.push((ctx.request, error));
        return;
    }
    let key = (
        port_key(&ctx.port),
        ctx.session.clone(),
        ctx.request.clone(),
    );
    lock(&registry.cancels).insert(key.clone(), ctx.cancelled.clone());
    let cancellable = Cancellable {
        registry: registry.clone(),
        key,
        flag: ctx.cancelled.clone(),
    };
    jobs.push(Job {
        ctx,
        work,
        inline: false,
        streams: false,
        _admitted: Admitted(registry.clone()),
        _cancellable: cancellable,
    });
}

/// Turns a session event into work: jobs (handlers to run, where the
/// transport decides), or answers to our own requests. Which handler, and
/// how its outcome is answered, is [`wirestate_mcp::handler`]'s.
fn on_event(
    registry: &Arc<Registry>,
    port: &Arc<dyn Port>,
    session: Option<SessionId>,
    event: ServerEvent,
    waiters: &mut Waiters,
    jobs: &mut Vec<Job>,
    refused: &mut Refusals,
) {
    let ctx = |request: RequestId, meta: Option<&Meta>, extra: &Extra| RequestContext {
        port: port.clone(),
        session: session.clone(),
        request,
        progress: progress_token(meta),
        meta: request_meta(meta),
        input: InputResponses::from_extra(extra),
        cancelled: Arc::new(AtomicBool::new(false)),
        asked: Arc::default(),
    };
    let handlers = &registry.handlers;
    let event = match route_answer(waiters, session.as_ref(), event) {
        Ok(answered) => {
            if let Some((tx, answer)) = answered {
                let _ = tx.send(answer);
            }
            return;
        }
        Err(event) => event,
    };
    match event {
        ServerEvent::CallTool { id, params } => {
            let CallToolParams {
                name,
                arguments,
                meta,
                extra,
            } = params;
            let handler = handlers.tool(&name);
            let ctx = ctx(id, meta.as_ref(), &extra);
            admit(
                registry,
                ctx,
                Box::new(move |ctx| {
                    let result = match handler {
                        Some(f) => f(ctx, arguments.unwrap_or_default()),
                        None => Err(ToolError::unknown_tool(&name)),
                    };
                    Box::new(move |s, id| answer_tool(s, id, result))
                }),
                jobs,
                refused,
            );
        }
        ServerEvent::ReadResource { id, params } => {
            let uri = params.uri;
            let found = handlers.resource(&uri);
            let stateless = request_meta(params.meta.as_ref()).is_some();
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            admit(
                registry,
                ctx,
                Box::new(move |ctx| {
                    let result = match found {
                        Some((f, vars)) => f(ctx, ResourceRequest { uri, vars }),
                        None => Err(ToolError::resource_not_found(&uri, stateless)),
                    };
                    Box::new(move |s, id| answer_read_resource(s, id, result))
                }),
                jobs,
                refused,
            );
        }
        ServerEvent::GetPrompt { id, params } => {
            let found = handlers.prompt(&params.name);
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            let args = params.arguments.unwrap_or_default();
            admit(
                registry,
                ctx,
                Box::new(move |ctx| {
                    let result = match found {
                        None => Err(ToolError::unknown_prompt()),
                        Some((prompt, f)) => {
                            check_prompt_arguments(&prompt, &args).and_then(|()| f(ctx, args))
                        }
                    };
                    Box::new(move |s, id| answer_get_prompt(s, id, result))
                }),
                jobs,
                refused,
            );
        }
        ServerEvent::Complete { id, params } => {
            let f = handlers.complete.clone();
            let ctx = ctx(id, None, &Extra::new());
            admit(
                registry,
                ctx,
                Box::new(move |_| {
                    let result = match f {
                        Some(f) => f(params),
                        None => Ok(no_completion()),
                    };
                    Box::new(move |s, id| answer_complete(s, id, result))
                }),
                jobs,
                refused,
            );
        }
        ServerEvent::Cancelled { id, .. } => {
            let key = (port_key(port), session, id);
            if let Some(flag) = lock(&registry.cancels).get(&key) {
                flag.store(true, Ordering::Release);
            }
        }
        ServerEvent::Invalid(e) => tracing::debug!(error = %e, "mcp: refused input"),
        _ => {}
    }
}

/// How many times [`lock`] gives its time slice away before it sleeps on
/// a held lock.
const LOCK_YIELDS: usize = 4;

/// Takes `m`, yielding the processor a few times before sleeping on it.
/// The Streamable HTTP endpoint's lock is taken by every connection
/// thread for every call; when those threads share a core, a thread that
/// finds it held finds it held by a thread that was preempted inside it.
/// Sleeping on the lock then costs three switches and a system call (the
/// waiter sleeps, the holder's unlock wakes it and is preempted by it,
/// the holder resumes later); yielding lets the holder finish at once
/// and costs one switch. Bounded, so a lock held for long still sleeps.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    for _ in 0..LOCK_YIELDS {
        match m.try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- stdio ----
//
// A sequential call should cost what it must: one `read` that returns
// the request, one `write` of the answer, and no hand-off between threads.
// So the thread that reads a request runs its handler itself, then writes
// the answer, then reads again (a worker); nothing else wakes up. That
// thread cannot read while a handler runs, so the reading passes to
// another worker when a handler is about to wait for the client
// (sampling, elicitation: the answer has to be read), and when one runs
// longer than a tick of the supervisor (the calling thread), so that
// cancellations, pings and other calls are still read while it works.
// Surplus workers end once they find the reading taken.

/// How long a handler may hold up the reading before another worker
/// takes over (one to two ticks).
const STDIO_TICK: Duration = Duration::from_millis(10);

/// Ticks without a call before the supervisor sleeps until woken.
const STDIO_IDLE_TICKS: u32 = 100;

struct StdioState {
    machine: StdioServer,
    waiters: Waiters,
    /// The output failed: nothing more is written.
    broken: bool,
    /// The machine asked for the output to be shut.
    shutdown: bool,
    /// Calls read and not started yet, in arrival order.
    queue: VecDeque<Job>,
    /// A worker has the reading (in `read()`, or about to be).
    reading: bool,
    /// The input ended or failed: nobody reads any more.
    eof: bool,
    /// Workers alive, and how many of them are inside a handler.
    workers: usize,
    in_handler: usize,
    /// Handlers started so far (the watchdog's sign of life).
    started: u64,
    /// Workers waiting in `changed` for the output to drain: a
    /// notification is a system call, made only when someone needs it.
    parked: usize,
    /// The supervisor sleeps until woken (no call for a while): the next
    /// call wakes it, so that its watchdog ticks while handlers run.
    supervisor_asleep: bool,
}

struct StdioOutput {
    writer: Box<dyn Write + Send>,
    /// The chunks of one batch, gathered into one write.
    scratch: Vec<u8>,
    /// The write that failed, returned by `serve_io`.
    error: Option<io::Error>,
}

struct StdioShared {
    me: Weak<StdioShared>,
    registry: Arc<Registry>,
    state: Mutex<StdioState>,
    /// Held across a read and the feeding of what it read, so that bytes
    /// enter the machine in order whichever worker read them.
    input: Mutex<Box<dyn Read + Send>>,
    read_error: Mutex<Option<io::Error>>,
    /// Held while writing; taken before `state` (never the other way
    /// round), so output leaves in the order the machine queued it.
    output: Mutex<StdioOutput>,
    /// Signalled for a parked reader (the output drained), the supervisor
    /// (the end, a call after a quiet spell) and waiting workers.
    changed: Condvar,
}

impl StdioShared {
    /// Turns the machine's events into queued jobs (and refusals).
    fn dispatch(&self, st: &mut StdioState) {
        let Some(me) = self.me.upgrade() else { return };
        let port: Arc<dyn Port> = me;
        let mut refused = Refusals::new();
        let mut jobs = Vec::new();
        while let Some(event) = st.machine.poll_event() {
            on_event(
                &self.registry,
                &port,
                None,
                event,
                &mut st.waiters,
                &mut jobs,
                &mut refused,
            );
        }
        st.queue.extend(jobs);
        for (id, error) in refused {
            let _ = st.machine.session_mut().respond_error(&id, error);
        }
    }

    /// Wakes whoever waits in `changed` if someone must act now: a
    /// parked reader (the output drained), or the supervisor (the session
    /// ended, or every worker did). The supervisor's ticks cover the rest,
    /// so a call that finishes normally makes no system call here.
    fn notify(&self, st: &StdioState) {
        let ended = st.eof || st.broken || st.shutdown || st.workers == 0;
        if st.parked > 0 || ended || st.machine.is_closed() {
            self.changed.notify_all();
        }
    }

    fn wait<'a>(
        &self,
        st: MutexGuard<'a, StdioState>,
        timeout: Duration,
    ) -> MutexGuard<'a, StdioState> {
        self.changed
            .wait_timeout(st, timeout)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g)
    }

    /// Writes what the machine has queued, in one write when it can.
    fn flush_output(&self) {
        let mut out = lock(&self.output);
        let out = &mut *out;
        let mut chunks: Vec<Bytes> = Vec::new();
        {
            let mut st = lock(&self.state);
            if st.broken {
                return;
            }
            while let Some(t) = st.machine.poll_transmit() {
                match t {
                    Transmit::Bytes(b) => chunks.push(b),
                    Transmit::Shutdown => st.shutdown = true,
                }
            }
            if chunks.is_empty() {
                if st.shutdown || st.machine.is_closed() {
                    self.notify(&st);
                }
                return;
            }
        }
        let buf: &[u8] = if let [one] = chunks.as_slice() {
            one
        } else {
            out.scratch.clear();
            for c in &chunks {
                out.scratch.extend_from_slice(c);
            }
            &out.scratch
        };
        let written = out.writer.write_all(buf).and_then(|()| out.writer.flush());
        let mut st = lock(&self.state);
        if let Err(e) = written {
            st.broken = true;
            out.error.get_or_insert(e);
        }
        // A reader parked on the output bound, or the supervisor waiting
        // for the end.
        self.notify(&st);
    }

    /// Starts a worker; `false` when no thread can be started.
    fn spawn_worker(&self, st: &mut StdioState) -> bool {
        let Some(me) = self.me.upgrade() else {
            return false;
        };
        st.workers += 1;
        let spawned = std::thread::Builder::new()
            .name("mcp-stdio".into())
            .spawn(move || me.work());
        if spawned.is_err() {
            st.workers -= 1;
        }
        spawned.is_ok()
    }

    /// A worker: runs queued calls, reads when nobody else does, and
    /// ends when the reading is taken and nothing is queued.
    fn work(&self) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let job = {
                let mut st = lock(&self.state);
                loop {
                    if let Some(job) = st.queue.pop_front() {
                        st.in_handler += 1;
                        st.started += 1;
                        if st.supervisor_asleep {
                            st.supervisor_asleep = false;
                            self.changed.notify_all();
                        }
                        break Some(job);
                    }
                    if st.reading || st.eof || st.broken || st.machine.is_closed() {
                        st.workers -= 1;
                        self.notify(&st);
                        return;
                    }
                    if st.machine.wants_read() {
                        st.reading = true;
                        break None;
                    }
                    // Over the output bound: wait for the writes.
                    st.parked += 1;
                    st = self.wait(st, Duration::from_millis(100));
                    st.parked -= 1;
                }
            };
            match job {
                Some(job) => {
                    job.run();
                    let more = {
                        let mut st = lock(&self.state);
                        st.in_handler -= 1;
                        !st.queue.is_empty()
                    };
                    // The answers of calls read together leave together.
                    if !more {
                        self.flush_output();
                    }
                }
                None => {
                    // What the read produced (pings, errors) leaves now,
                    // not after the calls it queued, which may take long.
                    self.read_once(&mut buf);
                    self.flush_output();
                }
            }
        }
    }

    /// One read, fed to the machine.
    fn read_once(&self, buf: &mut [u8]) {
        let mut input = lock(&self.input);
        let read = loop {
            match input.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let mut st = lock(&self.state);
        st.reading = false;
        let now = Instant::now();
        match read {
            Ok(n) if n > 0 => {
                let _ = st.machine.handle_input(now, &buf[..n]);
            }
            other => {
                if let Err(e) = other {
                    *lock(&self.read_error) = Some(e);
                }
                st.eof = true;
                let _ = st.machine.handle_eof(now);
                self.notify(&st);
            }
        }
        drop(input);
        self.dispatch(&mut st);
    }

    /// The calling thread of `serve_io`: fires the session's timers,
    /// starts a worker when every one is stuck in a handler while calls
    /// wait or nobody reads, and returns once the session is over.
    fn supervise(&self) {
        let mut last = u64::MAX;
        let mut quiet = 0u32;
        let mut st = lock(&self.state);
        loop {
            let now = Instant::now();
            if st.machine.poll_timeout().is_some_and(|at| at <= now) {
                st.machine.handle_timeout(now);
                self.dispatch(&mut st);
                drop(st);
                self.flush_output();
                st = lock(&self.state);
            }
            if st.broken || st.shutdown || st.machine.is_closed() {
                return;
            }
            if st.in_handler > 0 || st.started != last {
                quiet = 0;
            } else {
                quiet = quiet.saturating_add(1);
            }
            let stuck = st.in_handler > 0
                && st.in_handler == st.workers
                && st.started == last
                && (!st.queue.is_empty() || (!st.reading && !st.eof));
            if stuck {
                self.spawn_worker(&mut st);
                // Answers of earlier calls read together with the stuck
                // one wait for the batch to end: they leave now.
                drop(st);
                self.flush_output();
                st = lock(&self.state);
            }
            last = st.started;
            let timer = st.machine.poll_timeout().map(|at| {
                at.saturating_duration_since(now)
                    .max(Duration::from_millis(1))
            });
            let wait = if quiet >= STDIO_IDLE_TICKS && st.workers > 0 {
                st.supervisor_asleep = true;
                timer.unwrap_or(Duration::from_secs(1))
            } else {
                timer.map_or(STDIO_TICK, |t| t.min(STDIO_TICK))
            };
            st = self.wait(st, wait);
            st.supervisor_asleep = false;
            if st.workers == 0 && !st.eof && !st.broken {
                // Every worker ended (a thread could not start): read on.
                self.spawn_worker(&mut st);
            }
        }
    }
}

impl Port for StdioShared {
    fn with(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let alive = self.answer(session, request, f);
        self.flush_output();
        alive
    }

    fn answer(
        &self,
        _session: Option<&SessionId>,
        _request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let mut st = lock(&self.state);
        let st = &mut *st;
        f(st.machine.session_mut(), &mut st.waiters);
        self.dispatch(st);
        !st.broken
    }

    fn will_wait(&self) {
        let mut st = lock(&self.state);
        // The client's answer must be read: if every worker is inside a
        // handler (this one included), one more takes the reading.
        if st.in_handler >= st.workers && !st.eof && !st.broken {
            self.spawn_worker(&mut st);
        }
    }
}

impl McpServer {
    /// A builder with an empty catalogue.
    pub fn builder() -> McpServerBuilder {
        McpServerBuilder {
            registry: Registry {
                config: Config::default(),
                handlers: Handlers::default(),
                max_threads: 256,
                running: AtomicUsize::new(0),
                pool: Arc::default(),
                cancels: Mutex::new(InFlight::default()),
                transports: Mutex::new(Vec::new()),
            },
        }
    }

    /// The session settings, with the builder's name and instructions.
    pub fn session_config(&self) -> Config {
        self.registry.config.clone()
    }

    /// The registered tools (their names, descriptions and schemas), in
    /// registration order.
    pub fn tools(&self) -> Vec<Tool> {
        self.registry
            .handlers
            .tools
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Tells every client subscribed to `uri` (`resources/subscribe`) that
    /// the resource changed (`notifications/resources/updated`), on every
    /// transport serving this server: its stdio and WebSocket sessions,
    /// its Streamable HTTP endpoints. From a handler,
    /// [`RequestContext::resource_updated`] says the same.
    pub fn resource_updated(&self, uri: &str) {
        let transports: Vec<Arc<dyn Port>> = lock(&self.registry.transports)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        // The one-session transports take any request id: they serve
        // their one session whatever the request.
        let any = RequestId::from(0u64);
        for port in transports {
            port.edit(None, &any, CatalogueEdit::ResourceUpdated(uri.to_owned()));
        }
    }

    fn fill(&self, session: &mut ServerSession) {
        self.registry.handlers.fill_session(session);
    }

    /// Serves one client on this process's stdin and stdout until stdin
    /// ends and every answer is written.
    ///
    /// # Errors
    ///
    /// The streams' I/O errors.
    pub fn serve_stdio(&self) -> io::Result<()> {
        self.serve_io(io::stdin(), io::stdout())
    }

    /// Serves one client over a pair of byte streams (one JSON-RPC
    /// message per line). A worker thread reads a request, runs its
    /// handler and writes the answer (no hand-off between threads for a
    /// call that finishes at once); the reading passes to another worker
    /// while a handler waits for the client or runs longer than about
    /// 10 ms, so cancellations and other calls are still read. The
    /// calling thread fires the session's timers. Returns once the input
    /// has ended and every answer is written (or abandoned: calls still
    /// running when the client went away).
    ///
    /// # Errors
    ///
    /// The streams' I/O errors.
    pub fn serve_io(
        &self,
        input: impl Read + Send + 'static,
        output: impl Write + Send + 'static,
    ) -> io::Result<()> {
        let mut machine = StdioServer::new(StdioConfig::new(self.session_config()));
        self.fill(machine.session_mut());
        let shared = Arc::new_cyclic(|me| StdioShared {
            me: me.clone(),
            registry: self.registry.clone(),
            state: Mutex::new(StdioState {
                machine,
                waiters: BTreeMap::new(),
                broken: false,
                shutdown: false,
                queue: VecDeque::new(),
                reading: false,
                eof: false,
                workers: 0,
                in_handler: 0,
                started: 0,
                parked: 0,
                supervisor_asleep: false,
            }),
            input: Mutex::new(Box::new(input)),
            read_error: Mutex::new(None),
            output: Mutex::new(StdioOutput {
                writer: Box::new(output),
                scratch: Vec::new(),
                error: None,
            }),
            changed: Condvar::new(),
        });
        self.registry.serve_on(shared.clone());
        if !shared.spawn_worker(&mut lock(&shared.state)) {
            return Err(io::Error::other("cannot start the stdio reader thread"));
        }
        shared.supervise();
        // What is still queued for output (written by nobody else once
        // the session is over).
        shared.flush_output();
        let write_error = lock(&shared.output).error.take();
        let mut st = lock(&shared.state);
        st.broken = true;
        // Calls not started are abandoned.
        st.queue.clear();
        st.waiters.clear();
        shared.notify(&st);
        drop(st);
        match lock(&shared.read_error).take().or(write_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

// ---- WebSocket ----

/// The WebSocket settings an MCP endpoint accepts upgrades with: the `mcp`
/// subprotocol, whole messages up to [`WsConfig`]'s limit (4 MiB), no
/// compression, any `Origin` at the WebSocket layer (the endpoint checks
/// Host and Origin itself, with its Streamable HTTP policy).
pub fn websocket_config() -> ws::Config {
    let mut config = ws::Config {
        connection: WsConfig::default().connection,
        ..ws::Config::default()
    };
    config.connection.streaming = false;
    config.protocols(Some(SUBPROTOCOL))
}

/// Whether `req` asks for a WebSocket (`GET`, `Upgrade: websocket`,
/// `Connection: upgrade`); a plain `GET` is a Streamable HTTP stream.
pub fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    wirestate_ws::is_upgrade(req.method(), req.headers())
}

struct WsState {
    session: ServerSession,
    waiters: Waiters,
    closed: bool,
}

struct WsShared {
    me: Weak<WsShared>,
    registry: Arc<Registry>,
    socket: WebSocket,
    state: Mutex<WsState>,
}

impl WsShared {
    /// Turns events into jobs, for the caller to start once it lets go
    /// of the lock, and sends the session's messages (under the lock, so
    /// they leave in the order the session queued them).
    #[must_use]
    fn dispatch(&self, st: &mut WsState) -> Vec<Job> {
        let mut jobs = Vec::new();
        if let Some(me) = self.me.upgrade() {
            let port: Arc<dyn Port> = me;
            let mut refused = Refusals::new();
            while let Some(event) = st.session.poll_event() {
                on_event(
                    &self.registry,
                    &port,
                    None,
                    event,
                    &mut st.waiters,
                    &mut jobs,
                    &mut refused,
                );
            }
            for (id, error) in refused {
                let _ = st.session.respond_error(&id, error);
            }
        }
        while let Some(m) = st.session.poll_message() {
            if st.closed {
                continue;
            }
            if let Some(text) = mcp_ws::text_message(m)
                && self.socket.send(text).is_err()
            {
                st.closed = true;
            }
        }
        jobs
    }
}

impl Port for WsShared {
    fn with(
        &self,
        _session: Option<&SessionId>,
        _request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let jobs = {
            let mut st = lock(&self.state);
            if st.closed {
                return false;
            }
            let st = &mut *st;
            f(&mut st.session, &mut st.waiters);
            self.dispatch(st)
        };
        jobs.into_iter().for_each(Job::spawn);
        true
    }
}

impl McpServer {
    /// Serves one client over an upgraded WebSocket (one JSON-RPC message
    /// per text message) on the calling thread until it closes. Malformed
    /// JSON is answered -32700 and the socket stays open; a binary message
    /// is answered with close 1003. Calls run on handler threads; answers
    /// to requests the client abandoned by closing are dropped.
    pub fn serve_websocket(&self, socket: WebSocket) {
        let mut session = ServerSession::new(self.session_config());
        self.fill(&mut session);
        let shared = Arc::new_cyclic(|me| WsShared {
            me: me.clone(),
            registry: self.registry.clone(),
            socket: socket.clone(),
            state: Mutex::new(WsState {
                session,
                waiters: BTreeMap::new(),
                closed: false,
            }),
        });
        self.registry.serve_on(shared.clone());
        while let Some(Ok(message)) = socket.recv() {
            let mut st = lock(&shared.state);
            let now = Instant::now();
            let refused = mcp_ws::handle_ws_message(&mut st.session, now, message);
            st.session.handle_timeout(now);
            let jobs = shared.dispatch(&mut st);
            if refused.is_err() {
                st.closed = true;
            }
            drop(st);
            jobs.into_iter().for_each(Job::spawn);
            if let Err(frame) = refused {
                let _ = socket.close(frame.code, BINARY_REASON);
                break;
            }
        }
        let mut st = lock(&shared.state);
        st.closed = true;
        st.session.handle_close();
        // The session is over: calls it still reported are abandoned.
        drop(shared.dispatch(&mut st));
        st.waiters.clear();
    }
}

// ---- Streamable HTTP ----

struct HttpState {
    machine: HttpServer,
    waiters: Waiters,
    timer: bool,
    /// The connection threads waiting for an exchange, each on a condvar
    /// of its own: what is ready wakes its one thread (a notification is
    /// a system call), not every waiting connection.
    sleepers: BTreeMap<ExchangeId, Arc<Condvar>>,
}

struct HttpShared {
    me: Weak<HttpShared>,
    /// The machine's [`HttpConfig::max_body`] (fixed at its creation),
    /// kept here so reading a body does not take the lock.
    max_body: usize,
    registry: Arc<Registry>,
    state: Mutex<HttpState>,
}

thread_local! {
    /// The condvar this connection thread waits on (with the endpoint's
    /// state lock) for its exchange.
    static SLEEPER: Arc<Condvar> = Arc::new(Condvar::new());
    /// The call this connection thread runs itself while it would wait
    /// for its answer, if what it sends meanwhile is written from here.
    static INLINE: std::cell::RefCell<Option<InlineCall>> = const { std::cell::RefCell::new(None) };
}

/// A call run on the connection thread that received it although it may
/// log: the thread would otherwise wait for the answer while a handler
/// thread runs it (two hand-offs between threads per call). Whatever the
/// handler sends on its call's stream before its answer (logs) is
/// written by the handler's thread itself, through the connection's
/// [`EarlyResponse`]: the first such message decides the head (SSE), and
/// each goes out as the handler emits it, as it would from the waiting
/// connection thread.
struct InlineCall {
    /// The endpoint the call belongs to (its `HttpShared`).
    shared: *const HttpShared,
    exchange: ExchangeId,
    early: crate::server::EarlyResponse,
    /// The head went out (through `early`).
    started: bool,
    /// The stream ended (its end was written too).
    ended: bool,
    /// What the machine decided for the exchange, taken while the call
    /// ran (a full answer: nothing was written).
    decided: Option<Reply>,
}

/// What the call run inline on this thread has to write, taken from the
/// machine under the endpoint's lock and written after it is released.
#[derive(Default)]
struct InlineOutput {
    head: Option<http::response::Parts>,
    chunks: Vec<Bytes>,
}

impl HttpShared {
    /// Takes what the machine has for the exchange of the call this
    /// thread runs inline (if it runs one of this endpoint's): the head
    /// once decided as a stream, then its chunks. Called with the lock
    /// already held for the change that produced them, so a handler's
    /// message costs one lock, not two; [`write_inline`](Self::write_inline)
    /// writes the result once the lock is released.
    fn take_inline(&self, st: &mut HttpState) -> Option<InlineOutput> {
        INLINE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let call = slot.as_mut()?;
            if !std::ptr::eq(call.shared, self) || call.ended {
                return None;
            }
            let mut out = InlineOutput::default();
            if !call.started {
                if call.decided.is_some() {
                    return None;
                }
                match st.machine.poll_reply(call.exchange) {
                    Some(Reply::Open { response, .. }) => {
                        out.head = Some(response.into_parts().0);
                    }
                    Some(other) => {
                        call.decided = Some(other);
                        return None;
                    }
                    None => return None,
                }
            }
            loop {
                match st.machine.poll_chunk(call.exchange) {
                    Some(Chunk::Data(b)) => out.chunks.push(b),
                    Some(Chunk::End) => {
                        call.ended = true;
                        break;
                    }
                    None => break,
                }
            }
            Some(out)
        })
    }

    /// Writes what [`take_inline`](Self::take_inline) took, without the
    /// endpoint's lock: the socket may be slow. A failed write closes the
    /// connection; the call goes on and its answer is dropped with the
    /// exchange.
    fn write_inline(out: InlineOutput) {
        INLINE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let Some(call) = slot.as_mut() else { return };
            if let Some(head) = out.head {
                call.started = true;
                if call.early.start(head).is_err() {
                    return;
                }
            }
            for chunk in out.chunks {
                if call.early.send(chunk).is_err() {
                    return;
                }
            }
        });
    }
}

impl HttpShared {
    /// Turns events into jobs (for the caller to run or start once it
    /// lets go of the lock) and wakes the open responses.
    #[must_use]
    fn flush(&self, st: &mut HttpState) -> Vec<Job> {
        let mut jobs = Vec::new();
        let Some(me) = self.me.upgrade() else {
            return jobs;
        };
        let port: Arc<dyn Port> = me;
        let mut wake_all = false;
        while let Some(event) = st.machine.poll_event() {
            match event {
                HttpEvent::Session { session, event } => {
                    let mut refused = Refusals::new();
                    let first = jobs.len();
                    on_event(
                        &self.registry,
                        &port,
                        Some(session.clone()),
                        event,
                        &mut st.waiters,
                        &mut jobs,
                        &mut refused,
                    );
                    let (may_ask, logs) = st
                        .machine
                        .session(&session)
                        .map_or((false, false), session_talk);
                    for job in &mut jobs[first..] {
                        job.streams = !may_ask && job.ctx.progress.is_none();
                        job.inline = job.streams
                            && !logs
                            && job.ctx.meta.as_ref().is_none_or(|m| m.log_level.is_none());
                    }
                    for (id, error) in refused {
                        if let Some(s) = st.machine.session_for(&session, &id) {
                            let _ = s.respond_error(&id, error);
                        }
                    }
                }
                HttpEvent::SessionClosed { session, reason } => {
                    tracing::debug!(%session, ?reason, "mcp session closed");
                    st.waiters.retain(|(s, _), _| s.as_ref() != Some(&session));
                    // Its open responses end: let every waiter look.
                    wake_all = true;
                    // Nobody is left to answer: its calls are cancelled.
                    let transport = port_key(&port);
                    for flag in lock(&self.registry.cancels).of_session(transport, &session) {
                        flag.store(true, Ordering::Release);
                    }
                }
                HttpEvent::Refused(e) => tracing::debug!(error = %e, "mcp request refused"),
                _ => {}
            }
        }
        // After the events: answers given while handing them out (the
        // refusals above) are ready too.
        while let Some(x) = st.machine.poll_ready() {
            if let Some(sleeper) = st.sleepers.get(&x) {
                sleeper.notify_one();
            }
        }
        if wake_all {
            st.sleepers.values().for_each(|s| s.notify_one());
        }
        jobs
    }

    /// Waits (at most `timeout`) until `exchange` may have something.
    fn wait<'a>(
        &self,
        mut st: MutexGuard<'a, HttpState>,
        exchange: ExchangeId,
        timeout: Duration,
    ) -> MutexGuard<'a, HttpState> {
        let sleeper = SLEEPER.with(Arc::clone);
        st.sleepers.insert(exchange, sleeper.clone());
        let mut st = sleeper
            .wait_timeout(st, timeout)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        st.sleepers.remove(&exchange);
        st
    }

    /// Starts the thread that fires the machine's timers (session expiry,
    /// our requests' deadlines), once; it ends with the endpoint.
    fn start_timer(&self, st: &mut HttpState) {
        if st.timer {
            return;
        }
        st.timer = true;
        let weak = self.me.clone();
        let _ = std::thread::Builder::new()
            .name("mcp-http-timer".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    let Some(shared) = weak.upgrade() else { return };
                    let now = Instant::now();
                    let mut st = lock(&shared.state);
                    if st.machine.poll_timeout().is_some_and(|t| t <= now) {
                        st.machine.handle_timeout(now);
                        let jobs = shared.flush(&mut st);
                        drop(st);
                        jobs.into_iter().for_each(Job::spawn);
                    }
                }
            });
    }
}

impl Port for HttpShared {
    fn with(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let Some(session) = session else { return false };
        let (found, jobs, inline) = {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let found = match st.machine.session_for(session, request) {
                Some(s) => {
                    f(s, &mut st.waiters);
                    true
                }
                None => false,
            };
            let jobs = self.flush(st);
            (found, jobs, self.take_inline(st))
        };
        jobs.into_iter().for_each(Job::spawn);
        if let Some(out) = inline {
            Self::write_inline(out);
        }
        found
    }

    fn close_stream(&self, session: Option<&SessionId>, request: &RequestId) -> bool {
        let Some(session) = session else { return false };
        let (closed, jobs, inline) = {
            let mut st = lock(&self.state);
            let closed = st.machine.close_stream(session, request);
            let jobs = self.flush(&mut st);
            (closed, jobs, self.take_inline(&mut st))
        };
        jobs.into_iter().for_each(Job::spawn);
        if let Some(out) = inline {
            Self::write_inline(out);
        }
        closed
    }

    fn edit(&self, _session: Option<&SessionId>, _request: &RequestId, edit: CatalogueEdit) {
        let jobs = {
            let mut st = lock(&self.state);
            edit.apply_http(&mut st.machine);
            self.flush(&mut st)
        };
        jobs.into_iter().for_each(Job::spawn);
    }
}

/// The Streamable HTTP endpoint of an [`McpServer`]: a [`Handler`] for
/// the blocking [`Server`](crate::Server) (route the requests of its path
/// to [`handle`](Self::handle)); a `GET` with `Upgrade: websocket` gets
/// the WebSocket transport. Clones share the sessions.
#[derive(Clone)]
pub struct McpHttp {
    server: McpServer,
    shared: Arc<HttpShared>,
    /// Open SSE bodies end when this server shuts down.
    shutdown: Option<ServerHandle>,
}

impl std::fmt::Debug for McpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttp").finish_non_exhaustive()
    }
}

impl McpServer {
    /// The Streamable HTTP endpoint (and WebSocket upgrades on it).
    /// `config.session` is replaced by the builder's session settings;
    /// session ids come from the operating system's random generator.
    pub fn http(&self, config: HttpConfig) -> McpHttp {
        let mut config = config;
        config.session = self.session_config();
        let mut machine = HttpServer::new(config, |buf: &mut [u8]| {
            if getrandom::fill(buf).is_err() {
                // No OS randomness: fall back on fastrand (seeded from the
                // OS where possible); session ids stay unique, if weaker.
                for b in buf.iter_mut() {
                    *b = fastrand::u8(..);
                }
            }
        });
        self.registry.handlers.fill_http(&mut machine);
        let shared = Arc::new_cyclic(|me| HttpShared {
            me: me.clone(),
            max_body: machine.config().max_body,
            registry: self.registry.clone(),
            state: Mutex::new(HttpState {
                machine,
                waiters: BTreeMap::new(),
                timer: false,
                sleepers: BTreeMap::new(),
            }),
        });
        self.registry.serve_on(shared.clone());
        McpHttp {
            server: self.clone(),
            shared,
            shutdown: None,
        }
    }
}

impl McpHttp {
    /// Ends open SSE responses (the standalone GET stream, streams still
    /// waiting for an answer) once `server` starts a graceful shutdown —
    /// which otherwise waits for every response it started — within a
    /// second; their clients can resume them elsewhere with
    /// `Last-Event-ID`.
    #[must_use]
    pub fn end_streams_on(mut self, server: ServerHandle) -> Self {
        self.shutdown = Some(server);
        self
    }

    /// Answers one request of the endpoint.
    pub fn handle(&self, req: Request<BlockingBody>) -> Response<ResponseBody> {
        if is_websocket_upgrade(&req) {
            return self.upgrade_websocket(&req);
        }
        let (parts, body) = req.into_parts();
        let early = body.early_response();
        let body = match body.collect(self.shared.max_body) {
            Ok(b) => b,
            Err(crate::Error::BodyTooLarge(_)) => {
                return status_only(StatusCode::PAYLOAD_TOO_LARGE);
            }
            Err(_) => return status_only(StatusCode::BAD_REQUEST),
        };
        let (reply, jobs) = {
            let mut st = lock(&self.shared.state);
            self.shared.start_timer(&mut st);
            let reply = st.machine.handle_request(Instant::now(), &parts, body);
            let jobs = self.shared.flush(&mut st);
            (reply, jobs)
        };
        // This thread would wait for the answer anyway: a call that cannot
        // need its stream open before it ends runs here, with no hand-off
        // to a handler thread and back. The others get threads first.
        // A call that may log runs here too when this thread can write
        // its logs as they come (an HTTP/1.1 request answered on a
        // deferred head): see `InlineCall`.
        let streamable = match (&reply, early) {
            (Reply::Deferred { exchange }, Some(early)) => Some((*exchange, early)),
            _ => None,
        };
        let (inline, threaded): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.inline || (j.streams && streamable.is_some()));
        threaded.into_iter().for_each(Job::spawn);
        let streaming = inline.iter().any(|j| !j.inline);
        let mut call = None;
        if let (true, Some((exchange, early))) = (streaming, streamable) {
            INLINE.with(|c| {
                *c.borrow_mut() = Some(InlineCall {
                    shared: Arc::as_ptr(&self.shared),
                    exchange,
                    early,
                    started: false,
                    ended: false,
                    decided: None,
                });
            });
            // The answer itself goes out below, as any other: only
            // what comes before it is written from the handler.
            for job in inline {
                job.run();
            }
            call = INLINE.with(|c| c.borrow_mut().take());
        } else {
            inline.into_iter().for_each(Job::run);
        }
        if let Some(call) = call {
            if call.started {
                let chunks = ExchangeChunks {
                    shared: self.shared.clone(),
                    exchange: call.exchange,
                    done: call.ended,
                    shutdown: self.shutdown.clone(),
                };
                let mut response = Response::new(ResponseBody::from_chunks(chunks));
                response.extensions_mut().insert(crate::server::Started);
                return response;
            }
            if let Some(reply) = call.decided {
                return self.finish(reply);
            }
        }
        let reply = match reply {
            Reply::Deferred { exchange } => self.decided(exchange),
            other => other,
        };
        self.finish(reply)
    }

    /// The response for the machine's decision on a request.
    fn finish(&self, reply: Reply) -> Response<ResponseBody> {
        match reply {
            Reply::Full(r) => r.map(ResponseBody::full),
            Reply::Open { response, exchange } => {
                let chunks = ExchangeChunks {
                    shared: self.shared.clone(),
                    exchange,
                    done: false,
                    shutdown: self.shutdown.clone(),
                };
                let (parts, ()) = response.into_parts();
                Response::from_parts(parts, ResponseBody::from_chunks(chunks))
            }
            Reply::Deferred { .. } => status_only(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Blocks until the machine decides the head of a stateless answer
    /// (its first message: a response, or a notification opening SSE).
    fn decided(&self, exchange: ExchangeId) -> Reply {
        let mut st = lock(&self.shared.state);
        loop {
            let reply = st.machine.poll_reply(exchange);
            let jobs = self.shared.flush(&mut st);
            if !jobs.is_empty() {
                drop(st);
                jobs.into_iter().for_each(Job::spawn);
                st = lock(&self.shared.state);
                if reply.is_none() {
                    // They may have answered while the lock was free.
                    continue;
                }
            }
            if let Some(reply) = reply {
                return reply;
            }
            st = self.shared.wait(st, exchange, Duration::from_secs(1));
        }
    }

    /// Answers a WebSocket upgrade of the endpoint: Host and Origin are
    /// checked against the endpoint's allow-lists (421, 403), then the
    /// handshake ([`ws::upgrade`]) and the session runs on the upgraded
    /// connection's thread.
    pub fn upgrade_websocket<B>(&self, req: &Request<B>) -> Response<ResponseBody> {
        let mut head = Request::new(());
        *head.method_mut() = req.method().clone();
        *head.uri_mut() = req.uri().clone();
        *head.version_mut() = req.version();
        *head.headers_mut() = req.headers().clone();
        let refused = lock(&self.shared.state)
            .machine
            .refusal_for(&head.into_parts().0);
        if let Some(response) = refused {
            return response.map(ResponseBody::full);
        }
        let server = self.server.clone();
        ws::upgrade(req, &websocket_config(), move |socket| {
            server.serve_websocket(socket);
        })
    }
}

impl Handler for McpHttp {
    fn call(&self, req: Request<BlockingBody>) -> Response<ResponseBody> {
        self.handle(req)
    }
}

fn status_only(status: StatusCode) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::empty());
    *r.status_mut() = status;
    r
}

/// An open response body fed by the machine: each chunk as it comes,
/// blocking the connection's thread in between.
struct ExchangeChunks {
    shared: Arc<HttpShared>,
    exchange: ExchangeId,
    done: bool,
    shutdown: Option<ServerHandle>,
}

impl Iterator for ExchangeChunks {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        let mut st = lock(&self.shared.state);
        loop {
            match st.machine.poll_chunk(self.exchange) {
                Some(Chunk::Data(b)) => {
                    let jobs = self.shared.flush(&mut st);
                    drop(st);
                    jobs.into_iter().for_each(Job::spawn);
                    return Some(Ok(b));
                }
                Some(Chunk::End) => {
                    self.done = true;
                    let jobs = self.shared.flush(&mut st);
                    drop(st);
                    jobs.into_iter().for_each(Job::spawn);
                    return None;
                }
                None => {
                    if self
                        .shutdown
                        .as_ref()
                        .is_some_and(ServerHandle::is_shutdown)
                    {
                        // Dropped unfinished: reported as a disconnect, so
                        // the stream stays resumable.
                        return None;
                    }
                    st = self.shared.wait(st, self.exchange, Duration::from_secs(1));
                }
            }
        }
    }
}

impl Drop for ExchangeChunks {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let jobs = {
            let mut st = lock(&self.shared.state);
            st.machine.handle_disconnect(Instant::now(), self.exchange);
            self.shared.flush(&mut st)
        };
        jobs.into_iter().for_each(Job::spawn);
    }
}
