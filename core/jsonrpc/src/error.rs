//! Error codes and error objects (what goes on the wire), and this crate's
//! error type (what the API returns).

use std::fmt;

use serde::Deserialize;
use wirestate_machine::{ClassifyError, ErrorKind};

use crate::id::RequestId;
use crate::message::ErrorResponse;
use crate::raw::RawJson;

/// A JSON-RPC error code.
///
/// The specification reserves -32768..=-32000: the five standard codes
/// below, and -32099..=-32000 for implementation-defined server errors.
/// Everything else is free for applications. (MCP takes a few codes from the
/// server-error range: -32002 "resource not found", -32042 "URL elicitation
/// required"; its SDKs use -32000 and -32001 for a closed connection and a
/// timeout.)
///
/// Besides the standard codes, this crate answers three limits with codes
/// from the server-error range, the ones jsonrpsee uses for the same
/// conditions: [`MESSAGE_TOO_LARGE`](Self::MESSAGE_TOO_LARGE),
/// [`SERVER_BUSY`](Self::SERVER_BUSY) and
/// [`BATCH_TOO_LARGE`](Self::BATCH_TOO_LARGE).
///
/// ```
/// use wirestate_jsonrpc::ErrorCode;
///
/// assert_eq!(ErrorCode::METHOD_NOT_FOUND.code(), -32601);
/// assert_eq!(ErrorCode::METHOD_NOT_FOUND.standard_message(), Some("Method not found"));
/// assert!(ErrorCode::new(-32002).is_server_error());
/// assert!(ErrorCode::INVALID_REQUEST.is_reserved() && !ErrorCode::INVALID_REQUEST.is_server_error());
/// assert!(!ErrorCode::new(-31999).is_reserved());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(i64);

impl ErrorCode {
    /// -32700: the message is not valid JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// -32600: the JSON is not a valid request object.
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// -32601: the method does not exist or is not available.
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// -32602: invalid method parameters.
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// -32603: internal JSON-RPC error.
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// The first (lowest) code of the implementation-defined server-error
    /// range, -32099.
    pub const SERVER_ERROR_FIRST: Self = Self(-32099);
    /// The last (highest) code of the server-error range, -32000.
    pub const SERVER_ERROR_LAST: Self = Self(-32000);
    /// -32007 (server-error range): the message is larger than the
    /// receiver's [`Limits::max_message_size`](crate::Limits::max_message_size).
    pub const MESSAGE_TOO_LARGE: Self = Self(-32007);
    /// -32009 (server-error range): too many requests are waiting for an
    /// answer ([`Config::max_pending_incoming`](crate::Config::max_pending_incoming));
    /// retry later.
    pub const SERVER_BUSY: Self = Self(-32009);
    /// -32010 (server-error range): the batch has more entries than
    /// [`Limits::max_batch_len`](crate::Limits::max_batch_len).
    pub const BATCH_TOO_LARGE: Self = Self(-32010);

    /// A code.
    pub const fn new(code: i64) -> Self {
        Self(code)
    }

    /// The number.
    pub const fn code(self) -> i64 {
        self.0
    }

    /// Whether the code is in the implementation-defined server-error range
    /// -32099..=-32000.
    pub const fn is_server_error(self) -> bool {
        self.0 >= Self::SERVER_ERROR_FIRST.0 && self.0 <= Self::SERVER_ERROR_LAST.0
    }

    /// Whether the specification reserves the code (-32768..=-32000).
    pub const fn is_reserved(self) -> bool {
        self.0 >= -32768 && self.0 <= -32000
    }

    /// The message the specification (or, for the three limit codes, this
    /// crate) pairs with the code.
    pub const fn standard_message(self) -> Option<&'static str> {
        Some(match self {
            Self::PARSE_ERROR => "Parse error",
            Self::INVALID_REQUEST => "Invalid Request",
            Self::METHOD_NOT_FOUND => "Method not found",
            Self::INVALID_PARAMS => "Invalid params",
            Self::INTERNAL_ERROR => "Internal error",
            Self::MESSAGE_TOO_LARGE => "Message too large",
            Self::SERVER_BUSY => "Server is busy, try again later",
            Self::BATCH_TOO_LARGE => "Batch too large",
            _ => return None,
        })
    }
}

impl From<i64> for ErrorCode {
    fn from(code: i64) -> Self {
        Self(code)
    }
}

impl From<ErrorCode> for i64 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({})", self.0)
    }
}

/// The `error` member of an error response: a code, a short message and
/// optional data.
///
/// ```
/// use wirestate_jsonrpc::{ErrorCode, ErrorObject, RawJson};
///
/// let e = ErrorObject::method_not_found();
/// assert_eq!((e.code, e.message.as_str()), (ErrorCode::METHOD_NOT_FOUND, "Method not found"));
/// let e = ErrorObject::new(-32002, "Resource not found")
///     .with_data(RawJson::from_serialize(&serde_json::json!({"uri": "file:///x"})).unwrap());
/// assert_eq!(e.data.unwrap().as_str(), r#"{"uri":"file:///x"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorObject {
    /// The error code.
    pub code: ErrorCode,
    /// A short description, one sentence.
    pub message: String,
    /// Additional information, any JSON value.
    pub data: Option<RawJson>,
}

impl ErrorObject {
    /// An error with `code` and `message` and no data.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            data: None,
        }
    }

    /// An error with `code` and its standard message (see
    /// [`ErrorCode::standard_message`]; `"Server error"` for other codes in
    /// the server-error range, `"Error"` for the rest).
    pub fn from_code(code: impl Into<ErrorCode>) -> Self {
        let code = code.into();
        let message = match code.standard_message() {
            Some(m) => m,
            None if code.is_server_error() => "Server error",
            None => "Error",
        };
        Self::new(code, message)
    }

    /// Adds data.
    pub fn with_data(mut self, data: RawJson) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700 `Parse error`.
    pub fn parse_error() -> Self {
        Self::from_code(ErrorCode::PARSE_ERROR)
    }

    /// -32600 `Invalid Request`.
    pub fn invalid_request() -> Self {
        Self::from_code(ErrorCode::INVALID_REQUEST)
    }

    /// -32601 `Method not found`.
    pub fn method_not_found() -> Self {
        Self::from_code(ErrorCode::METHOD_NOT_FOUND)
    }

    /// -32602 `Invalid params: {detail}`.
    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorCode::INVALID_PARAMS,
            format!("Invalid params: {detail}"),
        )
    }

    /// -32603 `Internal error`.
    pub fn internal_error() -> Self {
        Self::from_code(ErrorCode::INTERNAL_ERROR)
    }

    /// Decodes the data, if there is any.
    ///
    /// # Errors
    ///
    /// The data does not have the shape of a `T`.
    pub fn decode_data<'a, T: Deserialize<'a>>(&'a self) -> Option<Result<T, serde_json::Error>> {
        self.data.as_ref().map(RawJson::decode)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

/// Why an entry of a received message is not a valid request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The entry is not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A member appears twice.
    #[error("duplicate member")]
    DuplicateMember,
    /// `jsonrpc` is missing or not exactly `"2.0"`.
    #[error(r#""jsonrpc" is not "2.0""#)]
    Version,
    /// `method` is not a string.
    #[error("method is not a string")]
    Method,
    /// `params` is not an object or an array.
    #[error("params is not an object or an array")]
    Params,
    /// An object with neither `method` nor `result` nor `error`.
    #[error("neither a request nor a response")]
    NotAMessage,
    /// `method` together with `result` or `error`.
    #[error("both method and result or error")]
    Ambiguous,
    /// `id` is not a string or an integer.
    #[error("id is not a string or an integer")]
    Id,
    /// `id` is `null` in a request or a successful response.
    #[error("id is null")]
    NullId,
    /// `id` is longer than [`Limits::max_id_len`](crate::Limits::max_id_len).
    #[error("id too long")]
    IdTooLong,
    /// A response without `id`.
    #[error("response without id")]
    MissingId,
    /// A response with both `result` and `error`.
    #[error("both result and error")]
    ResultAndError,
    /// `error` is not an object with an integer `code` and a string
    /// `message`.
    #[error("malformed error object")]
    ErrorObject,
}

/// Everything that can go wrong in this crate.
///
/// Three kinds ([`ErrorKind`]): *protocol* errors are the peer's fault and
/// concern one message or one batch entry (nothing is sticky in JSON-RPC:
/// the peer answers what it must and keeps going); *limit* errors hit a
/// configured bound; *usage* errors are the caller's mistake and change
/// nothing. [`hint`](Self::hint) is the code the error was answered with,
/// `None` when nothing is sent back (responses are never answered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- protocol: the peer's fault ----
    /// The message is not valid JSON (or not UTF-8). Answered with -32700
    /// and a `null` id.
    #[error("parse error: {message}")]
    Parse {
        /// What the JSON parser reported.
        message: String,
    },
    /// A request (or an entry that is neither request nor response) is
    /// malformed. Answered with -32600, echoing the id when it could be
    /// read, else `null`.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// The id, when it could be read.
        id: Option<RequestId>,
        /// What is wrong.
        reason: Invalid,
    },
    /// A response is malformed. Not answered.
    #[error("invalid response: {reason}")]
    InvalidResponse {
        /// The id, when it could be read.
        id: Option<RequestId>,
        /// What is wrong.
        reason: Invalid,
    },
    /// An empty batch, `[]`. Answered with one -32600 error (not an array).
    #[error("empty batch")]
    EmptyBatch,
    /// A batch arrived but batches are turned off
    /// ([`Limits::allow_batches`](crate::Limits::allow_batches)). Answered
    /// with one -32600 error.
    #[error("batches are not accepted")]
    BatchNotAllowed,
    /// A request reused the id of a request of the peer's that is still
    /// unanswered. Answered with -32600 echoing the id; the first request
    /// stays pending.
    #[error("request id {id} is already in use")]
    DuplicateId {
        /// The reused id.
        id: RequestId,
    },
    /// A response whose id was never used for a request of ours. Not
    /// answered.
    #[error("response to unknown request {id}")]
    UnknownResponse {
        /// The id.
        id: RequestId,
    },

    // ---- limit: a configured bound ----
    /// The message is larger than
    /// [`Limits::max_message_size`](crate::Limits::max_message_size); it was
    /// not parsed. Answered with -32007 and a `null` id.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The batch has more entries than
    /// [`Limits::max_batch_len`](crate::Limits::max_batch_len); none of
    /// them was processed. Answered with -32010 and a `null` id.
    #[error("batch of {len} entries exceeds the limit of {max}")]
    BatchTooLarge {
        /// The number of entries.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A request arrived while
    /// [`Config::max_pending_incoming`](crate::Config::max_pending_incoming)
    /// requests were unanswered. Answered with -32009 ("server is busy")
    /// echoing the id.
    #[error("{max} incoming requests already unanswered")]
    TooManyIncoming {
        /// The refused request's id.
        id: RequestId,
        /// The limit.
        max: usize,
    },
    /// A request could not be sent:
    /// [`Config::max_pending_outgoing`](crate::Config::max_pending_outgoing)
    /// requests are already waiting for responses.
    #[error("{max} outgoing requests already pending")]
    TooManyOutgoing {
        /// The limit.
        max: usize,
    },
    /// Every `u64` request id has been used.
    #[error("request ids exhausted")]
    IdsExhausted,

    // ---- usage: the caller's mistake ----
    /// An answer (or [`abandon`](crate::Peer::abandon)) for a request that
    /// is not waiting for one: never received, already answered, or
    /// abandoned.
    #[error("no incoming request {id} is waiting for an answer")]
    NotAnswerable {
        /// The id.
        id: RequestId,
    },
    /// [`cancel`](crate::Peer::cancel) or
    /// [`extend_timeout`](crate::Peer::extend_timeout) for a request of ours
    /// that is not pending: never sent, answered, timed out or cancelled.
    #[error("no outgoing request {id} is pending")]
    NotPending {
        /// The id.
        id: RequestId,
    },
    /// Params that are not an object or an array.
    #[error("params must be an object or an array")]
    ParamsNotStructured,
    /// [`send_batch`](crate::Peer::send_batch) with no entries.
    #[error("a batch needs at least one entry")]
    NothingToSend,
}

impl Error {
    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Parse { .. }
            | Self::InvalidRequest { .. }
            | Self::InvalidResponse { .. }
            | Self::EmptyBatch
            | Self::BatchNotAllowed
            | Self::DuplicateId { .. }
            | Self::UnknownResponse { .. } => ErrorKind::Protocol,
            Self::MessageTooLarge { .. }
            | Self::BatchTooLarge { .. }
            | Self::TooManyIncoming { .. }
            | Self::TooManyOutgoing { .. }
            | Self::IdsExhausted => ErrorKind::Limit,
            Self::NotAnswerable { .. }
            | Self::NotPending { .. }
            | Self::ParamsNotStructured
            | Self::NothingToSend => ErrorKind::Usage,
        }
    }

    /// The code the peer answers this error with; `None` when nothing is
    /// sent back (malformed or unexpected responses, and every error of
    /// the caller's own).
    pub fn hint(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::Parse { .. } => ErrorCode::PARSE_ERROR,
            Self::InvalidRequest { .. }
            | Self::EmptyBatch
            | Self::BatchNotAllowed
            | Self::DuplicateId { .. } => ErrorCode::INVALID_REQUEST,
            Self::MessageTooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
            Self::BatchTooLarge { .. } => ErrorCode::BATCH_TOO_LARGE,
            Self::TooManyIncoming { .. } => ErrorCode::SERVER_BUSY,
            Self::InvalidResponse { .. }
            | Self::UnknownResponse { .. }
            | Self::TooManyOutgoing { .. }
            | Self::IdsExhausted
            | Self::NotAnswerable { .. }
            | Self::NotPending { .. }
            | Self::ParamsNotStructured
            | Self::NothingToSend => return None,
        })
    }

    /// The error response the specification prescribes for this error:
    /// [`hint`](Self::hint)'s code with its standard message, and the
    /// offending request's id when it could be read (else `null`). `None`
    /// when nothing is sent back.
    ///
    /// [`Peer`](crate::Peer) sends these itself; a stateless server that
    /// only uses [`decode`](crate::decode) sends them by hand.
    pub fn reply(&self) -> Option<ErrorResponse> {
        let code = self.hint()?;
        let id = match self {
            Self::InvalidRequest { id, .. } => id.clone(),
            Self::DuplicateId { id } | Self::TooManyIncoming { id, .. } => Some(id.clone()),
            _ => None,
        };
        Some(ErrorResponse {
            id,
            error: ErrorObject::from_code(code),
        })
    }
}

impl ClassifyError for Error {
    type Hint = ErrorCode;

    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }

    fn hint(&self) -> Option<ErrorCode> {
        Error::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_hints() {
        let parse = Error::Parse {
            message: "x".into(),
        };
        assert_eq!(parse.kind(), ErrorKind::Protocol);
        assert_eq!(parse.hint(), Some(ErrorCode::PARSE_ERROR));
        let reply = parse.reply().unwrap();
        assert_eq!(reply.id, None);
        assert_eq!(reply.error, ErrorObject::new(-32700, "Parse error"));

        let invalid = Error::InvalidRequest {
            id: Some(RequestId::from(3u64)),
            reason: Invalid::Params,
        };
        assert_eq!(invalid.reply().unwrap().id, Some(RequestId::from(3u64)));
        assert_eq!(
            invalid.to_string(),
            "invalid request: params is not an object or an array"
        );

        let busy = Error::TooManyIncoming {
            id: "a".into(),
            max: 1,
        };
        assert_eq!(busy.kind(), ErrorKind::Limit);
        assert_eq!(busy.reply().unwrap().error.code, ErrorCode::SERVER_BUSY);
        assert!(ErrorCode::SERVER_BUSY.is_server_error());
        assert!(ErrorCode::MESSAGE_TOO_LARGE.is_server_error());
        assert!(ErrorCode::BATCH_TOO_LARGE.is_server_error());

        let response = Error::InvalidResponse {
            id: None,
            reason: Invalid::ResultAndError,
        };
        assert_eq!((response.hint(), response.reply()), (None, None));
        let usage = Error::NotPending { id: 1u64.into() };
        assert_eq!((usage.kind(), usage.hint()), (ErrorKind::Usage, None));
    }

    #[test]
    fn messages_for_codes() {
        assert_eq!(ErrorObject::from_code(-32001).message, "Server error");
        assert_eq!(ErrorObject::from_code(7).message, "Error");
        assert_eq!(
            ErrorObject::invalid_params("missing field `a`").message,
            "Invalid params: missing field `a`"
        );
        assert_eq!(
            ErrorObject::method_not_found().to_string(),
            "Method not found (-32601)"
        );
    }
}
