use super::client::{SendRequest, handshake};
use crate::{Body, Error, Runtime};
use http::{Request, Response, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wirestate_http1::policy::Retry;

/// Settings of the pooled [`Client`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The connection machine's settings.
    pub http1: wirestate_http1::ClientConfig,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed from sending a request to its response head.
    pub request_timeout: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// Most idle connections kept per origin.
    pub max_idle_per_host: usize,
    /// When and how long to retry a failed request (see [`Retry`]).
    pub retry: Retry,
    /// Send requests back to back on one connection without waiting for
    /// the previous response.
    pub pipelining: bool,
    /// TLS for `https://` URLs (feature `tls`): `None` trusts the Mozilla
    /// roots ([`tls::webpki_roots`](crate::tls::webpki_roots)) and offers
    /// ALPN `http/1.1`. A config of your own should offer `http/1.1` too
    /// (or nothing): this client speaks no HTTP/2.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            http1: Default::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 32,
            retry: Retry::default(),
            pipelining: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Host, port, and whether it is `https`.
type Origin = (String, u16, bool);

struct Idle {
    sender: SendRequest,
    since: Instant,
}

/// An HTTP/1.1 client with a keep-alive connection pool per origin,
/// connect and request timeouts, and retries with exponential backoff.
///
/// `http://` URLs, and `https://` with the `tls` feature (see
/// `ClientConfig::tls`); others are an [`Error::InvalidRequest`].
pub struct Client<R: Runtime> {
    rt: R,
    config: Arc<ClientConfig>,
    pool: Arc<Mutex<HashMap<Origin, Vec<Idle>>>>,
    #[cfg(feature = "tls")]
    tls: Arc<rustls::ClientConfig>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            rt: self.rt.clone(),
            config: self.config.clone(),
            pool: self.pool.clone(),
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

fn origin_of(uri: &Uri) -> Result<Origin, Error> {
    let origin = wirestate_http1::policy::secure_origin(uri);
    match origin.map_err(|e| Error::InvalidRequest(e.to_string()))? {
        (_, _, true) if cfg!(not(feature = "tls")) => Err(Error::InvalidRequest(
            "https:// needs wirestate-rt's `tls` feature".into(),
        )),
        origin => Ok(origin),
    }
}

impl<R: Runtime> Client<R> {
    /// A client on `rt`.
    pub fn new(rt: R, config: ClientConfig) -> Self {
        Self {
            rt,
            #[cfg(feature = "tls")]
            tls: config
                .tls
                .clone()
                .unwrap_or_else(crate::tls::default_http1_client_config),
            config: Arc::new(config),
            pool: Arc::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> Result<Response<Body>, Error> {
        let req = Request::get(uri)
            .body(Body::empty())
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        self.request(req).await
    }

    /// Sends `req` on a pooled (or new) connection. The connection returns
    /// to the pool once the response body has been read to its end.
    pub async fn request(&self, req: Request<Body>) -> Result<Response<Body>, Error> {
        let origin = origin_of(req.uri())?;
        let idempotent = wirestate_http1::policy::is_idempotent(req.method());
        let (parts, body) = req.into_parts();
        let replay = body.try_clone();
        let mut body = Some(body);
        let mut attempt = 0;
        loop {
            let this_body = match body.take() {
                Some(b) => b,
                None => replay
                    .as_ref()
                    .and_then(Body::try_clone)
                    .unwrap_or_default(),
            };
            let req = Request::from_parts(parts.clone(), this_body);
            let result = self.attempt(&origin, req).await;
            let err = match result {
                Ok(res) => return Ok(res),
                Err(e) => e,
            };
            let may_retry = self.config.retry.allows(
                attempt,
                replay.is_some(),
                err.is_unsent(),
                idempotent,
                err.is_retryable(),
            );
            if !may_retry {
                return Err(err);
            }
            let delay = self.config.retry.delay(attempt, fastrand::f64());
            tracing::debug!(attempt, ?delay, error = %err, "retrying request");
            crate::sleep_until(&self.rt, self.rt.now() + delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, origin: &Origin, req: Request<Body>) -> Result<Response<Body>, Error> {
        let sender = match self.checkout(origin) {
            Some(s) => s,
            None => self.connect(origin).await?,
        };
        let deadline = self.config.request_timeout.map(|t| self.rt.now() + t);
        let res = match deadline {
            Some(d) => crate::timeout(&self.rt, d, sender.send(req))
                .await
                .ok_or(Error::Timeout)??,
            None => sender.send(req).await?,
        };
        let (parts, body) = res.into_parts();
        let pool = self.pool.clone();
        let origin = origin.clone();
        let max_idle = self.config.max_idle_per_host;
        let rt = self.rt.clone();
        let body = body.on_end(move |clean| {
            if clean && sender.is_reusable() {
                let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
                let idle = pool.entry(origin).or_default();
                if idle.len() < max_idle {
                    idle.push(Idle {
                        sender,
                        since: rt.now(),
                    });
                }
            }
        });
        Ok(Response::from_parts(parts, body))
    }

    fn checkout(&self, origin: &Origin) -> Option<SendRequest> {
        let now = self.rt.now();
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let idle = pool.get_mut(origin)?;
        // Most recently used first: the least likely to have been closed.
        while let Some(entry) = idle.pop() {
            if now.duration_since(entry.since) < self.config.idle_timeout
                && entry.sender.is_reusable()
            {
                return Some(entry.sender);
            }
        }
        None
    }

    async fn connect(&self, origin: &Origin) -> Result<SendRequest, Error> {
        // Resolution counts against the connect timeout: a resolver that
        // hangs is as much a failed connect as a peer that never answers.
        let deadline = self.rt.now() + self.config.connect_timeout;
        let addrs = match crate::timeout(
            &self.rt,
            deadline,
            self.rt.resolve(origin.0.as_str(), origin.1),
        )
        .await
        {
            Some(addrs) => addrs.map_err(Error::Io)?,
            None => return Err(Error::Connect(std::io::ErrorKind::TimedOut.into())),
        };
        let mut last = Error::InvalidRequest(format!("{} resolved to no address", origin.0));
        for addr in addrs {
            match crate::timeout(&self.rt, deadline, self.open(origin, addr)).await {
                Some(Ok(sender)) => return Ok(sender),
                Some(Err(e)) => last = Error::Connect(e),
                None => return Err(Error::Connect(std::io::ErrorKind::TimedOut.into())),
            }
        }
        Err(last)
    }

    /// A connection to `addr` (TLS for an `https` origin, the handshake
    /// done), its driver spawned.
    async fn open(&self, origin: &Origin, addr: SocketAddr) -> std::io::Result<SendRequest> {
        let io = self.rt.connect(addr).await?;
        #[cfg(feature = "tls")]
        if origin.2 {
            let name = crate::tls::server_name(&origin.0)?;
            let mut io = crate::tls::TlsIo::client(io, self.tls.clone(), name)
                .map_err(std::io::Error::other)?;
            io.handshake().await?;
            return Ok(self.start(io));
        }
        let _ = origin;
        Ok(self.start(io))
    }

    fn start<I: crate::Io>(&self, io: I) -> SendRequest {
        let (sender, driver) = handshake(
            self.rt.clone(),
            io,
            self.config.http1.clone(),
            self.config.pipelining,
        );
        self.rt.spawn(Box::pin(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
        }));
        sender
    }
}
