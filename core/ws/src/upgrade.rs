//! One machine from the first HTTP/1.1 byte to the last frame: the opening
//! handshake over `wirestate-http1`, then the [`Connection`]. A custom event
//! loop drives a single object for the whole WebSocket lifetime.

use crate::connection::{Config, Connection, Error, Event};
use crate::handshake::{
    ClientHandshake, HandshakeError, Negotiated, PendingHandshake, ServerHandshake, accept,
    reject_response,
};
use bytes::Bytes;
use http::{request, response};
use std::collections::VecDeque;
use std::time::Instant;
use wirestate_http1::{
    BodySize, ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection,
    ServerEvent,
};
use wirestate_machine::{ClassifyError, Entropy, ErrorKind, Machine, Transmit};

/// What an upgrade machine reports.
#[derive(Debug)]
pub enum UpgradeEvent {
    /// The handshake completed; frames flow from here on.
    Open {
        /// The client's request (on a server) or the request sent (on a client).
        request: Box<request::Parts>,
        /// The server's 101 response.
        response: Box<response::Parts>,
        /// The subprotocol and extensions agreed.
        negotiated: Negotiated,
    },
    /// An event of the WebSocket connection.
    Ws(Event),
}

/// Why an upgrade machine failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The HTTP/1.1 exchange broke.
    #[error(transparent)]
    Http(#[from] wirestate_http1::Error),
    /// The handshake was refused (by us, with the response queued; or by
    /// the server).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The WebSocket connection failed.
    #[error(transparent)]
    Ws(#[from] Error),
}

impl ClassifyError for UpgradeError {
    /// A close code once frames flow; before, nothing (the HTTP layer
    /// already queued its status).
    type Hint = u16;

    fn kind(&self) -> ErrorKind {
        match self {
            UpgradeError::Http(e) => e.kind(),
            UpgradeError::Handshake(e) => e.kind(),
            UpgradeError::Ws(e) => e.kind(),
        }
    }

    fn hint(&self) -> Option<u16> {
        match self {
            UpgradeError::Ws(e) => e.hint(),
            _ => None,
        }
    }
}

/// The frames side, or the HTTP side still handshaking.
// One per connection and never moved once built, so the size difference
// costs nothing; boxing would add an allocation per connection.
#[allow(clippy::large_enum_variant)]
enum Phase<H> {
    Http(H),
    Ws(Connection),
}

/// What both upgrade machines do the same way once, or before, frames flow.
impl<H: Machine> Phase<H> {
    /// Feeds frames to the connection.
    fn ws_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        let Phase::Ws(ws) = self else {
            return Ok(());
        };
        // The connection keeps its events: `poll_event` takes them from it
        // after the upgrade's own queue. Draining them here would run a
        // held-back close reply before the application saw (and answered)
        // the messages in front of it.
        Ok(ws.handle_input(now, bytes)?)
    }

    fn poll_event(&mut self) -> Option<UpgradeEvent> {
        match self {
            Phase::Ws(ws) => ws.poll_event().map(UpgradeEvent::Ws),
            Phase::Http(_) => None,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Phase::Http(http) => http.poll_timeout(),
            Phase::Ws(ws) => ws.poll_timeout(),
        }
    }

    fn wants_read(&self) -> bool {
        match self {
            Phase::Http(http) => http.wants_read(),
            Phase::Ws(ws) => ws.wants_read(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Phase::Http(http) => http.is_closed(),
            Phase::Ws(ws) => ws.is_closed(),
        }
    }
}

/// Output queued by the HTTP side (the 101) goes out before the first frame.
fn drain_into(m: &mut impl Machine, out: &mut VecDeque<Transmit>) {
    while let Some(t) = m.poll_transmit() {
        out.push_back(t);
    }
}

/// A WebSocket server connection from its first byte: answers the opening
/// handshake with the [`ServerHandshake`] policy (origin, subprotocols,
/// permessage-deflate), refuses anything else with the right HTTP status,
/// then runs the [`Connection`].
///
/// ```
/// use std::time::Instant;
/// use wirestate_machine::{Machine, Transmit};
/// use wirestate_ws::{Config, ServerHandshake, ServerUpgrade, UpgradeEvent};
///
/// let now = Instant::now();
/// let mut server = ServerUpgrade::new(now, ServerHandshake::new(), Config::default());
/// server.handle_input(now, b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n").unwrap();
/// assert!(matches!(server.poll_event(), Some(UpgradeEvent::Open { .. })));
/// let Some(Transmit::Bytes(out)) = server.poll_transmit() else { panic!() };
/// assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
pub struct ServerUpgrade {
    phase: Phase<ServerConnection>,
    handshake: ServerHandshake,
    config: Config,
    /// The accepted request and our answer, until the switch.
    accepted: Option<(request::Parts, response::Parts, Negotiated)>,
    pre: VecDeque<Transmit>,
    events: VecDeque<UpgradeEvent>,
    error: Option<()>,
}

impl std::fmt::Debug for ServerUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.phase {
            Phase::Http(_) => "http",
            Phase::Ws(_) => "ws",
        };
        f.debug_struct("ServerUpgrade")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

impl ServerUpgrade {
    /// A server connection that accepts one WebSocket handshake.
    pub fn new(now: Instant, handshake: ServerHandshake, config: Config) -> Self {
        Self::with_http_config(now, handshake, config, ServerConfig::default())
    }

    /// [`new`](Self::new) with HTTP/1.1 limits and timeouts of your own.
    pub fn with_http_config(
        now: Instant,
        handshake: ServerHandshake,
        config: Config,
        mut http: ServerConfig,
    ) -> Self {
        // A handshake client waits for the 101 before sending anything else:
        // bytes after the request are frames (or junk), never a second request.
        http.max_pipelined = 1;
        Self {
            phase: Phase::Http(ServerConnection::new(http, now)),
            handshake,
            config,
            accepted: None,
            pre: VecDeque::new(),
            events: VecDeque::new(),
            error: None,
        }
    }

    /// The WebSocket connection, once the handshake is done: send messages
    /// and close through it.
    pub fn connection(&mut self) -> Option<&mut Connection> {
        match &mut self.phase {
            Phase::Ws(c) => Some(c),
            Phase::Http(_) => None,
        }
    }

    fn pump_http(&mut self, now: Instant) -> Result<(), UpgradeError> {
        let Phase::Http(http) = &mut self.phase else {
            return Ok(());
        };
        let mut refused = None;
        let mut upgraded = None;
        while let Some(ev) = http.poll_event() {
            match ev {
                ServerEvent::Request(req) => match accept(&req.head, &self.handshake) {
                    Ok((resp, negotiated)) => {
                        let (parts, ()) = resp.into_parts();
                        http.send_response(parts.clone(), BodySize::Empty)?;
                        self.accepted = Some((req.head, parts, negotiated));
                    }
                    Err(e) => {
                        let (parts, ()) = reject_response(&e).into_parts();
                        http.close_after_current();
                        http.send_full_response(parts, Bytes::new())?;
                        refused = Some(e);
                    }
                },
                ServerEvent::Upgraded { leftover, .. } => upgraded = Some(leftover),
                // A refusal already answered wins over what followed it.
                ServerEvent::Error(e) if refused.is_none() => return Err(e.into()),
                _ => {}
            }
        }
        if let Some(e) = refused {
            self.error = Some(());
            return Err(e.into());
        }
        if let (Some(leftover), Some((request, response, negotiated))) =
            (upgraded, self.accepted.take())
        {
            drain_into(http, &mut self.pre);
            let mut ws = Connection::server(self.config.clone());
            if let Some(params) = &negotiated.deflate {
                ws = ws.with_deflate(params);
            }
            ws.start(now);
            self.phase = Phase::Ws(ws);
            self.events.push_back(UpgradeEvent::Open {
                request: Box::new(request),
                response: Box::new(response),
                negotiated,
            });
            if !leftover.is_empty() {
                self.ws_input(now, &leftover)?;
            }
        }
        Ok(())
    }

    fn ws_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        self.phase.ws_input(now, bytes)
    }
}

impl Machine for ServerUpgrade {
    type Event = UpgradeEvent;
    type Error = UpgradeError;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        match &mut self.phase {
            Phase::Http(http) => {
                if self.error.is_some() {
                    return Ok(());
                }
                let result = http.handle_input(now, bytes);
                self.pump_http(now)?;
                Ok(result?)
            }
            Phase::Ws(_) => self.ws_input(now, bytes),
        }
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), UpgradeError> {
        match &mut self.phase {
            Phase::Http(http) => {
                let result = http.handle_eof(now);
                self.pump_http(now)?;
                Ok(result?)
            }
            Phase::Ws(ws) => Ok(ws.handle_eof(now)?),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Http(http) => {
                http.handle_timeout(now);
                let _ = self.pump_http(now);
            }
            Phase::Ws(ws) => ws.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.pre.pop_front() {
            return Some(t);
        }
        match &mut self.phase {
            Phase::Http(http) => http.poll_transmit(),
            Phase::Ws(ws) => ws.poll_transmit(),
        }
    }

    fn poll_event(&mut self) -> Option<UpgradeEvent> {
        self.events.pop_front().or_else(|| self.phase.poll_event())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.phase.poll_timeout()
    }

    fn wants_read(&self) -> bool {
        self.phase.wants_read()
    }

    fn is_closed(&self) -> bool {
        self.pre.is_empty() && self.phase.is_closed()
    }
}

/// A WebSocket client connection from its first byte: sends the opening
/// handshake, verifies the server's answer, then runs the [`Connection`].
///
/// ```
/// use std::time::Instant;
/// use wirestate_machine::{Machine, Transmit};
/// use wirestate_ws::{ClientHandshake, ClientUpgrade, Config};
///
/// let now = Instant::now();
/// let handshake = ClientHandshake::new("ws://example.com/chat".parse().unwrap());
/// let entropy = |buf: &mut [u8]| buf.fill(7); // use a real random source
/// let mut client = ClientUpgrade::new(now, &handshake, Config::default(), entropy).unwrap();
/// let Some(Transmit::Bytes(out)) = client.poll_transmit() else { panic!() };
/// assert!(out.starts_with(b"GET /chat HTTP/1.1\r\n"));
/// ```
pub struct ClientUpgrade {
    phase: Phase<ClientConnection>,
    pending: PendingHandshake,
    request: Option<request::Parts>,
    verified: Option<(response::Parts, Negotiated)>,
    config: Config,
    entropy: Option<Box<dyn Entropy + Send>>,
    pre: VecDeque<Transmit>,
    events: VecDeque<UpgradeEvent>,
    failed: bool,
    /// A `Transmit::Shutdown` went out already.
    shut: bool,
}

impl std::fmt::Debug for ClientUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.phase {
            Phase::Http(_) => "http",
            Phase::Ws(_) => "ws",
        };
        f.debug_struct("ClientUpgrade")
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

impl ClientUpgrade {
    /// Queues the handshake request for `handshake`'s URI; `entropy`
    /// supplies the key and, later, the masking keys.
    pub fn new(
        now: Instant,
        handshake: &ClientHandshake,
        config: Config,
        entropy: impl Entropy + Send + 'static,
    ) -> Result<Self, UpgradeError> {
        Self::with_http_config(now, handshake, config, ClientConfig::default(), entropy)
    }

    /// [`new`](Self::new) with HTTP/1.1 limits of your own.
    pub fn with_http_config(
        now: Instant,
        handshake: &ClientHandshake,
        config: Config,
        http: ClientConfig,
        mut entropy: impl Entropy + Send + 'static,
    ) -> Result<Self, UpgradeError> {
        let (request, pending) = handshake.request(&mut entropy)?;
        let (mut parts, ()) = request.into_parts();
        // HTTP/1.1 sends the origin form; the authority is in Host.
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let sent = parts.clone();
        parts.uri = path.parse().map_err(|_| HandshakeError::InvalidUri)?;
        let mut http = ClientConnection::new(http, now);
        http.send_request(parts, BodySize::Empty)?;
        Ok(Self {
            phase: Phase::Http(http),
            pending,
            request: Some(sent),
            verified: None,
            config,
            entropy: Some(Box::new(entropy)),
            pre: VecDeque::new(),
            events: VecDeque::new(),
            failed: false,
            shut: false,
        })
    }

    /// The WebSocket connection, once the handshake is done.
    pub fn connection(&mut self) -> Option<&mut Connection> {
        match &mut self.phase {
            Phase::Ws(c) => Some(c),
            Phase::Http(_) => None,
        }
    }

    fn fail(&mut self, error: UpgradeError) -> UpgradeError {
        self.failed = true;
        if let Phase::Http(http) = &mut self.phase {
            http.close();
        }
        error
    }

    fn pump_http(&mut self, now: Instant) -> Result<(), UpgradeError> {
        let Phase::Http(http) = &mut self.phase else {
            return Ok(());
        };
        let mut upgraded = None;
        let mut failure = None;
        while let Some(ev) = http.poll_event() {
            match ev {
                ClientEvent::Response(resp) => match self.pending.verify(&resp.head) {
                    Ok(negotiated) => self.verified = Some((resp.head, negotiated)),
                    Err(e) => {
                        failure.get_or_insert(e.into());
                    }
                },
                ClientEvent::Upgraded { leftover, .. } => upgraded = Some(leftover),
                // The first failure is the cause; what follows is fallout.
                ClientEvent::Error(e) => {
                    failure.get_or_insert(e.into());
                }
                ClientEvent::Aborted { .. } => {
                    failure.get_or_insert(UpgradeError::Ws(Error::AbnormalClosure));
                }
                _ => {}
            }
        }
        if let Some(e) = failure {
            // After a 101 the HTTP machine no longer closes by itself: queue
            // the half-close here, after whatever it still had to send.
            http.close();
            drain_into(http, &mut self.pre);
            if !self.shut && !self.pre.contains(&Transmit::Shutdown) {
                self.pre.push_back(Transmit::Shutdown);
            }
            self.failed = true;
            return Err(e);
        }
        if let (Some(leftover), Some((response, negotiated))) = (upgraded, self.verified.take()) {
            drain_into(http, &mut self.pre);
            let mut entropy = self.entropy.take();
            let mut ws = Connection::client(self.config.clone(), move |buf: &mut [u8]| {
                if let Some(e) = &mut entropy {
                    e.fill(buf);
                }
            });
            if let Some(params) = &negotiated.deflate {
                ws = ws.with_deflate(params);
            }
            ws.start(now);
            self.phase = Phase::Ws(ws);
            self.events.push_back(UpgradeEvent::Open {
                request: Box::new(
                    self.request
                        .take()
                        .unwrap_or_else(|| http::Request::new(()).into_parts().0),
                ),
                response: Box::new(response),
                negotiated,
            });
            if !leftover.is_empty() {
                self.ws_input(now, &leftover)?;
            }
        }
        Ok(())
    }

    fn ws_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        self.phase.ws_input(now, bytes)
    }
}

impl Machine for ClientUpgrade {
    type Event = UpgradeEvent;
    type Error = UpgradeError;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        match &mut self.phase {
            Phase::Http(http) => {
                if self.failed {
                    return Ok(());
                }
                let result = http.handle_input(now, bytes);
                self.pump_http(now)?;
                result.map_err(|e| self.fail(e.into()))
            }
            Phase::Ws(_) => self.ws_input(now, bytes),
        }
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), UpgradeError> {
        match &mut self.phase {
            Phase::Http(http) => {
                let result = http.handle_eof(now);
                self.pump_http(now)?;
                result.map_err(|e| self.fail(e.into()))
            }
            Phase::Ws(ws) => Ok(ws.handle_eof(now)?),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Http(http) => {
                http.handle_timeout(now);
                let _ = self.pump_http(now);
            }
            Phase::Ws(ws) => ws.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = match self.pre.pop_front() {
            Some(t) => Some(t),
            None if self.failed => None,
            None => match &mut self.phase {
                Phase::Http(http) => http.poll_transmit(),
                Phase::Ws(ws) => ws.poll_transmit(),
            },
        };
        self.shut |= t == Some(Transmit::Shutdown);
        t
    }

    fn poll_event(&mut self) -> Option<UpgradeEvent> {
        self.events.pop_front().or_else(|| self.phase.poll_event())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.phase.poll_timeout()
    }

    fn wants_read(&self) -> bool {
        !self.failed && self.phase.wants_read()
    }

    fn is_closed(&self) -> bool {
        self.pre.is_empty() && (self.failed || self.phase.is_closed())
    }
}
