//! SETTINGS parameters (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).

use super::{FrameError, MAX_PAYLOAD_LEN};

/// SETTINGS_HEADER_TABLE_SIZE until the peer says otherwise.
pub const DEFAULT_HEADER_TABLE_SIZE: u32 = 4096;
/// SETTINGS_INITIAL_WINDOW_SIZE until the peer says otherwise, and the
/// connection's initial flow-control window.
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;
/// SETTINGS_MAX_FRAME_SIZE until the peer says otherwise, and its smallest
/// allowed value.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest allowed SETTINGS_MAX_FRAME_SIZE, 2^24 - 1.
pub const MAX_MAX_FRAME_SIZE: u32 = MAX_PAYLOAD_LEN;
/// The largest flow-control window and window increment, 2^31 - 1.
pub const MAX_WINDOW_SIZE: u32 = 0x7FFF_FFFF;

/// A SETTINGS parameter this crate knows. Parameters with other
/// identifiers are ignored on receipt (RFC 9113 §6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SettingId {
    /// 0x1: the largest HPACK dynamic table the sender's decoder allows.
    HeaderTableSize,
    /// 0x2: whether server push is allowed (0 or 1; only clients send it).
    EnablePush,
    /// 0x3: the most streams the sender lets its peer open.
    MaxConcurrentStreams,
    /// 0x4: the sender's initial stream flow-control window (at most 2^31 - 1).
    InitialWindowSize,
    /// 0x5: the largest frame payload the sender accepts (16384..=16777215).
    MaxFrameSize,
    /// 0x6: advisory: the largest field section the sender accepts.
    MaxHeaderListSize,
    /// 0x8 (RFC 8441): the sender accepts extended CONNECT (0 or 1).
    EnableConnectProtocol,
    /// 0x9 (RFC 9218): the sender does not use RFC 7540 priorities (0 or 1).
    NoRfc7540Priorities,
}

impl SettingId {
    /// Every known parameter, in identifier order.
    pub const ALL: [SettingId; 8] = [
        SettingId::HeaderTableSize,
        SettingId::EnablePush,
        SettingId::MaxConcurrentStreams,
        SettingId::InitialWindowSize,
        SettingId::MaxFrameSize,
        SettingId::MaxHeaderListSize,
        SettingId::EnableConnectProtocol,
        SettingId::NoRfc7540Priorities,
    ];

    /// The 16-bit identifier.
    pub const fn code(self) -> u16 {
        match self {
            SettingId::HeaderTableSize => 0x1,
            SettingId::EnablePush => 0x2,
            SettingId::MaxConcurrentStreams => 0x3,
            SettingId::InitialWindowSize => 0x4,
            SettingId::MaxFrameSize => 0x5,
            SettingId::MaxHeaderListSize => 0x6,
            SettingId::EnableConnectProtocol => 0x8,
            SettingId::NoRfc7540Priorities => 0x9,
        }
    }

    /// The parameter with identifier `code`, or `None` for one to ignore.
    pub const fn from_code(code: u16) -> Option<SettingId> {
        Some(match code {
            0x1 => SettingId::HeaderTableSize,
            0x2 => SettingId::EnablePush,
            0x3 => SettingId::MaxConcurrentStreams,
            0x4 => SettingId::InitialWindowSize,
            0x5 => SettingId::MaxFrameSize,
            0x6 => SettingId::MaxHeaderListSize,
            0x8 => SettingId::EnableConnectProtocol,
            0x9 => SettingId::NoRfc7540Priorities,
            _ => return None,
        })
    }

    /// Checks a value for this parameter: INITIAL_WINDOW_SIZE at most
    /// 2^31 - 1, MAX_FRAME_SIZE in 16384..=16777215, the flags 0 or 1.
    /// The error's [`hint`](FrameError::hint) is the GOAWAY code RFC 9113
    /// names (FLOW_CONTROL_ERROR or PROTOCOL_ERROR).
    ///
    /// ```
    /// use wirestate_h2::frame::{ErrorCode, Reply, SettingId};
    /// assert!(SettingId::MaxFrameSize.validate(16_384).is_ok());
    /// let e = SettingId::InitialWindowSize.validate(1 << 31).unwrap_err();
    /// assert_eq!(e.hint(), Some(Reply::GoAway(ErrorCode::FLOW_CONTROL_ERROR)));
    /// ```
    pub fn validate(self, value: u32) -> Result<(), FrameError> {
        let ok = match self {
            SettingId::EnablePush
            | SettingId::EnableConnectProtocol
            | SettingId::NoRfc7540Priorities => value <= 1,
            SettingId::InitialWindowSize => value <= MAX_WINDOW_SIZE,
            SettingId::MaxFrameSize => {
                (DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value)
            }
            SettingId::HeaderTableSize
            | SettingId::MaxConcurrentStreams
            | SettingId::MaxHeaderListSize => true,
        };
        if ok {
            Ok(())
        } else {
            Err(FrameError::InvalidSetting { id: self, value })
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A set of SETTINGS parameters, each present or not, with valid values.
///
/// Received in a SETTINGS frame, a parameter given twice keeps its last
/// value (parameters are processed in order) and unknown parameters are
/// dropped. Encoded, the present parameters go out in identifier order.
///
/// ```
/// use wirestate_h2::frame::{SettingId, Settings};
/// let mut s = Settings::new();
/// s.set(SettingId::MaxConcurrentStreams, 100).unwrap();
/// s.set(SettingId::EnablePush, 0).unwrap();
/// assert_eq!(s.enable_push(), Some(false));
/// assert_eq!(s.max_concurrent_streams(), Some(100));
/// assert!(s.set(SettingId::EnablePush, 2).is_err());
/// assert_eq!(s.iter().count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    values: [Option<u32>; SettingId::ALL.len()],
}

impl Settings {
    /// No parameters.
    pub fn new() -> Settings {
        Settings::default()
    }

    /// The value of `id`, if present.
    pub fn get(&self, id: SettingId) -> Option<u32> {
        self.values[id.index()]
    }

    /// Sets `id` to `value` after [validating](SettingId::validate) it;
    /// an invalid value changes nothing.
    pub fn set(&mut self, id: SettingId, value: u32) -> Result<(), FrameError> {
        id.validate(value)?;
        self.values[id.index()] = Some(value);
        Ok(())
    }

    /// Removes `id`, returning its value.
    pub fn remove(&mut self, id: SettingId) -> Option<u32> {
        self.values[id.index()].take()
    }

    /// The present parameters, in identifier order.
    pub fn iter(&self) -> impl Iterator<Item = (SettingId, u32)> + '_ {
        SettingId::ALL
            .iter()
            .filter_map(|&id| self.get(id).map(|v| (id, v)))
    }

    /// How many parameters are present.
    pub fn len(&self) -> usize {
        self.values.iter().flatten().count()
    }

    /// Whether no parameter is present.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// Overwrites the parameters present in `other` (how a SETTINGS frame
    /// updates the values in force).
    pub fn merge(&mut self, other: &Settings) {
        for (id, v) in other.iter() {
            self.values[id.index()] = Some(v);
        }
    }

    /// SETTINGS_HEADER_TABLE_SIZE, if present.
    pub fn header_table_size(&self) -> Option<u32> {
        self.get(SettingId::HeaderTableSize)
    }

    /// SETTINGS_ENABLE_PUSH, if present.
    pub fn enable_push(&self) -> Option<bool> {
        self.get(SettingId::EnablePush).map(|v| v == 1)
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS, if present.
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.get(SettingId::MaxConcurrentStreams)
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE, if present.
    pub fn initial_window_size(&self) -> Option<u32> {
        self.get(SettingId::InitialWindowSize)
    }

    /// SETTINGS_MAX_FRAME_SIZE, if present.
    pub fn max_frame_size(&self) -> Option<u32> {
        self.get(SettingId::MaxFrameSize)
    }

    /// SETTINGS_MAX_HEADER_LIST_SIZE, if present.
    pub fn max_header_list_size(&self) -> Option<u32> {
        self.get(SettingId::MaxHeaderListSize)
    }

    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), if present.
    pub fn enable_connect_protocol(&self) -> Option<bool> {
        self.get(SettingId::EnableConnectProtocol).map(|v| v == 1)
    }

    /// SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218), if present.
    pub fn no_rfc7540_priorities(&self) -> Option<bool> {
        self.get(SettingId::NoRfc7540Priorities).map(|v| v == 1)
    }
}
