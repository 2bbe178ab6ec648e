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
//! [`wirestate_mcp::websocket`]) behind a mutex. Every call runs on a
//! thread of its own (at most [`McpServerBuilder::max_handler_threads`]
//! at once; beyond, the call is answered -32009 at once), and talks back
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
use std::sync::atomic::{AtomicUsize, Ordering};
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
    CallToolParams, CallToolResult, CompleteParams, CompleteResult, CreateMessageParams,
    CreateMessageResult, ElicitParams, ElicitResult, Extra, GetPromptResult, Implementation,
    InputResponses, LoggingLevel, Meta, ProgressToken, Prompt, ReadResourceResult, RequestMeta,
    Resource, ResourceTemplate, Tool, progress_token,
};
use wirestate_mcp::websocket::{self as mcp_ws, BINARY_REASON, SUBPROTOCOL, WsConfig};
use wirestate_mcp::{Config, ServerEvent, ServerSession, StdioConfig, StdioServer};

use crate::ws::{self, WebSocket};
use crate::{BlockingBody, Handler, ResponseBody, ServerHandle};

use wirestate_mcp::handler::{
    CatalogueEdit, ClientAnswer, Handlers, answer_call_tool, answer_complete, answer_get_prompt,
    answer_read_resource, check_prompt_arguments, no_completion, request_meta, route_answer,
};
/// The handler vocabulary, shared with the async server builder of
/// `wirestate-rt`: see [`wirestate_mcp::handler`].
pub use wirestate_mcp::handler::{
    NoArgs, ResourceRequest, Structured, ToolError, ToolOutput, schema_of,
};

type ToolFn = Arc<
    dyn Fn(&RequestContext, Map<String, Value>) -> Result<CallToolResult, ToolError> + Send + Sync,
>;
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
    /// Handler threads running now.
    running: AtomicUsize,
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

    /// Most handler threads at once, over every session (at least 1;
    /// default 256). A call beyond is answered -32009 (server busy).
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
    pub fn tool_with_context<A, O, F>(self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(&RequestContext, A) -> Result<O, ToolError> + Send + Sync + 'static,
    {
        let mut tool = Tool::new(name, schema_of::<A>());
        tool.description = Some(description.to_owned());
        tool.output_schema = O::output_schema();
        self.tool_raw(tool, move |ctx, args| {
            let a: A = serde_json::from_value(Value::Object(args))
                .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            handler(ctx, a).map(ToolOutput::into_result)
        })
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
        self.registry.handlers.add_tool(tool, Arc::new(handler));
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
        loop {
            let wait = deadline.map_or(Duration::from_secs(1), |d: Instant| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
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
    /// # Errors
    ///
    /// [`ToolError::Client`] when the client lacks the capability,
    /// refuses, or does not answer in time.
    pub fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Result<CreateMessageResult, ToolError> {
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
        self.ask(&mut |s| s.elicit(Instant::now(), &params))?
            .elicited()
    }
}

/// A handler's outcome, applied to the session.
type Work = Box<
    dyn FnOnce(&RequestContext) -> Box<dyn FnOnce(&mut ServerSession, &RequestId) + Send> + Send,
>;

/// Runs `work` on a thread of its own and applies its answer; answers
/// -32009 at once when [`McpServerBuilder::max_handler_threads`] are busy.
/// Requests to refuse at once (no handler thread for them), with the
/// error to answer: applied by the transport after its events are handed
/// out, under the lock it already holds.
type Refusals = Vec<(RequestId, ErrorObject)>;

fn run_handler(registry: &Arc<Registry>, ctx: RequestContext, work: Work, refused: &mut Refusals) {
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
    let reg = registry.clone();
    let spawned = std::thread::Builder::new()
        .name("mcp-handler".into())
        .spawn({
            let ctx = ctx.clone();
            move || {
                // Counted down however the handler ends (a panic included).
                struct Running(Arc<Registry>);
                impl Drop for Running {
                    fn drop(&mut self) {
                        self.0.running.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                let _running = Running(reg);
                let answer = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&ctx)
                })) {
                    Ok(answer) => answer,
                    Err(_) => {
                        tracing::error!(request = %ctx.request, "MCP handler panicked");
                        Box::new(|s: &mut ServerSession, id: &RequestId| {
                            let _ = s.respond_error(
                                id,
                                ErrorObject::new(ErrorCode::INTERNAL_ERROR, "the handler panicked"),
                            );
                        })
                    }
                };
                let mut answer = Some(answer);
                ctx.port
                    .with(ctx.session.as_ref(), &ctx.request, &mut |s, _| {
                        if let Some(a) = answer.take() {
                            a(s, &ctx.request);
                        }
                    });
            }
        });
    if spawned.is_err() {
        registry.running.fetch_sub(1, Ordering::AcqRel);
        let error = ErrorObject::new(ErrorCode::SERVER_BUSY, "cannot start a handler thread");
        refused.push((ctx.request, error));
    }
}

/// Turns a session event into work: handler threads, or answers to our
/// own requests. Which handler, and how its outcome is answered, is
/// [`wirestate_mcp::handler`]'s; here the handlers run on threads.
fn on_event(
    registry: &Arc<Registry>,
    port: &Arc<dyn Port>,
    session: Option<SessionId>,
    event: ServerEvent,
    waiters: &mut Waiters,
    refused: &mut Refusals,
) {
    let ctx = |request: RequestId, meta: Option<&Meta>, extra: &Extra| RequestContext {
        port: port.clone(),
        session: session.clone(),
        request,
        progress: progress_token(meta),
        meta: request_meta(meta),
        input: InputResponses::from_extra(extra),
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
            run_handler(
                registry,
                ctx,
                Box::new(move |ctx| {
                    let result = match handler {
                        Some(f) => f(ctx, arguments.unwrap_or_default()),
                        None => Err(ToolError::unknown_tool(&name)),
                    };
                    Box::new(move |s, id| answer_call_tool(s, id, result))
                }),
                refused,
            );
        }
        ServerEvent::ReadResource { id, params } => {
            let uri = params.uri;
            let found = handlers.resource(&uri);
            let stateless = request_meta(params.meta.as_ref()).is_some();
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            run_handler(
                registry,
                ctx,
                Box::new(move |ctx| {
                    let result = match found {
                        Some((f, vars)) => f(ctx, ResourceRequest { uri, vars }),
                        None => Err(ToolError::resource_not_found(&uri, stateless)),
                    };
                    Box::new(move |s, id| answer_read_resource(s, id, result))
                }),
                refused,
            );
        }
        ServerEvent::GetPrompt { id, params } => {
            let found = handlers.prompt(&params.name);
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            let args = params.arguments.unwrap_or_default();
            run_handler(
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
                refused,
            );
        }
        ServerEvent::Complete { id, params } => {
            let f = handlers.complete.clone();
            let ctx = ctx(id, None, &Extra::new());
            run_handler(
                registry,
                ctx,
                Box::new(move |_| {
                    let result = match f {
                        Some(f) => f(params),
                        None => Ok(no_completion()),
                    };
                    Box::new(move |s, id| answer_complete(s, id, result))
                }),
                refused,
            );
        }
        ServerEvent::Invalid(e) => tracing::debug!(error = %e, "mcp: refused input"),
        _ => {}
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- stdio ----

struct StdioState {
    machine: StdioServer,
    waiters: Waiters,
    /// The output failed: nothing more is written.
    broken: bool,
}

struct StdioShared {
    me: Weak<StdioShared>,
    registry: Arc<Registry>,
    state: Mutex<StdioState>,
    /// Signalled when there is output, a timer or the end to look at.
    changed: Condvar,
}

impl StdioShared {
    fn dispatch(&self, st: &mut StdioState) {
        let Some(me) = self.me.upgrade() else { return };
        let port: Arc<dyn Port> = me;
        let mut refused = Refusals::new();
        while let Some(event) = st.machine.poll_event() {
            on_event(
                &self.registry,
                &port,
                None,
                event,
                &mut st.waiters,
                &mut refused,
            );
        }
        for (id, error) in refused {
            let _ = st.machine.session_mut().respond_error(&id, error);
        }
        self.changed.notify_all();
    }
}

impl Port for StdioShared {
    fn with(
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
    /// message per line): `input` is read on a thread of its own, the
    /// calling thread writes `output` and fires the session's timers.
    /// Returns once the input has ended and every answer is written (or
    /// abandoned: calls still running when the client went away).
    ///
    /// # Errors
    ///
    /// The streams' I/O errors.
    pub fn serve_io(
        &self,
        mut input: impl Read + Send + 'static,
        mut output: impl Write,
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
            }),
            changed: Condvar::new(),
        });
        let reader = shared.clone();
        let read_error: Arc<Mutex<Option<io::Error>>> = Arc::default();
        let read_error_w = read_error.clone();
        std::thread::Builder::new()
            .name("mcp-stdin".into())
            .spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    // Wait while the session is over its output bound.
                    {
                        let mut st = lock(&reader.state);
                        while !st.machine.wants_read() && !st.broken && !st.machine.is_closed() {
                            st = reader
                                .changed
                                .wait_timeout(st, Duration::from_millis(100))
                                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                        }
                        if st.broken || st.machine.is_closed() {
                            return;
                        }
                    }
                    let n = match input.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            *lock(&read_error_w) = Some(e);
                            0
                        }
                    };
                    let mut st = lock(&reader.state);
                    let now = Instant::now();
                    if n == 0 {
                        let _ = st.machine.handle_eof(now);
                    } else {
                        let _ = st.machine.handle_input(now, &buf[..n]);
                    }
                    reader.dispatch(&mut st);
                    if n == 0 {
                        return;
                    }
                }
            })?;
        let result = (|| {
            let mut out: VecDeque<Bytes> = VecDeque::new();
            loop {
                let mut shutdown = false;
                {
                    let mut st = lock(&shared.state);
                    loop {
                        if let Some(at) = st.machine.poll_timeout()
                            && at <= Instant::now()
                        {
                            st.machine.handle_timeout(Instant::now());
                            shared.dispatch(&mut st);
                        }
                        while let Some(t) = st.machine.poll_transmit() {
                            match t {
                                Transmit::Bytes(b) => out.push_back(b),
                                Transmit::Shutdown => shutdown = true,
                            }
                        }
                        if !out.is_empty() || shutdown || st.machine.is_closed() {
                            break;
                        }
                        let wait = st
                            .machine
                            .poll_timeout()
                            .map_or(Duration::from_secs(1), |at| {
                                at.saturating_duration_since(Instant::now())
                                    .max(Duration::from_millis(1))
                            });
                        st = shared
                            .changed
                            .wait_timeout(st, wait)
                            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
                    }
                }
                // Written outside the lock: a slow reader of our output
                // does not hold up the handlers.
                for b in out.drain(..) {
                    output.write_all(&b)?;
                }
                output.flush()?;
                shared.changed.notify_all();
                if shutdown || lock(&shared.state).machine.is_closed() {
                    return Ok(());
                }
            }
        })();
        let mut st = lock(&shared.state);
        if result.is_err() {
            st.broken = true;
        }
        st.waiters.clear();
        shared.changed.notify_all();
        drop(st);
        match lock(&read_error).take() {
            Some(e) => Err(e),
            None => result,
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
    /// Hands events to handlers and sends the session's messages (under
    /// the lock, so they leave in the order the session queued them).
    fn dispatch(&self, st: &mut WsState) {
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
    }
}

impl Port for WsShared {
    fn with(
        &self,
        _session: Option<&SessionId>,
        _request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let mut st = lock(&self.state);
        if st.closed {
            return false;
        }
        let st = &mut *st;
        f(&mut st.session, &mut st.waiters);
        self.dispatch(st);
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
        while let Some(Ok(message)) = socket.recv() {
            let mut st = lock(&shared.state);
            let now = Instant::now();
            let refused = mcp_ws::handle_ws_message(&mut st.session, now, message);
            st.session.handle_timeout(now);
            shared.dispatch(&mut st);
            if let Err(frame) = refused {
                st.closed = true;
                drop(st);
                let _ = socket.close(frame.code, BINARY_REASON);
                break;
            }
        }
        let mut st = lock(&shared.state);
        st.closed = true;
        st.session.handle_close();
        shared.dispatch(&mut st);
        st.waiters.clear();
    }
}

// ---- Streamable HTTP ----

struct HttpState {
    machine: HttpServer,
    waiters: Waiters,
    timer: bool,
}

struct HttpShared {
    me: Weak<HttpShared>,
    registry: Arc<Registry>,
    state: Mutex<HttpState>,
    /// Signalled whenever an open response may have a chunk.
    changed: Condvar,
}

impl HttpShared {
    /// Turns events into work and wakes the open responses.
    fn flush(&self, st: &mut HttpState) {
        let Some(me) = self.me.upgrade() else { return };
        let port: Arc<dyn Port> = me;
        let mut any = false;
        while st.machine.poll_ready().is_some() {
            any = true;
        }
        while let Some(event) = st.machine.poll_event() {
            any = true;
            match event {
                HttpEvent::Session { session, event } => {
                    let mut refused = Refusals::new();
                    on_event(
                        &self.registry,
                        &port,
                        Some(session.clone()),
                        event,
                        &mut st.waiters,
                        &mut refused,
                    );
                    for (id, error) in refused {
                        if let Some(s) = st.machine.session_for(&session, &id) {
                            let _ = s.respond_error(&id, error);
                        }
                    }
                }
                HttpEvent::SessionClosed { session, reason } => {
                    tracing::debug!(%session, ?reason, "mcp session closed");
                    st.waiters.retain(|(s, _), _| s.as_ref() != Some(&session));
                }
                HttpEvent::Refused(e) => tracing::debug!(error = %e, "mcp request refused"),
                _ => {}
            }
        }
        if any {
            self.changed.notify_all();
        }
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
                        shared.flush(&mut st);
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
        let mut st = lock(&self.state);
        let st = &mut *st;
        let found = match st.machine.session_for(session, request) {
            Some(s) => {
                f(s, &mut st.waiters);
                true
            }
            None => false,
        };
        self.flush(st);
        found
    }

    fn close_stream(&self, session: Option<&SessionId>, request: &RequestId) -> bool {
        let Some(session) = session else { return false };
        let mut st = lock(&self.state);
        let closed = st.machine.close_stream(session, request);
        self.flush(&mut st);
        closed
    }

    fn edit(&self, _session: Option<&SessionId>, _request: &RequestId, edit: CatalogueEdit) {
        let mut st = lock(&self.state);
        edit.apply_http(&mut st.machine);
        self.flush(&mut st);
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
            registry: self.registry.clone(),
            state: Mutex::new(HttpState {
                machine,
                waiters: BTreeMap::new(),
                timer: false,
            }),
            changed: Condvar::new(),
        });
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
        let max = lock(&self.shared.state).machine.config().max_body;
        let body = match body.collect(max) {
            Ok(b) => b,
            Err(crate::Error::BodyTooLarge(_)) => {
                return status_only(StatusCode::PAYLOAD_TOO_LARGE);
            }
            Err(_) => return status_only(StatusCode::BAD_REQUEST),
        };
        let reply = {
            let mut st = lock(&self.shared.state);
            self.shared.start_timer(&mut st);
            let reply = st.machine.handle_request(Instant::now(), &parts, body);
            self.shared.flush(&mut st);
            reply
        };
        let reply = match reply {
            Reply::Deferred { exchange } => self.decided(exchange),
            other => other,
        };
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
            if let Some(reply) = st.machine.poll_reply(exchange) {
                self.shared.flush(&mut st);
                return reply;
            }
            self.shared.flush(&mut st);
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_secs(1))
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
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
                    self.shared.flush(&mut st);
                    return Some(Ok(b));
                }
                Some(Chunk::End) => {
                    self.done = true;
                    self.shared.flush(&mut st);
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
                    st = self
                        .shared
                        .changed
                        .wait_timeout(st, Duration::from_secs(1))
                        .map_or_else(|e| e.into_inner().0, |(g, _)| g);
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
        let mut st = lock(&self.shared.state);
        st.machine.handle_disconnect(Instant::now(), self.exchange);
        self.shared.flush(&mut st);
    }
}
