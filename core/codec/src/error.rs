//! Encode and decode errors, shared by every codec.

use crate::CodecKind;

/// A value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value cannot be represented in the codec's format (for example a
    /// JSON map with non-string keys), or its `Serialize` impl failed.
    #[error("{codec} encode error: {message}")]
    Invalid {
        /// The codec that failed.
        codec: CodecKind,
        /// What went wrong, as reported by the underlying library.
        message: String,
    },
}

impl EncodeError {
    /// The codec that failed.
    pub fn codec(&self) -> CodecKind {
        match self {
            Self::Invalid { codec, .. } => *codec,
        }
    }

    pub(crate) fn invalid(codec: CodecKind, err: impl std::fmt::Display) -> Self {
        Self::Invalid {
            codec,
            message: err.to_string(),
        }
    }
}

/// A value could not be decoded. Every variant is the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the codec's configured maximum; it was
    /// refused without being parsed.
    #[error("{codec} decode error: input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The codec that refused the input.
        codec: CodecKind,
        /// The input length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The input is not valid JSON, not exactly one JSON value (trailing
    /// characters), or not a valid `T`.
    #[error("json decode error: {message} at line {line} column {column}")]
    Json {
        /// Whether the input was malformed, truncated, or well-formed but the
        /// wrong shape.
        category: JsonCategory,
        /// What went wrong, without the position.
        message: String,
        /// 1-based line of the error, 0 if unknown.
        line: usize,
        /// 1-based column (in bytes) of the error, 0 if unknown.
        column: usize,
    },
    /// The input could not be decoded by a binary codec (Protobuf,
    /// MessagePack): malformed, truncated, trailing bytes, or the wrong shape.
    #[error("{codec} decode error: {message}")]
    Invalid {
        /// The codec that failed.
        codec: CodecKind,
        /// What went wrong, as reported by the underlying library.
        message: String,
    },
}

impl DecodeError {
    /// The codec that failed.
    pub fn codec(&self) -> CodecKind {
        match self {
            Self::TooLarge { codec, .. } | Self::Invalid { codec, .. } => *codec,
            Self::Json { .. } => CodecKind::Json,
        }
    }

    /// True for [`DecodeError::TooLarge`]: a configured limit, not malformed
    /// input.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }

    pub(crate) fn invalid(codec: CodecKind, err: impl std::fmt::Display) -> Self {
        Self::Invalid {
            codec,
            message: err.to_string(),
        }
    }
}

impl From<serde_json::Error> for DecodeError {
    fn from(err: serde_json::Error) -> Self {
        let (line, column) = (err.line(), err.column());
        let category = match err.classify() {
            serde_json::error::Category::Data => JsonCategory::Data,
            serde_json::error::Category::Eof => JsonCategory::Eof,
            // `Io` cannot happen when reading from a slice.
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                JsonCategory::Syntax
            }
        };
        let full = err.to_string();
        // serde_json appends " at line L column C" when it knows the position;
        // keep the message without it, the position has its own fields.
        let suffix = format!(" at line {line} column {column}");
        let message = match full.strip_suffix(&suffix) {
            Some(m) if line != 0 => m.to_owned(),
            _ => full,
        };
        Self::Json {
            category,
            message,
            line,
            column,
        }
    }
}

/// What kind of JSON decoding failure happened, as classified by serde_json.
///
/// JSON-RPC maps [`Syntax`](Self::Syntax) and [`Eof`](Self::Eof) to "parse
/// error" and [`Data`](Self::Data) to "invalid request / params".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonCategory {
    /// Not syntactically valid JSON, including trailing characters after the
    /// value.
    Syntax,
    /// The input ended in the middle of a value.
    Eof,
    /// Valid JSON, but not a valid `T` (wrong type, missing field, …).
    Data,
}
