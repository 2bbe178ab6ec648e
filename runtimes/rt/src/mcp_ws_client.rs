//! [`McpClient`] over WebSocket: one JSON-RPC message per text message,
//! subprotocol `mcp` ([`wirestate_mcp::websocket`]'s rules).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_channel::oneshot;
use wirestate_mcp::websocket as mcp_ws;
use wirestate_ws::{CloseFrame, close_code};

use super::{McpClient, McpClientConfig, McpClientError, Shared};
use crate::Runtime;
use crate::mcp::websocket_config;
use crate::ws::{self, WebSocket};

/// What the writer does next.
enum Next {
    Send(Bytes),
    /// Close with this frame: ours (the client is closing) or the answer
    /// to a binary message.
    Close(CloseFrame),
    /// The socket ended.
    Done,
}

impl<R: Runtime> McpClient<R> {
    /// A client of the MCP WebSocket endpoint at `url` (`ws://`, and
    /// `wss://` with the `tls` feature and `McpClientConfig::tls`; offering
    /// the `mcp` subprotocol; messages up to 4 MiB). The connection's
    /// tasks are spawned on `rt`. Call [`initialize`](Self::initialize)
    /// next; [`close`](Self::close) sends a close frame and waits (up to
    /// [`McpClientConfig::shutdown_timeout`]) for the server's.
    ///
    /// # Errors
    ///
    /// [`McpClientError::BadAnswer`] for a URL that cannot be used or a
    /// refused handshake, [`McpClientError::Io`] when the connection
    /// cannot be opened.
    pub async fn websocket(
        rt: R,
        url: &str,
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        let failed = |e| match e {
            ws::Error::Connect(e) | ws::Error::Io(e) => McpClientError::Io(e),
            ws::Error::Timeout => McpClientError::Io(io::ErrorKind::TimedOut.into()),
            other => McpClientError::BadAnswer(format!("WebSocket {url}: {other}")),
        };
        #[cfg(feature = "tls")]
        let (socket, connection) = {
            let tls = config
                .tls
                .clone()
                .unwrap_or_else(crate::tls::default_http1_client_config);
            ws::connect_with_tls(rt.clone(), url, websocket_config(), tls)
                .await
                .map_err(failed)?
        };
        #[cfg(not(feature = "tls"))]
        let (socket, connection) = ws::connect(rt.clone(), url, websocket_config())
            .await
            .map_err(failed)?;
        rt.spawn(Box::pin(async move {
            let _ = connection.await;
        }));
        // Without a child, the stdio transport's shutdown is what a
        // message stream needs: close() wakes the driver and waits for it.
        Ok(Self::driven(rt, config, None, move |shared| {
            Box::pin(async move { drive_ws(&shared, socket).await })
        }))
    }
}

/// Runs the WebSocket transport: a reader task feeds the session, this
/// task writes its messages, until the socket ends.
async fn drive_ws<R: Runtime>(shared: &Arc<Shared<R>>, socket: WebSocket) {
    let (mut sender, mut receiver) = socket.split();
    let (end_tx, mut end_rx) = oneshot::channel::<Option<CloseFrame>>();
    let reader = shared.clone();
    shared.rt.spawn(Box::pin(async move {
        let mut refused = None;
        while let Some(Ok(message)) = receiver.recv().await {
            let mut st = reader.lock();
            let now = reader.rt.now();
            let r = mcp_ws::handle_ws_message(&mut st.session, now, message);
            reader.dispatch(&mut st);
            if let Some(w) = st.driver.take() {
                w.wake();
            }
            if let Err(frame) = r {
                refused = Some(frame);
                break;
            }
        }
        let _ = end_tx.send(refused);
    }));
    let mut ended = false;
    let mut close_sent = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            if !ended {
                match Pin::new(&mut end_rx).poll(cx) {
                    Poll::Ready(Ok(Some(frame))) => {
                        ended = true;
                        return Poll::Ready(Next::Close(frame));
                    }
                    Poll::Ready(_) => {
                        ended = true;
                        return Poll::Ready(Next::Done);
                    }
                    Poll::Pending => {}
                }
            }
            let mut st = shared.lock();
            st.driver = Some(cx.waker().clone());
            if let Some(m) = st.session.poll_message() {
                return Poll::Ready(Next::Send(m));
            }
            if st.closing && !close_sent {
                return Poll::Ready(Next::Close(CloseFrame::new(close_code::NORMAL, "")));
            }
            Poll::Pending
        })
        .await;
        match next {
            Next::Send(m) => {
                if let Some(text) = mcp_ws::text_message(m)
                    && sender.send(text).await.is_err()
                {
                    break;
                }
            }
            Next::Close(frame) => {
                close_sent = true;
                let _ = sender.close(frame.code, frame.reason.as_str()).await;
                if ended {
                    break;
                }
                // Keep going until the reader sees the server's close.
            }
            Next::Done => break,
        }
    }
    let mut st = shared.lock();
    st.closed = true;
    st.driver = None;
    st.session.handle_close();
    shared.dispatch(&mut st);
}
