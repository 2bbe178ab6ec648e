//! A server's first look at a call, the same for every runtime
//! (`wirestate_rt::grpc::Server`, `wirestate_blocking::grpc::Server`):
//! the request head checked, the interceptors run, the method routed and
//! the response encoding negotiated — or the response that refuses the
//! call.

use std::fmt;
use std::sync::Arc;

use http::{request, response};

use crate::compression::{Encoding, negotiate};
use crate::error::Error;
use crate::head::{ContentType, RequestHead, error_response, trailers_only};
use crate::status::{Code, Status};
use crate::web::WebMode;

/// Checks (and may rewrite) every call's head before its handler runs;
/// `Some(status)` refuses the call with that status (authentication, rate
/// limits).
pub type Interceptor = Arc<dyn Fn(&mut RequestHead) -> Option<Status> + Send + Sync>;

/// A call the server takes: its head (as the interceptors left it), the
/// route its method found, and how its response is framed.
#[derive(Debug)]
pub struct Accepted<T> {
    /// The request head.
    pub head: RequestHead,
    /// What the router holds for the method.
    pub route: T,
    /// gRPC-Web, binary or text, when the call came so (`None`: gRPC).
    pub web: Option<WebMode>,
    /// How response messages are compressed: the server's encoding when
    /// the client accepts it, identity otherwise.
    pub encoding: Encoding,
}

/// Why a server refuses a call, and what it answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Refused {
    /// Not a gRPC request the server can read (method, content type,
    /// headers): an HTTP error ([`error_response`]).
    Malformed(Error),
    /// An interceptor's status, or UNIMPLEMENTED for a method nobody
    /// routed: a trailers-only response in the call's content type.
    Status(Status, ContentType),
}

impl Refused {
    /// The response head that refuses the call (it has no body).
    pub fn to_response(&self) -> response::Parts {
        match self {
            Refused::Malformed(e) => error_response(e),
            Refused::Status(status, content_type) => trailers_only(status, content_type),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Malformed(e) => write!(f, "malformed gRPC request: {e}"),
            Refused::Status(s, _) => write!(f, "{:?}: {}", s.code, s.message),
        }
    }
}

/// Takes a call: parses the request head (see
/// [`RequestHead::from_request`]), runs `interceptors` in order on it,
/// looks its method up with `route` (`/package.Service/Method` in,
/// `None` for a method the server does not have), and negotiates the
/// response encoding against the server's `encoding`.
///
/// ```
/// use wirestate_grpc::accept::{Refused, accept};
/// use wirestate_grpc::{CallOptions, Code, Encoding};
///
/// let opts = CallOptions::default();
/// let parts = opts
///     .request_parts("/demo.Pinger/Ping", &"localhost:1".parse().unwrap(), None, 0)
///     .unwrap();
/// let call = accept(&parts, &[], |path| (path == "/demo.Pinger/Ping").then_some(7), Encoding::Gzip)
///     .unwrap();
/// assert_eq!((call.route, call.encoding, call.web), (7, Encoding::Gzip, None));
///
/// let refused = accept(&parts, &[], |_| None::<()>, Encoding::Gzip).unwrap_err();
/// assert!(matches!(&refused, Refused::Status(s, _) if s.code == Code::Unimplemented));
/// assert_eq!(refused.to_response().headers["grpc-status"], "12");
/// ```
///
/// # Errors
///
/// [`Refused`], with the response to send.
// Taken apart at once by the caller, once per call: boxing the status
// would cost an allocation for nothing.
#[allow(clippy::result_large_err)]
pub fn accept<T>(
    parts: &request::Parts,
    interceptors: &[Interceptor],
    route: impl FnOnce(&str) -> Option<T>,
    encoding: Encoding,
) -> Result<Accepted<T>, Refused> {
    let mut head = RequestHead::from_request(parts).map_err(Refused::Malformed)?;
    // Handlers decode protobuf (prost): a call in another message format
    // would be misread as protobuf, so it is refused with 415 before any
    // interceptor or handler sees it.
    if let Some(subtype) = &head.content_type.subtype
        && subtype != "proto"
    {
        return Err(Refused::Malformed(Error::UnsupportedMessageFormat {
            subtype: subtype.clone(),
        }));
    }
    for interceptor in interceptors {
        if let Some(status) = interceptor(&mut head) {
            return Err(Refused::Status(status, head.content_type));
        }
    }
    let Some(route) = route(head.path.as_str()) else {
        let status = Status::new(
            Code::Unimplemented,
            format!("unknown method {}", head.path.as_str()),
        );
        return Err(Refused::Status(status, head.content_type));
    };
    let web = head.content_type.format.web_mode();
    let encoding = negotiate(encoding, head.accept_encoding);
    Ok(Accepted {
        head,
        route,
        web,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallOptions;
    use crate::head::ContentType;

    fn parts(path: &str) -> request::Parts {
        CallOptions::default()
            .request_parts(path, &"localhost:1".parse().unwrap(), None, 0)
            .unwrap()
    }

    #[test]
    fn interceptors_run_in_order_and_may_refuse() {
        let tag: Interceptor = Arc::new(|head: &mut RequestHead| {
            head.metadata.insert("x-seen", "yes").unwrap();
            None
        });
        let check: Interceptor = Arc::new(|head: &mut RequestHead| {
            (head.metadata.get_str("x-seen") != Some("yes"))
                .then(|| Status::new(Code::Internal, "not tagged"))
        });
        let call = accept(
            &parts("/a.B/C"),
            &[tag.clone(), check.clone()],
            |path| Some(path.to_owned()),
            Encoding::Identity,
        )
        .unwrap();
        assert_eq!(call.route, "/a.B/C");
        assert_eq!(call.head.metadata.get_str("x-seen"), Some("yes"));
        let deny: Interceptor =
            Arc::new(|_: &mut RequestHead| Some(Status::new(Code::PermissionDenied, "no")));
        let refused = accept(
            &parts("/a.B/C"),
            &[deny, tag],
            |_| Some(()),
            Encoding::Identity,
        );
        let Err(Refused::Status(status, content_type)) = refused else {
            panic!("not refused: {refused:?}");
        };
        assert_eq!(status.code, Code::PermissionDenied);
        assert_eq!(content_type, ContentType::grpc());
    }

    #[test]
    fn a_malformed_request_is_an_http_error() {
        let mut p = parts("/a.B/C");
        p.method = http::Method::GET;
        let refused = accept(&p, &[], |_| Some(()), Encoding::Identity).unwrap_err();
        assert!(matches!(refused, Refused::Malformed(_)));
        assert_eq!(
            refused.to_response().status,
            http::StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn a_message_format_other_than_protobuf_is_415() {
        for (ct, ok) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc-web+proto", true),
            ("application/grpc+json", false),
            ("application/grpc-web-text+json", false),
            ("application/grpc+cbor", false),
        ] {
            let mut p = parts("/a.B/C");
            p.headers
                .insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            let got = accept(&p, &[], |_| Some(()), Encoding::Identity);
            if ok {
                assert!(got.is_ok(), "{ct}: {got:?}");
                continue;
            }
            let refused = got.unwrap_err();
            let Refused::Malformed(e) = &refused else {
                panic!("{ct}: {refused:?}");
            };
            assert!(matches!(e, Error::UnsupportedMessageFormat { .. }), "{ct}");
            assert!(e.to_string().contains("protobuf"), "{e}");
            let res = refused.to_response();
            assert_eq!(res.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
            assert_eq!(res.headers["grpc-status"], "3", "{ct}");
        }
    }
}
