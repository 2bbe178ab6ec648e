use bytes::{Bytes, BytesMut};

/// The receive buffer was asked to hold more than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvBufFull {
    /// The configured limit in bytes.
    pub limit: usize,
}

impl std::fmt::Display for RecvBufFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "receive buffer full ({} bytes)", self.limit)
    }
}

impl std::error::Error for RecvBufFull {}

/// A bounded receive buffer that hands out zero-copy `Bytes` from its front.
///
/// Input is copied in once; parsed pieces leave with [`split_to`](Self::split_to)
/// as `Bytes` that share the allocation. Once every handed-out piece is
/// dropped, the allocation is reused instead of growing.
///
/// ```
/// # use wirestate_machine::RecvBuf;
/// let mut rx = RecvBuf::new(8);
/// rx.extend(b"hello").unwrap();
/// assert_eq!(&rx.split_to(2)[..], b"he");
/// assert_eq!(rx.as_slice(), b"llo");
/// rx.extend(b"123456").unwrap(); // room was left, so it may overshoot
/// assert!(rx.extend(b"!").is_err()); // 9 >= 8: full
/// ```
#[derive(Debug, Default)]
pub struct RecvBuf {
    buf: BytesMut,
    limit: usize,
}

impl RecvBuf {
    /// An empty buffer that refuses to hold more than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            limit,
        }
    }

    /// Appends `bytes`, or refuses without changing anything if the buffer
    /// is already full.
    ///
    /// The limit is checked before appending, so one call may overshoot it
    /// by the size of its input: the caller bounds that by its read size,
    /// and a caller that reads only while [`remaining`](Self::remaining) is
    /// non-zero never sees the error.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<(), RecvBufFull> {
        if !bytes.is_empty() && self.remaining() == 0 {
            return Err(RecvBufFull { limit: self.limit });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.buf.len())
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Buffered bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The buffered bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Removes the first `n` bytes (clamped to the length) as shared `Bytes`.
    pub fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.buf.len());
        self.buf.split_to(n).freeze()
    }

    /// Drops the first `n` bytes (clamped to the length).
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        let _ = self.buf.split_to(n);
    }

    /// Removes everything buffered.
    pub fn take_all(&mut self) -> Bytes {
        self.buf.split().freeze()
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}
