//! A blocking MCP client: the sans-IO [`ClientSession`] of `wirestate-mcp`
//! over a stdio child process ([`McpClient::spawn`]: a reader thread for
//! its stdout, a writer thread for its stdin; always reaped on
//! [`close`](McpClient::close), killed after a timeout) or over Streamable
//! HTTP ([`McpClient::http`]: each message POSTed from a short-lived thread
//! with the blocking [`Client`], JSON or SSE answers). Calls block the
//! calling thread (several threads may call at once); notifications and
//! the server's requests are read with [`McpClient::next_event`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use serde_json::{Map, Value};
use wirestate_codec::{LineDecoder, SseDecoder, SseEvent, encode_line};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::ErrorKind;
use wirestate_mcp::http::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, CreateMessageResult, ElicitResult, GetPromptResult,
    Implementation, InitializeResult, ListPromptsResult, ListResourcesResult, ListRootsResult,
    ListToolsResult, Prompt, ReadResourceResult, Resource, Tool,
};
use wirestate_mcp::{ClientConfig, ClientEvent, ClientResult, ClientSession, Pagination};

use crate::{Body, Client, ClientConfig as HttpClientConfig};

#[path = "mcp_client_ws.rs"]
mod websocket;

const MAX_PAGES: usize = 1000;
const MAX_JSON_BODY: usize = 16 << 20;

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
}

impl Default for McpClientConfig {
    fn default() -> Self {
        Self {
            session: ClientConfig::default(),
            client_info: Implementation::new("wirestate-mcp-client", env!("CARGO_PKG_VERSION")),
            capabilities: ClientCapabilities::default(),
            shutdown_timeout: Duration::from_secs(5),
            event_buffer: 1024,
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
    session_id: Option<HeaderValue>,
}

enum Transport {
    Stdio {
        writer: Mutex<Option<mpsc::Sender<Bytes>>>,
        child: Mutex<Option<Child>>,
        threads: Mutex<Vec<JoinHandle<()>>>,
    },
    Http {
        client: Client,
        uri: Uri,
    },
    /// WebSocket ([`McpClient::websocket`]): messages sent as they are
    /// queued, a reader thread.
    Ws {
        socket: crate::ws::WebSocket,
        reader: Mutex<Option<JoinHandle<()>>>,
    },
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
    /// (`http://` only).
    ///
    /// # Errors
    ///
    /// A bad URL, or [`initialize`](Self::initialize)'s errors.
    pub fn http(url: &str, config: McpClientConfig) -> Result<Self, McpClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| McpClientError::BadAnswer(format!("bad URL {url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(McpClientError::BadAnswer(format!(
                "only http:// URLs are supported, not {url:?}"
            )));
        }
        let client = Client::new(HttpClientConfig {
            request_timeout: None,
            ..HttpClientConfig::default()
        });
        let client = Self {
            shared: Shared::new(config, Transport::Http { client, uri }),
        };
        client.initialize()?;
        Ok(client)
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
                sh.kick();
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
            Transport::Http { client, uri } => {
                let id = sh.lock().session_id.clone();
                if let Some(id) = id {
                    let mut req = Request::new(Body::empty());
                    *req.method_mut() = Method::DELETE;
                    *req.uri_mut() = uri.clone();
                    req.headers_mut().insert(MCP_SESSION_ID, id);
                    if let Ok(res) = client.request(req) {
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
                session_id: None,
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
                    (request, Outcome::Failed(McpClientError::TimedOut))
                }
                ClientEvent::Closed { .. } => {
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
        }
    }

    fn post(self: &Arc<Self>, message: Bytes) {
        let request = request_id_of(&message);
        if let Err(e) = self.post_inner(message, request.as_ref()) {
            tracing::debug!(error = %e, "MCP POST failed");
            if let Some(id) = request {
                let mut st = self.lock();
                // A server of the `initialize` era refusing server/discover
                // at the HTTP level: the session falls back to initialize.
                if st.session.fail_discovery(Instant::now(), &id) {
                    self.dispatch(&mut st);
                    drop(st);
                    self.kick();
                    return;
                }
                if st.init.as_ref() == Some(&id) {
                    st.init = None;
                }
                st.waiting.remove(&id);
                st.outcomes.insert(id, Outcome::Failed(e));
                self.changed.notify_all();
            }
        }
        self.kick();
    }

    fn post_inner(
        self: &Arc<Self>,
        message: Bytes,
        request: Option<&RequestId>,
    ) -> Result<(), McpClientError> {
        let Transport::Http { client, uri } = &self.transport else {
            return Ok(());
        };
        let (session_id, extra) = {
            let st = self.lock();
            (st.session_id.clone(), st.session.request_headers(&message))
        };
        let mut req = Request::new(Body::full(message));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri.clone();
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(id) = session_id {
            h.insert(MCP_SESSION_ID, id);
        }
        // MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*; a value
        // HTTP cannot carry is left out (the server then says what it
        // misses).
        for (name, value) in extra {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                h.insert(name, value);
            }
        }
        let res = client.request(req)?;
        let status = res.status();
        if let Some(id) = res.headers().get(MCP_SESSION_ID) {
            let mut st = self.lock();
            if st.session_id.is_none() {
                st.session_id = Some(id.clone());
            }
        }
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = res.into_body();
        if !status.is_success() {
            let bytes = body.collect(64 * 1024).unwrap_or_default();
            // A JSON-RPC error answering this request (2026-07-28 servers
            // answer -32022 and header mismatches with 400 and a body): the
            // session takes it (and may retry).
            if content_type.starts_with("application/json")
                && request.is_some_and(|id| answers(&bytes, id))
            {
                self.feed(bytes);
                return Ok(());
            }
            return Err(McpClientError::Status {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        if status == StatusCode::ACCEPTED {
            let _ = body.collect(4096);
            return Ok(());
        }
        if content_type.starts_with("text/event-stream") {
            let mut sse = SseDecoder::new();
            let read = self.read_sse(&mut body, &mut sse);
            match request {
                Some(id) => self.resume(client, uri, id, sse),
                None => read,
            }
        } else if content_type.starts_with("application/json") {
            let bytes = body.collect(MAX_JSON_BODY)?;
            if !bytes.is_empty() {
                self.feed(bytes);
            }
            Ok(())
        } else {
            let _ = body.collect(4096);
            Err(McpClientError::BadAnswer(format!(
                "content type {content_type:?}"
            )))
        }
    }

    /// Reads an SSE body to its end, feeding each message to the session.
    fn read_sse(
        self: &Arc<Self>,
        body: &mut crate::BlockingBody,
        sse: &mut SseDecoder,
    ) -> Result<(), McpClientError> {
        while let Some(chunk) = body.chunk()? {
            sse.push(&chunk);
            while let Some(event) = sse.next_event() {
                self.sse_event(event);
            }
        }
        while let Some(event) = sse.finish() {
            self.sse_event(event);
        }
        Ok(())
    }

    /// The SSE answer to our request `id` ended before its response (the
    /// server may close it once it sent an event id, SEP-1699): while the
    /// request is pending, waits the server's `retry:` (else
    /// [`ClientConfig::sse_retry`]) and resumes with a GET carrying
    /// `Last-Event-ID`, up to [`ClientConfig::sse_max_resumes`] times in a
    /// row without a new event id. A stream without an event id cannot be
    /// resumed: the request then waits for its deadline.
    fn resume(
        self: &Arc<Self>,
        client: &Client,
        uri: &Uri,
        id: &RequestId,
        mut sse: SseDecoder,
    ) -> Result<(), McpClientError> {
        let config = &self.config.session;
        let mut last_event_id = sse.last_event_id().to_owned();
        let mut retry = config.sse_retry_delay(sse.retry());
        let mut attempts = 0;
        loop {
            let (session_id, version) = {
                let st = self.lock();
                if st.closed || !st.session.is_pending(id) {
                    return Ok(());
                }
                (st.session_id.clone(), st.session.protocol_version())
            };
            if last_event_id.is_empty() {
                return Ok(());
            }
            if attempts >= config.sse_max_resumes {
                return Err(McpClientError::BadAnswer(format!(
                    "the SSE answer to request {id} ended {attempts} times without the response"
                )));
            }
            attempts += 1;
            std::thread::sleep(retry);
            let mut req = Request::new(Body::empty());
            *req.uri_mut() = uri.clone();
            let h = req.headers_mut();
            h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            if let Some(s) = session_id {
                h.insert(MCP_SESSION_ID, s);
            }
            if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(MCP_PROTOCOL_VERSION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&last_event_id) {
                h.insert(LAST_EVENT_ID, v);
            }
            let res = client.request(req)?;
            let status = res.status();
            let mut body = res.into_body();
            if status != StatusCode::OK {
                let bytes = body.collect(4096).unwrap_or_default();
                return Err(McpClientError::Status {
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            sse = SseDecoder::new();
            // A dropped connection is resumed like a closed stream.
            let _ = self.read_sse(&mut body, &mut sse);
            if !sse.last_event_id().is_empty() && sse.last_event_id() != last_event_id {
                last_event_id = sse.last_event_id().to_owned();
                attempts = 0;
            }
            if sse.retry().is_some() {
                retry = config.sse_retry_delay(sse.retry());
            }
        }
    }

    fn sse_event(self: &Arc<Self>, event: Result<SseEvent, wirestate_codec::SseError>) {
        match event {
            Ok(e) if e.event_type() == "message" && !e.data.is_empty() => {
                self.feed(Bytes::from(e.data.into_bytes()));
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "bad SSE event"),
        }
    }
}

/// The id of a request in an outgoing message, if it is one.
/// Whether `body` is a JSON-RPC error response to request `id`.
fn answers(body: &[u8], id: &RequestId) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        id: Option<RequestId>,
        error: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(body)
        .is_ok_and(|p| p.error.is_some() && p.id.as_ref() == Some(id))
}

fn request_id_of(message: &[u8]) -> Option<RequestId> {
    #[derive(serde::Deserialize)]
    struct Probe {
        id: Option<RequestId>,
        method: Option<serde::de::IgnoredAny>,
    }
    let p: Probe = serde_json::from_slice(message).ok()?;
    p.method.and(p.id)
}
