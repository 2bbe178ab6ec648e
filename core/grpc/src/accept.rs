//! A server's first look at a call, the same for every runtime
//! (`wirestate_rt::grpc::Server`, `wirestate_blocking::grpc::Server`) and
//! for custom loops: the request head checked (its message format among
//! those the server reads), the interceptors run, the method routed and
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

/// The message formats a server's handlers read: which `content-type`
/// subtypes (`application/grpc+SUBTYPE`, `application/grpc-web+SUBTYPE`)
/// [`accept`] takes. A call in any other format is refused with HTTP 415
/// ([`Error::UnsupportedMessageFormat`]) before an interceptor or handler
/// sees it, since a handler would misread its messages. No subtype means
/// protobuf.
///
/// The runtimes' servers decode with prost: they take
/// [`proto`](Self::proto) only. A custom loop with other codecs (JSON
/// through `wirestate-codec`, say) names them, and reads the call's
/// subtype from [`RequestHead::content_type`] to pick one.
///
/// ```
/// use wirestate_grpc::accept::MessageFormats;
///
/// let proto = MessageFormats::proto();
/// assert!(proto.accepts(None) && proto.accepts(Some("proto")));
/// assert!(!proto.accepts(Some("json")));
/// let both = MessageFormats::proto().with("JSON");
/// assert!(both.accepts(Some("json")) && !both.accepts(Some("cbor")));
/// assert!(MessageFormats::any().accepts(Some("cbor")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFormats {
    /// Subtypes taken besides protobuf, in lower case.
    others: Vec<String>,
    /// Every subtype is taken.
    any: bool,
}

impl MessageFormats {
    /// Protobuf only: no subtype, or `proto`.
    pub fn proto() -> MessageFormats {
        MessageFormats {
            others: Vec::new(),
            any: false,
        }
    }

    /// Every format: the handlers look at the subtype themselves.
    pub fn any() -> MessageFormats {
        MessageFormats {
            others: Vec::new(),
            any: true,
        }
    }

    /// Takes `subtype` too (`"json"`; compared without regard to case, as
    /// the content type's subtype is kept in lower case).
    pub fn with(mut self, subtype: &str) -> MessageFormats {
        let subtype = subtype.to_ascii_lowercase();
        if subtype != "proto" && !self.others.contains(&subtype) {
            self.others.push(subtype);
        }
        self
    }

    /// Whether a call whose content-type subtype is `subtype` (lower
    /// case; `None`: protobuf) is taken.
    pub fn accepts(&self, subtype: Option<&str>) -> bool {
        match subtype {
            None | Some("proto") => true,
            Some(s) => self.any || self.others.iter().any(|o| o == s),
        }
    }

    /// The formats taken, for the refusal's message.
    fn describe(&self) -> String {
        if self.any {
            return "any message format".to_owned();
        }
        let mut text = "protobuf (application/grpc or application/grpc+proto)".to_owned();
        for other in &self.others {
            text.push_str(", application/grpc+");
            text.push_str(other);
        }
        text
    }
}

impl Default for MessageFormats {
    /// [`proto`](Self::proto).
    fn default() -> MessageFormats {
        MessageFormats::proto()
    }
}

/// How [`accept`] takes calls: the encoding the server compresses
/// responses with (when the client accepts it) and the
/// [`MessageFormats`] its handlers read (protobuf only unless told).
///
/// ```
/// use wirestate_grpc::Encoding;
/// use wirestate_grpc::accept::{AcceptConfig, MessageFormats};
///
/// // A custom loop with protobuf and JSON codecs.
/// let config = AcceptConfig::new(Encoding::Gzip).formats(MessageFormats::proto().with("json"));
/// assert_eq!(config.encoding(), Encoding::Gzip);
/// assert!(config.message_formats().accepts(Some("json")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptConfig {
    encoding: Encoding,
    formats: MessageFormats,
}

impl AcceptConfig {
    /// Responses in `encoding` when the client accepts it; protobuf calls
    /// only.
    pub fn new(encoding: Encoding) -> AcceptConfig {
        AcceptConfig {
            encoding,
            formats: MessageFormats::proto(),
        }
    }

    /// The message formats taken (default [`MessageFormats::proto`]).
    pub fn formats(mut self, formats: MessageFormats) -> AcceptConfig {
        self.formats = formats;
        self
    }

    /// The server's response encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The message formats taken.
    pub fn message_formats(&self) -> &MessageFormats {
        &self.formats
    }
}

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
/// [`RequestHead::from_request`]), checks its message format against
/// `config`'s (415 for another), runs `interceptors` in order on it,
/// looks its method up with `route` (`/package.Service/Method` in,
/// `None` for a method the server does not have), and negotiates the
/// response encoding against `config`'s.
///
/// ```
/// use wirestate_grpc::accept::{AcceptConfig, Refused, accept};
/// use wirestate_grpc::{CallOptions, Code, Encoding};
///
/// let opts = CallOptions::default();
/// let parts = opts
///     .request_parts("/demo.Pinger/Ping", &"localhost:1".parse().unwrap(), None, 0)
///     .unwrap();
/// let config = AcceptConfig::new(Encoding::Gzip);
/// let call = accept(&parts, &[], |path| (path == "/demo.Pinger/Ping").then_some(7), &config)
///     .unwrap();
/// assert_eq!((call.route, call.encoding, call.web), (7, Encoding::Gzip, None));
///
/// let refused = accept(&parts, &[], |_| None::<()>, &config).unwrap_err();
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
    config: &AcceptConfig,
) -> Result<Accepted<T>, Refused> {
    let mut head = RequestHead::from_request(parts).map_err(Refused::Malformed)?;
    // A call in a format the handlers do not read would be misread (as
    // protobuf, by the runtimes' prost handlers), so it is refused with
    // 415 before any interceptor or handler sees it.
    if let Some(subtype) = &head.content_type.subtype
        && !config.formats.accepts(Some(subtype))
    {
        return Err(Refused::Malformed(Error::UnsupportedMessageFormat {
            subtype: subtype.clone(),
            accepted: config.formats.describe(),
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
    let encoding = negotiate(config.encoding, head.accept_encoding);
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
            &AcceptConfig::new(Encoding::Identity),
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
            &AcceptConfig::new(Encoding::Identity),
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
        let refused = accept(
            &p,
            &[],
            |_| Some(()),
            &AcceptConfig::new(Encoding::Identity),
        )
        .unwrap_err();
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
            let got = accept(
                &p,
                &[],
                |_| Some(()),
                &AcceptConfig::new(Encoding::Identity),
            );
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
            assert!(!e.to_string().contains("json, "), "{e}");
            let res = refused.to_response();
            assert_eq!(res.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
            assert_eq!(res.headers["grpc-status"], "3", "{ct}");
        }
    }

    /// A custom loop whose handlers also read JSON takes
    /// `application/grpc+json` (and gRPC-Web's), and tells the handler the
    /// subtype; formats it did not name are still 415, the message naming
    /// what it reads.
    #[test]
    fn a_loop_configured_for_json_accepts_it() {
        let json =
            AcceptConfig::new(Encoding::Identity).formats(MessageFormats::proto().with("json"));
        for ct in [
            "application/grpc+json",
            "application/grpc-web+json",
            "application/grpc",
            "application/grpc+proto",
        ] {
            let mut p = parts("/a.B/C");
            p.headers
                .insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            let call = accept(&p, &[], |_| Some(()), &json).unwrap();
            let want = ct.split_once('+').map(|(_, s)| s.to_owned());
            assert_eq!(call.head.content_type.subtype, want, "{ct}");
        }
        let mut p = parts("/a.B/C");
        p.headers.insert(
            http::header::CONTENT_TYPE,
            "application/grpc+cbor".parse().unwrap(),
        );
        let refused = accept(&p, &[], |_| Some(()), &json).unwrap_err();
        assert_eq!(
            refused.to_response().status,
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let Refused::Malformed(e) = &refused else {
            panic!("{refused:?}");
        };
        assert!(e.to_string().contains("application/grpc+json"), "{e}");
        // Any format: the handler picks its codec from the subtype.
        let any = AcceptConfig::new(Encoding::Identity).formats(MessageFormats::any());
        let call = accept(&p, &[], |_| Some(()), &any).unwrap();
        assert_eq!(call.head.content_type.subtype.as_deref(), Some("cbor"));
    }
}
