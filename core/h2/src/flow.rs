//! Flow-control windows (RFC 9113 §5.2, §6.9), for a stream or for the
//! whole connection.
//!
//! * [`SendWindow`]: how much we may still send. WINDOW_UPDATE frames grow
//!   it; a change of the peer's SETTINGS_INITIAL_WINDOW_SIZE moves every
//!   stream window by the difference, possibly below zero (§6.9.2).
//! * [`RecvWindow`]: how much the peer may still send, with credit given
//!   back only as the application releases what it consumed — so a slow
//!   reader stops a fast sender instead of buffering without bound. Small
//!   releases are batched into one WINDOW_UPDATE.
//!
//! ```
//! use wirestate_h2::flow::RecvWindow;
//!
//! // A stream window of 65,535 bytes.
//! let mut w = RecvWindow::new(65_535, 65_535);
//! w.on_data(40_000).unwrap();
//! assert_eq!(w.poll_update(), None, "nothing released yet");
//! w.release(40_000).unwrap();
//! assert_eq!(w.poll_update(), Some(40_000), "half the window released");
//! assert!(w.on_data(65_536).is_err(), "more than the window: FLOW_CONTROL_ERROR");
//! ```

/// The largest window RFC 9113 allows: 2^31 - 1.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// A window rule broken; every variant is a FLOW_CONTROL_ERROR (on the
/// stream for a stream window, on the connection for the connection's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// A WINDOW_UPDATE or a SETTINGS_INITIAL_WINDOW_SIZE change would take
    /// the window above 2^31 - 1 (§6.9.1, §6.9.2).
    #[error("flow-control window would exceed 2^31-1 ({window} + {increment})")]
    Overflow {
        /// The window before.
        window: i64,
        /// What was to be added.
        increment: i64,
    },
    /// The peer sent more than the window allowed (§6.9.1).
    #[error("peer sent {len} bytes with only {available} bytes of window")]
    Exceeded {
        /// The flow-controlled length of the DATA frame.
        len: u32,
        /// The window when it arrived.
        available: i64,
    },
}

/// The application released more than it had received: a usage error,
/// nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("released {released} bytes with only {held} bytes received and not yet released")]
pub struct ReleaseError {
    /// What the call tried to release.
    pub released: u32,
    /// What was held.
    pub held: u32,
}

/// How much we may still send: a stream's window or the connection's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    /// Signed: a lowered SETTINGS_INITIAL_WINDOW_SIZE can make it negative.
    window: i64,
}

impl SendWindow {
    /// A window of `initial` bytes (the peer's SETTINGS_INITIAL_WINDOW_SIZE
    /// for a stream, 65,535 for the connection).
    pub fn new(initial: u32) -> Self {
        Self {
            window: i64::from(initial.min(MAX_WINDOW)),
        }
    }

    /// Bytes that may be sent now (zero while the window is negative).
    pub fn available(&self) -> u32 {
        // In 0..=MAX_WINDOW by construction; the clamp makes that visible.
        self.window.clamp(0, i64::from(MAX_WINDOW)) as u32
    }

    /// The window, which may be negative.
    pub fn get(&self) -> i64 {
        self.window
    }

    /// Takes up to `want` bytes of the window; returns how many were
    /// granted (`min(want, available)`).
    pub fn take(&mut self, want: usize) -> usize {
        let granted = want.min(self.available() as usize);
        self.window -= granted as i64;
        granted
    }

    /// A WINDOW_UPDATE of `increment` arrived.
    ///
    /// # Errors
    ///
    /// [`FlowError::Overflow`] above 2^31 - 1.
    pub fn on_window_update(&mut self, increment: u32) -> Result<(), FlowError> {
        self.adjust(i64::from(increment))
    }

    /// The peer changed SETTINGS_INITIAL_WINDOW_SIZE from `old` to `new`:
    /// every stream window moves by the difference (§6.9.2).
    ///
    /// # Errors
    ///
    /// [`FlowError::Overflow`] above 2^31 - 1 (a connection error).
    pub fn on_initial_change(&mut self, old: u32, new: u32) -> Result<(), FlowError> {
        self.adjust(i64::from(new) - i64::from(old))
    }

    fn adjust(&mut self, delta: i64) -> Result<(), FlowError> {
        let next = self.window + delta;
        if next > i64::from(MAX_WINDOW) {
            return Err(FlowError::Overflow {
                window: self.window,
                increment: delta,
            });
        }
        self.window = next;
        Ok(())
    }
}

/// How much the peer may still send, and the credit to give back.
///
/// Received DATA is *held* until the application releases it
/// ([`release`](Self::release)). The credit due is what tops the peer's
/// window back up to the target, less what is still held:
/// `target - window - held`. It is announced in one WINDOW_UPDATE
/// ([`poll_update`](Self::poll_update)) once it reaches half the target (or
/// the peer is down to less than half), so a stream of small frames does
/// not cause a stream of small updates, and a reader that holds data stops
/// the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvWindow {
    /// What the peer may still send before our next WINDOW_UPDATE.
    window: i64,
    /// The window we aim to offer.
    target: u32,
    /// Received, not yet released by the application.
    held: u32,
}

impl RecvWindow {
    /// A window the peer starts with `initial` bytes of (65,535 for a
    /// connection; our SETTINGS_INITIAL_WINDOW_SIZE for a stream), which we
    /// want to be `target` bytes: a larger target is announced by the first
    /// [`poll_update`](Self::poll_update).
    pub fn new(initial: u32, target: u32) -> Self {
        Self {
            window: i64::from(initial.min(MAX_WINDOW)),
            target: target.min(MAX_WINDOW),
            held: 0,
        }
    }

    /// The window the peer has left.
    pub fn get(&self) -> i64 {
        self.window
    }

    /// Bytes received and not yet released.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// The target window.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// A DATA frame arrived with flow-controlled length `len` (payload and
    /// padding, [`Data::flow_len`](crate::frame::Data::flow_len)).
    ///
    /// # Errors
    ///
    /// [`FlowError::Exceeded`] if `len` is more than the window.
    pub fn on_data(&mut self, len: u32) -> Result<(), FlowError> {
        if i64::from(len) > self.window {
            return Err(FlowError::Exceeded {
                len,
                available: self.window,
            });
        }
        self.window -= i64::from(len);
        self.held = self.held.saturating_add(len);
        Ok(())
    }

    /// The application consumed `len` received bytes (or they were
    /// discarded: padding, data for a reset stream): the credit may go back
    /// to the peer.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] if more than [`held`](Self::held); nothing changes.
    pub fn release(&mut self, len: u32) -> Result<(), ReleaseError> {
        if len > self.held {
            return Err(ReleaseError {
                released: len,
                held: self.held,
            });
        }
        self.held -= len;
        Ok(())
    }

    /// The credit due now: `target - window - held` (negative after the
    /// target was lowered, until the peer uses up the difference).
    pub fn due(&self) -> i64 {
        i64::from(self.target) - self.window - i64::from(self.held)
    }

    /// The increment of the WINDOW_UPDATE to send now, if one is due —
    /// credit of at least half the target; once the peer's window is below
    /// half the target, credit of a sixteenth of the target; and any credit
    /// once the peer is stalled (window 0) — and the window is counted as
    /// grown by it.
    ///
    /// The sixteenth keeps a reader that consumes small messages one by one
    /// from answering each with its own WINDOW_UPDATE (which a peer that
    /// sends one DATA frame per message turns into a round trip per
    /// message), while the peer still has most of half a window to go on.
    pub fn poll_update(&mut self) -> Option<u32> {
        let due = self.due();
        if due <= 0 {
            return None;
        }
        let half = i64::from(self.target / 2);
        let batch = i64::from(self.target / 16).max(1);
        if due < half && self.window >= half {
            return None;
        }
        if due < batch && self.window > 0 {
            return None;
        }
        // `due <= target <= MAX_WINDOW`, and the window stays at or below
        // the target: no overflow.
        self.window += due;
        Some(due as u32)
    }

    /// Our SETTINGS_INITIAL_WINDOW_SIZE changed from `old` to `new` and the
    /// peer acknowledged it (until then it may send up to the old value):
    /// the stream window moves by the difference, and `new` becomes the
    /// target (§6.9.2).
    pub fn on_initial_change(&mut self, old: u32, new: u32) {
        let new = new.min(MAX_WINDOW);
        self.window += i64::from(new) - i64::from(old.min(MAX_WINDOW));
        self.target = new;
    }

    /// Sets the target window (the connection window is ours to size): a
    /// larger one is announced by the next [`poll_update`](Self::poll_update);
    /// a smaller one takes effect as the peer uses up what it has.
    pub fn set_target(&mut self, target: u32) {
        self.target = target.min(MAX_WINDOW);
    }
}
