//! [`McpClient`] over the 2024-11-05 HTTP+SSE transport
//! ([`wirestate_mcp::http::legacy`]): a GET stream whose first event names
//! the endpoint, the server's messages as its `message` events, and each of
//! ours POSTed to the endpoint (202), one at a time and in order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_channel::oneshot;
use http::{StatusCode, Uri};
use wirestate_mcp::Era;
use wirestate_mcp::http::client::{ClientEndpoint, MAX_DRAINED_BODY, request_id};
use wirestate_mcp::http::legacy::{LegacyClient, LegacyError, LegacyEvent, falls_back};

use super::{McpClient, McpClientConfig, McpClientError, Shared};
use crate::http1::{Client, ClientConfig as HttpClientConfig};
use crate::{Body, Runtime};

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

/// What the writer does next.
enum Next {
    Send(Bytes),
    Done,
}

impl<R: Runtime> McpClient<R> {
    /// A client of a server of the 2024-11-05 HTTP+SSE transport whose
    /// stream is at `url` (`http://`): opens the stream and waits for its
    /// `endpoint` event (bounded by the session's request timeout). The
    /// session speaks the `initialize` era ([`Era::Legacy`]) unless
    /// `config` asks for another than [`Era::Auto`]: this transport
    /// predates the stateless one. The
    /// stream's reader and the writer of our messages are spawned on `rt`;
    /// each POST is bounded by the same timeout.
    /// Call [`initialize`](Self::initialize) next; [`close`](Self::close)
    /// closes the stream, which ends the session on the server.
    /// [`connect_http`](Self::connect_http) comes here by itself when the
    /// server refuses Streamable HTTP.
    ///
    /// # Errors
    ///
    /// [`McpClientError::BadAnswer`] for a URL that cannot be used or a
    /// stream without a same-origin endpoint, [`McpClientError::Status`]
    /// for a refused GET, [`McpClientError::Http`] when the connection
    /// fails, [`McpClientError::TimedOut`] without an endpoint in time.
    pub async fn legacy_sse(
        rt: R,
        url: &str,
        mut config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        let mut legacy = LegacyClient::new(&ClientEndpoint::parse(url)?);
        // The transport predates the stateless era: no server/discover
        // unless asked for.
        if config.session.era == Era::Auto {
            config.session.era = Era::Legacy;
        }
        let client = Client::new(
            rt.clone(),
            HttpClientConfig {
                // The stream stays open for the whole session.
                request_timeout: None,
                #[cfg(feature = "tls")]
                tls: config.tls.clone(),
                ..HttpClientConfig::default()
            },
        );
        // Without a request timeout, the stream is given a minute to
        // name its endpoint.
        let wait = config
            .session
            .jsonrpc
            .request_timeout
            .unwrap_or(std::time::Duration::from_secs(60));
        let deadline = rt.now() + wait;
        let opened = async {
            let res = client.request(legacy.get().map(|()| Body::empty())).await?;
            let (head, mut body) = res.into_parts();
            if head.status != StatusCode::OK {
                let bytes = body.collect(MAX_DRAINED_BODY).await.unwrap_or_default();
                return Err(
                    LegacyClient::check_stream(head.status, &head.headers, &bytes)
                        .err()
                        .map_or(McpClientError::Closed, Into::into),
                );
            }
            LegacyClient::check_stream(head.status, &head.headers, b"")?;
            loop {
                match body.chunk().await {
                    Some(chunk) => legacy.push(&chunk?),
                    None => {
                        return Err(match legacy.finish() {
                            Some(Err(e)) => e.into(),
                            _ => LegacyError::NoEndpoint.into(),
                        });
                    }
                }
                match legacy.next_event() {
                    Some(Ok(LegacyEvent::Endpoint(_))) => return Ok(body),
                    Some(Ok(_)) | None => {}
                    Some(Err(e)) => return Err(e.into()),
                }
            }
        };
        let body = crate::timeout(&rt, deadline, opened)
            .await
            .ok_or(McpClientError::TimedOut)??;
        Ok(Self::driven(rt, config, None, move |shared| {
            Box::pin(async move { drive_legacy(&shared, client, body, legacy).await })
        }))
    }

    /// [`legacy_sse`](Self::legacy_sse), then
    /// [`initialize`](Self::initialize); if that fails the stream is
    /// closed.
    ///
    /// # Errors
    ///
    /// [`legacy_sse`](Self::legacy_sse)'s and
    /// [`initialize`](Self::initialize)'s.
    pub async fn connect_legacy_sse(
        rt: R,
        url: &str,
        config: McpClientConfig,
    ) -> Result<Self, McpClientError> {
        Self::legacy_sse(rt, url, config).await?.initialized().await
    }
}

/// Runs the transport: a reader task feeds the stream's messages to the
/// session; this task POSTs the session's messages in order, until the
/// client closes or the stream ends.
async fn drive_legacy<R: Runtime>(
    shared: &Arc<Shared<R>>,
    client: Client<R>,
    mut body: Body,
    mut legacy: LegacyClient,
) {
    let Some(endpoint) = legacy.endpoint().cloned() else {
        return;
    };
    let post_timeout = shared
        .config
        .session
        .jsonrpc
        .request_timeout
        .unwrap_or(std::time::Duration::from_secs(60));
    let (end_tx, mut end_rx) = oneshot::channel::<()>();
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let reader = shared.clone();
    shared.rt.spawn(Box::pin(async move {
        loop {
            // Messages that came with the endpoint's bytes first.
            while let Some(event) = legacy.next_event() {
                match event {
                    Ok(LegacyEvent::Message(m)) => reader.feed(m),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "bad SSE event"),
                }
            }
            // The stream never ends on its own while the session lives:
            // closing the client stops the read here.
            let chunk = {
                let mut next = std::pin::pin!(body.chunk());
                std::future::poll_fn(|cx| {
                    if Pin::new(&mut stop_rx).poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    next.as_mut().poll(cx)
                })
                .await
            };
            match chunk {
                Some(Ok(chunk)) => legacy.push(&chunk),
                _ => break,
            }
        }
        while let Some(Ok(LegacyEvent::Message(m))) = legacy.finish() {
            reader.feed(m);
        }
        let _ = end_tx.send(());
        if let Some(w) = reader.lock().driver.take() {
            w.wake();
        }
    }));
    let mut ended = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            if Pin::new(&mut end_rx).poll(cx).is_ready() {
                ended = true;
                return Poll::Ready(Next::Done);
            }
            let mut st = shared.lock();
            st.driver = Some(cx.waker().clone());
            if st.closing {
                return Poll::Ready(Next::Done);
            }
            match st.session.poll_message() {
                Some(m) => Poll::Ready(Next::Send(m)),
                None => Poll::Pending,
            }
        })
        .await;
        match next {
            Next::Send(m) => {
                // Bounded, as the blocking client's POSTs are: a server
                // that never answers one would hold every later message,
                // and this task with the stream after close, for good.
                let deadline = shared.rt.now() + post_timeout;
                let posted =
                    crate::timeout(&shared.rt, deadline, post(&client, &endpoint, m.clone()))
                        .await
                        .unwrap_or(Err(McpClientError::TimedOut));
                if let Err(e) = posted {
                    tracing::debug!(error = %e, "MCP POST failed");
                    fail(shared, &m, e);
                }
            }
            Next::Done => break,
        }
    }
    drop(stop_tx);
    if !ended {
        // The reader stops at once (stop_tx is gone); a completed
        // receiver is not polled again.
        let _ = end_rx.await;
    }
    let mut st = shared.lock();
    st.closed = true;
    st.driver = None;
    st.session.handle_close();
    shared.dispatch(&mut st);
}

/// POSTs one message to the endpoint; any 2xx is success.
async fn post<R: Runtime>(
    client: &Client<R>,
    endpoint: &Uri,
    message: Bytes,
) -> Result<(), McpClientError> {
    let req = LegacyClient::post_to(endpoint).map(|()| Body::from(message));
    let res = client.request(req).await?;
    let status = res.status();
    let bytes = res
        .into_body()
        .collect(MAX_DRAINED_BODY)
        .await
        .unwrap_or_default();
    LegacyClient::check_post(status, &bytes)?;
    Ok(())
}

/// A message that could not be POSTed: the request it carried, if any,
/// fails now rather than at its deadline.
fn fail<R: Runtime>(shared: &Shared<R>, message: &[u8], e: McpClientError) {
    let Some(id) = request_id(message) else {
        return;
    };
    shared.lock().fail_request(id, e);
}
