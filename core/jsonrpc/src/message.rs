//! The four JSON-RPC 2.0 messages and their encoding.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use crate::error::ErrorObject;
use crate::id::RequestId;
use crate::raw::{RawJson, write_raw, write_str};

/// A call that expects an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The id the answer will carry.
    pub id: RequestId,
    /// The method to call.
    pub method: String,
    /// The parameters: an object or an array, or absent.
    pub params: Option<RawJson>,
}

impl Request {
    /// A request.
    pub fn new(
        id: impl Into<RequestId>,
        method: impl Into<String>,
        params: Option<RawJson>,
    ) -> Self {
        Self {
            id: id.into(),
            method: method.into(),
            params,
        }
    }

    /// Decodes the params into `T`. Absent params decode as `null`, so
    /// `Option<_>` and `()` accept them.
    ///
    /// # Errors
    ///
    /// An `-32602 Invalid params` error object, ready to be sent back with
    /// [`Peer::respond_error`](crate::Peer::respond_error).
    pub fn params<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ErrorObject> {
        decode_params(self.params.as_ref())
    }
}

/// A call that expects no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The method to call.
    pub method: String,
    /// The parameters: an object or an array, or absent.
    pub params: Option<RawJson>,
}

impl Notification {
    /// A notification.
    pub fn new(method: impl Into<String>, params: Option<RawJson>) -> Self {
        Self {
            method: method.into(),
            params,
        }
    }

    /// Decodes the params into `T`, like [`Request::params`].
    ///
    /// # Errors
    ///
    /// An `-32602 Invalid params` error object.
    pub fn params<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ErrorObject> {
        decode_params(self.params.as_ref())
    }
}

fn decode_params<'a, T: Deserialize<'a>>(params: Option<&'a RawJson>) -> Result<T, ErrorObject> {
    let result = match params {
        Some(p) => p.decode(),
        None => serde_json::from_slice(b"null"),
    };
    result.map_err(ErrorObject::invalid_params)
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The id of the request answered.
    pub id: RequestId,
    /// The result, any JSON value.
    pub result: RawJson,
}

impl Response {
    /// A response.
    pub fn new(id: impl Into<RequestId>, result: RawJson) -> Self {
        Self {
            id: id.into(),
            result,
        }
    }

    /// Decodes the result into `T`.
    ///
    /// # Errors
    ///
    /// The result does not have the shape of a `T`.
    pub fn result<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        self.result.decode()
    }
}

/// A failed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The id of the request answered; `None` (`null` on the wire) when the
    /// request's id could not be read (parse errors, invalid requests).
    pub id: Option<RequestId>,
    /// What went wrong.
    pub error: ErrorObject,
}

impl ErrorResponse {
    /// An error response.
    pub fn new(id: Option<RequestId>, error: ErrorObject) -> Self {
        Self { id, error }
    }
}

/// One JSON-RPC 2.0 message.
///
/// ```
/// use wirestate_jsonrpc::{Message, RawJson, Request};
///
/// let params = RawJson::from_text("[42,23]").unwrap();
/// let m = Message::Request(Request::new(1u64, "subtract", Some(params)));
/// assert_eq!(
///     &m.to_bytes()[..],
///     br#"{"jsonrpc":"2.0","id":1,"method":"subtract","params":[42,23]}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A call that expects an answer.
    Request(Request),
    /// A call that expects no answer.
    Notification(Notification),
    /// A successful answer.
    Response(Response),
    /// A failed answer.
    ErrorResponse(ErrorResponse),
}

impl Message {
    /// The id: of the request, or of the request answered. `None` for
    /// notifications and for error responses with a `null` id.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            Self::Request(r) => Some(&r.id),
            Self::Response(r) => Some(&r.id),
            Self::ErrorResponse(r) => r.id.as_ref(),
            Self::Notification(_) => None,
        }
    }

    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Self::Request(r) => Some(&r.method),
            Self::Notification(n) => Some(&n.method),
            Self::Response(_) | Self::ErrorResponse(_) => None,
        }
    }

    /// Appends the message as compact JSON.
    ///
    /// Members come in the order `jsonrpc`, `id`, then `method` and
    /// `params`, `result`, or `error`. Raw values are written as they are,
    /// except that line breaks and tabs between their tokens are removed:
    /// an encoded message never contains a raw line break. Params are
    /// written whatever their shape; the [`Peer`](crate::Peer) refuses
    /// params that are not an object or an array before they get here.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::Request(r) => write_request(dst, &r.id, &r.method, r.params.as_ref()),
            Self::Notification(n) => write_notification(dst, &n.method, n.params.as_ref()),
            Self::Response(r) => write_response(dst, &r.id, &r.result),
            Self::ErrorResponse(r) => write_error_response(dst, r.id.as_ref(), &r.error),
        }
    }

    /// The message as compact JSON.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }
}

const HEAD: &[u8] = br#"{"jsonrpc":"2.0""#;

/// Appends a request.
pub(crate) fn write_request(
    dst: &mut BytesMut,
    id: &RequestId,
    method: &str,
    params: Option<&RawJson>,
) {
    dst.extend_from_slice(HEAD);
    dst.extend_from_slice(br#","id":"#);
    id.write_json(dst);
    write_call(dst, method, params);
}

/// Appends a notification.
pub(crate) fn write_notification(dst: &mut BytesMut, method: &str, params: Option<&RawJson>) {
    dst.extend_from_slice(HEAD);
    write_call(dst, method, params);
}

fn write_call(dst: &mut BytesMut, method: &str, params: Option<&RawJson>) {
    dst.extend_from_slice(br#","method":"#);
    write_str(dst, method);
    if let Some(params) = params {
        dst.extend_from_slice(br#","params":"#);
        write_raw(dst, params);
    }
    dst.extend_from_slice(b"}");
}

/// Appends a successful response.
pub(crate) fn write_response(dst: &mut BytesMut, id: &RequestId, result: &RawJson) {
    dst.extend_from_slice(HEAD);
    dst.extend_from_slice(br#","id":"#);
    id.write_json(dst);
    dst.extend_from_slice(br#","result":"#);
    write_raw(dst, result);
    dst.extend_from_slice(b"}");
}

/// Appends an error response.
pub(crate) fn write_error_response(
    dst: &mut BytesMut,
    id: Option<&RequestId>,
    error: &ErrorObject,
) {
    dst.extend_from_slice(HEAD);
    dst.extend_from_slice(br#","id":"#);
    match id {
        Some(id) => id.write_json(dst),
        None => dst.extend_from_slice(b"null"),
    }
    dst.extend_from_slice(br#","error":{"code":"#);
    // Writing to a `BytesMut` cannot fail.
    let _ = std::fmt::Write::write_fmt(dst, format_args!("{}", error.code));
    dst.extend_from_slice(br#","message":"#);
    write_str(dst, &error.message);
    if let Some(data) = &error.data {
        dst.extend_from_slice(br#","data":"#);
        write_raw(dst, data);
    }
    dst.extend_from_slice(b"}}");
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Self::Notification(n)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

impl From<ErrorResponse> for Message {
    fn from(r: ErrorResponse) -> Self {
        Self::ErrorResponse(r)
    }
}

/// Appends `messages` as a batch, a JSON array. An empty slice writes `[]`,
/// which a receiver refuses: send at least one message.
///
/// ```
/// use wirestate_jsonrpc::{Message, Notification, encode_batch};
///
/// let mut out = bytes::BytesMut::new();
/// encode_batch(&[Message::Notification(Notification::new("a", None))], &mut out);
/// assert_eq!(&out[..], br#"[{"jsonrpc":"2.0","method":"a"}]"#);
/// ```
pub fn encode_batch(messages: &[Message], dst: &mut BytesMut) {
    dst.extend_from_slice(b"[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b",");
        }
        m.encode(dst);
    }
    dst.extend_from_slice(b"]");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn text(m: Message) -> String {
        String::from_utf8(m.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn encodes_compact_json() {
        assert_eq!(
            text(Notification::new("update", RawJson::from_text("[1,2,3,4,5]").ok()).into()),
            r#"{"jsonrpc":"2.0","method":"update","params":[1,2,3,4,5]}"#
        );
        assert_eq!(
            text(Response::new("1", RawJson::from_serialize(&7).unwrap()).into()),
            r#"{"jsonrpc":"2.0","id":"1","result":7}"#
        );
        assert_eq!(
            text(ErrorResponse::new(None, ErrorObject::parse_error()).into()),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#
        );
        let e = ErrorObject::new(ErrorCode::new(-1), "a\"b").with_data(RawJson::null());
        assert_eq!(
            text(ErrorResponse::new(Some(2u64.into()), e).into()),
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"a\"b","data":null}}"#
        );
        assert_eq!(
            text(Request::new("x", "m\n", None).into()),
            r#"{"jsonrpc":"2.0","id":"x","method":"m\n"}"#
        );
    }

    #[test]
    fn typed_params() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct P {
            a: u8,
        }
        let r = Request::new(1u64, "m", RawJson::from_text(r#"{"a":1}"#).ok());
        assert_eq!(r.params::<P>(), Ok(P { a: 1 }));
        let e = Request::new(1u64, "m", RawJson::from_text(r#"{"b":1}"#).ok())
            .params::<P>()
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
        assert!(e.message.contains("missing field `a`"), "{}", e.message);
        let none = Notification::new("m", None);
        assert_eq!(none.params::<Option<P>>(), Ok(None));
        assert_eq!(none.params::<()>(), Ok(()));
        assert!(none.params::<P>().is_err());
    }
}
