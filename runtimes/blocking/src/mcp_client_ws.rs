//! [`McpClient`] over WebSocket: one JSON-RPC message per text message,
//! subprotocol `mcp` ([`wirestate_mcp::websocket`]'s rules), a reader
//! thread feeding the session; messages are sent by the thread that
//! queued them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wirestate_mcp::websocket as mcp_ws;
use wirestate_ws::close_code;

use super::{McpClient, McpClientConfig, McpClientError, Shared, Transport};
use crate::mcp_server::websocket_config;
use crate::ws::{self, WebSocket};

impl McpClient {
    /// Initializes a session with the MCP WebSocket endpoint at `url`
    /// (`ws://`, offering the `mcp` subprotocol; messages up to 4 MiB).
    /// [`close`](Self::close) sends a close frame and waits (up to
    /// [`McpClientConfig::shutdown_timeout`]) for the server's.
    ///
    /// # Errors
    ///
    /// [`McpClientError::BadAnswer`] for a URL that cannot be used or a
    /// refused handshake, [`McpClientError::Io`] when the connection
    /// cannot be opened, [`initialize`](Self::initialize)'s errors.
    pub fn websocket(url: &str, config: McpClientConfig) -> Result<Self, McpClientError> {
        #[cfg(feature = "tls")]
        let connected = {
            let tls = config
                .tls
                .clone()
                .unwrap_or_else(crate::tls::default_http1_client_config);
            ws::connect_with_tls(url, websocket_config(), tls)
        };
        #[cfg(not(feature = "tls"))]
        let connected = ws::connect_with(url, websocket_config());
        let socket = connected.map_err(|e| match e {
            ws::Error::Io(e) => McpClientError::Io(e),
            other => McpClientError::BadAnswer(format!("WebSocket {url}: {other}")),
        })?;
        let shared = Shared::new(
            config,
            Transport::Ws {
                socket: socket.clone(),
                reader: Mutex::new(None),
            },
        );
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mcp-ws-reader".into())
                .spawn(move || read_socket(&shared, &socket))?
        };
        if let Transport::Ws { reader: slot, .. } = &shared.transport {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(reader);
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
}

/// The reader thread: messages into the session until the socket ends (a
/// binary message from the server is answered with close 1003).
fn read_socket(shared: &Arc<Shared>, socket: &WebSocket) {
    while let Some(Ok(message)) = socket.recv() {
        let refused = {
            let mut st = shared.lock();
            let r = mcp_ws::handle_ws_message(&mut st.session, Instant::now(), message);
            shared.dispatch(&mut st);
            r
        };
        shared.kick();
        if let Err(frame) = refused {
            let _ = socket.close(frame.code, mcp_ws::BINARY_REASON);
        }
    }
    shared.close_session();
}

/// Ends a WebSocket session: our close frame, then the reader until the
/// server's (bounded by `timeout`).
pub(super) fn close(
    socket: &WebSocket,
    reader: &Mutex<Option<std::thread::JoinHandle<()>>>,
    timeout: Duration,
) {
    let _ = socket.close(close_code::NORMAL, "");
    let reader = reader.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(reader) = reader {
        let deadline = Instant::now() + timeout;
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
}
