//! [`McpClient`] over the 2024-11-05 HTTP+SSE transport
//! ([`wirestate_mcp::http::legacy`]): a reader thread on the GET stream
//! (its first event names the endpoint, the rest are the server's
//! messages), and a writer thread POSTing our messages to the endpoint
//! one at a time, in the order they were queued.

use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{StatusCode, Uri};
use wirestate_mcp::Era;
use wirestate_mcp::http::client::{ClientEndpoint, MAX_DRAINED_BODY, request_id};
use wirestate_mcp::http::legacy::{LegacyClient, LegacyError, LegacyEvent, falls_back};

use super::{McpClient, McpClientConfig, McpClientError, Shared, Transport};
use crate::{BlockingBody, Body, Client, ClientConfig as HttpClientConfig};

impl From<LegacyError> for McpClientError {
    fn from(e: LegacyError) -> Self {
        match e {
            LegacyError::Answer(e) => e.into(),
            other => Self::BadAnswer(other.to_string()),
        }
    }
}

/// Whether `initialize` failing with `e` over Streamable HTTP means the
/// server may speak the 2024-11-05 HTTP+SSE transport at the same URL
/// (400, 404 or 405: [`falls_back`]).
pub(super) fn legacy_fallback(e: &McpClientError) -> bool {
    matches!(e, McpClientError::Status { status, .. } if falls_back(*status))
}

/// The threads and the stream's socket of the transport.
pub(super) struct Legacy {
    writer: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// A handle on the stream's connection: shutting it down ends the
    /// reader's blocked read on close.
    socket: Option<TcpStream>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Legacy {
    /// Queues messages for the writer thread.
    pub(super) fn send(&self, messages: Vec<Bytes>) {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = writer.as_ref() {
            for m in messages {
                let _ = w.send(m);
            }
        }
    }

    /// Ends the transport: the writer sends what it has (bounded by
    /// `timeout`), then the stream is cut, which ends the session on the
    /// server, and the reader ends.
    pub(super) fn close(&self, timeout: Duration) {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = Instant::now() + timeout;
        let (writer, reader) = {
            let mut it = threads.into_iter();
            (it.next(), it.next())
        };
        if let Some(w) = writer {
            while !w.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
        if let Some(s) = &self.socket {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(r) = reader {
            let deadline = Instant::now() + Duration::from_secs(1);
            while !r.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }
}

impl McpClient {
    /// Initializes a session with a server of the 2024-11-05 HTTP+SSE
    /// transport whose stream is at `url` (`http://`): opens the stream,
    /// waits for its `endpoint` event (bounded by the session's request
    /// timeout), then runs `initialize` — of the `initialize` era
    /// ([`Era::Legacy`]) unless `config` asks for another than
    /// [`Era::Auto`]: this transport predates the stateless one.
    /// [`close`](Self::close) closes the
    /// stream, which ends the session on the server.
    /// [`http`](Self::http) comes here by itself when the server refuses
    /// Streamable HTTP.
    ///
    /// # Errors
    ///
    /// [`McpClientError::BadAnswer`] for a URL that cannot be used or a
    /// stream without a same-origin endpoint, [`McpClientError::Status`]
    /// for a refused GET, [`McpClientError::Http`] when the connection
    /// fails, [`McpClientError::TimedOut`] without an endpoint in time,
    /// [`initialize`](Self::initialize)'s errors.
    pub fn legacy_sse(url: &str, mut config: McpClientConfig) -> Result<Self, McpClientError> {
        let mut legacy = LegacyClient::new(&ClientEndpoint::parse(url)?);
        // The transport predates the stateless era: no server/discover
        // unless asked for.
        if config.session.era == Era::Auto {
            config.session.era = Era::Legacy;
        }
        let wait = config
            .session
            .jsonrpc
            .request_timeout
            .unwrap_or(Duration::from_secs(60));
        let client = Client::new(HttpClientConfig {
            request_timeout: Some(wait),
            ..HttpClientConfig::default()
        });
        let res = client.request(legacy.get().map(|()| Body::empty()))?;
        let (head, body) = res.into_parts();
        if head.status != StatusCode::OK {
            let bytes = body.collect(MAX_DRAINED_BODY).unwrap_or_default();
            return Err(
                LegacyClient::check_stream(head.status, &head.headers, &bytes)
                    .err()
                    .map_or(McpClientError::Closed, Into::into),
            );
        }
        LegacyClient::check_stream(head.status, &head.headers, b"")?;
        let socket = body.socket();
        let mut body = body;
        // Until the endpoint: a stream that says nothing is cut at the
        // deadline.
        let deadline = Instant::now() + wait;
        let watchdog = socket.as_ref().and_then(|s| s.try_clone().ok());
        let (named, named_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if named_rx.recv_timeout(wait).is_err() {
                if let Some(s) = watchdog {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        });
        let endpoint = loop {
            match legacy.next_event() {
                Some(Ok(LegacyEvent::Endpoint(uri))) => break uri,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => {}
            }
            match body.chunk() {
                Ok(Some(chunk)) => legacy.push(&chunk),
                Ok(None) => {
                    return Err(match legacy.finish() {
                        Some(Err(e)) => e.into(),
                        _ => LegacyError::NoEndpoint.into(),
                    });
                }
                Err(_) if Instant::now() >= deadline => return Err(McpClientError::TimedOut),
                Err(e) => return Err(e.into()),
            }
        };
        let _ = named.send(());
        let (tx, rx) = mpsc::channel::<Bytes>();
        let shared = Shared::new(
            config,
            Transport::Legacy(Legacy {
                writer: Mutex::new(Some(tx)),
                socket,
                threads: Mutex::new(Vec::new()),
            }),
        );
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mcp-sse-writer".into())
                .spawn(move || {
                    let client = Client::new(HttpClientConfig {
                        request_timeout: Some(wait),
                        ..HttpClientConfig::default()
                    });
                    // Ends when the sender is dropped (close).
                    for m in rx {
                        if let Err(e) = post(&client, &endpoint, m.clone()) {
                            tracing::debug!(error = %e, "MCP POST failed");
                            fail(&shared, &m, e);
                        }
                    }
                })?
        };
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mcp-sse-reader".into())
                .spawn(move || read_stream(&shared, body, legacy))?
        };
        if let Transport::Legacy(l) = &shared.transport {
            l.threads
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
}

/// The reader thread: the stream's messages into the session until it
/// ends (the server went away, or [`Legacy::close`] cut it).
fn read_stream(shared: &Arc<Shared>, mut body: BlockingBody, mut legacy: LegacyClient) {
    loop {
        while let Some(event) = legacy.next_event() {
            match event {
                Ok(LegacyEvent::Message(m)) => shared.feed(m),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "bad SSE event"),
            }
        }
        match body.chunk() {
            Ok(Some(chunk)) => legacy.push(&chunk),
            _ => break,
        }
    }
    while let Some(Ok(LegacyEvent::Message(m))) = legacy.finish() {
        shared.feed(m);
    }
    shared.close_session();
}

/// POSTs one message to the endpoint; any 2xx is success.
fn post(client: &Client, endpoint: &Uri, message: Bytes) -> Result<(), McpClientError> {
    let req = LegacyClient::post_to(endpoint).map(|()| Body::full(message));
    let res = client.request(req)?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect(MAX_DRAINED_BODY)
        .unwrap_or_default();
    LegacyClient::check_post(status, &bytes)?;
    Ok(())
}

/// A message that could not be POSTed: the request it carried, if any,
/// fails now rather than at its deadline.
fn fail(shared: &Shared, message: &[u8], e: McpClientError) {
    let Some(id) = request_id(message) else {
        return;
    };
    shared.fail_request(&mut shared.lock(), id, e);
}
