//! Every (stream state, frame, END_STREAM) triple, received and sent,
//! against an expectation table written from RFC 9113 §5.1 independently
//! of the `match` in `stream_state.rs`.

use wirestate_h2::frame::ErrorCode;
use wirestate_h2::stream_state::{
    Closed, FrameKind, Outcome, Scope, StreamState, StreamStateError,
};

use FrameKind as K;
use StreamState as S;

const STATES: [StreamState; 10] = [
    S::Idle,
    S::ReservedLocal,
    S::ReservedRemote,
    S::Open,
    S::HalfClosedLocal,
    S::HalfClosedRemote,
    S::Closed(Closed::EndStreamReceived),
    S::Closed(Closed::EndStreamSent),
    S::Closed(Closed::ResetSent),
    S::Closed(Closed::ResetReceived),
];

/// What RFC 9113 §5.1 says happens when `kind` is received in `state`.
#[derive(Debug, PartialEq)]
enum Expect {
    To(StreamState),
    Ignored,
    StreamError(ErrorCode),
    ConnError(ErrorCode),
}

fn expected_recv(state: StreamState, kind: FrameKind, es: bool) -> Expect {
    use Expect::*;
    // END_STREAM only means something on DATA and HEADERS.
    let es = es && matches!(kind, K::Data | K::Headers);
    if kind == K::Priority {
        // "PRIORITY ... can be received in any state" and changes none.
        return To(state);
    }
    match state {
        // "Receiving any frame other than HEADERS or PRIORITY on a stream in
        // this state MUST be treated as a connection error of type
        // PROTOCOL_ERROR."
        S::Idle => match kind {
            K::Headers if es => To(S::HalfClosedRemote),
            K::Headers => To(S::Open),
            _ => ConnError(ErrorCode::PROTOCOL_ERROR),
        },
        // "Receiving any type of frame other than RST_STREAM, PRIORITY, or
        // WINDOW_UPDATE on a stream in this state MUST be treated as a
        // connection error of type PROTOCOL_ERROR."
        S::ReservedLocal => match kind {
            K::RstStream => To(S::Closed(Closed::ResetReceived)),
            K::WindowUpdate => To(state),
            _ => ConnError(ErrorCode::PROTOCOL_ERROR),
        },
        // "Receiving any type of frame other than HEADERS, RST_STREAM, or
        // PRIORITY on a stream in this state MUST be treated as a
        // connection error of type PROTOCOL_ERROR."
        S::ReservedRemote => match kind {
            K::Headers if es => To(S::Closed(Closed::EndStreamReceived)),
            K::Headers => To(S::HalfClosedLocal),
            K::RstStream => To(S::Closed(Closed::ResetReceived)),
            _ => ConnError(ErrorCode::PROTOCOL_ERROR),
        },
        S::Open => match kind {
            K::RstStream => To(S::Closed(Closed::ResetReceived)),
            _ if es => To(S::HalfClosedRemote),
            _ => To(state),
        },
        // "An endpoint that is half-closed (local) ... the stream can be
        // used by the peer to send frames of any type."
        S::HalfClosedLocal => match kind {
            K::RstStream => To(S::Closed(Closed::ResetReceived)),
            _ if es => To(S::Closed(Closed::EndStreamReceived)),
            _ => To(state),
        },
        // "If an endpoint receives additional frames, other than
        // WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in
        // this state, it MUST respond with a stream error of type
        // STREAM_CLOSED."
        S::HalfClosedRemote => match kind {
            K::RstStream => To(S::Closed(Closed::ResetReceived)),
            K::WindowUpdate => To(state),
            _ => StreamError(ErrorCode::STREAM_CLOSED),
        },
        // "An endpoint MUST ignore frames that it receives on closed
        // streams after it has sent a RST_STREAM frame."
        S::Closed(Closed::ResetSent) => Ignored,
        // "An endpoint that receives any frame other than PRIORITY after
        // receiving a RST_STREAM MUST treat that as a stream error of type
        // STREAM_CLOSED."
        S::Closed(Closed::ResetReceived) => StreamError(ErrorCode::STREAM_CLOSED),
        // "... receives any frames after receiving a frame with the
        // END_STREAM flag set MUST treat that as a connection error of type
        // STREAM_CLOSED, unless the frame is permitted as described below":
        // WINDOW_UPDATE or RST_STREAM shortly after our END_STREAM.
        S::Closed(Closed::EndStreamReceived | Closed::EndStreamSent) => match kind {
            K::WindowUpdate | K::RstStream => Ignored,
            _ => ConnError(ErrorCode::STREAM_CLOSED),
        },
    }
}

/// Whether RFC 9113 §5.1 lets us send `kind` in `state`, and where to.
fn expected_send(state: StreamState, kind: FrameKind, es: bool) -> Option<StreamState> {
    let es = es && matches!(kind, K::Data | K::Headers);
    if kind == K::Priority {
        return Some(state);
    }
    match state {
        S::Idle => match kind {
            K::Headers if es => Some(S::HalfClosedLocal),
            K::Headers => Some(S::Open),
            _ => None,
        },
        // "An endpoint MUST NOT send any type of frame other than HEADERS,
        // RST_STREAM, or PRIORITY in this state."
        S::ReservedLocal => match kind {
            K::Headers if es => Some(S::Closed(Closed::EndStreamSent)),
            K::Headers => Some(S::HalfClosedRemote),
            K::RstStream => Some(S::Closed(Closed::ResetSent)),
            _ => None,
        },
        // "An endpoint MUST NOT send any type of frame other than
        // RST_STREAM, WINDOW_UPDATE, or PRIORITY in this state."
        S::ReservedRemote => match kind {
            K::RstStream => Some(S::Closed(Closed::ResetSent)),
            K::WindowUpdate => Some(state),
            _ => None,
        },
        S::Open => match kind {
            K::RstStream => Some(S::Closed(Closed::ResetSent)),
            _ if es => Some(S::HalfClosedLocal),
            _ => Some(state),
        },
        // "An endpoint MUST NOT send frames other than WINDOW_UPDATE,
        // PRIORITY, and RST_STREAM in this state."
        S::HalfClosedLocal => match kind {
            K::RstStream => Some(S::Closed(Closed::ResetSent)),
            K::WindowUpdate => Some(state),
            _ => None,
        },
        S::HalfClosedRemote => match kind {
            K::RstStream => Some(S::Closed(Closed::ResetSent)),
            _ if es => Some(S::Closed(Closed::EndStreamSent)),
            _ => Some(state),
        },
        // "An endpoint MUST NOT send frames other than PRIORITY on a closed
        // stream." A RST_STREAM answering a late frame is allowed and
        // changes nothing.
        S::Closed(_) => match kind {
            K::RstStream => Some(state),
            _ => None,
        },
    }
}

fn actual_recv(state: StreamState, kind: FrameKind, es: bool) -> Expect {
    match state.recv(kind, es) {
        Ok(Outcome::Accept(next)) => Expect::To(next),
        Ok(Outcome::Ignore) => Expect::Ignored,
        Err(StreamStateError { scope, code, .. }) => match scope {
            Scope::Stream => Expect::StreamError(code),
            Scope::Connection => Expect::ConnError(code),
        },
    }
}

#[test]
fn every_received_frame_in_every_state() {
    let mut checked = 0;
    for state in STATES {
        for kind in FrameKind::ALL {
            for es in [false, true] {
                assert_eq!(
                    actual_recv(state, kind, es),
                    expected_recv(state, kind, es),
                    "recv {kind:?} (END_STREAM {es}) in {state:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 10 * 6 * 2);
}

#[test]
fn every_sent_frame_in_every_state() {
    for state in STATES {
        for kind in FrameKind::ALL {
            for es in [false, true] {
                let got = state.on_send(kind, es).ok();
                assert_eq!(
                    got,
                    expected_send(state, kind, es),
                    "send {kind:?} (END_STREAM {es}) in {state:?}"
                );
                if got.is_none() {
                    let err = state.on_send(kind, es).unwrap_err();
                    assert_eq!((err.state, err.kind), (state, kind));
                }
            }
        }
    }
}

#[test]
fn on_recv_keeps_the_state_for_ignored_frames() {
    let s = S::Closed(Closed::ResetSent);
    assert_eq!(s.on_recv(K::Data, true), Ok(s));
    let s = S::Closed(Closed::EndStreamSent);
    assert_eq!(s.on_recv(K::WindowUpdate, false), Ok(s));
}

#[test]
fn whole_exchanges() {
    // Client side of a GET: HEADERS with END_STREAM, response HEADERS,
    // DATA, DATA with END_STREAM.
    let s = S::Idle.on_send(K::Headers, true).unwrap();
    assert_eq!(s, S::HalfClosedLocal);
    let s = s.on_recv(K::Headers, false).unwrap();
    let s = s.on_recv(K::Data, false).unwrap();
    let s = s.on_recv(K::Data, true).unwrap();
    assert_eq!(s, S::Closed(Closed::EndStreamReceived));

    // Trailers end a stream too.
    let s = S::Idle.on_recv(K::Headers, false).unwrap();
    let s = s.on_recv(K::Data, false).unwrap();
    let s = s.on_recv(K::Headers, true).unwrap();
    assert_eq!(s, S::HalfClosedRemote);
    let s = s.on_send(K::Headers, false).unwrap();
    let s = s.on_send(K::Data, true).unwrap();
    assert_eq!(s, S::Closed(Closed::EndStreamSent));

    // Server push: the promised stream, then its response.
    let promised = S::Idle.promise(true).unwrap();
    assert_eq!(promised, S::ReservedLocal);
    let s = promised.on_send(K::Headers, false).unwrap();
    assert_eq!(s, S::HalfClosedRemote);
    assert_eq!(S::Open.promise(false), None);
    assert_eq!(S::Idle.promise(false), Some(S::ReservedRemote));
}

#[test]
fn queries() {
    for state in STATES {
        assert_eq!(
            state.is_active(),
            matches!(state, S::Open | S::HalfClosedLocal | S::HalfClosedRemote)
        );
        assert_eq!(state.is_closed(), matches!(state, S::Closed(_)));
        // DATA may be received exactly where the table accepts it.
        assert_eq!(
            state.can_recv_data(),
            matches!(state.recv(K::Data, false), Ok(Outcome::Accept(_))) && !state.is_closed()
        );
        assert_eq!(state.can_send_data(), state.on_send(K::Data, false).is_ok());
    }
}
