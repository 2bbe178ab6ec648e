//! The HTTP/2 frame codec (RFC 9113 §4, §6, §7), usable alone.
//!
//! * [`FrameDecoder`] turns a receive buffer into [`Frame`]s: the 9-byte
//!   header is checked before the payload is buffered (the advertised
//!   SETTINGS_MAX_FRAME_SIZE, the stream each type allows, fixed lengths,
//!   CONTINUATION sequencing and a bound on field blocks), then the
//!   payload (padding, SETTINGS values, window increments). Payloads are
//!   `Bytes` split off the buffer, without copying.
//! * [`Frame::encode`] writes any frame; [`encode_headers`] and
//!   [`Headers::encode_split`] split a field block into HEADERS and
//!   CONTINUATION frames; [`encode_data_header`] and [`Data::encode_head`]
//!   write a DATA frame's header apart from its payload.
//! * [`PrefaceMatcher`] checks the client connection preface in any pieces;
//!   [`is_h2_preface_prefix`] tells h2c from HTTP/1.1 on a shared port.
//! * Every [`FrameError`] says whose fault it is and, through
//!   [`hint`](FrameError::hint), what to send back: a GOAWAY with a code
//!   for a connection error, a RST_STREAM on a stream for a stream error.
//!
//! HPACK decoding of field blocks, stream states and flow-control windows
//! are the connection's: frames carry raw field block fragments, and DATA
//! frames say how much they count against the windows
//! ([`Data::flow_len`]).
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use wirestate_h2::frame::{Data, Frame, FrameDecoder, StreamId};
//!
//! let mut wire = BytesMut::new();
//! let mut data = Data::new(StreamId::new(1).unwrap(), Bytes::from_static(b"hi"), true);
//! data.pad = Some(4);
//! Frame::Data(data.clone()).encode(&mut wire).unwrap();
//!
//! let mut decoder = FrameDecoder::new();
//! let frame = decoder.decode(&mut wire).unwrap().unwrap();
//! assert_eq!(frame, Frame::Data(data));
//! let Frame::Data(d) = frame else { unreachable!() };
//! assert_eq!(d.flow_len(), 7); // pad length byte + "hi" + 4 bytes of padding
//! ```

mod decode;
mod encode;
mod error;
mod error_code;
mod header;
mod preface;
mod settings;
mod types;

pub use decode::{DEFAULT_MAX_HEADER_BLOCK_SIZE, FrameDecoder};
pub use encode::{encode_data_header, encode_headers};
pub use error::{FrameError, Reply};
pub use error_code::ErrorCode;
pub use header::{Flags, FrameHeader, FrameType, HEADER_LEN, MAX_PAYLOAD_LEN, StreamId};
pub use preface::{PREFACE, PrefaceMatcher, is_h2_preface_prefix};
pub use settings::{
    DEFAULT_HEADER_TABLE_SIZE, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE,
    MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, SettingId, Settings,
};
pub use types::{
    Continuation, Data, Frame, GoAway, Headers, Ping, Priority, PrioritySpec, PushPromise,
    RstStream, SettingsFrame, Unknown, WindowUpdate,
};
