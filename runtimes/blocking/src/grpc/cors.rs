//! CORS in front of a gRPC server's gRPC-Web path (see
//! [`wirestate_grpc::cors`] for the policy itself).

use crate::{BlockingBody, Handler, ResponseBody};
use wirestate_grpc::cors::{CorsPolicy, grpc_web_policy};

/// A handler (usually a [`Server`](super::Server)) with a CORS policy in
/// front: browser preflights are answered by the policy, and the responses
/// of calls from an allowed origin carry `Access-Control-Allow-Origin` and
/// `Access-Control-Expose-Headers`. Without it a server sends no CORS
/// header (CORS is opt-in).
///
/// ```no_run
/// use wirestate_blocking::grpc::{Cors, CorsPolicy, Server};
/// let handler = Cors::new(CorsPolicy::origins(["https://app.example"]), Server::new());
/// ```
#[derive(Debug, Clone)]
pub struct Cors<H> {
    policy: CorsPolicy,
    inner: H,
}

impl<H> Cors<H> {
    /// `inner` behind `policy`, with what gRPC-Web calls need added to it
    /// ([`grpc_web_policy`]).
    pub fn new(policy: CorsPolicy, inner: H) -> Self {
        Self {
            policy: grpc_web_policy(policy),
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
    fn call(&self, req: http::Request<BlockingBody>) -> http::Response<ResponseBody> {
        if CorsPolicy::is_preflight(req.method(), req.headers()) {
            let (parts, ()) = self.policy.preflight(req.headers()).into_parts();
            return http::Response::from_parts(parts, ResponseBody::empty());
        }
        // Only the request headers are needed once the body is handed on.
        let headers = req.headers().clone();
        let mut response = self.inner.call(req);
        self.policy.decorate(&headers, response.headers_mut());
        response
    }
}
