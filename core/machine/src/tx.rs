use crate::Transmit;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;

/// The outgoing queue of a machine: small writes are coalesced into one
/// chunk, large payloads pass through without a copy, and a `Shutdown`
/// marker keeps its place in the order.
///
/// ```
/// # use bytes::Bytes;
/// # use wirestate_machine::{Transmit, TxQueue};
/// let mut tx = TxQueue::new(64 * 1024);
/// tx.write(b"HTTP/1.1 200 OK\r\n");
/// tx.write(b"content-length: 5\r\n\r\n");
/// tx.push(Bytes::from_static(b"hello"));
/// tx.shutdown();
/// // The small pieces leave as one chunk.
/// assert_eq!(
///     tx.pop(),
///     Some(Transmit::Bytes(Bytes::from_static(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")))
/// );
/// assert_eq!(tx.pop(), Some(Transmit::Shutdown));
/// assert_eq!(tx.pop(), None);
/// ```
#[derive(Debug, Default)]
pub struct TxQueue {
    queue: VecDeque<Transmit>,
    pending: BytesMut,
    queued_bytes: usize,
    high_water: usize,
    shutdown: bool,
    /// Bumped whenever the coalescing buffer is handed to the queue or
    /// dropped, so a [`TxMark`] taken before cannot reach into new bytes.
    epoch: u64,
}

/// A place in a [`TxQueue`]'s coalescing buffer, from
/// [`TxQueue::mark`]: lets an encoder amend what it wrote after it (a frame
/// header's length, say) for as long as those bytes are still unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMark {
    epoch: u64,
    at: usize,
}

impl TxQueue {
    /// Payloads at least this long are queued as their own `Bytes` instead
    /// of being copied into the coalescing buffer.
    pub const COPY_THRESHOLD: usize = 1024;

    /// An empty queue that reports [`is_full`](Self::is_full) once
    /// `high_water` bytes are waiting.
    pub fn new(high_water: usize) -> Self {
        Self {
            high_water,
            ..Self::default()
        }
    }

    /// Copies `bytes` into the coalescing buffer.
    pub fn write(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.queued_bytes += bytes.len();
    }

    /// The coalescing buffer, for encoders that write in place. Call
    /// [`commit`](Self::commit) with the number of bytes added.
    pub fn buf_mut(&mut self) -> &mut impl BufMut {
        &mut self.pending
    }

    /// Accounts for `n` bytes written through [`buf_mut`](Self::buf_mut).
    pub fn commit(&mut self, n: usize) {
        self.queued_bytes += n;
    }

    /// The current end of the coalescing buffer.
    pub fn mark(&self) -> TxMark {
        TxMark {
            epoch: self.epoch,
            at: self.pending.len(),
        }
    }

    /// The bytes written since `mark`, to amend in place; `None` once they
    /// may have been popped (or [`clear`](Self::clear)ed), or when a payload
    /// was queued without a copy after the mark.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use wirestate_machine::{Transmit, TxQueue};
    /// let mut tx = TxQueue::new(1024);
    /// let mark = tx.mark();
    /// tx.write(b"len=1;a");
    /// let since = tx.since_mut(mark).unwrap();
    /// since[4] = b'2';
    /// tx.write(b"b");
    /// assert_eq!(tx.pop(), Some(Transmit::Bytes(Bytes::from_static(b"len=2;ab"))));
    /// // Sent: nothing left to amend.
    /// assert!(tx.since_mut(mark).is_none());
    /// ```
    pub fn since_mut(&mut self, mark: TxMark) -> Option<&mut [u8]> {
        if mark.epoch != self.epoch || mark.at > self.pending.len() {
            return None;
        }
        Some(&mut self.pending[mark.at..])
    }

    /// Queues a payload: small ones are copied and coalesced, large ones are
    /// queued as they are.
    pub fn push(&mut self, bytes: Bytes) {
        if bytes.len() < Self::COPY_THRESHOLD {
            self.write(&bytes);
        } else {
            self.flush_pending();
            self.queued_bytes += bytes.len();
            self.queue.push_back(Transmit::Bytes(bytes));
        }
    }

    /// Queues a half-close after everything queued so far. Idempotent.
    pub fn shutdown(&mut self) {
        if !self.shutdown {
            self.flush_pending();
            self.shutdown = true;
            self.queue.push_back(Transmit::Shutdown);
        }
    }

    /// Whether a shutdown has been queued (it may already have been popped).
    pub fn is_shutdown(&self) -> bool {
        self.shutdown
    }

    /// The next transmit.
    pub fn pop(&mut self) -> Option<Transmit> {
        if self.queue.is_empty() {
            self.flush_pending();
        }
        let t = self.queue.pop_front()?;
        if let Transmit::Bytes(b) = &t {
            self.queued_bytes -= b.len();
        }
        Some(t)
    }

    /// Bytes waiting to be popped.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Whether nothing (not even a shutdown) is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.pending.is_empty()
    }

    /// Whether the queued bytes reached the high-water mark; producers
    /// should wait until the transport drained some.
    pub fn is_full(&self) -> bool {
        self.queued_bytes >= self.high_water
    }

    /// Drops everything queued, including a pending shutdown marker (the
    /// shutdown itself stays recorded).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.pending.clear();
        self.queued_bytes = 0;
        self.epoch += 1;
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let chunk = self.pending.split().freeze();
            self.queue.push_back(Transmit::Bytes(chunk));
        }
        self.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_payloads_pass_through_and_keep_order() {
        let mut tx = TxQueue::new(4096);
        let big = Bytes::from(vec![7u8; 5000]);
        tx.write(b"head");
        tx.push(big.clone());
        tx.write(b"tail");
        assert!(tx.is_full());
        assert_eq!(tx.queued_bytes(), 5008);
        assert_eq!(tx.pop(), Some(Transmit::Bytes(Bytes::from_static(b"head"))));
        // Same allocation, not a copy.
        let Some(Transmit::Bytes(b)) = tx.pop() else {
            panic!()
        };
        assert_eq!(b.as_ptr(), big.as_ptr());
        assert_eq!(tx.pop(), Some(Transmit::Bytes(Bytes::from_static(b"tail"))));
        assert!(tx.is_empty() && !tx.is_full());
    }

    #[test]
    fn shutdown_is_ordered_and_idempotent() {
        let mut tx = TxQueue::new(16);
        tx.write(b"a");
        tx.shutdown();
        tx.shutdown();
        assert!(tx.is_shutdown());
        assert_eq!(tx.pop(), Some(Transmit::Bytes(Bytes::from_static(b"a"))));
        assert_eq!(tx.pop(), Some(Transmit::Shutdown));
        assert_eq!(tx.pop(), None);
    }
}
