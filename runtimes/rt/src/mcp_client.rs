//! An MCP client on any runtime: the sans-IO [`ClientSession`] of
//! `wirestate-mcp` over a byte stream (a stdio child process: its stdout
//! in, its stdin out, one JSON-RPC message per line) or over Streamable
//! HTTP (each message POSTed; answers read as JSON or as an SSE stream).
//!
//! Calls are plain async methods ([`McpClient::list_tools`],
//! [`McpClient::call_tool`], …); notifications and the server's requests
//! come out of [`McpClient::events`]. A call whose future is dropped is
//! cancelled (`notifications/cancelled`); on HTTP a call that times out
//! or is cancelled also closes its POST's connection (an answer not yet
//! begun, or an SSE answer still open) rather than wait for the server
//! to end it (the GET stream and other calls are untouched). [`McpClient::close`] ends the
//! session: on stdio it closes the child's stdin, waits for the child to
//! exit and kills it after [`McpClientConfig::shutdown_timeout`]; on HTTP
//! it sends DELETE with the session id.
//!
//! Spawning the child is the runtime's (`wirestate_tokio::mcp` and
//! `wirestate_smol::mcp`), through the [`ChildProcess`] trait.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use http::StatusCode;
use serde_json::{Map, Value};
use wirestate_codec::{LineDecoder, SseError, encode_line};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::ErrorKind;
use wirestate_mcp::http::client::{
    Answer, AnswerError, ClientEndpoint, MAX_DRAINED_BODY, SseAnswer, request_id,
};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, CompleteParams, CompleteResult, CreateMessageResult,
    ElicitResult, GetPromptResult, Implementation, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListRootsResult, ListToolsResult,
    LoggingLevel, Prompt, ReadResourceResult, Resource, ResourceTemplate, Tool,
};
use wirestate_mcp::{
    ClientConfig, ClientEvent, ClientPhase, ClientResult, ClientSession, Pagination,
};

use crate::http1::{Client, ClientConfig as HttpClientConfig};
use crate::{Body, Io, Runtime};

#[path = "mcp_legacy_client.rs"]
mod legacy;
#[path = "mcp_ws_client.rs"]
mod websocket;

/// Most pages followed by the `list_all_*` helpers.
const MAX_PAGES: usize = 1000;
/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpClientError {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered {}: {}", .0.code, .0.message)]
    Rpc(ErrorObject),
    /// The session refused the call, or `initialize` failed (a revision we
    /// do not speak, a refusal, a malformed result).
    #[error(transparent)]
    Session(#[from] wirestate_mcp::Error),
    /// No answer before the request's deadline (the server was sent
    /// `notifications/cancelled`).
    #[error("the server did not answer in time")]
    TimedOut,
    /// The transport closed (the child exited, the connection failed, the
    /// client was closed) before the answer.
    #[error("the transport closed")]
    Closed,
    /// Spawning or talking to the child process failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(#[from] crate::Error),
    /// The HTTP server answered with an unexpected status.
    #[error("the server answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// An answer that is not MCP (a content type other than JSON or SSE, a
    /// URL that cannot be used, a result of the wrong type).
    #[error("bad answer: {0}")]
    BadAnswer(String),
}

impl McpClientError {
    /// Whose fault: the server's (protocol), a bound (limit: timeouts), or
    /// the caller's (usage: a call before `initialize`, a bad URL).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Rpc(_) | Self::Status { .. } | Self::BadAnswer(_) => ErrorKind::Protocol,
            Self::Session(e) => e.kind(),
            Self::TimedOut => ErrorKind::Limit,
            Self::Closed | Self::Io(_) | Self::Http(_) => ErrorKind::Protocol,
        }
    }

    /// The JSON-RPC error code the server answered with, if it did.
    pub fn hint(&self) -> Option<ErrorCode> {
        match self {
            Self::Rpc(e) => Some(e.code),
            _ => None,
        }
    }
}

impl From<AnswerError> for McpClientError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Status { status, body } => Self::Status { status, body },
            other => Self::BadAnswer(other.to_string()),
        }
    }
}

/// Settings of an [`McpClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpClientConfig {
    /// The session's settings (revisions, timeouts, progress).
    pub session: ClientConfig,
    /// `clientInfo` of `initialize`.
    pub client_info: Implementation,
    /// The capabilities declared in `initialize`. Declare roots, sampling
    /// or elicitation only when you answer the matching
    /// [`ClientEvent`]s from [`McpClient::events`].
    pub capabilities: ClientCapabilities,
    /// How long [`McpClient::close`] waits for a child process to exit
    /// after its stdin closed before killing it. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Events ([`McpClient::events`]) buffered for a slow reader; more are
    /// dropped. Default 1024.
    pub event_buffer: usize,
    /// TLS for `https://` endpoints (feature `tls`): `None` trusts the
    /// Mozilla roots (see [`http1::ClientConfig::tls`](crate::http1::ClientConfig::tls)).
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for McpClientConfig {
    fn default() -> Self {
        Self {
            session: ClientConfig::default(),
            client_info: Implementation::new("wirestate-mcp-client", env!("CARGO_PKG_VERSION")),
            capabilities: ClientCapabilities::default(),
            shutdown_timeout: Duration::from_secs(5),
            event_buffer: 1024,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// A child process the client talks to over its stdin and stdout, as the
/// runtime spawned it.
pub trait ChildProcess: Send + 'static {
    /// Waits for the child to exit.
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + '_>>;
    /// Kills the child (SIGKILL on Unix).
    fn kill(&mut self) -> io::Result<()>;
    /// The process id, while it runs.
    fn id(&self) -> Option<u32>;
}

/// What became of one of our requests.
enum Outcome {
    Result(Box<ClientResult>),
    Initialized(Box<InitializeResult>),
    Failed(McpClientError),
}

struct State {
    session: ClientSession,
    waiters: BTreeMap<RequestId, oneshot::Sender<Outcome>>,
    init: Option<(RequestId, oneshot::Sender<Outcome>)>,
    events: Option<mpsc::Sender<ClientEvent>>,
    events_rx: Option<mpsc::Receiver<ClientEvent>>,
    dropped_events: u64,
    /// The stdio driver, to wake when there is output.
    driver: Option<Waker>,
    /// close() was called.
    closing: bool,
    /// The transport is gone.
    closed: bool,
    /// HTTP: the endpoint and the server's session id.
    endpoint: Option<ClientEndpoint>,
    /// HTTP, from the initialize result until `initialize` returns: what
    /// the session queues (`notifications/initialized` first) waits, so
    /// that `initialize` POSTs it in order instead of a POST of its own
    /// racing the next request to the server (see [`McpClient::initialize`]).
    hold: bool,
    /// HTTP: the answers to our requests in progress (from the POST to
    /// the end of the SSE answer), by a serial of their own, with the
    /// handle of the request each answers. Dropping the sender ends the
    /// wait or the read and drops the connection (not pooled mid-body):
    /// done when the request times out or is cancelled, as a server need
    /// not end the stream after `notifications/cancelled` (and some do
    /// not); in the 2026-07-28 era the disconnect is the cancellation.
    streams: BTreeMap<u64, (RequestId, oneshot::Sender<()>)>,
    next_stream: u64,
}

impl State {
    /// Request `id` could not be sent: its waiter (`initialize`'s or a
    /// request's) gets `e` now rather than at its deadline.
    fn fail_request(&mut self, id: RequestId, e: McpClientError) {
        // Waiters know a request by its handle: a request sent again, or
        // the initialize that replaced a discovery, went out with a new id.
        let id = self.session.request_handle(&id).unwrap_or(id);
        if self.init.as_ref().is_some_and(|(i, _)| *i == id) {
            if let Some((_, tx)) = self.init.take() {
                let _ = tx.send(Outcome::Failed(e));
            }
        } else if let Some(tx) = self.waiters.remove(&id) {
            let _ = tx.send(Outcome::Failed(e));
        }
    }

    /// The application gave up request `handle` (it timed out or was
    /// cancelled): the SSE answers it had are no longer wanted.
    fn drop_streams(&mut self, handle: &RequestId) {
        self.streams.retain(|_, (h, _)| h != handle);
    }
}

enum Transport<R: Runtime> {
    Stdio {
        done: Mutex<Option<oneshot::Receiver<()>>>,
        child: Mutex<Option<Box<dyn ChildProcess>>>,
    },
    Http {
        client: Client<R>,
    },
}

struct Shared<R: Runtime> {
    rt: R,
    me: Weak<Shared<R>>,
    config: McpClientConfig,
    state: Mutex<State>,
    transport: Transport<R>,
}

/// An MCP client session over stdio or Streamable HTTP. Clones are
/// handles to the same session (cheap); every call takes `&self`, and
/// [`close`](Self::close) on any handle ends the session for all. When
/// the last handle is dropped without `close`, the transport is shut down:
/// a child's stdin closes, and once its output ends the child is dropped
/// (killed if still running; its runtime reaps it). Only `close` bounds
/// the wait and reports the exit status.
pub struct McpClient<R: Runtime> {
    shared: Arc<Shared<R>>,
    _last: Arc<LastHandle<R>>,
}

impl<R: Runtime> Clone for McpClient<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _last: self._last.clone(),
        }
    }
}

/// Shuts the transport down when the last [`McpClient`] handle goes.
struct LastHandle<R: Runtime>(Weak<Shared<R>>);

impl<R: Runtime> Drop for LastHandle<R> {
    fn drop(&mut self) {
        let Some(sh) = self.0.upgrade() else { return };
        let mut st = sh.lock();
        st.closing = true;
        st.streams.clear();
        if let Some(w) = st.driver.take() {
            w.wake();
        }
    }
}

impl<R: Runtime> std::fmt::Debug for McpClient<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("McpClient")
            .field("phase", &st.session.phase())
            .field("pending", &st.session.pending_requests())
            .field("closed", &st.closed)
            .finish()
    }
}

impl<R: Runtime> McpClient<R> {
    /// A client over a byte stream (a child's stdout joined with its stdin;
    /// `poll_shutdown` must close the child's stdin), with the child to
    /// reap on [`close`](Self::close) if there is one. The stream's driver
    /// is spawned on `rt`. Call [`initialize`](Self::initialize) next.
    pub fn stdio<I: Io>(
        rt: R,
        io: I,
        child: Option<Box<dyn ChildProcess>>,
        config: McpClientConfig,
    ) -> Self {
        Self::driven(rt, config, child, move |shared| {
            Box::pin(async move {
                if let Err(e) = drive_stdio(&shared, io).await {
                    tracing::debug!(error = %e, "MCP stdio transport failed");
                }
            })
        })
    }

    /// A client whose messages a task drives (`drive`, spawned on `rt`:
    /// stdio, WebSocket): [`close`](Self::close) wakes it, waits for it to
    /// end, and reaps `child` if there is one.
    fn driven(
        rt: R,
        config: McpClientConfig,
        child: Option<Box<dyn ChildProcess>>,
        drive: impl FnOnce(Arc<Shared<R>>) -> crate::BoxFuture<()>,
    ) -> Self {
        let (done_tx, done_rx) = oneshot::channel();
        let shared = Shared::new(
            rt.clone(),
            config,
            Transport::Stdio {
                done: Mutex::new(Some(done_rx)),
                child: Mutex::new(child),
            },
        );
        let driving = drive(shared.clone());
        rt.spawn(Box::pin(async move {
            driving.await;
            let _ = done_tx.send(());
        }));
        Self::from_shared(shared)
    }

    fn from_shared(shared: Arc<Shared<R>>) -> Self {
        let last = Arc::new(LastHandle(Arc::downgrade(&shared)));
        Self {
            shared,
            _last: last,
        }
    }

    /// A client of the Streamable HTTP endpoint at `url` (`http://`, and
    /// `https://` with the `tls` feature).
    /// Call [`initialize`](Self::initialize) next.
    ///
    /// # Errors
    ///
    /// [`McpClientError::BadAnswer`] for a URL that cannot be used.
    pub fn http(rt: R, url: &str, config: McpClientConfig) -> Result<Self, McpClientError> {
        let endpoint = ClientEndpoint::parse(url)?;
        // Tool calls may take long to answer with JSON; the session's own
        // deadlines apply instead.
        let http = HttpClientConfig {
            request_timeout: None,
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
            ..HttpClientConfig::default()
        };
        let client = Client::new(rt.clone(), http);
        let shared = Shared::new(rt, config, Transport::Http { client });
        shared.lock().endpoint = Some(endpoint);
        Ok(Self::from_shared(shared))
    }

    /// [`stdio`](Self::stdio), then [`initialize`](Self::initialize): a
    /// session with the MCP server at the other end of `io` (a child
    /// process, spawned by the runtime crate). If `initialize` fails the
    /// client is closed: the child's stdin closes and it is reaped.
    ///
    /// # Errors
    ///
    /// [`initialize`](Self::initialize)'s.
    pub async fn connect_stdio<I: Io>(
        rt: R,
        io: I,
        child: Option<Box<dyn ChildProcess>>,
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        Self::stdio(rt, io, child, config).initialized().await
    }

    /// [`http`](Self::http), then [`initialize`](Self::initialize); when
    /// the server refuses that POST with 400, 404 or 405, the
    /// 2024-11-05 HTTP+SSE transport at the same URL
    /// ([`connect_legacy_sse`](Self::connect_legacy_sse)), as the
    /// specification's backwards-compatibility section has clients do.
    /// That holds in every [`Era`](wirestate_mcp::Era): with the
    /// 2026-07-28 era forced, the refused POST is `server/discover`, and
    /// the session discovers again over the stream (servers of that
    /// transport that also speak 2026-07-28 answer there).
    ///
    /// # Errors
    ///
    /// A bad URL, or [`initialize`](Self::initialize)'s errors (the
    /// Streamable HTTP ones when the fallback finds no stream either).
    pub async fn connect_http(
        rt: R,
        url: &str,
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        let client = Self::http(rt.clone(), url, config.clone())?;
        match client.initialize().await {
            Ok(_) => Ok(client),
            // A server of the 2024-11-05 HTTP+SSE transport refuses the
            // POST: the specification's backwards-compatibility procedure
            // tries a GET of the same URL for its stream.
            Err(e) if legacy::legacy_fallback(&e) => {
                let _ = client.close().await;
                Self::connect_legacy_sse(rt, url, config)
                    .await
                    .map_err(|legacy| {
                        tracing::debug!(error = %legacy, "no 2024-11-05 HTTP+SSE stream either");
                        e
                    })
            }
            Err(e) => Err(e),
        }
    }

    /// [`websocket`](Self::websocket), then
    /// [`initialize`](Self::initialize); if that fails the socket is
    /// closed.
    ///
    /// # Errors
    ///
    /// A bad URL, a refused connection or handshake, or
    /// [`initialize`](Self::initialize)'s errors.
    pub async fn connect_websocket(
        rt: R,
        url: &str,
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        Self::websocket(rt, url, config).await?.initialized().await
    }

    /// Initializes the session, or closes the client (releasing its
    /// transport) and returns why not.
    async fn initialized(self) -> Result<Self, McpClientError> {
        match self.initialize().await {
            Ok(_) => Ok(self),
            Err(e) => {
                let _ = self.close().await;
                Err(e)
            }
        }
    }

    /// Sends `initialize`, checks the revision the server picked, and
    /// sends `notifications/initialized`.
    ///
    /// # Errors
    ///
    /// [`McpClientError::Session`] with
    /// [`UnsupportedVersion`](wirestate_mcp::Error::UnsupportedVersion),
    /// [`InitializeRefused`](wirestate_mcp::Error::InitializeRefused), …;
    /// the transport's errors.
    pub async fn initialize(&self) -> Result<InitializeResult, McpClientError> {
        let sh = &self.shared;
        let rx = {
            let mut st = sh.lock();
            if st.closed {
                return Err(McpClientError::Closed);
            }
            let now = sh.rt.now();
            let id = st.session.initialize(
                now,
                sh.config.client_info.clone(),
                sh.config.capabilities.clone(),
            )?;
            let (tx, rx) = oneshot::channel();
            st.init = Some((id, tx));
            rx
        };
        sh.kick();
        match sh.wait(rx, None).await {
            Outcome::Initialized(r) => {
                // Over HTTP every message is POSTed on its own, so
                // `notifications/initialized` is POSTed here, and answered,
                // before this returns: a request sent next could otherwise
                // reach the server first, which then treats the session as
                // not initialized (and, e.g., refuses to sample the client).
                let held: Vec<Bytes> = {
                    let mut st = sh.lock();
                    let held = if st.hold {
                        std::iter::from_fn(|| st.session.poll_message()).collect()
                    } else {
                        Vec::new()
                    };
                    st.hold = false;
                    held
                };
                if let Some(me) = sh.me.upgrade() {
                    for m in held {
                        me.clone().post(m).await;
                    }
                }
                sh.kick();
                // The stateless era has no standalone stream.
                let stateless = sh.lock().session.is_stateless();
                if let (Transport::Http { .. }, Some(me), false) =
                    (&sh.transport, sh.me.upgrade(), stateless)
                {
                    sh.rt.spawn(Box::pin(async move { me.listen().await }));
                }
                Ok(*r)
            }
            Outcome::Failed(e) => Err(e),
            Outcome::Result(_) => Err(McpClientError::BadAnswer("unexpected result".into())),
        }
    }

    /// The server's `initialize` result (info, capabilities,
    /// instructions), once initialized.
    pub fn server_info(&self) -> Option<InitializeResult> {
        self.shared.lock().session.server().cloned()
    }

    /// The negotiated revision, once initialized.
    pub fn protocol_version(&self) -> Option<&'static str> {
        self.shared.lock().session.protocol_version()
    }

    /// The notifications and the server's requests, as a stream; `None`
    /// after the first call. Events are buffered up to
    /// [`McpClientConfig::event_buffer`]; more are dropped. While nobody
    /// took the stream, server requests are answered with an error.
    pub fn events(&self) -> Option<Events> {
        self.shared.lock().events_rx.take().map(|rx| Events { rx })
    }

    /// `ping`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn ping(&self) -> Result<(), McpClientError> {
        self.shared.call(|s, now| s.ping(now)).await.map(|_| ())
    }

    /// One page of `tools/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn list_tools(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListToolsResult, McpClientError> {
        match self.shared.call(|s, now| s.list_tools(now, cursor)).await? {
            ClientResult::ListTools(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every tool, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool); a server repeating a cursor.
    pub async fn list_all_tools(&self) -> Result<Vec<Tool>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_tools(cursor.as_deref()).await?;
            all.extend(page.tools);
            cursor = pages.next(page.next_cursor.as_deref())?;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// `tools/call`. A failure of the tool itself is a result with
    /// `isError: true`.
    ///
    /// # Errors
    ///
    /// [`McpClientError::Rpc`] when the server answers with an error
    /// (unknown tool: -32602), [`McpClientError::TimedOut`],
    /// [`McpClientError::Closed`], [`McpClientError::Session`] before
    /// `initialize`, the transport's errors.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<CallToolResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.call_tool(now, name, arguments))
            .await?
        {
            ClientResult::CallTool(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// One page of `resources/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn list_resources(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListResourcesResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.list_resources(now, cursor))
            .await?
        {
            ClientResult::ListResources(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every resource, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`list_all_tools`](Self::list_all_tools).
    pub async fn list_all_resources(&self) -> Result<Vec<Resource>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_resources(cursor.as_deref()).await?;
            all.extend(page.resources);
            cursor = pages.next(page.next_cursor.as_deref())?;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// One page of `resources/templates/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn list_resource_templates(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListResourceTemplatesResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.list_resource_templates(now, cursor))
            .await?
        {
            ClientResult::ListResourceTemplates(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every resource template, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`list_all_tools`](Self::list_all_tools).
    pub async fn list_all_resource_templates(
        &self,
    ) -> Result<Vec<ResourceTemplate>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_resource_templates(cursor.as_deref()).await?;
            all.extend(page.resource_templates);
            cursor = pages.next(page.next_cursor.as_deref())?;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// `resources/read`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool) (unknown resource: -32002).
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, McpClientError> {
        match self.shared.call(|s, now| s.read_resource(now, uri)).await? {
            ClientResult::ReadResource(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// `resources/subscribe`; updates come out of
    /// [`events`](Self::events).
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn subscribe(&self, uri: &str) -> Result<(), McpClientError> {
        self.shared
            .call(|s, now| s.subscribe(now, uri))
            .await
            .map(|_| ())
    }

    /// `resources/unsubscribe`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn unsubscribe(&self, uri: &str) -> Result<(), McpClientError> {
        self.shared
            .call(|s, now| s.unsubscribe(now, uri))
            .await
            .map(|_| ())
    }

    /// `completion/complete`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn complete(&self, params: CompleteParams) -> Result<CompleteResult, McpClientError> {
        match self.shared.call(|s, now| s.complete(now, params)).await? {
            ClientResult::Complete(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// One page of `prompts/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn list_prompts(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListPromptsResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.list_prompts(now, cursor))
            .await?
        {
            ClientResult::ListPrompts(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every prompt, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`list_all_tools`](Self::list_all_tools).
    pub async fn list_all_prompts(&self) -> Result<Vec<Prompt>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_prompts(cursor.as_deref()).await?;
            all.extend(page.prompts);
            cursor = pages.next(page.next_cursor.as_deref())?;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// `prompts/get`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<BTreeMap<String, String>>,
    ) -> Result<GetPromptResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.get_prompt(now, name, arguments))
            .await?
        {
            ClientResult::GetPrompt(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// `logging/setLevel`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub async fn set_level(&self, level: LoggingLevel) -> Result<(), McpClientError> {
        self.shared
            .call(|s, now| s.set_level(now, level))
            .await
            .map(|_| ())
    }

    /// Answers a [`ClientEvent::ListRoots`].
    ///
    /// # Errors
    ///
    /// [`wirestate_mcp::Error::NotAnswerable`].
    pub fn respond_roots(
        &self,
        id: &RequestId,
        result: ListRootsResult,
    ) -> Result<(), McpClientError> {
        self.shared.answer(|s| s.respond_roots(id, result))
    }

    /// Answers a [`ClientEvent::CreateMessage`].
    ///
    /// # Errors
    ///
    /// [`wirestate_mcp::Error::NotAnswerable`].
    pub fn respond_create_message(
        &self,
        id: &RequestId,
        result: CreateMessageResult,
    ) -> Result<(), McpClientError> {
        self.shared.answer(|s| s.respond_create_message(id, result))
    }

    /// Answers a [`ClientEvent::Elicit`].
    ///
    /// # Errors
    ///
    /// [`wirestate_mcp::Error::NotAnswerable`].
    pub fn respond_elicit(
        &self,
        id: &RequestId,
        result: ElicitResult,
    ) -> Result<(), McpClientError> {
        self.shared.answer(|s| s.respond_elicit(id, result))
    }

    /// Answers a server request with an error.
    ///
    /// # Errors
    ///
    /// [`wirestate_mcp::Error::NotAnswerable`].
    pub fn respond_error(&self, id: &RequestId, error: ErrorObject) -> Result<(), McpClientError> {
        self.shared.answer(|s| s.respond_error(id, error))
    }

    /// Events dropped because the [`events`](Self::events) reader was slow.
    pub fn dropped_events(&self) -> u64 {
        self.shared.lock().dropped_events
    }

    /// Ends the session. stdio: closes the child's stdin, waits for the
    /// transport to end and the child to exit, and kills the child after
    /// [`McpClientConfig::shutdown_timeout`]; returns its exit status.
    /// HTTP: sends DELETE with the session id (a 405 answer is fine).
    ///
    /// # Errors
    ///
    /// Waiting for or killing the child failed.
    pub async fn close(self) -> Result<Option<ExitStatus>, McpClientError> {
        let sh = &self.shared;
        let delete = {
            let mut st = sh.lock();
            st.closing = true;
            if let Some(w) = st.driver.take() {
                w.wake();
            }
            st.endpoint.as_ref().and_then(ClientEndpoint::delete)
        };
        match &sh.transport {
            Transport::Http { client } => {
                if let Some(req) = delete {
                    let req = req.map(|()| Body::empty());
                    let deadline = sh.rt.now() + sh.config.shutdown_timeout;
                    if let Some(Ok(res)) =
                        crate::timeout(&sh.rt, deadline, client.request(req)).await
                    {
                        let _ = res.into_body().collect(64 * 1024).await;
                    }
                }
                let mut st = sh.lock();
                st.closed = true;
                st.session.handle_close();
                sh.dispatch(&mut st);
                Ok(None)
            }
            Transport::Stdio { done, child } => {
                let deadline = sh.rt.now() + sh.config.shutdown_timeout;
                let done = done.lock().unwrap_or_else(|e| e.into_inner()).take();
                let child = child.lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some(mut child) = child else {
                    if let Some(done) = done {
                        let _ = crate::timeout(&sh.rt, deadline, done).await;
                    }
                    return Ok(None);
                };
                // The child exits once its stdin closes; give it the
                // timeout, then kill it. Either way it is reaped.
                let exited = crate::timeout(&sh.rt, deadline, child.wait()).await;
                let status = match exited {
                    Some(status) => status?,
                    None => {
                        tracing::debug!(pid = ?child.id(), "MCP server did not exit in time; killing it");
                        child.kill()?;
                        child.wait().await?
                    }
                };
                if let Some(done) = done {
                    // The child is gone, so its stdout ends at once.
                    let _ =
                        crate::timeout(&sh.rt, sh.rt.now() + Duration::from_secs(1), done).await;
                }
                Ok(Some(status))
            }
        }
    }
}

fn wrong_type() -> McpClientError {
    McpClientError::BadAnswer("a result of the wrong type".into())
}

/// The notifications and server requests of an [`McpClient`].
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<ClientEvent>,
}

impl Stream for Events {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl Events {
    /// The next event; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// An event already queued, without waiting; `None` when none is.
    /// Notifications a server sent before a call's answer (its progress
    /// and log messages) are queued by the time the call returns, so
    /// draining this then sees all of them.
    pub fn try_next(&mut self) -> Option<ClientEvent> {
        self.rx.try_recv().ok()
    }
}

/// Cancels a call whose future was dropped before its answer.
struct CancelOnDrop<'a, R: Runtime> {
    shared: &'a Shared<R>,
    id: Option<RequestId>,
}

impl<R: Runtime> Drop for CancelOnDrop<'_, R> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        {
            let mut st = self.shared.lock();
            st.waiters.remove(&id);
            if st.session.is_pending(&id) {
                let _ = st.session.cancel(&id, Some("the caller gave up"));
            }
            st.drop_streams(&id);
        }
        self.shared.kick();
    }
}

impl<R: Runtime> Shared<R> {
    fn new(rt: R, config: McpClientConfig, transport: Transport<R>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(config.event_buffer.max(1));
        Arc::new_cyclic(|me| Self {
            rt,
            me: me.clone(),
            state: Mutex::new(State {
                session: ClientSession::new(config.session.clone()),
                waiters: BTreeMap::new(),
                init: None,
                events: Some(tx),
                events_rx: Some(rx),
                dropped_events: 0,
                driver: None,
                closing: false,
                closed: false,
                endpoint: None,
                hold: false,
                streams: BTreeMap::new(),
                next_stream: 0,
            }),
            config,
            transport,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a request and waits for its typed result.
    async fn call(
        &self,
        f: impl FnOnce(&mut ClientSession, Instant) -> Result<RequestId, wirestate_mcp::Error>,
    ) -> Result<ClientResult, McpClientError> {
        let (id, rx) = {
            let mut st = self.lock();
            if st.closed || st.closing {
                return Err(McpClientError::Closed);
            }
            let id = f(&mut st.session, self.rt.now())?;
            let (tx, rx) = oneshot::channel();
            st.waiters.insert(id.clone(), tx);
            (id, rx)
        };
        self.kick();
        let mut guard = CancelOnDrop {
            shared: self,
            id: Some(id),
        };
        let outcome = self.wait(rx, guard.id.clone()).await;
        guard.id = None;
        match outcome {
            Outcome::Result(r) => Ok(*r),
            Outcome::Failed(e) => Err(e),
            Outcome::Initialized(_) => Err(wrong_type()),
        }
    }

    /// Answers a server request.
    fn answer(
        &self,
        f: impl FnOnce(&mut ClientSession) -> Result<(), wirestate_mcp::Error>,
    ) -> Result<(), McpClientError> {
        f(&mut self.lock().session)?;
        self.kick();
        Ok(())
    }

    /// Waits for an outcome, firing the session's deadlines meanwhile.
    async fn wait(&self, mut rx: oneshot::Receiver<Outcome>, _id: Option<RequestId>) -> Outcome {
        loop {
            let deadline = self.lock().session.poll_timeout();
            let got = match deadline {
                None => Some((&mut rx).await),
                Some(at) => crate::timeout(&self.rt, at, &mut rx).await,
            };
            match got {
                Some(Ok(outcome)) => return outcome,
                Some(Err(_)) => return Outcome::Failed(McpClientError::Closed),
                None => {
                    {
                        let mut st = self.lock();
                        st.session.handle_timeout(self.rt.now());
                        self.dispatch(&mut st);
                    }
                    self.kick();
                }
            }
        }
    }

    /// Hands the session's events to their waiters and to the event stream.
    fn dispatch(&self, st: &mut State) {
        while let Some(event) = st.session.poll_event() {
            match event {
                ClientEvent::Initialized { result, .. } => {
                    if let Some((_, tx)) = st.init.take() {
                        // Held only for an `initialize` still waiting to
                        // send them (a dropped one never would).
                        st.hold = tx.send(Outcome::Initialized(result)).is_ok()
                            && matches!(self.transport, Transport::Http { .. });
                    }
                }
                ClientEvent::InitializeFailed(e) => {
                    if let Some((_, tx)) = st.init.take() {
                        let _ = tx.send(Outcome::Failed(e.into()));
                    }
                }
                ClientEvent::Response { request, result } => {
                    if let Some(tx) = st.waiters.remove(&request) {
                        let _ = tx.send(Outcome::Result(result));
                    }
                }
                ClientEvent::RequestFailed { request, error } => {
                    if let Some(tx) = st.waiters.remove(&request) {
                        let _ = tx.send(Outcome::Failed(McpClientError::Rpc(error)));
                    }
                }
                ClientEvent::RequestTimedOut { request } => {
                    st.drop_streams(&request);
                    if let Some(tx) = st.waiters.remove(&request) {
                        let _ = tx.send(Outcome::Failed(McpClientError::TimedOut));
                    }
                }
                ClientEvent::Closed { .. } => {
                    st.streams.clear();
                    for (_, tx) in std::mem::take(&mut st.waiters) {
                        let _ = tx.send(Outcome::Failed(McpClientError::Closed));
                    }
                    if let Some((_, tx)) = st.init.take() {
                        let _ = tx.send(Outcome::Failed(McpClientError::Closed));
                    }
                    st.events = None;
                }
                other => {
                    let request = match &other {
                        ClientEvent::ListRoots { id }
                        | ClientEvent::CreateMessage { id, .. }
                        | ClientEvent::Elicit { id, .. } => Some(id.clone()),
                        _ => None,
                    };
                    let sent = match &mut st.events {
                        Some(tx) if st.events_rx.is_none() => match tx.try_send(other) {
                            Ok(()) => true,
                            Err(e) if e.is_disconnected() => {
                                st.events = None;
                                false
                            }
                            Err(_) => false,
                        },
                        _ => false,
                    };
                    if !sent {
                        st.dropped_events += 1;
                        if let Some(id) = request {
                            let _ = st.session.respond_error(
                                &id,
                                ErrorObject::new(
                                    ErrorCode::INTERNAL_ERROR,
                                    "the client application does not handle this request",
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Gets queued messages going: wakes the stdio driver, or POSTs each
    /// message on HTTP.
    fn kick(&self) {
        match &self.transport {
            Transport::Stdio { .. } => {
                if let Some(w) = self.lock().driver.take() {
                    w.wake();
                }
            }
            Transport::Http { .. } => {
                let Some(me) = self.me.upgrade() else { return };
                let messages: Vec<Bytes> = {
                    let mut st = self.lock();
                    if st.hold {
                        return;
                    }
                    std::iter::from_fn(|| st.session.poll_message()).collect()
                };
                for m in messages {
                    let me = me.clone();
                    self.rt.spawn(Box::pin(async move { me.post(m).await }));
                }
            }
        }
    }

    // ---- Streamable HTTP ----

    /// POSTs one message and feeds the answer (JSON, or an SSE stream) to
    /// the session.
    async fn post(self: Arc<Self>, message: Bytes) {
        let request = request_id(&message);
        if let Err(e) = self.post_inner(message, request.clone()).await {
            tracing::debug!(error = %e, "MCP POST failed");
            let mut st = self.lock();
            if let Some(id) = &request {
                // A server of the `initialize` era refusing server/discover
                // at the HTTP level: the session falls back to initialize.
                if st.session.fail_discovery(self.rt.now(), id) {
                    // With the 2026-07-28 era forced the session gives up
                    // instead; initialize then fails with the refusal
                    // itself, so that connect_http takes the fallback to
                    // the 2024-11-05 HTTP+SSE transport (where such a
                    // server may well discover) as it does for a refused
                    // initialize, and a caller sees the HTTP status.
                    if st.session.phase() == ClientPhase::Failed {
                        if let Some((_, tx)) = st.init.take() {
                            let _ = tx.send(Outcome::Failed(e));
                        }
                    }
                    self.dispatch(&mut st);
                    drop(st);
                    self.kick();
                    return;
                }
            }
            if let Some(id) = request {
                st.fail_request(id, e);
            }
        }
        self.kick();
    }

    async fn post_inner(
        &self,
        message: Bytes,
        request: Option<RequestId>,
    ) -> Result<(), McpClientError> {
        let Transport::Http { client } = &self.transport else {
            return Ok(());
        };
        let Some(req) = self.http_request(|ep, session| ep.post(session, &message)) else {
            return Ok(());
        };
        // The answer to a request is wanted while the request is, from
        // the POST to the end of its SSE answer (see `State::streams`):
        // once it is given up, the connection goes.
        let mut stream = match &request {
            Some(id) => match self.answer_stream(id) {
                Some(stream) => Some(stream),
                // Given up before it went out.
                None => return Ok(()),
            },
            None => None,
        };
        let sent = client.request(req.map(|()| Body::from(message)));
        let Some(res) = until_gone(stream.as_mut(), sent).await else {
            return Ok(());
        };
        let res = res?;
        let answer = match &mut self.lock().endpoint {
            Some(ep) => ep.answer(res.status(), res.headers()),
            None => return Ok(()),
        };
        let mut body = res.into_body();
        match answer {
            Answer::EventStream => {
                let mut sse = SseAnswer::new(&self.config.session);
                let (Some(id), Some(mut stream)) = (request, stream) else {
                    return self.read_sse(&mut body, &mut sse, None).await;
                };
                let _ = self.read_sse(&mut body, &mut sse, Some(&mut stream)).await;
                drop(body);
                self.resume(id, sse, &mut stream).await
            }
            Answer::Body(answer) => {
                let collected = body.collect(answer.limit());
                let Some(collected) = until_gone(stream.as_mut(), collected).await else {
                    return Ok(());
                };
                let bytes = match collected {
                    Ok(bytes) => bytes,
                    Err(e) if answer.is_message() => return Err(e.into()),
                    Err(_) => Bytes::new(),
                };
                if let Some(message) = answer.finish(bytes, request.as_ref())? {
                    self.feed(message);
                }
                Ok(())
            }
        }
    }

    /// A request to the HTTP endpoint built by `f` from the endpoint and
    /// the session; `None` on stdio and WebSocket.
    fn http_request(
        &self,
        f: impl FnOnce(&ClientEndpoint, &ClientSession) -> http::Request<()>,
    ) -> Option<http::Request<()>> {
        let st = self.lock();
        Some(f(st.endpoint.as_ref()?, &st.session))
    }

    /// Registers the answer to request `wire` (the id it goes out with)
    /// in `State::streams`; `None` when the request is no longer pending
    /// (it timed out or was cancelled before its POST started), so there
    /// is nothing to send or read.
    fn answer_stream(&self, wire: &RequestId) -> Option<AnswerStream<'_, R>> {
        let mut st = self.lock();
        if st.closing || st.closed {
            return None;
        }
        let handle = st.session.request_handle(wire)?;
        let (tx, gone) = oneshot::channel();
        let serial = st.next_stream;
        st.next_stream += 1;
        st.streams.insert(serial, (handle, tx));
        Some(AnswerStream {
            shared: self,
            serial,
            gone,
        })
    }

    /// Reads an SSE body to its end (or until the client closes, or
    /// `stream`'s request is given up), feeding each message to the
    /// session.
    ///
    /// # Errors
    ///
    /// The connection failed before the end of the body.
    async fn read_sse(
        &self,
        body: &mut Body,
        sse: &mut SseAnswer,
        mut stream: Option<&mut AnswerStream<'_, R>>,
    ) -> Result<(), McpClientError> {
        loop {
            let chunk = match until_gone(stream.as_deref_mut(), body.chunk()).await {
                // Given up: the caller drops the body, and with it the
                // connection.
                None => return Ok(()),
                Some(None) => break,
                Some(Some(chunk)) => chunk,
            };
            sse.push(&chunk?);
            while let Some(message) = sse.next_message() {
                self.sse_message(message);
            }
            if self.lock().closing {
                return Ok(());
            }
        }
        while let Some(message) = sse.finish() {
            self.sse_message(message);
        }
        Ok(())
    }

    /// The SSE answer to our request `id` ended: while the request is
    /// still pending, resumes it with a GET carrying `Last-Event-ID` after
    /// the delay [`SseAnswer::resume`] gives, as long as it allows.
    ///
    /// # Errors
    ///
    /// The resumption GET failed or was refused; too many resumptions
    /// without a new event.
    async fn resume(
        &self,
        id: RequestId,
        mut sse: SseAnswer,
        stream: &mut AnswerStream<'_, R>,
    ) -> Result<(), McpClientError> {
        let Transport::Http { client } = &self.transport else {
            return Ok(());
        };
        loop {
            {
                let st = self.lock();
                if st.closing || st.closed || !st.session.is_pending(&id) {
                    return Ok(());
                }
            }
            if stream.is_gone_now() {
                return Ok(());
            }
            let Some(retry) = sse.resume(&id)? else {
                // Lost for good: fail the call now, not at its deadline.
                return Err(AnswerError::NotResumable { request: id }.into());
            };
            crate::sleep_until(&self.rt, self.rt.now() + retry).await;
            let Some(req) = self.http_request(|ep, s| ep.get(s, sse.last_event_id())) else {
                return Ok(());
            };
            let sent = client.request(req.map(|()| Body::empty()));
            let Some(res) = until_gone(Some(&mut *stream), sent).await else {
                return Ok(());
            };
            let res = res?;
            let status = res.status();
            let mut body = res.into_body();
            if status != StatusCode::OK {
                let bytes = body.collect(MAX_DRAINED_BODY).await.unwrap_or_default();
                return Err(AnswerError::status(status, &bytes).into());
            }
            // A dropped connection is resumed like a closed stream.
            let _ = self.read_sse(&mut body, &mut sse, Some(stream)).await;
        }
    }

    /// The standalone GET stream: notifications and requests the server
    /// sends outside of any request of ours. Reconnects with
    /// `Last-Event-ID` when the stream ends while the session is open; a
    /// server without one (405) is left alone.
    async fn listen(self: Arc<Self>) {
        let Transport::Http { client } = &self.transport else {
            return;
        };
        let mut sse = SseAnswer::new(&self.config.session);
        let mut failures = 0u32;
        loop {
            {
                let st = self.lock();
                if st.closing || st.closed || failures >= 5 {
                    return;
                }
            }
            let Some(req) = self.http_request(|ep, s| ep.get(s, sse.last_event_id())) else {
                return;
            };
            match client.request(req.map(|()| Body::empty())).await {
                Ok(res) if res.status() == StatusCode::OK => {
                    failures = 0;
                    let mut body = res.into_body();
                    let _ = self.read_sse(&mut body, &mut sse, None).await;
                    sse.reconnect();
                }
                // No standalone stream on this server.
                Ok(res) if res.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(res) if res.status() == StatusCode::NOT_FOUND => return,
                Ok(_) | Err(_) => failures += 1,
            }
            crate::sleep_until(&self.rt, self.rt.now() + sse.retry()).await;
        }
    }

    fn sse_message(&self, message: Result<Bytes, SseError>) {
        match message {
            Ok(message) => self.feed(message),
            Err(e) => tracing::debug!(error = %e, "bad SSE event"),
        }
    }

    fn feed(&self, message: Bytes) {
        {
            let mut st = self.lock();
            let _ = st.session.handle_message_bytes(self.rt.now(), message);
            self.dispatch(&mut st);
        }
        self.kick();
    }
}

/// `fut`, unless `stream`'s request is given up first (`None`).
async fn until_gone<R: Runtime, F: Future>(
    mut stream: Option<&mut AnswerStream<'_, R>>,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if stream.as_mut().is_some_and(|s| s.is_gone(cx)) {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// The answer to one of our requests, registered in `State::streams`
/// from its POST to the end of its SSE answer; deregistered when dropped.
struct AnswerStream<'a, R: Runtime> {
    shared: &'a Shared<R>,
    serial: u64,
    /// Resolves (cancelled) once the request was given up.
    gone: oneshot::Receiver<()>,
}

impl<R: Runtime> AnswerStream<'_, R> {
    /// Whether the request was given up; registers `cx` to be woken when
    /// it is.
    fn is_gone(&mut self, cx: &mut Context<'_>) -> bool {
        Pin::new(&mut self.gone).poll(cx).is_ready()
    }

    /// Whether the request was given up, without waiting.
    fn is_gone_now(&mut self) -> bool {
        !matches!(self.gone.try_recv(), Ok(None))
    }
}

impl<R: Runtime> Drop for AnswerStream<'_, R> {
    fn drop(&mut self) {
        self.shared.lock().streams.remove(&self.serial);
    }
}

// ---- stdio ----

/// Runs the stdio transport: lines in, lines out, until the child's
/// output ends.
async fn drive_stdio<R: Runtime, I: Io>(shared: &Shared<R>, mut io: I) -> io::Result<()> {
    let mut decoder = LineDecoder::new();
    let mut out: VecDeque<Bytes> = VecDeque::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut shutdown = false;
    let result = std::future::poll_fn(|cx| {
        let mut st = shared.lock();
        st.driver = Some(cx.waker().clone());
        loop {
            let mut progress = false;
            // Read.
            while st.session.wants_message() {
                match io.poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(0)) => {
                        while let Some(line) = decoder.finish() {
                            if let Ok(line) = line {
                                let _ = st.session.handle_message_bytes(shared.rt.now(), line);
                            }
                        }
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(Ok(n)) => {
                        decoder.push(&buf[..n]);
                        while let Some(line) = decoder.next_line() {
                            match line {
                                Ok(line) => {
                                    let _ = st.session.handle_message_bytes(shared.rt.now(), line);
                                }
                                Err(e) => tracing::debug!(error = %e, "bad line from the server"),
                            }
                        }
                        shared.dispatch(&mut st);
                        progress = true;
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            shared.dispatch(&mut st);
            // Write.
            while let Some(m) = st.session.poll_message() {
                let mut dst = BytesMut::with_capacity(m.len() + 1);
                if encode_line(&m, &mut dst).is_ok() {
                    out.push_back(dst.freeze());
                }
            }
            if !shutdown {
                match crate::mcp::write_queue(&mut io, cx, &mut out) {
                    Ok(wrote) => progress |= wrote,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if out.is_empty() && !shutdown {
                if let Poll::Ready(Err(e)) = io.poll_flush(cx) {
                    return Poll::Ready(Err(e));
                }
                if st.closing {
                    // Close the child's stdin; keep reading until it exits.
                    if io.poll_shutdown(cx).is_ready() {
                        shutdown = true;
                        progress = true;
                    }
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    })
    .await;
    let mut st = shared.lock();
    st.closed = true;
    st.driver = None;
    st.session.handle_close();
    shared.dispatch(&mut st);
    result
}
