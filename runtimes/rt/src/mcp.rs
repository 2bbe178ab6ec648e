//! An MCP server on any runtime: register tools (typed, with JSON Schema
//! from the Rust type via `schemars`), resources, resource templates and
//! prompts once, then serve them over stdio ([`McpServer::serve_io`]) or
//! Streamable HTTP ([`McpServer::http`], a [`Handler`] to use alone or
//! mounted under a path of another handler) — which also accepts
//! WebSocket upgrades ([`McpServer::serve_websocket`]).
//!
//! Both transports are the sans-IO machines of `wirestate-mcp`
//! ([`StdioServer`], [`HttpServer`]) behind a mutex; a handler is first
//! polled where its request arrived (most answer at once, without a task
//! hand-off) and goes on as a spawned task only if it has to wait. It talks
//! back through its [`RequestContext`] (logs,
//! progress, sampling and elicitation requests to the client). A handler
//! that panics, wherever it is polled, is answered -32603 (internal error)
//! and the transport goes on.
//!
//! ```no_run
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use wirestate_rt::mcp::{McpServer, ToolError};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Add { a: f64, b: f64 }
//!
//! let server = McpServer::builder()
//!     .name("calc", "1.0")
//!     .tool("add", "Adds two numbers.", |args: Add| async move {
//!         Ok::<_, ToolError>((args.a + args.b).to_string())
//!     })
//!     .build();
//! # let _ = server;
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io::{self, IoSlice};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_channel::oneshot;
use futures_core::Stream;
use http::{Request, Response, StatusCode};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wirestate_jsonrpc::RequestId;
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::http::{Chunk, ExchangeId, HttpConfig, HttpEvent, HttpServer, Reply, SessionId};
use wirestate_mcp::schema::{
    CallToolParams, CallToolResult, ClientCapabilities, CompleteParams, CompleteResult,
    CreateMessageParams, CreateMessageResult, ElicitParams, ElicitResult, GetPromptResult,
    Implementation, InputResponses, LoggingLevel, ProgressToken, Prompt, ReadResourceResult,
    RequestMeta, Resource, ResourceTemplate, Tool, methods, progress_token,
};
use wirestate_mcp::{Config, ServerEvent, ServerSession, StdioConfig, StdioServer};

use crate::http1::Handler;
use crate::{Body, BoxFuture, Io, Runtime, Shutdown};

/// The JSON-RPC error of [`ToolError::Rpc`].
pub use wirestate_jsonrpc::ErrorObject as RpcError;

#[path = "mcp_ws.rs"]
mod websocket;
pub use websocket::{is_websocket_upgrade, websocket_config};

use wirestate_mcp::handler::{
    CatalogueEdit, ClientAnswer, Handlers, InFlight, InFlightKey, ToolAnswer, answer_complete,
    answer_get_prompt, answer_read_resource, answer_tool, check_prompt_arguments, no_completion,
    request_meta, route_answer, stateless_input, tool_answer,
};
/// The handler vocabulary, shared with the blocking server builder: see
/// [`wirestate_mcp::handler`].
pub use wirestate_mcp::handler::{
    NoArgs, ResourceRequest, Structured, ToolError, ToolOutput, schema_of,
};

type ToolFn = Arc<
    dyn Fn(RequestContext, Map<String, Value>) -> BoxFuture<Result<ToolAnswer, ToolError>>
        + Send
        + Sync,
>;
type ResourceFn = Arc<
    dyn Fn(RequestContext, ResourceRequest) -> BoxFuture<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync,
>;
type PromptFn = Arc<
    dyn Fn(
            RequestContext,
            BTreeMap<String, String>,
        ) -> BoxFuture<Result<GetPromptResult, ToolError>>
        + Send
        + Sync,
>;
type CompleteFn =
    Arc<dyn Fn(CompleteParams) -> BoxFuture<Result<CompleteResult, ToolError>> + Send + Sync>;

struct Registry {
    config: Config,
    handlers: Handlers<ToolFn, ResourceFn, PromptFn, CompleteFn>,
    /// The handlers running now, by transport, session and request: what
    /// `notifications/cancelled` (or the end of an HTTP session) stops.
    running: Mutex<InFlight<Cancel>>,
    /// Every transport serving this server (stdio, Streamable HTTP,
    /// WebSocket), for [`McpServer::resource_updated`].
    transports: Mutex<Vec<Weak<dyn Port>>>,
}

/// The cancellation of one request: set once, and the handler's task
/// woken so that it stops at once, not at its next wake-up.
#[derive(Debug, Default)]
struct Cancel {
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Cancel {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    fn fire(&self) {
        self.cancelled.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Registry {
    /// Adds a transport to [`transports`](Self::transports), forgetting
    /// the ones that ended.
    fn serve_on(&self, port: Weak<dyn Port>) {
        let mut transports = self.transports.lock().unwrap_or_else(|e| e.into_inner());
        transports.retain(|t| t.strong_count() > 0);
        transports.push(port);
    }

    fn running(&self) -> MutexGuard<'_, InFlight<Cancel>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The transport's part of a handler's key in [`Registry::running`]: the
/// address of its [`Port`], alive while the handler holds it.
fn port_key(port: &Arc<dyn Port>) -> usize {
    Arc::as_ptr(port).cast::<()>() as usize
}

/// Removes its handler from [`Registry::running`] when the handler's
/// future ends or is dropped (only its own entry: a later request that
/// reused the id after the answer has an entry of its own).
struct Running {
    registry: Arc<Registry>,
    key: InFlightKey,
    cancel: Arc<Cancel>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.registry.running().remove(&self.key, &self.cancel);
    }
}

/// `handler` (the whole of a request's work: the handler and its answer),
/// registered as running until it ends, and dropped unanswered as soon as
/// the client cancels the request: MCP asks a server to stop work on a
/// cancelled request, and its answer would be dropped anyway. The
/// handler's future is dropped at its next `.await` (its task is woken for
/// that); code between two `.await`s can look at
/// [`RequestContext::is_cancelled`].
fn cancellable(
    registry: &Arc<Registry>,
    key: InFlightKey,
    cancel: Arc<Cancel>,
    handler: BoxFuture<()>,
) -> BoxFuture<()> {
    registry.running().insert(key.clone(), cancel.clone());
    let running = Running {
        registry: registry.clone(),
        key,
        cancel,
    };
    let mut handler = Some(handler);
    Box::pin(std::future::poll_fn(move |cx| {
        let cancel = &running.cancel;
        if !cancel.is_cancelled() {
            cancel.register(cx.waker());
        }
        if cancel.is_cancelled() {
            // Dropped here, with whatever it was waiting on.
            handler = None;
            return Poll::Ready(());
        }
        match handler.as_mut() {
            Some(h) => h.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }))
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

    /// A tool with typed arguments: the input schema is generated from
    /// `A`, the output schema from `O` (for [`Structured`] outputs).
    /// Arguments that do not deserialize get an `isError` result.
    pub fn tool<A, O, F, Fut>(self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    {
        self.tool_with_context(name, description, move |_ctx: RequestContext, a: A| {
            handler(a)
        })
    }

    /// [`tool`](Self::tool) whose handler also gets the [`RequestContext`]
    /// (logs, progress, sampling, elicitation).
    pub fn tool_with_context<A, O, F, Fut>(
        mut self,
        name: &str,
        description: &str,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    {
        let mut tool = Tool::new(name, schema_of::<A>());
        tool.description = Some(description.to_owned());
        tool.output_schema = O::output_schema();
        // Asked once: a value that is not an object goes out wrapped.
        let wrap = O::wraps_output();
        let handler = Arc::new(handler);
        let f: ToolFn = Arc::new(move |ctx, args| {
            let handler = handler.clone();
            Box::pin(async move {
                let a: A = serde_json::from_value(Value::Object(args))
                    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
                handler(ctx, a).await.map(|o| tool_answer(o, wrap))
            })
        });
        self.registry.handlers.add_tool(tool, f);
        self
    }

    /// A tool described by hand (its own schemas), with the arguments as
    /// a JSON object.
    pub fn tool_raw<F, Fut>(mut self, tool: Tool, handler: F) -> Self
    where
        F: Fn(RequestContext, Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let f: ToolFn = Arc::new(move |ctx, args| {
            let answer = handler(ctx, args);
            Box::pin(async move { answer.await.map(ToolAnswer::Result) })
        });
        self.registry.handlers.add_tool(tool, f);
        self
    }

    /// A resource and the handler that reads it.
    pub fn resource<F, Fut>(mut self, resource: Resource, handler: F) -> Self
    where
        F: Fn(RequestContext, ResourceRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ReadResourceResult, ToolError>> + Send + 'static,
    {
        let f: ResourceFn = Arc::new(move |ctx, r| Box::pin(handler(ctx, r)));
        self.registry.handlers.resources.push((resource, f));
        self
    }

    /// A resource template (`{name}` variables, each matching one path
    /// segment) and the handler that reads URIs matching it.
    pub fn resource_template<F, Fut>(mut self, template: ResourceTemplate, handler: F) -> Self
    where
        F: Fn(RequestContext, ResourceRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ReadResourceResult, ToolError>> + Send + 'static,
    {
        let f: ResourceFn = Arc::new(move |ctx, r| Box::pin(handler(ctx, r)));
        self.registry.handlers.templates.push((template, f));
        self
    }

    /// A prompt; its required arguments are checked before the handler
    /// runs (-32602 when one is missing).
    pub fn prompt<F, Fut>(mut self, prompt: Prompt, handler: F) -> Self
    where
        F: Fn(RequestContext, BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<GetPromptResult, ToolError>> + Send + 'static,
    {
        let f: PromptFn = Arc::new(move |ctx, a| Box::pin(handler(ctx, a)));
        self.registry.handlers.add_prompt(prompt, f);
        self
    }

    /// Argument completion (`completion/complete`); advertises the
    /// `completions` capability.
    pub fn completion<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(CompleteParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CompleteResult, ToolError>> + Send + 'static,
    {
        self.registry.handlers.complete = Some(Arc::new(move |p| Box::pin(handler(p))));
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

impl McpServer {
    /// A builder with an empty catalogue.
    pub fn builder() -> McpServerBuilder {
        McpServerBuilder {
            registry: Registry {
                config: Config::default(),
                handlers: Handlers::default(),
                running: Mutex::new(InFlight::default()),
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
    /// its Streamable HTTP endpoints. Returns at once; the notifications
    /// go out with the transports' next writes. From a handler,
    /// [`RequestContext::resource_updated`] says the same.
    pub fn resource_updated(&self, uri: &str) {
        let transports: Vec<Arc<dyn Port>> = {
            let list = self
                .registry
                .transports
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for port in transports {
            port.edit(CatalogueEdit::ResourceUpdated(uri.to_owned()));
        }
    }

    fn fill(&self, session: &mut ServerSession) {
        self.registry.handlers.fill_session(session);
    }

    /// The Streamable HTTP endpoint: a [`Handler`] answering every request
    /// it is given (route to it the requests of its path). `config.session`
    /// is replaced by the builder's session settings; session ids come from
    /// the operating system's random generator.
    pub fn http<R: Runtime>(&self, rt: R, config: HttpConfig) -> McpHttp<R> {
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
        let shared = Arc::new_cyclic(|weak: &Weak<HttpShared<R>>| HttpShared {
            rt: rt.clone(),
            me: weak.clone(),
            max_body: machine.config().max_body,
            registry: self.registry.clone(),
            state: Mutex::new(HttpState {
                machine,
                wakers: BTreeMap::new(),
                waiters: BTreeMap::new(),
                timer: false,
            }),
        });
        let port: Arc<dyn Port> = shared.clone();
        self.registry.serve_on(Arc::downgrade(&port));
        McpHttp {
            shared,
            shutdown: None,
        }
    }

    /// Serves one client over a byte stream (stdio: stdin and stdout
    /// joined, one JSON-RPC message per line) until its input ends and
    /// every answer is written.
    ///
    /// # Errors
    ///
    /// The stream's I/O errors.
    pub async fn serve_io<R: Runtime, I: Io>(&self, rt: R, io: I) -> io::Result<()> {
        let mut machine = StdioServer::new(StdioConfig::new(self.session_config()));
        self.fill(machine.session_mut());
        let shared: Arc<StdioShared<R>> = OneShared::new(
            rt.clone(),
            self.registry.clone(),
            StdioState {
                machine,
                waker: None,
                waiters: BTreeMap::new(),
            },
        );
        let mut io = io;
        let mut out: VecDeque<Bytes> = VecDeque::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut eof = false;
        let mut shutdown = false;
        let mut sleep: Option<(Instant, Pin<Box<dyn crate::Sleep>>)> = None;
        let mut ready: Vec<BoxFuture<()>> = Vec::new();
        std::future::poll_fn(|cx| {
            let mut st = shared.lock();
            st.waker = Some(cx.waker().clone());
            loop {
                let mut progress = false;
                // Read.
                while !eof && st.machine.wants_read() {
                    match io.poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(0)) => {
                            eof = true;
                            let _ = st.machine.handle_eof(shared.rt.now());
                        }
                        Poll::Ready(Ok(n)) => {
                            let _ = st.machine.handle_input(shared.rt.now(), &buf[..n]);
                        }
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                    progress = true;
                    shared.dispatch(&mut st, &mut ready);
                }
                shared.dispatch(&mut st, &mut ready);
                if !ready.is_empty() {
                    // The handlers' first polls, with the lock released
                    // (their answers take it). This loop goes on to write
                    // what they answered, so their wakes of this task
                    // would only cost another pass: none while they run.
                    st.waker = None;
                    drop(st);
                    run_inline(&shared.rt, ready.drain(..));
                    st = shared.lock();
                    st.waker = Some(cx.waker().clone());
                    progress = true;
                }
                // Write.
                while let Some(t) = st.machine.poll_transmit() {
                    match t {
                        Transmit::Bytes(b) => out.push_back(b),
                        Transmit::Shutdown => shutdown = true,
                    }
                }
                match write_queue(&mut io, cx, &mut out) {
                    Ok(wrote) => progress |= wrote,
                    Err(e) => return Poll::Ready(Err(e)),
                }
                if out.is_empty() {
                    if let Poll::Ready(Err(e)) = io.poll_flush(cx) {
                        return Poll::Ready(Err(e));
                    }
                    if shutdown || (eof && st.machine.is_closed()) {
                        return io.poll_shutdown(cx).map(|_| Ok(()));
                    }
                }
                // Timers.
                match st.machine.poll_timeout() {
                    Some(at) if at <= shared.rt.now() => {
                        st.machine.handle_timeout(shared.rt.now());
                        shared.dispatch(&mut st, &mut ready);
                        continue;
                    }
                    Some(at) => {
                        let s = sleep.get_or_insert_with(|| (at, shared.rt.sleep_until(at)));
                        if s.0 != at {
                            s.0 = at;
                            s.1.as_mut().reset(at);
                        }
                        if s.1.as_mut().poll(cx).is_ready() {
                            continue;
                        }
                    }
                    None => {}
                }
                if !progress {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}

type Waiters = BTreeMap<(Option<SessionId>, RequestId), oneshot::Sender<ClientAnswer>>;

/// What a handler's context needs from a transport.
trait Port: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> BoxFuture<()>;
    /// Runs `f` on the session, with its messages related to `request`.
    fn with(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool;
    fn close_stream(&self, session: Option<&SessionId>, request: &RequestId) -> bool;
    /// Changes the catalogue every session sees. A transport whose
    /// sessions are built elsewhere (the WebSocket one) leaves it as is.
    fn edit(&self, edit: CatalogueEdit) {
        let _ = edit;
    }
}

/// Writes the front of `out` to `io` — up to 64 chunks per call, as one
/// vectored write — and drops what was written, until `out` is empty or
/// `io` is not ready (its waker is then registered). Returns whether
/// anything was written. The stdio transports' (server and client) way
/// to send their queued lines.
pub(crate) fn write_queue<I: Io>(
    io: &mut I,
    cx: &mut Context<'_>,
    out: &mut VecDeque<Bytes>,
) -> io::Result<bool> {
    let mut wrote = false;
    while !out.is_empty() {
        let slices: Vec<IoSlice<'_>> = out.iter().take(64).map(|b| IoSlice::new(b)).collect();
        match io.poll_write_vectored(cx, &slices) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(mut n)) => {
                wrote = true;
                while n > 0 {
                    let Some(front) = out.front_mut() else { break };
                    if n >= front.len() {
                        n -= front.len();
                        out.pop_front();
                    } else {
                        let _ = front.split_to(n);
                        n = 0;
                    }
                }
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(wrote)
}

/// A handler's [`RequestContext::sleep`]: `duration` on the runtime `rt`
/// (every transport's [`Port::sleep`]).
fn sleep_on<R: Runtime>(rt: &R, duration: Duration) -> BoxFuture<()> {
    let rt = rt.clone();
    Box::pin(async move {
        let at = rt.now() + duration;
        rt.sleep_until(at).await
    })
}

/// Polls each handler future once, here, and spawns only those that have to
/// wait. Most tools answer without waiting: run inline, they answer without
/// a task, its wake-up and another pass of the transport's loop (for a
/// sequential client, the difference between one and two trips through
/// the scheduler per call). A handler's panic is caught inside its future
/// ([`caught`]) and answered; this catch only keeps a panic in answering
/// from taking the transport down with it.
fn run_inline<R: Runtime>(rt: &R, futures: impl IntoIterator<Item = BoxFuture<()>>) {
    // A no-op waker is enough: a future that is not ready gets spawned, and
    // the task's first poll registers the task's own waker (every poll must
    // register the waker it was given), so no wake-up is lost.
    let mut cx = Context::from_waker(Waker::noop());
    for mut f in futures {
        match std::panic::catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => rt.spawn(f),
            Err(_) => tracing::error!("mcp: answering a request panicked"),
        }
    }
}

/// The handler that `start` calls, run with its panics caught — in the
/// call, in the first poll where the request arrived, in any later poll of
/// its task: a panic ends it with [`ToolError::panicked`] (-32603), so its
/// request is answered like any failed one instead of left for the client
/// to wait on forever (and, on executors that do not catch a task's
/// panic, instead of unwinding through the executor). It is not polled
/// again after a panic.
fn caught<T: 'static>(
    request: RequestId,
    start: impl FnOnce() -> BoxFuture<Result<T, ToolError>> + Send + 'static,
) -> impl Future<Output = Result<T, ToolError>> + Send {
    let mut start = Some(start);
    let mut running: Option<BoxFuture<Result<T, ToolError>>> = None;
    std::future::poll_fn(move |cx| {
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(start) = start.take() {
                running = Some(start());
            }
            running.as_mut().map(|f| f.as_mut().poll(cx))
        }));
        match polled {
            Ok(Some(Poll::Ready(r))) => {
                running = None;
                Poll::Ready(r)
            }
            Ok(Some(Poll::Pending)) => Poll::Pending,
            // Polled after it ended: never, as an `.await` of it.
            Ok(None) => Poll::Ready(Err(ToolError::panicked())),
            Err(_) => {
                tracing::error!(%request, "mcp: a request handler panicked");
                // Dropped here, not polled again.
                running = None;
                Poll::Ready(Err(ToolError::panicked()))
            }
        }
    })
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
    cancel: Arc<Cancel>,
    /// How many questions (elicitation, sampling) this run asked: their
    /// keys in the stateless era ([`stateless_input`]).
    asked: Arc<std::sync::atomic::AtomicUsize>,
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
    /// (`notifications/cancelled`), or its HTTP session ended. The
    /// handler's future is dropped at its next `.await` once it is, so
    /// only work done without awaiting (a loop of blocking computation)
    /// needs to look.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The HTTP session (`None` on stdio).
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
    /// retried after an
    /// [`InputRequiredResult`](wirestate_mcp::schema::InputRequiredResult).
    pub fn input_responses(&self) -> &InputResponses {
        &self.input
    }

    /// Registers (or replaces) a tool with every session; clients that
    /// listen for it are told the list changed.
    pub fn add_tool(&self, tool: Tool) {
        self.port.edit(CatalogueEdit::AddTool(tool));
    }

    /// Removes a tool from every session.
    pub fn remove_tool(&self, name: &str) {
        self.port.edit(CatalogueEdit::RemoveTool(name.to_owned()));
    }

    /// Registers (or replaces) a prompt with every session.
    pub fn add_prompt(&self, prompt: Prompt) {
        self.port.edit(CatalogueEdit::AddPrompt(prompt));
    }

    /// Removes a prompt from every session.
    pub fn remove_prompt(&self, name: &str) {
        self.port.edit(CatalogueEdit::RemovePrompt(name.to_owned()));
    }

    /// Tells the clients of this transport subscribed to `uri` that the
    /// resource changed (`notifications/resources/updated`); for every
    /// transport, [`McpServer::resource_updated`].
    pub fn resource_updated(&self, uri: &str) {
        self.port
            .edit(CatalogueEdit::ResourceUpdated(uri.to_owned()));
    }

    /// Waits `duration` on the server's runtime.
    pub async fn sleep(&self, duration: Duration) {
        self.port.sleep(duration).await
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

    /// Ends the HTTP response carrying this request's SSE stream (the
    /// client resumes with GET and `Last-Event-ID`, SEP-1699). `false` on
    /// stdio or when the answer goes out as JSON.
    pub fn close_stream(&self) -> bool {
        self.port.close_stream(self.session.as_ref(), &self.request)
    }

    fn ask(
        &self,
        send: &mut dyn FnMut(&mut ServerSession) -> Result<RequestId, wirestate_mcp::Error>,
    ) -> Result<oneshot::Receiver<ClientAnswer>, ToolError> {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let mut error = None;
        let key_session = self.session.clone();
        let found =
            self.port.with(
                self.session.as_ref(),
                &self.request,
                &mut |s, waiters| match send(s) {
                    Ok(id) => {
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
        Ok(rx)
    }

    /// Asks the client to sample its model (`sampling/createMessage`).
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
    pub async fn create_message(
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
        let now = self.port.now();
        let rx = self.ask(&mut |s| s.create_message(now, &params))?;
        rx.await
            .map_err(|_| ToolError::Client("no answer".into()))?
            .sampled()
    }

    /// Asks the user for input (`elicitation/create`).
    ///
    /// # Errors
    ///
    /// As [`create_message`](Self::create_message).
    pub async fn elicit(&self, params: ElicitParams) -> Result<ElicitResult, ToolError> {
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
        let now = self.port.now();
        let rx = self.ask(&mut |s| s.elicit(now, &params))?;
        rx.await
            .map_err(|_| ToolError::Client("no answer".into()))?
            .elicited()
    }
}

/// A handler's answer, applied to the session.
type AnswerFn = Box<dyn FnOnce(&mut ServerSession, &RequestId) + Send>;

/// Turns a session event into work: handler tasks, or answers to our own
/// requests. Which handler, and how its outcome is answered, is
/// [`wirestate_mcp::handler`]'s; here the handlers become futures, given
/// to `spawn` (a task, or a list to [`run_inline`]).
fn on_event(
    registry: &Arc<Registry>,
    port: Arc<dyn Port>,
    spawn: &dyn Fn(BoxFuture<()>),
    session: Option<SessionId>,
    event: ServerEvent,
    waiters: &mut Waiters,
) {
    let ctx = |request: RequestId,
               meta: Option<&wirestate_mcp::schema::Meta>,
               extra: &wirestate_mcp::schema::Extra| RequestContext {
        port: port.clone(),
        session: session.clone(),
        request,
        progress: progress_token(meta),
        meta: request_meta(meta),
        input: InputResponses::from_extra(extra),
        cancel: Arc::new(Cancel::default()),
        asked: Arc::default(),
    };
    let transport = port_key(&port);
    // Each handler is stopped when its request is cancelled.
    let spawn = |ctx: &RequestContext, handler: BoxFuture<()>| {
        let key = (transport, session.clone(), ctx.request.clone());
        spawn(cancellable(registry, key, ctx.cancel.clone(), handler));
    };
    let respond = |ctx: RequestContext, answer: AnswerFn| {
        let mut answer = Some(answer);
        ctx.port
            .with(ctx.session.as_ref(), &ctx.request, &mut |s, _| {
                if let Some(a) = answer.take() {
                    a(s, &ctx.request);
                }
            });
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
            spawn(
                &ctx.clone(),
                Box::pin(async move {
                    let result = match handler {
                        Some(f) => {
                            let c = ctx.clone();
                            caught(c.request.clone(), move || {
                                f(c, arguments.unwrap_or_default())
                            })
                            .await
                        }
                        None => Err(ToolError::unknown_tool(&name)),
                    };
                    respond(ctx, Box::new(move |s, id| answer_tool(s, id, result)));
                }),
            );
        }
        ServerEvent::ReadResource { id, params } => {
            let uri = params.uri;
            let found = handlers.resource(&uri);
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            let stateless = ctx.meta.is_some();
            spawn(
                &ctx.clone(),
                Box::pin(async move {
                    let result = match found {
                        Some((f, vars)) => {
                            let (c, uri) = (ctx.clone(), uri.clone());
                            caught(c.request.clone(), move || {
                                f(c, ResourceRequest { uri, vars })
                            })
                            .await
                        }
                        None => Err(ToolError::resource_not_found(&uri, stateless)),
                    };
                    respond(
                        ctx,
                        Box::new(move |s, id| answer_read_resource(s, id, result)),
                    );
                }),
            );
        }
        ServerEvent::GetPrompt { id, params } => {
            let found = handlers.prompt(&params.name);
            let args = params.arguments.unwrap_or_default();
            let ctx = ctx(id, params.meta.as_ref(), &params.extra);
            spawn(
                &ctx.clone(),
                Box::pin(async move {
                    let result = match found {
                        None => Err(ToolError::unknown_prompt()),
                        Some((prompt, f)) => match check_prompt_arguments(&prompt, &args) {
                            Ok(()) => {
                                let c = ctx.clone();
                                caught(c.request.clone(), move || f(c, args)).await
                            }
                            Err(e) => Err(e),
                        },
                    };
                    respond(ctx, Box::new(move |s, id| answer_get_prompt(s, id, result)));
                }),
            );
        }
        ServerEvent::Complete { id, params } => {
            let f = handlers.complete.clone();
            let ctx = ctx(id, None, &Map::new());
            spawn(
                &ctx.clone(),
                Box::pin(async move {
                    let result = match f {
                        Some(f) => caught(ctx.request.clone(), move || f(params)).await,
                        None => Ok(no_completion()),
                    };
                    respond(ctx, Box::new(move |s, id| answer_complete(s, id, result)));
                }),
            );
        }
        ServerEvent::Cancelled { id, .. } => {
            let running = registry.running();
            if let Some(cancel) = running.get(&(transport, session.clone(), id)) {
                cancel.fire();
            }
        }
        ServerEvent::Invalid(e) => tracing::debug!(error = %e, "mcp: refused input"),
        _ => {}
    }
}

// ---- stdio ----

struct StdioState {
    machine: StdioServer,
    waker: Option<Waker>,
    waiters: Waiters,
}

impl OneSession for StdioState {
    const EDITS: bool = true;

    fn poll_event(&mut self) -> Option<ServerEvent> {
        // The machine's, not the session's: it keeps its own books on
        // what the session hands out.
        self.machine.poll_event()
    }

    fn parts(&mut self) -> (&mut ServerSession, &mut Waiters, &mut Option<Waker>) {
        (
            self.machine.session_mut(),
            &mut self.waiters,
            &mut self.waker,
        )
    }
}

/// The state of a transport that carries one session (stdio, WebSocket),
/// behind the mutex of its [`OneShared`].
trait OneSession: Send + 'static {
    /// Whether handlers' catalogue edits ([`Port::edit`]) apply here.
    const EDITS: bool;
    /// The next event of the session, as the transport hands it out.
    fn poll_event(&mut self) -> Option<ServerEvent>;
    /// The session, the waiters of its requests to the client, and the
    /// transport's task to wake when the session has output.
    fn parts(&mut self) -> (&mut ServerSession, &mut Waiters, &mut Option<Waker>);
    /// Whether the session still takes answers (a closed WebSocket's does
    /// not).
    fn is_open(&self) -> bool {
        true
    }
}

/// What the handlers of a one-session transport share with it: the
/// runtime, the registry, and the state, as their [`Port`].
struct OneShared<R: Runtime, S> {
    rt: R,
    me: Weak<OneShared<R, S>>,
    registry: Arc<Registry>,
    state: Mutex<S>,
}

type StdioShared<R> = OneShared<R, StdioState>;

impl<R: Runtime, S: OneSession> OneShared<R, S> {
    fn new(rt: R, registry: Arc<Registry>, state: S) -> Arc<Self> {
        let shared = Arc::new_cyclic(|me| Self {
            rt,
            me: me.clone(),
            registry,
            state: Mutex::new(state),
        });
        let port: Arc<dyn Port> = shared.clone();
        shared.registry.serve_on(Arc::downgrade(&port));
        shared
    }

    fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns the session's events into work: each handler's future goes
    /// to `spawn`.
    fn dispatch_with(&self, st: &mut S, spawn: &dyn Fn(BoxFuture<()>)) {
        let Some(me) = self.me.upgrade() else { return };
        let port: Arc<dyn Port> = me;
        while let Some(event) = st.poll_event() {
            let (_, waiters, _) = st.parts();
            on_event(&self.registry, port.clone(), spawn, None, event, waiters);
        }
    }

    /// Turns the session's events into work; the handlers' futures go to
    /// `ready`, for [`run_inline`] once the lock is released.
    fn dispatch(&self, st: &mut S, ready: &mut Vec<BoxFuture<()>>) {
        let collected = RefCell::new(std::mem::take(ready));
        self.dispatch_with(st, &|f| collected.borrow_mut().push(f));
        *ready = collected.into_inner();
    }
}

impl<R: Runtime, S: OneSession> Port for OneShared<R, S> {
    fn now(&self) -> Instant {
        self.rt.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        sleep_on(&self.rt, duration)
    }

    fn with(
        &self,
        _session: Option<&SessionId>,
        _request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let mut st = self.lock();
        if !st.is_open() {
            return false;
        }
        let (session, waiters, waker) = st.parts();
        f(session, waiters);
        if let Some(w) = waker.take() {
            w.wake();
        }
        true
    }

    fn close_stream(&self, _session: Option<&SessionId>, _request: &RequestId) -> bool {
        false
    }

    fn edit(&self, edit: CatalogueEdit) {
        // A resource update concerns the session's subscriptions, not
        // its catalogue: every transport passes it on.
        if !S::EDITS && !matches!(edit, CatalogueEdit::ResourceUpdated(_)) {
            return;
        }
        let mut st = self.lock();
        let (session, _, waker) = st.parts();
        edit.apply(session);
        if let Some(w) = waker.take() {
            w.wake();
        }
    }
}

// ---- Streamable HTTP ----

struct HttpState {
    machine: HttpServer,
    wakers: BTreeMap<ExchangeId, Waker>,
    waiters: Waiters,
    timer: bool,
}

struct HttpShared<R: Runtime> {
    rt: R,
    me: Weak<HttpShared<R>>,
    /// The machine's [`HttpConfig::max_body`] (fixed at its creation),
    /// kept here so reading a body does not take the lock.
    max_body: usize,
    registry: Arc<Registry>,
    state: Mutex<HttpState>,
}

impl<R: Runtime> HttpShared<R> {
    fn lock(&self) -> MutexGuard<'_, HttpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the bodies with news and turns events into work: handler
    /// tasks.
    fn flush(&self, st: &mut HttpState) {
        let rt = self.rt.clone();
        self.flush_with(st, &|f| rt.spawn(f));
    }

    /// [`flush`](Self::flush), returning the handlers' futures instead of
    /// spawning them, for [`run_inline`] once the lock is released.
    fn flush_collect(&self, st: &mut HttpState) -> Vec<BoxFuture<()>> {
        let ready = RefCell::new(Vec::new());
        self.flush_with(st, &|f| ready.borrow_mut().push(f));
        ready.into_inner()
    }

    fn flush_with(&self, st: &mut HttpState, spawn: &dyn Fn(BoxFuture<()>)) {
        let Some(me) = self.me.upgrade() else { return };
        let port: Arc<dyn Port> = me;
        loop {
            let mut any = false;
            while let Some(x) = st.machine.poll_ready() {
                any = true;
                if let Some(w) = st.wakers.remove(&x) {
                    w.wake();
                }
            }
            while let Some(event) = st.machine.poll_event() {
                any = true;
                match event {
                    HttpEvent::Session { session, event } => on_event(
                        &self.registry,
                        port.clone(),
                        spawn,
                        Some(session),
                        event,
                        &mut st.waiters,
                    ),
                    HttpEvent::SessionClosed { session, reason } => {
                        tracing::debug!(%session, ?reason, "mcp session closed");
                        st.waiters.retain(|(s, _), _| s.as_ref() != Some(&session));
                        // Nobody is left to answer: its handlers stop.
                        let transport = port_key(&port);
                        for cancel in self.registry.running().of_session(transport, &session) {
                            cancel.fire();
                        }
                    }
                    HttpEvent::Refused(e) => tracing::debug!(error = %e, "mcp request refused"),
                    _ => {}
                }
            }
            if !any {
                break;
            }
        }
    }

    fn start_timer(&self, st: &mut HttpState) {
        if st.timer {
            return;
        }
        st.timer = true;
        let weak = self.me.clone();
        let rt = self.rt.clone();
        self.rt.spawn(Box::pin(async move {
            loop {
                let at = rt.now() + Duration::from_millis(500);
                rt.sleep_until(at).await;
                let Some(shared) = weak.upgrade() else { return };
                let now = rt.now();
                let mut st = shared.lock();
                if st.machine.poll_timeout().is_some_and(|t| t <= now) {
                    st.machine.handle_timeout(now);
                    shared.flush(&mut st);
                }
            }
        }));
    }
}

impl<R: Runtime> Port for HttpShared<R> {
    fn now(&self) -> Instant {
        self.rt.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        sleep_on(&self.rt, duration)
    }

    fn with(
        &self,
        session: Option<&SessionId>,
        request: &RequestId,
        f: &mut dyn FnMut(&mut ServerSession, &mut Waiters),
    ) -> bool {
        let Some(session) = session else { return false };
        let mut st = self.lock();
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
        let mut st = self.lock();
        let closed = st.machine.close_stream(session, request);
        self.flush(&mut st);
        closed
    }

    fn edit(&self, edit: CatalogueEdit) {
        let mut st = self.lock();
        edit.apply_http(&mut st.machine);
        self.flush(&mut st);
    }
}

/// The Streamable HTTP endpoint of an [`McpServer`]: a [`Handler`]
/// (clone it freely; clones share the sessions).
///
/// ```no_run
/// # async fn f<R: wirestate_rt::Runtime>(rt: R, server: wirestate_rt::mcp::McpServer) {
/// use http::{Request, Response};
/// use wirestate_rt::Body;
///
/// let mcp = server.http(rt, Default::default());
/// let handler = move |req: Request<Body>| {
///     let mcp = mcp.clone();
///     async move {
///         if req.uri().path() == "/mcp" {
///             mcp.handle(req).await
///         } else {
///             Response::builder().status(404).body(Body::empty()).unwrap()
///         }
///     }
/// };
/// # let _ = handler;
/// # }
/// ```
pub struct McpHttp<R: Runtime> {
    shared: Arc<HttpShared<R>>,
    shutdown: Option<Shutdown>,
}

impl<R: Runtime> Clone for McpHttp<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for McpHttp<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttp").finish_non_exhaustive()
    }
}

impl<R: Runtime> McpHttp<R> {
    /// Ends open SSE responses (the standalone GET stream, the 2024-11-05
    /// transport's stream, streams still waiting for an answer) once
    /// `shutdown` fires. A graceful shutdown waits for every response it
    /// started, and these never end by themselves: without this a Ctrl-C
    /// with a client connected waits for the whole shutdown timeout. An
    /// ended stream counts as a disconnect, so its client can resume it
    /// elsewhere with `Last-Event-ID`.
    #[must_use]
    pub fn end_streams_on(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Answers one request of the endpoint.
    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        if is_websocket_upgrade(&req) {
            return self.upgrade_websocket(&req);
        }
        let (parts, body) = req.into_parts();
        let body = match body.collect(self.shared.max_body).await {
            Ok(b) => b,
            Err(crate::Error::BodyTooLarge(_)) => {
                return Response::builder()
                    .status(StatusCode::PAYLOAD_TOO_LARGE)
                    .body(Body::empty())
                    .unwrap_or_default();
            }
            Err(_) => {
                return Response::builder()
                    .status(StatusCode::BAD_REQUEST)
                    .body(Body::empty())
                    .unwrap_or_default();
            }
        };
        let (reply, ready) = {
            let mut st = self.shared.lock();
            self.shared.start_timer(&mut st);
            let reply = st
                .machine
                .handle_request(self.shared.rt.now(), &parts, body);
            let ready = self.shared.flush_collect(&mut st);
            (reply, ready)
        };
        // A quick handler answers here, so a deferred head is decided
        // before `decided` first looks.
        run_inline(&self.shared.rt, ready);
        let reply = match reply {
            Reply::Deferred { exchange } => self.decided(exchange).await,
            other => other,
        };
        match reply {
            Reply::Full(r) => r.map(Body::full),
            Reply::Deferred { .. } => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::empty())
                .unwrap_or_default(),
            Reply::Open { response, exchange } => {
                let stream = ExchangeBody {
                    shared: self.shared.clone(),
                    exchange,
                    done: false,
                    shutdown: self.shutdown.as_ref().map(|s| (s.clone(), s.id())),
                };
                let (parts, ()) = response.into_parts();
                Response::from_parts(parts, Body::from_stream(stream))
            }
        }
    }
}

impl<R: Runtime> McpHttp<R> {
    /// Waits until the machine decides the head of a stateless answer; a
    /// caller that gives up reports the client gone.
    async fn decided(&self, exchange: ExchangeId) -> Reply {
        struct Gone<'a, R: Runtime> {
            shared: &'a HttpShared<R>,
            exchange: ExchangeId,
            armed: bool,
        }
        impl<R: Runtime> Drop for Gone<'_, R> {
            fn drop(&mut self) {
                if self.armed {
                    let mut st = self.shared.lock();
                    st.wakers.remove(&self.exchange);
                    st.machine
                        .handle_disconnect(self.shared.rt.now(), self.exchange);
                    self.shared.flush(&mut st);
                }
            }
        }
        let mut gone = Gone {
            shared: &self.shared,
            exchange,
            armed: true,
        };
        let reply = std::future::poll_fn(|cx| {
            let mut st = self.shared.lock();
            let out = match st.machine.poll_reply(exchange) {
                Some(r) => {
                    st.wakers.remove(&exchange);
                    Poll::Ready(r)
                }
                None => {
                    st.wakers.insert(exchange, cx.waker().clone());
                    Poll::Pending
                }
            };
            self.shared.flush(&mut st);
            out
        })
        .await;
        gone.armed = false;
        reply
    }
}

impl<R: Runtime> Handler for McpHttp<R> {
    type Future = BoxFuture<Response<Body>>;

    fn call(&self, req: Request<Body>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move { me.handle(req).await })
    }
}

/// An open response body fed by the machine.
struct ExchangeBody<R: Runtime> {
    shared: Arc<HttpShared<R>>,
    exchange: ExchangeId,
    done: bool,
    /// The server's shutdown signal and this body's registration with it.
    shutdown: Option<(Shutdown, u64)>,
}

impl<R: Runtime> Stream for ExchangeBody<R> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let shared = self.shared.clone();
        let mut st = shared.lock();
        let chunk = st.machine.poll_chunk(self.exchange);
        let out = match chunk {
            Some(Chunk::Data(b)) => Poll::Ready(Some(Ok(b))),
            Some(Chunk::End) => {
                self.done = true;
                st.wakers.remove(&self.exchange);
                Poll::Ready(None)
            }
            None => {
                if let Some((shutdown, id)) = &self.shutdown
                    && shutdown.poll(*id, cx).is_ready()
                {
                    // Ended unfinished: dropped as a disconnect, so the
                    // stream stays resumable.
                    st.wakers.remove(&self.exchange);
                    Poll::Ready(None)
                } else {
                    st.wakers.insert(self.exchange, cx.waker().clone());
                    Poll::Pending
                }
            }
        };
        shared.flush(&mut st);
        out
    }
}

impl<R: Runtime> Drop for ExchangeBody<R> {
    fn drop(&mut self) {
        if let Some((shutdown, id)) = &self.shutdown {
            shutdown.forget(*id);
        }
        if self.done {
            return;
        }
        let mut st = self.shared.lock();
        st.wakers.remove(&self.exchange);
        st.machine
            .handle_disconnect(self.shared.rt.now(), self.exchange);
        self.shared.flush(&mut st);
    }
}
