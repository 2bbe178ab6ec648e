use std::io;

/// Why an async HTTP operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// Connecting failed; nothing was sent, so any request may be retried.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The peer broke HTTP/1.1.
    #[error("http: {0}")]
    Http(#[from] wirestate_http1::Error),
    /// The connection closed before the request was answered. `sent` says
    /// whether any of it may have reached the server.
    #[error("connection closed before the response")]
    Aborted {
        /// Whether the request may have been (partly) sent.
        sent: bool,
    },
    /// The server did not process the request, and said so: it refused
    /// the stream (RST_STREAM REFUSED_STREAM, RFC 9113 §8.7), or the
    /// stream was above the last stream id of its GOAWAY. Nothing of the
    /// request was processed, so any request may be sent again (on a new
    /// stream or connection); gRPC maps this to UNAVAILABLE and retries it
    /// transparently.
    #[error("{}", refused_message(*.goaway))]
    Refused {
        /// Whether it was a GOAWAY (else RST_STREAM REFUSED_STREAM).
        goaway: bool,
    },
    /// A deadline passed.
    #[error("timed out")]
    Timeout,
    /// The URL or request cannot be sent (no host, unsupported scheme, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The peer broke HTTP/2 (a connection error: the connection is gone).
    #[error("http/2: {0}")]
    H2(wirestate_h2::connection::Error),
    /// The peer reset the stream (RST_STREAM with this error code).
    #[error("stream reset by the peer: {0}")]
    Reset(wirestate_h2::frame::ErrorCode),
    /// The response's header section (its head or its trailers) was over
    /// this side's `SETTINGS_MAX_HEADER_LIST_SIZE`: the stream was reset
    /// from here and the response discarded (RFC 9113 §10.5.1). The
    /// server did process the request: not a refusal, not safe to retry.
    #[error("response header section over the header list size limit; stream reset")]
    HeadersTooLarge,
    /// A body was larger than the caller's limit.
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
}

/// What [`Error::Refused`] says.
fn refused_message(goaway: bool) -> &'static str {
    if goaway {
        "request not processed: the server went away (GOAWAY) before this stream; safe to retry"
    } else {
        "stream refused by the server (REFUSED_STREAM): request not processed; safe to retry"
    }
}

impl Error {
    /// Whether retrying on a fresh connection is safe for any request:
    /// nothing of it reached the server.
    pub fn is_unsent(&self) -> bool {
        matches!(
            self,
            Error::Aborted { sent: false } | Error::Refused { .. } | Error::Connect(_)
        )
    }

    /// Whether retrying may help (for idempotent requests). A connection
    /// refused by TLS (`InvalidData`: a certificate we do not trust, a
    /// name it does not carry, no common version) would be refused again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect(e) => e.kind() != io::ErrorKind::InvalidData,
            _ => matches!(
                self,
                Error::Aborted { .. } | Error::Refused { .. } | Error::Io(_) | Error::Timeout
            ),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) | Error::Connect(e) => e,
            Error::Timeout => io::Error::new(io::ErrorKind::TimedOut, e),
            other => io::Error::other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_refusal_is_not_retried_a_failed_connect_is() {
        let refused = io::Error::new(io::ErrorKind::InvalidData, "invalid peer certificate");
        assert!(!Error::Connect(refused).is_retryable());
        let reset = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(Error::Connect(reset).is_retryable());
        assert!(Error::Timeout.is_retryable());
    }
}
