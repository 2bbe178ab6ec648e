//! Errors of the MCP session and transports.

use wirestate_jsonrpc::{ErrorCode, RequestId};
use wirestate_machine::{ClassifyError, ErrorKind};

/// Why input or a command was refused.
///
/// Three kinds ([`kind`](Self::kind)): *protocol* errors are the client's
/// fault and concern one message (the session answered it as the
/// specification says and goes on: JSON-RPC errors are never sticky);
/// *limit* errors hit a configured bound; *usage* errors are the caller's
/// mistake and change nothing. [`hint`](Self::hint) is the JSON-RPC error
/// code the client was sent, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The JSON-RPC layer refused a message (malformed JSON, an invalid
    /// request, a limit); its answer was sent.
    #[error(transparent)]
    JsonRpc(#[from] wirestate_jsonrpc::Error),
    /// stdio: a line longer than the configured limit. It was answered with
    /// -32007 and a `null` id, its bytes were discarded, and the session
    /// goes on with the next line.
    #[error("message line longer than the limit of {max} bytes")]
    LineTooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// An answer for a request that is not waiting for one (never
    /// received, or already answered).
    #[error("request {id} is not waiting for an answer")]
    NotAnswerable {
        /// The id given.
        id: RequestId,
    },
    /// A request to the client before the session is initialized (or,
    /// for anything but ping and logging, before `notifications/initialized`).
    #[error("the session is not initialized")]
    NotInitialized,
    /// The client did not declare the capability this request needs.
    #[error("the client did not declare the `{capability}` capability")]
    ClientLacksCapability {
        /// The capability (`roots`, `sampling`, `elicitation`).
        capability: &'static str,
    },
    /// A progress notification for a token no request in flight carries.
    #[error("no request in flight carries this progress token")]
    UnknownProgressToken,
    /// A progress value not greater than the previous one for its token.
    #[error("progress must increase with every notification")]
    ProgressNotIncreasing,
    /// A value could not be written as JSON (a map with non-string keys).
    #[error("cannot serialize: {message}")]
    Serialize {
        /// What serde_json reported.
        message: String,
    },
    /// Client: `initialize` was already sent.
    #[error("initialize was already sent")]
    AlreadyInitialized,
    /// Client: `initialize` cannot be cancelled (the specification
    /// forbids it).
    #[error("initialize cannot be cancelled")]
    CannotCancel,
    /// Client: the server chose a protocol revision we do not speak.
    #[error("the server speaks protocol revision {version:?}, which this client does not support")]
    UnsupportedVersion {
        /// The revision the server answered with.
        version: String,
    },
    /// Client: the server answered `initialize` with an error.
    #[error("the server refused initialize: {message} ({code})")]
    InitializeRefused {
        /// The JSON-RPC error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// Client: `initialize` was not answered in time.
    #[error("the server did not answer initialize in time")]
    InitializeTimedOut,
    /// Client: a result that does not parse as the method's result.
    #[error("malformed result: {message}")]
    MalformedResult {
        /// What serde_json reported.
        message: String,
    },
    /// Client pagination: the server gave a cursor it gave before.
    #[error("the server repeated a pagination cursor")]
    CursorLoop,
    /// An [`InputRequiredResult`](crate::schema::InputRequiredResult) for
    /// a request that cannot take one (not stateless, or not
    /// `tools/call`, `prompts/get` or `resources/read`).
    #[error("this request cannot be answered with an input-required result")]
    InputRequiredNotAllowed,
    /// Client pagination: more pages than the bound.
    #[error("more than {max} pages")]
    TooManyPages {
        /// The bound.
        max: usize,
    },
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::JsonRpc(e) => e.kind(),
            Self::LineTooLong { .. } => ErrorKind::Limit,
            Self::NotAnswerable { .. }
            | Self::NotInitialized
            | Self::ClientLacksCapability { .. }
            | Self::UnknownProgressToken
            | Self::ProgressNotIncreasing
            | Self::Serialize { .. }
            | Self::AlreadyInitialized
            | Self::CannotCancel
            | Self::InputRequiredNotAllowed => ErrorKind::Usage,
            Self::UnsupportedVersion { .. }
            | Self::InitializeRefused { .. }
            | Self::InitializeTimedOut
            | Self::MalformedResult { .. }
            | Self::CursorLoop => ErrorKind::Protocol,
            Self::TooManyPages { .. } => ErrorKind::Limit,
        }
    }

    /// The JSON-RPC error code the client was answered with; `None` when
    /// nothing was sent.
    pub fn hint(&self) -> Option<ErrorCode> {
        match self {
            Self::JsonRpc(e) => e.hint(),
            Self::LineTooLong { .. } => Some(ErrorCode::MESSAGE_TOO_LARGE),
            _ => None,
        }
    }

    pub(crate) fn serialize(e: serde_json::Error) -> Self {
        Self::Serialize {
            message: e.to_string(),
        }
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
