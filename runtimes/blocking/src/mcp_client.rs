//! A blocking MCP client: the sans-IO [`ClientSession`] of `wirestate-mcp`
//! over a stdio child process ([`McpClient::spawn`]: a reader thread for
//! its stdout, a writer thread for its stdin; always reaped on
//! [`close`](McpClient::close), killed after a timeout) or over Streamable
//! HTTP ([`McpClient::http`]: each message POSTed from a short-lived thread
//! with the blocking [`Client`], JSON or SSE answers; a call that times
//! out shuts down the connection of its SSE answer rather than wait for
//! the server to end it). Calls block the calling thread (several threads
//! may call at once); notifications and the server's requests are read
//! with [`McpClient::next_event`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use serde_json::{Map, Value};
use wirestate_codec::{LineDecoder, SseError, encode_line};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::ErrorKind;
use wirestate_mcp::http::client::{
    Answer, AnswerError, ClientEndpoint, MAX_DRAINED_BODY, SseAnswer, request_id,
};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, CreateMessageResult, ElicitResult, GetPromptResult,
    Implementation, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListRootsResult, ListToolsResult, Prompt, ReadResourceResult, Resource,
    ResourceTemplate, Tool,
};
use wirestate_mcp::{
    ClientConfig, ClientEvent, ClientPhase, ClientResult, ClientSession, Pagination,
};

use crate::{Body, Client, ClientConfig as HttpClientConfig};

#[path = "mcp_client_legacy.rs"]
mod legacy;
#[path = "mcp_client_ws.rs"]
mod websocket;

const MAX_PAGES: usize = 1000;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpClientError {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered {}: {}", .0.code, .0.message)]
    Rpc(ErrorObject),
    /// The session refused the call, or `initialize` failed.
    #[error(transparent)]
    Session(#[from] wirestate_mcp::Error),
    /// No answer before the request's deadline.
    #[error("the server did not answer in time")]
    TimedOut,
    /// The transport closed before the answer.
    #[error("the transport closed")]
    Closed,
    /// Spawning or talking to the child failed.
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
    /// An answer that is not MCP, or a URL that cannot be used.
    #[error("bad answer: {0}")]
    BadAnswer(String),
}

impl McpClientError {
    /// Whose fault (see `wirestate_machine::ErrorKind`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Session(e) => e.kind(),
            Self::TimedOut => ErrorKind::Limit,
            _ => ErrorKind::Protocol,
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

/// Settings of a blocking [`McpClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpClientConfig {
    /// The session's settings (revisions, timeouts, progress).
    pub session: ClientConfig,
    /// `clientInfo` of `initialize`.
    pub client_info: Implementation,
    /// The capabilities declared in `initialize` (answer the matching
    /// events from [`McpClient::next_event`]).
    pub capabilities: ClientCapabilities,
    /// How long [`McpClient::close`] waits for the child to exit after its
    /// stdin closed before killing it. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Events kept for [`McpClient::next_event`]; the oldest are dropped
    /// beyond. Default 1024.
    pub event_buffer: usize,
    /// TLS for `https://` and `wss://` endpoints (feature `tls`): `None`
    /// trusts the Mozilla roots and offers ALPN `http/1.1`.
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

enum Outcome {
    Result(Box<ClientResult>),
    Initialized(Box<InitializeResult>),
    Failed(McpClientError),
}

struct State {
    session: ClientSession,
    waiting: BTreeSet<RequestId>,
    outcomes: BTreeMap<RequestId, Outcome>,
    init: Option<RequestId>,
    events: VecDeque<ClientEvent>,
    closed: bool,
    /// HTTP: the endpoint and the server's session id.
    endpoint: Option<ClientEndpoint>,
    /// HTTP, from the initialize result until `initialize` returns: what
    /// the session queues (`notifications/initialized` first) waits, so
    /// that `initialize` POSTs it in order instead of a POST thread of its
    /// own racing the next request to the server.
    hold: bool,
    /// HTTP: the connections of the SSE answers being read, by a serial
    /// of their own, with the handle of the request each answers. When
    /// the request times out (or the session closes) the socket is shut
    /// down, which ends the POST thread's read and drops the connection
    /// (not pooled mid-body), as a server need not end the stream after
    /// `notifications/cancelled` (and some do not). A stream that ends
    /// in the instant before its request times out may already be back
    /// in the pool when it is shut down; the next request on it then
    /// finds it closed, as it would a connection the server closed.
    streams: BTreeMap<u64, (RequestId, TcpStream)>,
    next_stream: u64,
}

impl State {
    /// Shuts down the connections of the SSE answers to `handle` (all
    /// of them with `None`): those reads are over.
    fn end_streams(&mut self, handle: Option<&RequestId>) {
        self.streams.retain(|_, (h, socket)| {
            if handle.is_some_and(|handle| handle != h) {
                return true;
            }
            let _ = socket.shutdown(Shutdown::Both);
            false
        });
    }
}

enum Transport {
    Stdio {
        writer: Mutex<Option<mpsc::Sender<Bytes>>>,
        child: Mutex<Option<Child>>,
        threads: Mutex<Vec<JoinHandle<()>>>,
    },
    Http {
        client: Client,
    },
    /// WebSocket ([`McpClient::websocket`]): messages sent as they are
    /// queued, a reader thread.
    Ws {
        socket: crate::ws::WebSocket,
        reader: Mutex<Option<JoinHandle<()>>>,
    },
    /// The 2024-11-05 HTTP+SSE transport ([`McpClient::legacy_sse`]): a
    /// reader thread on the stream, a writer thread POSTing in order.
    Legacy(legacy::Legacy),
}

struct Shared {
    config: McpClientConfig,
    state: Mutex<State>,
    changed: Condvar,
    transport: Transport,
}

/// A blocking MCP client session. Clones are handles to one session.
#[derive(Clone)]
pub struct McpClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("McpClient")
            .field("phase", &st.session.phase())
            .field("closed", &st.closed)
            .finish()
    }
}

impl McpClient {
    /// Spawns `program` with `args` (stdin and stdout piped, stderr
    /// inherited) and initializes a session with it. If `initialize`
    /// fails, the child is closed and reaped.
    ///
    /// # Errors
    ///
    /// Spawning failed, or [`initialize`](Self::initialize)'s errors.
    pub fn spawn<P: AsRef<OsStr>, A: AsRef<OsStr>>(
        program: P,
        args: &[A],
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the child's pipes are missing").into());
        };
        let (tx, rx) = mpsc::channel::<Bytes>();
        let shared = Shared::new(
            config,
            Transport::Stdio {
                writer: Mutex::new(Some(tx)),
                child: Mutex::new(Some(child)),
                threads: Mutex::new(Vec::new()),
            },
        );
        let writer = std::thread::spawn(move || {
            // Ends (closing stdin) when the sender is dropped.
            for line in rx {
                if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
                    break;
                }
            }
        });
        let reader = {
            let shared = shared.clone();
            std::thread::spawn(move || read_stdout(&shared, stdout))
        };
        if let Transport::Stdio { threads, .. } = &shared.transport {
            threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend([writer, reader]);
        }
        let client = Self { shared };
        match client.initialize() {
            Ok(_) => Ok(client),
            Err(e) => {
                let _ = client.close();
                Err(e)
            }
        }
    }

    /// Initializes a session with the Streamable HTTP endpoint at `url`
    /// (`http://` only); when the server refuses that POST with 400, 404
    /// or 405, with the 2024-11-05 HTTP+SSE transport at the same URL
    /// ([`legacy_sse`](Self::legacy_sse)), as the specification's
    /// backwards-compatibility section has clients do. That holds in every
    /// [`Era`](wirestate_mcp::Era): with the 2026-07-28 era forced, the
    /// refused POST is `server/discover`, and the session discovers again
    /// over the stream.
    ///
    /// # Errors
    ///
    /// A bad URL, or [`initialize`](Self::initialize)'s errors (the
    /// Streamable HTTP ones when the fallback finds no stream either).
    pub fn http(url: &str, config: McpClientConfig) -> Result<Self, McpClientError> {
        let endpoint = ClientEndpoint::parse(url)?;
        let client = Client::new(HttpClientConfig {
            request_timeout: None,
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
            ..HttpClientConfig::default()
        });
        let client = Self {
            shared: Shared::new(config.clone(), Transport::Http { client }),
        };
        client.shared.lock().endpoint = Some(endpoint);
        match client.initialize() {
            Ok(_) => Ok(client),
            // A server of the 2024-11-05 HTTP+SSE transport refuses the
            // POST: the specification's backwards-compatibility procedure
            // tries a GET of the same URL for its stream.
            Err(e) if legacy::legacy_fallback(&e) => {
                let _ = client.close();
                Self::legacy_sse(url, config).map_err(|legacy| {
                    tracing::debug!(error = %legacy, "no 2024-11-05 HTTP+SSE stream either");
                    e
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `initialize` and `notifications/initialized` (done by
    /// [`spawn`](Self::spawn) and [`http`](Self::http)).
    ///
    /// # Errors
    ///
    /// [`McpClientError::Session`] with
    /// [`UnsupportedVersion`](wirestate_mcp::Error::UnsupportedVersion),
    /// [`InitializeRefused`](wirestate_mcp::Error::InitializeRefused),
    /// [`AlreadyInitialized`](wirestate_mcp::Error::AlreadyInitialized), …
    pub fn initialize(&self) -> Result<InitializeResult, McpClientError> {
        let sh = &self.shared;
        let id = {
            let mut st = sh.lock();
            let id = st.session.initialize(
                Instant::now(),
                sh.config.client_info.clone(),
                sh.config.capabilities.clone(),
            )?;
            st.init = Some(id.clone());
            id
        };
        sh.kick();
        match sh.wait(&id) {
            Outcome::Initialized(r) => {
                // `notifications/initialized` is out before this returns:
                // over HTTP every other message is POSTed from a thread of
                // its own, and a request sent next could reach the server
                // first (which then refuses, e.g., to sample a client that
                // is not initialized yet).
                sh.send_in_order();
                Ok(*r)
            }
            Outcome::Failed(e) => Err(e),
            Outcome::Result(_) => Err(wrong_type()),
        }
    }

    /// The server's `initialize` result, once initialized.
    pub fn server_info(&self) -> Option<InitializeResult> {
        self.shared.lock().session.server().cloned()
    }

    /// The negotiated revision, once initialized.
    pub fn protocol_version(&self) -> Option<&'static str> {
        self.shared.lock().session.protocol_version()
    }

    /// Whether the session ended (closed, or the transport is gone).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// The next notification or server request, waiting up to `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(e) = st.events.pop_front() {
                return Some(e);
            }
            let now = Instant::now();
            if now >= deadline || st.closed {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// `ping`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub fn ping(&self) -> Result<(), McpClientError> {
        self.shared.call(|s, now| s.ping(now)).map(|_| ())
    }

    /// One page of `tools/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub fn list_tools(&self, cursor: Option<&str>) -> Result<ListToolsResult, McpClientError> {
        match self.shared.call(|s, now| s.list_tools(now, cursor))? {
            ClientResult::ListTools(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every tool, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool); a server repeating a cursor.
    pub fn list_all_tools(&self) -> Result<Vec<Tool>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.list_tools(cursor.as_deref())?;
            all.extend(page.tools);
            cursor = pages.next(page.next_cursor.as_deref())?;
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    /// `tools/call`.
    ///
    /// # Errors
    ///
    /// [`McpClientError::Rpc`] for an error answer,
    /// [`McpClientError::TimedOut`], [`McpClientError::Closed`], the
    /// transport's errors.
    pub fn call_tool(
        &self,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<CallToolResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.call_tool(now, name, arguments))?
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
    pub fn list_resources(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListResourcesResult, McpClientError> {
        match self.shared.call(|s, now| s.list_resources(now, cursor))? {
            ClientResult::ListResources(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every resource, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`list_all_tools`](Self::list_all_tools).
    pub fn list_all_resources(&self) -> Result<Vec<Resource>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.list_resources(cursor.as_deref())?;
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
    pub fn list_resource_templates(
        &self,
        cursor: Option<&str>,
    ) -> Result<ListResourceTemplatesResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.list_resource_templates(now, cursor))?
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
    pub fn list_all_resource_templates(&self) -> Result<Vec<ResourceTemplate>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.list_resource_templates(cursor.as_deref())?;
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
    /// As [`call_tool`](Self::call_tool).
    pub fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, McpClientError> {
        match self.shared.call(|s, now| s.read_resource(now, uri))? {
            ClientResult::ReadResource(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// One page of `prompts/list`.
    ///
    /// # Errors
    ///
    /// As [`call_tool`](Self::call_tool).
    pub fn list_prompts(&self, cursor: Option<&str>) -> Result<ListPromptsResult, McpClientError> {
        match self.shared.call(|s, now| s.list_prompts(now, cursor))? {
            ClientResult::ListPrompts(r) => Ok(r),
            _ => Err(wrong_type()),
        }
    }

    /// Every prompt, following `nextCursor`.
    ///
    /// # Errors
    ///
    /// As [`list_all_tools`](Self::list_all_tools).
    pub fn list_all_prompts(&self) -> Result<Vec<Prompt>, McpClientError> {
        let mut pages = Pagination::new(MAX_PAGES);
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = self.list_prompts(cursor.as_deref())?;
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
    pub fn get_prompt(
        &self,
        name: &str,
        arguments: Option<BTreeMap<String, String>>,
    ) -> Result<GetPromptResult, McpClientError> {
        match self
            .shared
            .call(|s, now| s.get_prompt(now, name, arguments))?
        {
            ClientResult::GetPrompt(r) => Ok(r),
            _ => Err(wrong_type()),
        }
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

    /// Ends the session. stdio: closes the child's stdin, waits up to
    /// [`McpClientConfig::shutdown_timeout`] for it to exit, kills it
    /// otherwise, and reaps it; returns its exit status. HTTP: DELETE with
    /// the session id.
    ///
    /// # Errors
    ///
    /// Waiting for or killing the child failed.
    pub fn close(self) -> Result<Option<ExitStatus>, McpClientError> {
        let sh = &self.shared;
        match &sh.transport {
            Transport::Http { client } => {
                let delete = sh.lock().endpoint.as_ref().and_then(ClientEndpoint::delete);
                if let Some(req) = delete {
                    if let Ok(res) = client.request(req.map(|()| Body::empty())) {
                        let _ = res.into_body().collect(64 * 1024);
                    }
                }
                sh.close_session();
                Ok(None)
            }
            Transport::Stdio {
                writer,
                child,
                threads,
            } => {
                // Dropping the sender ends the writer thread, closing stdin.
                writer.lock().unwrap_or_else(|e| e.into_inner()).take();
                let child = child.lock().unwrap_or_else(|e| e.into_inner()).take();
                let status = match child {
                    Some(mut child) => Some(reap(&mut child, sh.config.shutdown_timeout)?),
                    None => None,
                };
                let threads: Vec<_> =
                    std::mem::take(&mut *threads.lock().unwrap_or_else(|e| e.into_inner()));
                for t in threads {
                    let _ = t.join();
                }
                sh.close_session();
                Ok(status)
            }
            Transport::Ws { socket, reader } => {
                websocket::close(socket, reader, sh.config.shutdown_timeout);
                sh.close_session();
                Ok(None)
            }
            Transport::Legacy(legacy) => {
                legacy.close(sh.config.shutdown_timeout);
                sh.close_session();
                Ok(None)
            }
        }
    }
}

/// Waits for `child` up to `timeout`, then kills it; always reaps it.
fn reap(child: &mut Child, timeout: Duration) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                pid = child.id(),
                "MCP server did not exit in time; killing it"
            );
            let _ = child.kill();
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wrong_type() -> McpClientError {
    McpClientError::BadAnswer("a result of the wrong type".into())
}

/// The reader thread: the child's stdout, line by line, into the session.
fn read_stdout(shared: &Arc<Shared>, mut stdout: ChildStdout) {
    let mut decoder = LineDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        let mut lines = Vec::new();
        while let Some(line) = decoder.next_line() {
            match line {
                Ok(l) => lines.push(l),
                Err(e) => tracing::debug!(error = %e, "bad line from the server"),
            }
        }
        for line in lines {
            shared.feed(line);
        }
    }
    while let Some(Ok(line)) = decoder.finish() {
        shared.feed(line);
    }
    shared.close_session();
}

impl Shared {
    fn new(config: McpClientConfig, transport: Transport) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                session: ClientSession::new(config.session.clone()),
                waiting: BTreeSet::new(),
                outcomes: BTreeMap::new(),
                init: None,
                events: VecDeque::new(),
                closed: false,
                endpoint: None,
                hold: false,
                streams: BTreeMap::new(),
                next_stream: 0,
            }),
            changed: Condvar::new(),
            config,
            transport,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call(
        self: &Arc<Self>,
        f: impl FnOnce(&mut ClientSession, Instant) -> Result<RequestId, wirestate_mcp::Error>,
    ) -> Result<ClientResult, McpClientError> {
        let id = {
            let mut st = self.lock();
            if st.closed {
                return Err(McpClientError::Closed);
            }
            let id = f(&mut st.session, Instant::now())?;
            st.waiting.insert(id.clone());
            id
        };
        self.kick();
        match self.wait(&id) {
            Outcome::Result(r) => Ok(*r),
            Outcome::Failed(e) => Err(e),
            Outcome::Initialized(_) => Err(wrong_type()),
        }
    }

    fn answer(
        self: &Arc<Self>,
        f: impl FnOnce(&mut ClientSession) -> Result<(), wirestate_mcp::Error>,
    ) -> Result<(), McpClientError> {
        f(&mut self.lock().session)?;
        self.kick();
        Ok(())
    }

    /// Blocks until `id` has an outcome, firing deadlines meanwhile.
    fn wait(self: &Arc<Self>, id: &RequestId) -> Outcome {
        let mut st = self.lock();
        loop {
            if let Some(o) = st.outcomes.remove(id) {
                return o;
            }
            if st.closed {
                st.waiting.remove(id);
                return Outcome::Failed(McpClientError::Closed);
            }
            let now = Instant::now();
            match st.session.poll_timeout() {
                Some(at) if at <= now => {
                    st.session.handle_timeout(now);
                    self.dispatch(&mut st);
                    drop(st);
                    self.kick();
                    st = self.lock();
                }
                Some(at) => {
                    st = self
                        .changed
                        .wait_timeout(st, at - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                None => {
                    st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    fn dispatch(&self, st: &mut State) {
        let mut changed = false;
        while let Some(event) = st.session.poll_event() {
            changed = true;
            let mut init = false;
            let (id, outcome) = match event {
                ClientEvent::Initialized { result, .. } => match st.init.take() {
                    Some(id) => {
                        init = true;
                        st.hold = matches!(self.transport, Transport::Http { .. });
                        (id, Outcome::Initialized(result))
                    }
                    None => continue,
                },
                ClientEvent::InitializeFailed(e) => match st.init.take() {
                    Some(id) => {
                        init = true;
                        (id, Outcome::Failed(e.into()))
                    }
                    None => continue,
                },
                ClientEvent::Response { request, result } => (request, Outcome::Result(result)),
                ClientEvent::RequestFailed { request, error } => {
                    (request, Outcome::Failed(McpClientError::Rpc(error)))
                }
                ClientEvent::RequestTimedOut { request } => {
                    st.end_streams(Some(&request));
                    (request, Outcome::Failed(McpClientError::TimedOut))
                }
                ClientEvent::Closed { .. } => {
                    st.end_streams(None);
                    st.closed = true;
                    continue;
                }
                other => {
                    if st.events.len() >= self.config.event_buffer.max(1) {
                        st.events.pop_front();
                    }
                    st.events.push_back(other);
                    continue;
                }
            };
            if st.waiting.remove(&id) || init {
                st.outcomes.insert(id, outcome);
            }
        }
        if changed {
            self.changed.notify_all();
        }
    }

    fn feed(self: &Arc<Self>, message: Bytes) {
        {
            let mut st = self.lock();
            let _ = st.session.handle_message_bytes(Instant::now(), message);
            self.dispatch(&mut st);
        }
        self.kick();
    }

    fn close_session(&self) {
        let mut st = self.lock();
        if !st.closed {
            st.session.handle_close();
            self.dispatch(&mut st);
            st.closed = true;
        }
        self.changed.notify_all();
    }

    /// Sends what the session queued: to the writer thread (stdio), or
    /// POSTed from a thread each (HTTP).
    fn kick(self: &Arc<Self>) {
        let messages: Vec<Bytes> = {
            let mut st = self.lock();
            if st.hold {
                return;
            }
            std::iter::from_fn(|| st.session.poll_message()).collect()
        };
        match &self.transport {
            Transport::Stdio { writer, .. } => {
                let writer = writer.lock().unwrap_or_else(|e| e.into_inner());
                for m in messages {
                    let mut line = BytesMut::with_capacity(m.len() + 1);
                    if encode_line(&m, &mut line).is_ok() {
                        if let Some(w) = writer.as_ref() {
                            let _ = w.send(line.freeze());
                        }
                    }
                }
            }
            Transport::Http { .. } => {
                for m in messages {
                    let me = self.clone();
                    std::thread::spawn(move || me.post(m));
                }
            }
            Transport::Ws { socket, .. } => {
                for m in messages {
                    if let Some(text) = wirestate_mcp::websocket::text_message(m) {
                        let _ = socket.send(text);
                    }
                }
            }
            Transport::Legacy(legacy) => legacy.send(messages),
        }
    }

    /// Sends what the session queued from this thread, in order: over
    /// HTTP each POST is answered before the next goes out (where
    /// [`kick`](Self::kick) POSTs each from a thread of its own).
    fn send_in_order(self: &Arc<Self>) {
        if !matches!(self.transport, Transport::Http { .. }) {
            self.lock().hold = false;
            return self.kick();
        }
        let messages: Vec<Bytes> = {
            let mut st = self.lock();
            st.hold = false;
            std::iter::from_fn(|| st.session.poll_message()).collect()
        };
        for m in messages {
            self.post(m);
        }
    }

    /// Request `id` could not be sent: its waiter (`initialize`'s or a
    /// request's) gets `e` now rather than at its deadline.
    fn fail_request(&self, st: &mut State, id: RequestId, e: McpClientError) {
        // Waiters know a request by its handle: a request sent again, or
        // the initialize that replaced a discovery, went out with a new id.
        let id = st.session.request_handle(&id).unwrap_or(id);
        if st.init.as_ref() == Some(&id) {
            st.init = None;
        }
        st.waiting.remove(&id);
        st.outcomes.insert(id, Outcome::Failed(e));
        self.changed.notify_all();
    }

    fn post(self: &Arc<Self>, message: Bytes) {
        let request = request_id(&message);
        if let Err(e) = self.post_inner(message, request.as_ref()) {
            tracing::debug!(error = %e, "MCP POST failed");
            if let Some(id) = request {
                let mut st = self.lock();
                // A server of the `initialize` era refusing server/discover
                // at the HTTP level: the session falls back to initialize.
                if st.session.fail_discovery(Instant::now(), &id) {
                    // With the 2026-07-28 era forced the session gives up
                    // instead; initialize then fails with the refusal
                    // itself, so that `http` takes the fallback to the
                    // 2024-11-05 HTTP+SSE transport as it does for a
                    // refused initialize, and a caller sees the status.
                    if st.session.phase() == ClientPhase::Failed {
                        if let Some(init) = st.init.clone() {
                            self.fail_request(&mut st, init, e);
                        }
                    }
                    self.dispatch(&mut st);
                    drop(st);
                    self.kick();
                    return;
                }
                self.fail_request(&mut st, id, e);
            }
        }
        self.kick();
    }

    fn post_inner(
        self: &Arc<Self>,
        message: Bytes,
        request: Option<&RequestId>,
    ) -> Result<(), McpClientError> {
        let Transport::Http { client } = &self.transport else {
            return Ok(());
        };
        let Some(req) = self.http_request(|ep, session| ep.post(session, &message)) else {
            return Ok(());
        };
        // A request's POST waits for the answer's head no longer than the
        // request's deadline: a server that answers only when done (or
        // never) would otherwise hold the connection and this thread past
        // it. Nothing extends the deadline before the head (progress comes
        // in the answer).
        let deadline = request.and_then(|id| {
            let st = self.lock();
            st.session.deadline(&st.session.request_handle(id)?)
        });
        let sent = client.request_until(req.map(|()| Body::full(message)), deadline);
        let res = match sent {
            Err(e) if deadline.is_some_and(|d| Instant::now() >= d) => {
                tracing::debug!(error = %e, "MCP POST given up at the request's deadline");
                // The session times the request out (the caller may not
                // have woken yet), and cancels it.
                let mut st = self.lock();
                st.session.handle_timeout(Instant::now());
                self.dispatch(&mut st);
                return Ok(());
            }
            sent => sent?,
        };
        let answer = match &mut self.lock().endpoint {
            Some(ep) => ep.answer(res.status(), res.headers()),
            None => return Ok(()),
        };
        let mut body = res.into_body();
        body.clear_deadline();
        match answer {
            Answer::EventStream => {
                let mut sse = SseAnswer::new(&self.config.session);
                let Some(id) = request else {
                    return self.read_sse(&mut body, &mut sse);
                };
                // The answer to a request: read while the request is
                // wanted (see `State::streams`).
                let Some(serial) = self.answer_stream(id, &body) else {
                    return Ok(());
                };
                let _ = self.read_sse(&mut body, &mut sse);
                drop(body);
                let resumed = self.resume(client, id, sse, serial);
                self.lock().streams.remove(&serial);
                resumed
            }
            Answer::Body(answer) => {
                let bytes = match body.collect(answer.limit()) {
                    Ok(bytes) => bytes,
                    Err(e) if answer.is_message() => return Err(e.into()),
                    Err(_) => Bytes::new(),
                };
                if let Some(message) = answer.finish(bytes, request)? {
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

    /// Registers the connection of `body`, an SSE answer to request
    /// `wire` (the id it went out with), in `State::streams`, returning
    /// its serial; `None` when the request is no longer pending (it timed
    /// out while the answer's head was on its way), so there is nothing
    /// to read.
    fn answer_stream(&self, wire: &RequestId, body: &crate::BlockingBody) -> Option<u64> {
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        let handle = st.session.request_handle(wire)?;
        let serial = st.next_stream;
        st.next_stream += 1;
        // A body without a socket of its own to shut down is read to its
        // end as before.
        if let Some(socket) = body.socket() {
            st.streams.insert(serial, (handle, socket));
        }
        Some(serial)
    }

    /// Reads an SSE body to its end, feeding each message to the session.
    fn read_sse(
        self: &Arc<Self>,
        body: &mut crate::BlockingBody,
        sse: &mut SseAnswer,
    ) -> Result<(), McpClientError> {
        while let Some(chunk) = body.chunk()? {
            sse.push(&chunk);
            while let Some(message) = sse.next_message() {
                self.sse_message(message);
            }
        }
        while let Some(message) = sse.finish() {
            self.sse_message(message);
        }
        Ok(())
    }

    /// The SSE answer to our request `id` ended before its response: while
    /// the request is pending, resumes it with a GET carrying
    /// `Last-Event-ID` after the delay [`SseAnswer::resume`] gives, as long
    /// as it allows.
    fn resume(
        self: &Arc<Self>,
        client: &Client,
        id: &RequestId,
        mut sse: SseAnswer,
        serial: u64,
    ) -> Result<(), McpClientError> {
        loop {
            {
                let mut st = self.lock();
                if st.closed || !st.session.is_pending(id) {
                    return Ok(());
                }
                // The previous stream's connection is gone.
                st.streams.remove(&serial);
            }
            let Some(retry) = sse.resume(id)? else {
                // Lost for good: fail the call now, not at its deadline.
                return Err(AnswerError::NotResumable {
                    request: id.clone(),
                }
                .into());
            };
            std::thread::sleep(retry);
            let Some(req) = self.http_request(|ep, s| ep.get(s, sse.last_event_id())) else {
                return Ok(());
            };
            let res = client.request(req.map(|()| Body::empty()))?;
            let status = res.status();
            let mut body = res.into_body();
            if status != StatusCode::OK {
                let bytes = body.collect(MAX_DRAINED_BODY).unwrap_or_default();
                return Err(AnswerError::status(status, &bytes).into());
            }
            {
                let mut st = self.lock();
                let handle = st.session.request_handle(id);
                match (handle, body.socket()) {
                    (Some(handle), Some(socket)) if !st.closed => {
                        st.streams.insert(serial, (handle, socket));
                    }
                    (Some(_), None) if !st.closed => {}
                    // Given up while the GET was on its way.
                    _ => return Ok(()),
                }
            }
            // A dropped connection is resumed like a closed stream.
            let _ = self.read_sse(&mut body, &mut sse);
        }
    }

    fn sse_message(self: &Arc<Self>, message: Result<Bytes, SseError>) {
        match message {
            Ok(message) => self.feed(message),
            Err(e) => tracing::debug!(error = %e, "bad SSE event"),
        }
    }
}
