//! CORS in front of a gRPC server's gRPC-Web path (see
//! [`wirestate_grpc::cors`] for the policy itself).

use std::sync::Arc;

use crate::http1::Handler;
use crate::{Body, BoxFuture};
use wirestate_grpc::cors::{CorsPolicy, grpc_web_policy};

/// A handler (usually a [`Server`](super::Server)) with a CORS policy in
/// front: browser preflights are answered by the policy, and the responses
/// of calls from an allowed origin carry `Access-Control-Allow-Origin` and
/// `Access-Control-Expose-Headers`. Without it a server sends no CORS
/// header (CORS is opt-in).
///
/// ```no_run
/// # fn demo<R: wirestate_rt::Runtime>(server: wirestate_rt::grpc::Server<R>) {
/// use wirestate_rt::grpc::{Cors, CorsPolicy};
/// let handler = Cors::new(CorsPolicy::origins(["https://app.example"]), server);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Cors<H> {
    policy: Arc<CorsPolicy>,
    inner: H,
}

impl<H> Cors<H> {
    /// `inner` behind `policy`, with what gRPC-Web calls need added to it
    /// ([`grpc_web_policy`]).
    pub fn new(policy: CorsPolicy, inner: H) -> Self {
        Self {
            policy: Arc::new(grpc_web_policy(policy)),
            inner,
        }
    }

    /// Whether a request is a CORS preflight, which a combined HTTP
    /// handler routes here along with gRPC requests
    /// ([`is_grpc`](super::is_grpc)).
    pub fn is_preflight<B>(req: &http::Request<B>) -> bool {
        CorsPolicy::is_preflight(req.method(), req.headers())
    }
}

impl<H: Handler> Handler for Cors<H> {
    type Future = BoxFuture<http::Response<Body>>;

    fn call(&self, req: http::Request<Body>) -> Self::Future {
        let policy = self.policy.clone();
        if CorsPolicy::is_preflight(req.method(), req.headers()) {
            let (parts, ()) = policy.preflight(req.headers()).into_parts();
            return Box::pin(std::future::ready(http::Response::from_parts(
                parts,
                Body::empty(),
            )));
        }
        // Only the request headers are needed once the body is handed on.
        let headers = req.headers().clone();
        let response = self.inner.call(req);
        Box::pin(async move {
            let mut response = response.await;
            policy.decorate(&headers, response.headers_mut());
            response
        })
    }
}
