//! The HTTP/2 frame codec: round trips of every frame type, every
//! validation rule with its error code and classification, split
//! invariance, the preface matcher and sniffer, and byte vectors written
//! by hand.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::time::Instant;
use wirestate_h2::frame::*;
use wirestate_machine::{ErrorKind, Machine, Transmit};
use wirestate_testkit::split::{assert_split_invariant, cuts};

// ---------------------------------------------------------------- helpers

fn sid(n: u32) -> StreamId {
    StreamId::new(n).expect("31-bit stream id")
}

fn encode(frames: &[Frame]) -> BytesMut {
    let mut out = BytesMut::new();
    for f in frames {
        f.encode(&mut out).expect("encodable");
    }
    out
}

/// Raw frame bytes: a header and a payload, whatever they say.
fn raw(len: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A frame whose header length matches its payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    raw(payload.len() as u32, kind, flags, stream, payload)
}

/// What decoding all of `input` at once gives: frames and stream errors
/// in order, then the connection error that stopped it, if any.
#[derive(Debug, PartialEq)]
struct Decoded {
    items: Vec<Result<Frame, FrameError>>,
    fatal: Option<FrameError>,
    rest: usize,
}

fn decode_with(dec: &mut FrameDecoder, input: &[u8]) -> Decoded {
    let mut buf = BytesMut::from(input);
    let mut items = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(f)) => items.push(Ok(f)),
            Ok(None) => {
                return Decoded {
                    items,
                    fatal: None,
                    rest: buf.len(),
                };
            }
            Err(e) if e.is_stream_error() => items.push(Err(e)),
            Err(e) => {
                // Sticky.
                assert_eq!(dec.decode(&mut buf), Err(e.clone()));
                assert_eq!(dec.error(), Some(&e));
                return Decoded {
                    items,
                    fatal: Some(e),
                    rest: buf.len(),
                };
            }
        }
    }
}

fn decode_all(input: &[u8]) -> Decoded {
    decode_with(&mut FrameDecoder::new(), input)
}

/// Decodes one input holding exactly one frame.
fn decode_one(input: &[u8]) -> Frame {
    let d = decode_all(input);
    assert_eq!((d.fatal, d.rest), (None, 0), "{:?}", d.items);
    assert_eq!(d.items.len(), 1, "{:?}", d.items);
    d.items.into_iter().next().unwrap().unwrap()
}

/// The connection error `input` ends in, checking it is reported as soon
/// as its last byte arrives and no earlier (for an error found in a frame
/// header, `input` ends with that header).
fn conn_error(input: &[u8]) -> FrameError {
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::new();
    for (i, &b) in input.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(i, input.len() - 1, "{e:?} reported early, at byte {i}");
                    assert!(e.is_connection_error(), "{e:?}");
                    assert!(!e.is_stream_error());
                    assert_eq!(dec.decode(&mut buf), Err(e.clone()), "not sticky");
                    return e;
                }
            }
        }
    }
    panic!("no error from {input:02x?}");
}

fn goaway(code: ErrorCode) -> Option<Reply> {
    Some(Reply::GoAway(code))
}

fn reset(stream: u32, code: ErrorCode) -> Option<Reply> {
    Some(Reply::Reset {
        stream: sid(stream),
        code,
    })
}

const PING: [u8; 17] = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

fn ping_frame() -> Frame {
    Frame::Ping(Ping {
        ack: false,
        payload: [1, 2, 3, 4, 5, 6, 7, 8],
    })
}

// ------------------------------------------------------------- strategies

fn stream() -> impl Strategy<Value = StreamId> {
    prop_oneof![1u32..8, 1..=StreamId::MAX.get()].prop_map(sid)
}

fn any_stream() -> impl Strategy<Value = StreamId> {
    any::<u32>().prop_map(StreamId::from_bits)
}

fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..=64),
        1 => proptest::collection::vec(any::<u8>(), 0..=max),
    ]
    .prop_map(Bytes::from)
}

fn pad() -> impl Strategy<Value = Option<u8>> {
    proptest::option::of(any::<u8>())
}

fn spec() -> impl Strategy<Value = PrioritySpec> {
    (any_stream(), any::<bool>(), any::<u8>()).prop_map(|(dependency, exclusive, weight)| {
        PrioritySpec {
            dependency,
            exclusive,
            weight,
        }
    })
}

/// A spec that does not make `stream` depend on itself.
fn fix_spec(mut spec: PrioritySpec, stream: StreamId) -> PrioritySpec {
    if spec.dependency == stream {
        spec.dependency = StreamId::from_bits(stream.get() ^ 1);
    }
    spec
}

fn setting_value(id: SettingId) -> BoxedStrategy<u32> {
    match id {
        SettingId::EnablePush
        | SettingId::EnableConnectProtocol
        | SettingId::NoRfc7540Priorities => (0u32..=1).boxed(),
        SettingId::InitialWindowSize => {
            prop_oneof![0..=MAX_WINDOW_SIZE, Just(MAX_WINDOW_SIZE)].boxed()
        }
        SettingId::MaxFrameSize => prop_oneof![
            DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE,
            Just(DEFAULT_MAX_FRAME_SIZE),
            Just(MAX_MAX_FRAME_SIZE)
        ]
        .boxed(),
        _ => any::<u32>().boxed(),
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    let one = proptest::sample::select(SettingId::ALL.to_vec())
        .prop_flat_map(|id| setting_value(id).prop_map(move |v| (id, v)));
    proptest::collection::vec(one, 0..=8).prop_map(|pairs| {
        let mut s = Settings::new();
        for (id, v) in pairs {
            s.set(id, v).expect("valid value");
        }
        s
    })
}

/// A frame that decodes on its own (no field block left open).
fn single() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (stream(), payload(2000), any::<bool>(), pad()).prop_map(
            |(stream, data, end_stream, pad)| {
                Frame::Data(Data {
                    stream,
                    data,
                    end_stream,
                    pad,
                })
            }
        ),
        (
            stream(),
            proptest::option::of(spec()),
            payload(2000),
            any::<bool>(),
            pad()
        )
            .prop_map(|(stream, priority, block, end_stream, pad)| {
                Frame::Headers(Headers {
                    stream,
                    priority: priority.map(|p| fix_spec(p, stream)),
                    block,
                    end_stream,
                    end_headers: true,
                    pad,
                })
            }),
        (stream(), spec()).prop_map(|(stream, spec)| Frame::Priority(Priority {
            stream,
            spec: fix_spec(spec, stream)
        })),
        (stream(), any::<u32>()).prop_map(|(stream, code)| Frame::RstStream(RstStream {
            stream,
            code: ErrorCode(code)
        })),
        settings().prop_map(|s| Frame::Settings(SettingsFrame::new(s))),
        Just(Frame::Settings(SettingsFrame::ack())),
        (stream(), any_stream(), payload(2000), pad()).prop_map(
            |(stream, promised, block, pad)| {
                Frame::PushPromise(PushPromise {
                    stream,
                    promised,
                    block,
                    end_headers: true,
                    pad,
                })
            }
        ),
        (any::<bool>(), any::<[u8; 8]>())
            .prop_map(|(ack, payload)| Frame::Ping(Ping { ack, payload })),
        (any_stream(), any::<u32>(), payload(200)).prop_map(|(last_stream, code, debug)| {
            Frame::GoAway(GoAway {
                last_stream,
                code: ErrorCode(code),
                debug,
            })
        }),
        (any_stream(), 1..=MAX_WINDOW_SIZE).prop_map(|(stream, increment)| Frame::WindowUpdate(
            WindowUpdate { stream, increment }
        )),
        (10u8..=255, any::<u8>(), any_stream(), payload(300)).prop_map(
            |(kind, flags, stream, payload)| {
                Frame::Unknown(Unknown {
                    kind: FrameType(kind),
                    flags: Flags(flags),
                    stream,
                    payload,
                })
            }
        ),
    ]
}

/// A field block in several frames: HEADERS or PUSH_PROMISE without
/// END_HEADERS, then CONTINUATION frames, the last with END_HEADERS.
fn block_unit() -> impl Strategy<Value = Vec<Frame>> {
    (
        stream(),
        any::<bool>(),
        payload(300),
        pad(),
        proptest::collection::vec(payload(300), 1..4),
        proptest::option::of(spec()),
        any_stream(),
    )
        .prop_map(|(stream, push, first, pad, rest, priority, promised)| {
            let opener = if push {
                Frame::PushPromise(PushPromise {
                    stream,
                    promised,
                    block: first,
                    end_headers: false,
                    pad,
                })
            } else {
                Frame::Headers(Headers {
                    stream,
                    priority: priority.map(|p| fix_spec(p, stream)),
                    block: first,
                    end_stream: pad.is_some(),
                    end_headers: false,
                    pad,
                })
            };
            let n = rest.len();
            let mut v = vec![opener];
            v.extend(rest.into_iter().enumerate().map(|(i, block)| {
                Frame::Continuation(Continuation {
                    stream,
                    block,
                    end_headers: i + 1 == n,
                })
            }));
            v
        })
}

/// A run of frames a fresh decoder accepts in order.
fn unit() -> impl Strategy<Value = Vec<Frame>> {
    prop_oneof![4 => single().prop_map(|f| vec![f]), 1 => block_unit()]
}

/// Bytes that make the decoder report a stream error and go on.
fn stream_error() -> impl Strategy<Value = (Vec<u8>, FrameError)> {
    prop_oneof![
        (1u32..100, 0usize..20).prop_map(|(s, len)| {
            let len = if len == 5 { 6 } else { len };
            (
                frame(2, 0, s, &vec![7; len]),
                FrameError::InvalidLength {
                    kind: FrameType::PRIORITY,
                    stream: sid(s),
                    len: len as u32,
                },
            )
        }),
        (1u32..100).prop_map(|s| {
            let mut p = s.to_be_bytes().to_vec();
            p.push(15);
            (
                frame(2, 0, s, &p),
                FrameError::SelfDependency {
                    kind: FrameType::PRIORITY,
                    stream: sid(s),
                },
            )
        }),
        (1u32..100, any::<bool>()).prop_map(|(s, reserved)| {
            let inc: u32 = if reserved { 0x8000_0000 } else { 0 };
            (
                frame(8, 0, s, &inc.to_be_bytes()),
                FrameError::ZeroWindowIncrement { stream: sid(s) },
            )
        }),
    ]
}

// ------------------------------------------------------------ round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every frame type: encode, decode, same frame, same bytes again.
    #[test]
    fn round_trip(frames in unit()) {
        let wire = encode(&frames);
        let total: usize = frames.iter().map(Frame::encoded_len).sum();
        prop_assert_eq!(wire.len(), total);
        let d = decode_all(&wire);
        prop_assert_eq!(d.fatal, None);
        prop_assert_eq!(d.rest, 0);
        let got: Vec<Frame> = d.items.into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(&got, &frames);
        prop_assert_eq!(encode(&got), wire);
    }

    /// Padding of every length, on every padded type: removed on decoding,
    /// counted by `flow_len`, the same bytes again on encoding.
    #[test]
    fn padding_round_trips(stream in stream(), pad in any::<u8>(), body in payload(100), end in any::<bool>()) {
        let data = Data { stream, data: body.clone(), end_stream: end, pad: Some(pad) };
        prop_assert_eq!(data.flow_len(), body.len() + 1 + usize::from(pad));
        let wire = encode(&[Frame::Data(data.clone())]);
        prop_assert_eq!(wire.len(), 9 + data.flow_len());
        prop_assert!(wire[wire.len() - usize::from(pad)..].iter().all(|&b| b == 0));
        prop_assert_eq!(decode_one(&wire), Frame::Data(data));

        let headers = Headers { stream, priority: None, block: body.clone(), end_stream: end, end_headers: true, pad: Some(pad) };
        prop_assert_eq!(decode_one(&encode(&[headers.clone().into()])), Frame::Headers(headers));
        let push = PushPromise { stream, promised: sid(2), block: body, end_headers: true, pad: Some(pad) };
        prop_assert_eq!(decode_one(&encode(&[push.clone().into()])), Frame::PushPromise(push));
    }

    /// Payloads right around the advertised maximum frame size: up to it
    /// they decode, one byte over they are refused from the header alone.
    #[test]
    fn lengths_around_the_limit(
        max in prop_oneof![Just(16_384u32), Just(16_385), 16_384..70_000u32],
        delta in -3i64..=3,
        kind in 0usize..6,
        pad in pad(),
    ) {
        let len = (i64::from(max) + delta) as usize;
        let s = sid(1);
        let fill = |n: usize| Bytes::from(vec![0xab; n]);
        let over = |o: usize| len.checked_sub(o);
        let pad_len = pad.map_or(0, |p| 1 + usize::from(p));
        let frames: Vec<Frame> = match kind {
            0 => vec![Frame::Data(Data { stream: s, data: fill(len - pad_len), end_stream: false, pad })],
            1 => vec![Frame::Headers(Headers { stream: s, priority: Some(PrioritySpec { dependency: sid(3), exclusive: true, weight: 9 }), block: fill(len - pad_len - 5), end_stream: true, end_headers: true, pad })],
            2 => vec![Frame::PushPromise(PushPromise { stream: s, promised: sid(2), block: fill(len - pad_len - 4), end_headers: true, pad })],
            3 => vec![
                Frame::Headers(Headers { stream: s, priority: None, block: fill(10), end_stream: false, end_headers: false, pad: None }),
                Frame::Continuation(Continuation { stream: s, block: fill(len), end_headers: true }),
            ],
            4 => vec![Frame::GoAway(GoAway { last_stream: s, code: ErrorCode::NO_ERROR, debug: fill(over(8).unwrap()) })],
            _ => vec![Frame::Unknown(Unknown { kind: FrameType(0xfa), flags: Flags(0xff), stream: StreamId::ZERO, payload: fill(len) })],
        };
        let last = frames.last().unwrap();
        prop_assert_eq!(last.payload_len(), len);
        let wire = encode(&frames);
        let mut dec = FrameDecoder::new();
        dec.set_max_frame_size(max).unwrap();
        dec.set_max_header_block_size(usize::MAX);
        if len <= max as usize {
            let d = decode_with(&mut dec, &wire);
            prop_assert_eq!(d.fatal, None);
            let got: Vec<Frame> = d.items.into_iter().map(Result::unwrap).collect();
            prop_assert_eq!(got, frames);
        } else {
            // Everything but the payload of the last frame.
            let head_end = wire.len() - len;
            let d = decode_with(&mut dec, &wire[..head_end]);
            let err = FrameError::FrameTooLarge { kind: last.frame_type(), len: len as u32, max };
            prop_assert_eq!(d.fatal.as_ref(), Some(&err));
            prop_assert_eq!(d.items.len(), frames.len() - 1);
            prop_assert_eq!(err.hint(), goaway(ErrorCode::FRAME_SIZE_ERROR));
            prop_assert_eq!(err.kind(), ErrorKind::Limit);
        }
    }

    /// Field blocks split into HEADERS (or PUSH_PROMISE) and CONTINUATION
    /// frames: none over the limit, the fragments put back together give
    /// the block, the flags go where they belong.
    #[test]
    fn field_blocks_split(
        len in prop_oneof![0usize..100, 16_370usize..16_400, 30_000usize..70_000],
        max in prop_oneof![Just(16_384u32), 16_384..40_000u32],
        priority in proptest::option::of(spec()),
        pad in pad(),
        push in any::<bool>(),
        end_stream in any::<bool>(),
    ) {
        let s = sid(5);
        let block = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
        let mut wire = BytesMut::new();
        if push {
            let p = PushPromise { stream: s, promised: sid(4), block: block.clone(), end_headers: false, pad };
            p.encode_split(max, &mut wire).unwrap();
        } else if priority.is_none() && pad.is_none() {
            encode_headers(s, block.clone(), end_stream, max, &mut wire).unwrap();
        } else {
            let h = Headers { stream: s, priority: priority.map(|p| fix_spec(p, s)), block: block.clone(), end_stream, end_headers: false, pad };
            h.encode_split(max, &mut wire).unwrap();
        }
        let mut dec = FrameDecoder::new();
        dec.set_max_frame_size(max).unwrap();
        dec.set_max_header_block_size(usize::MAX);
        let d = decode_with(&mut dec, &wire);
        prop_assert_eq!(d.fatal, None);
        prop_assert_eq!(d.rest, 0);
        let frames: Vec<Frame> = d.items.into_iter().map(Result::unwrap).collect();
        let mut joined = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            prop_assert!(f.payload_len() <= max as usize);
            prop_assert_eq!(f.stream_id(), s);
            let last = i + 1 == frames.len();
            match f {
                Frame::Headers(h) => {
                    prop_assert_eq!(i, 0);
                    prop_assert!(!push);
                    prop_assert_eq!(h.end_stream, end_stream);
                    prop_assert_eq!(h.end_headers, last);
                    prop_assert_eq!(h.pad, pad);
                    joined.extend_from_slice(&h.block);
                }
                Frame::PushPromise(p) => {
                    prop_assert_eq!(i, 0);
                    prop_assert!(push);
                    prop_assert_eq!(p.end_headers, last);
                    joined.extend_from_slice(&p.block);
                }
                Frame::Continuation(c) => {
                    prop_assert!(i > 0);
                    prop_assert_eq!(c.end_headers, last);
                    joined.extend_from_slice(&c.block);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(&joined[..], &block[..]);
        // As few frames as possible: every frame but the last is full.
        for f in &frames[..frames.len() - 1] {
            prop_assert_eq!(f.payload_len(), max as usize);
        }
    }

    /// The DATA header apart from the payload gives the same bytes as
    /// encoding the whole frame.
    #[test]
    fn data_header_apart(stream in stream(), body in payload(3000), end in any::<bool>(), pad in pad()) {
        let d = Data { stream, data: body.clone(), end_stream: end, pad };
        let mut whole = BytesMut::new();
        Frame::Data(d.clone()).encode(&mut whole).unwrap();
        let mut chunked = BytesMut::new();
        d.encode_head(&mut chunked).unwrap();
        chunked.extend_from_slice(&d.data);
        chunked.extend_from_slice(&d.padding());
        prop_assert_eq!(&chunked, &whole);
        if pad.is_none() {
            let h = encode_data_header(stream, body.len(), end).unwrap();
            prop_assert_eq!(&h[..], &whole[..9]);
        }
    }
}

// ------------------------------------------------------- split invariance

/// The decoder as a machine, so the testkit's split harness can drive it:
/// frames and stream errors are events, a connection error is the error.
struct DecoderMachine {
    dec: FrameDecoder,
    buf: BytesMut,
    events: VecDeque<Result<Frame, FrameError>>,
}

impl DecoderMachine {
    fn new(max: u32, block: usize) -> Self {
        let mut dec = FrameDecoder::new();
        dec.set_max_frame_size(max).unwrap();
        dec.set_max_header_block_size(block);
        DecoderMachine {
            dec,
            buf: BytesMut::new(),
            events: VecDeque::new(),
        }
    }
}

impl Machine for DecoderMachine {
    type Event = Result<Frame, FrameError>;
    type Error = FrameError;
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) -> Result<(), FrameError> {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.dec.decode(&mut self.buf) {
                Ok(Some(f)) => self.events.push_back(Ok(f)),
                Ok(None) => return Ok(()),
                Err(e) if e.is_stream_error() => self.events.push_back(Err(e)),
                Err(e) => return Err(e),
            }
        }
    }
    fn handle_eof(&mut self, _now: Instant) -> Result<(), FrameError> {
        Ok(())
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        true
    }
    fn is_closed(&self) -> bool {
        self.dec.error().is_some()
    }
}

/// A stream of frames with stream errors among them, and maybe a tail of
/// arbitrary bytes.
fn mixed_stream() -> impl Strategy<Value = (Vec<u8>, Vec<Result<Frame, FrameError>>, bool)> {
    let item = prop_oneof![
        4 => unit().prop_map(|fs| (encode(&fs).to_vec(), fs.into_iter().map(Ok).collect::<Vec<_>>())),
        1 => stream_error().prop_map(|(bytes, e)| (bytes, vec![Err(e)])),
    ];
    (
        proptest::collection::vec(item, 0..12),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
    )
        .prop_map(|(items, tail)| {
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for (bytes, evs) in items {
                wire.extend_from_slice(&bytes);
                expected.extend(evs);
            }
            let garbage = tail.is_some();
            wire.extend(tail.unwrap_or_default());
            (wire, expected, garbage)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whole, byte by byte and in random pieces: the same frames, the same
    /// stream errors, the same connection error reported at the same byte.
    #[test]
    fn split_invariance(
        ((wire, expected, garbage), cut) in mixed_stream()
            .prop_flat_map(|s| { let n = s.0.len(); (Just(s), cuts(n)) }),
        block in prop_oneof![3 => Just(usize::MAX), 1 => 9usize..2000],
    ) {
        let t = assert_split_invariant(
            &|| DecoderMachine::new(16_384, block),
            Instant::now(),
            &wire,
            &cut,
            false,
            &mut |_, _| {},
            &|v| v,
        );
        if block == usize::MAX {
            // Everything expected decodes; garbage after it may add more.
            prop_assert!(t.events.len() >= expected.len());
            prop_assert_eq!(&t.events[..expected.len()], &expected[..]);
            if !garbage {
                prop_assert!(t.error.is_none(), "{:?}", t.error);
                prop_assert_eq!(t.events.len(), expected.len());
            }
        } else {
            // A field block over the bound stops decoding: what came
            // before is a prefix of the expectation.
            let n = t.events.len().min(expected.len());
            prop_assert_eq!(&t.events[..n], &expected[..n]);
        }
    }

    /// Arbitrary bytes: whole, byte by byte and in pieces agree, whatever
    /// decodes encodes back to a stream that decodes the same, and no error
    /// is a usage error.
    #[test]
    fn arbitrary_bytes(wire in proptest::collection::vec(any::<u8>(), 0..600), cut in cuts(600)) {
        let cut: Vec<usize> = cut.into_iter().filter(|&c| c < wire.len()).collect();
        let t = assert_split_invariant(
            &|| DecoderMachine::new(16_384, 300),
            Instant::now(),
            &wire,
            &cut,
            false,
            &mut |_, _| {},
            &|v| v,
        );
        let frames: Vec<Frame> = t.events.iter().filter_map(|e| e.as_ref().ok().cloned()).collect();
        for e in t.events.iter().filter_map(|e| e.as_ref().err()).chain(t.error.as_ref().map(|e| &e.0)) {
            prop_assert_ne!(e.kind(), ErrorKind::Usage);
            prop_assert!(e.hint().is_some());
        }
        let again = encode(&frames);
        let mut dec = FrameDecoder::new();
        dec.set_max_header_block_size(300);
        let d = decode_with(&mut dec, &again);
        prop_assert_eq!(d.fatal, None);
        let redecoded: Vec<Frame> = d.items.into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(redecoded, frames);
    }
}

// --------------------------------------------------------- frame headers

#[test]
fn header_fields() {
    let h = FrameHeader::parse(&[0xff, 0xff, 0xff, 0xee, 0xdd, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(h.len, MAX_PAYLOAD_LEN);
    assert_eq!(h.kind, FrameType(0xee));
    assert_eq!(h.flags, Flags(0xdd));
    assert_eq!(h.stream, StreamId::MAX, "reserved bit dropped");
    assert_eq!(
        h.encode(),
        [0xff, 0xff, 0xff, 0xee, 0xdd, 0x7f, 0xff, 0xff, 0xff]
    );
    for n in 0..9 {
        assert_eq!(FrameHeader::parse(&PING[..n]), None);
    }
}

#[test]
fn stream_ids() {
    assert_eq!(StreamId::new(0x7FFF_FFFF), Some(StreamId::MAX));
    assert_eq!(StreamId::new(0x8000_0000), None);
    assert_eq!(StreamId::from_bits(0x8000_0000), StreamId::ZERO);
    assert!(sid(1).is_client_initiated() && !sid(1).is_server_initiated());
    assert!(sid(2).is_server_initiated() && !sid(2).is_client_initiated());
    assert!(!StreamId::ZERO.is_client_initiated() && !StreamId::ZERO.is_server_initiated());
    assert_eq!(u32::from(sid(7)), 7);
    assert_eq!(sid(7).to_string(), "7");
}

#[test]
fn frame_types_and_flags() {
    let names = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    ];
    for (code, name) in names.iter().enumerate() {
        let t = FrameType(code as u8);
        assert_eq!(t.name(), Some(*name));
        assert!(t.is_known());
        assert_eq!(t.to_string(), *name);
    }
    assert_eq!(FrameType(0x10).name(), None);
    assert_eq!(format!("{:?}", FrameType(0x10)), "FrameType(0x10)");
    assert_eq!(FrameType::HEADERS.known_flags(), Flags(0x2d));
    assert_eq!(FrameType::DATA.known_flags(), Flags(0x09));
    assert_eq!(FrameType::PUSH_PROMISE.known_flags(), Flags(0x0c));
    assert_eq!(FrameType::CONTINUATION.known_flags(), Flags(0x04));
    assert_eq!(FrameType::PING.known_flags(), Flags::ACK);
    assert_eq!(FrameType::GOAWAY.known_flags(), Flags::EMPTY);
    assert!(Flags(0x25).contains(Flags::END_HEADERS.union(Flags::PRIORITY)));
    assert!(!Flags(0x25).contains(Flags::PADDED));
}

#[test]
fn error_codes() {
    let all = [
        (ErrorCode::NO_ERROR, 0x0, "NO_ERROR"),
        (ErrorCode::PROTOCOL_ERROR, 0x1, "PROTOCOL_ERROR"),
        (ErrorCode::INTERNAL_ERROR, 0x2, "INTERNAL_ERROR"),
        (ErrorCode::FLOW_CONTROL_ERROR, 0x3, "FLOW_CONTROL_ERROR"),
        (ErrorCode::SETTINGS_TIMEOUT, 0x4, "SETTINGS_TIMEOUT"),
        (ErrorCode::STREAM_CLOSED, 0x5, "STREAM_CLOSED"),
        (ErrorCode::FRAME_SIZE_ERROR, 0x6, "FRAME_SIZE_ERROR"),
        (ErrorCode::REFUSED_STREAM, 0x7, "REFUSED_STREAM"),
        (ErrorCode::CANCEL, 0x8, "CANCEL"),
        (ErrorCode::COMPRESSION_ERROR, 0x9, "COMPRESSION_ERROR"),
        (ErrorCode::CONNECT_ERROR, 0xa, "CONNECT_ERROR"),
        (ErrorCode::ENHANCE_YOUR_CALM, 0xb, "ENHANCE_YOUR_CALM"),
        (ErrorCode::INADEQUATE_SECURITY, 0xc, "INADEQUATE_SECURITY"),
        (ErrorCode::HTTP_1_1_REQUIRED, 0xd, "HTTP_1_1_REQUIRED"),
    ];
    for (code, n, name) in all {
        assert_eq!(code.get(), n);
        assert_eq!(ErrorCode::from(n), code);
        assert_eq!(u32::from(code), n);
        assert_eq!(code.name(), Some(name));
        assert!(code.is_known());
        assert_eq!(code.to_string(), name);
        assert_eq!(format!("{code:?}"), name);
    }
    let odd = ErrorCode(0xdead_beef);
    assert!(!odd.is_known());
    assert_eq!(odd.name(), None);
    assert_eq!(odd.to_string(), "0xdeadbeef");
    // Unknown codes survive a round trip.
    let rst = Frame::RstStream(RstStream {
        stream: sid(1),
        code: odd,
    });
    assert_eq!(decode_one(&encode(std::slice::from_ref(&rst))), rst);
}

// --------------------------------------------------------- validation rules

#[test]
fn too_large_is_refused_from_the_header() {
    // 16385 bytes announced: refused after 9 bytes, nothing buffered.
    let e = conn_error(&raw(16_385, 0, 0, 1, &[]));
    assert_eq!(
        e,
        FrameError::FrameTooLarge {
            kind: FrameType::DATA,
            len: 16_385,
            max: 16_384
        }
    );
    assert_eq!(e.hint(), goaway(ErrorCode::FRAME_SIZE_ERROR));
    assert_eq!(e.kind(), ErrorKind::Limit);
    // The largest length the field can hold, on an unknown type.
    let e = conn_error(&raw(MAX_PAYLOAD_LEN, 0xff, 0, 0, &[]));
    assert!(matches!(
        e,
        FrameError::FrameTooLarge {
            len: MAX_PAYLOAD_LEN,
            ..
        }
    ));
    // Raised limit.
    let mut dec = FrameDecoder::new();
    dec.set_max_frame_size(MAX_MAX_FRAME_SIZE).unwrap();
    let mut buf = BytesMut::from(&raw(MAX_PAYLOAD_LEN, 0, 0, 1, &[])[..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert!(buf.is_empty(), "the header is taken, the payload awaited");
}

#[test]
fn max_frame_size_must_be_valid() {
    let mut dec = FrameDecoder::new();
    assert_eq!(dec.max_frame_size(), 16_384);
    for bad in [0, 16_383, 16_777_216, u32::MAX] {
        let e = dec.set_max_frame_size(bad).unwrap_err();
        assert_eq!(e, FrameError::InvalidMaxFrameSize(bad));
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert_eq!(e.hint(), None);
        assert!(!e.is_connection_error() && !e.is_stream_error());
        let mut out = BytesMut::new();
        assert_eq!(
            encode_headers(sid(1), Bytes::new(), true, bad, &mut out),
            Err(FrameError::InvalidMaxFrameSize(bad))
        );
        assert!(out.is_empty());
    }
    assert_eq!(dec.max_frame_size(), 16_384);
}

#[test]
fn stream_zero_or_not() {
    let on_stream = [(0u8, 0usize), (1, 0), (2, 5), (3, 4), (5, 4), (9, 0)];
    for (kind, len) in on_stream {
        let mut input = Vec::new();
        if kind == 9 {
            // A CONTINUATION needs an open block; put it on stream 0 after one.
            input = frame(1, 0, 1, &[]);
            let e = conn_error(&[input.clone(), frame(9, 4, 0, &[])].concat());
            assert!(
                matches!(e, FrameError::ExpectedContinuation { .. }),
                "{e:?}"
            );
            input.clear();
        }
        input.extend(raw(len as u32, kind, 0, 0, &[]));
        let e = conn_error(&input);
        let t = FrameType(kind);
        let expected = if kind == 9 {
            FrameError::UnexpectedContinuation {
                stream: StreamId::ZERO,
            }
        } else {
            FrameError::InvalidStreamId {
                kind: t,
                stream: StreamId::ZERO,
            }
        };
        assert_eq!(e, expected, "{t}");
        assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
    }
    for (kind, len) in [(4u8, 0usize), (6, 8), (7, 8)] {
        let e = conn_error(&raw(len as u32, kind, 0, 3, &[]));
        assert_eq!(
            e,
            FrameError::InvalidStreamId {
                kind: FrameType(kind),
                stream: sid(3)
            }
        );
        assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
        assert_eq!(e.kind(), ErrorKind::Protocol);
    }
    // WINDOW_UPDATE and unknown types go anywhere.
    for s in [0, 1, 2] {
        assert!(matches!(
            decode_one(&frame(8, 0, s, &[0, 0, 0, 1])),
            Frame::WindowUpdate(_)
        ));
        assert!(matches!(
            decode_one(&frame(0x42, 0, s, b"x")),
            Frame::Unknown(_)
        ));
    }
}

#[test]
fn fixed_lengths() {
    let cases: &[(u8, u8, u32, &[usize])] = &[
        (6, 0, 0, &[0, 7, 9, 16]), // PING: 8
        (3, 0, 1, &[0, 3, 5, 8]),  // RST_STREAM: 4
        (8, 0, 0, &[0, 3, 5]),     // WINDOW_UPDATE: 4
        (8, 0, 1, &[3, 5]),        // (on a stream too)
        (4, 0, 0, &[1, 5, 7, 13]), // SETTINGS: multiple of 6
        (4, 1, 0, &[6, 12]),       // SETTINGS ACK: 0
        (7, 0, 0, &[0, 4, 7]),     // GOAWAY: at least 8
        (0, 8, 1, &[0]),           // DATA, PADDED: at least 1
        (1, 8, 1, &[0]),           // HEADERS, PADDED
        (1, 0x20, 1, &[0, 4]),     // HEADERS, PRIORITY: at least 5
        (1, 0x28, 1, &[5]),        // HEADERS, PADDED and PRIORITY: at least 6
        (5, 0, 1, &[0, 3]),        // PUSH_PROMISE: at least 4
        (5, 8, 1, &[4]),           // PUSH_PROMISE, PADDED: at least 5
    ];
    for &(kind, flags, stream, lens) in cases {
        for &len in lens {
            let e = conn_error(&raw(len as u32, kind, flags, stream, &[]));
            assert_eq!(
                e,
                FrameError::InvalidLength {
                    kind: FrameType(kind),
                    stream: StreamId::from_bits(stream),
                    len: len as u32
                },
                "type {kind} flags {flags:#x} length {len}"
            );
            assert_eq!(e.hint(), goaway(ErrorCode::FRAME_SIZE_ERROR));
        }
    }
}

#[test]
fn priority_length_is_a_stream_error_and_skipped() {
    for len in [0usize, 4, 6, 100] {
        let input = [frame(2, 0, 3, &vec![0xee; len]), PING.to_vec()].concat();
        let expected = FrameError::InvalidLength {
            kind: FrameType::PRIORITY,
            stream: sid(3),
            len: len as u32,
        };
        assert_eq!(expected.hint(), reset(3, ErrorCode::FRAME_SIZE_ERROR));
        assert!(expected.is_stream_error() && !expected.is_connection_error());
        // Whole.
        let d = decode_all(&input);
        assert_eq!(d.items, vec![Err(expected.clone()), Ok(ping_frame())]);
        assert_eq!((d.fatal, d.rest), (None, 0));
        // Byte by byte: the error comes with the header, the payload is
        // dropped as it arrives.
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => got.push((i, Ok(f))),
                    Ok(None) => break,
                    Err(e) => got.push((i, Err(e))),
                }
            }
        }
        assert_eq!(
            got,
            vec![(8, Err(expected)), (input.len() - 1, Ok(ping_frame()))]
        );
    }
}

#[test]
fn padding_rules() {
    // DATA: pad length must be below the payload length.
    for (len, pad) in [(1u32, 1u8), (1, 200), (5, 5), (5, 255)] {
        let mut p = vec![pad];
        p.resize(len as usize, 0);
        let e = conn_error(&frame(0, 8, 1, &p));
        assert_eq!(
            e,
            FrameError::InvalidPadding {
                kind: FrameType::DATA,
                pad_len: pad,
                len
            }
        );
        assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
    }
    // Exactly at the bound: all padding, empty data.
    let f = decode_one(&frame(0, 8 | 1, 1, &[4, 0, 0, 0, 0]));
    assert_eq!(
        f,
        Frame::Data(Data {
            stream: sid(1),
            data: Bytes::new(),
            end_stream: true,
            pad: Some(4)
        })
    );
    let Frame::Data(d) = f else { unreachable!() };
    assert_eq!(d.flow_len(), 5);
    // A pad length byte of 0.
    let Frame::Data(d) = decode_one(&frame(0, 8, 1, &[0, b'h', b'i'])) else {
        panic!()
    };
    assert_eq!((&d.data[..], d.pad, d.flow_len()), (&b"hi"[..], Some(0), 3));
    // Non-zero padding bytes are accepted (RFC 9113 lets receivers skip the check).
    let Frame::Data(d) = decode_one(&frame(0, 8, 1, &[2, b'x', 7, 7])) else {
        panic!()
    };
    assert_eq!(&d.data[..], b"x");

    // HEADERS with priority: the padding must fit after the 5 priority bytes.
    let mut p = vec![2, 0, 0, 0, 3, 10];
    p.push(0x82);
    p.extend([0, 0]);
    let Frame::Headers(h) = decode_one(&frame(1, 0x2c, 1, &p)) else {
        panic!()
    };
    assert_eq!(&h.block[..], [0x82]);
    assert_eq!(h.pad, Some(2));
    p[0] = 4;
    let e = conn_error(&frame(1, 0x2c, 1, &p));
    assert_eq!(
        e,
        FrameError::InvalidPadding {
            kind: FrameType::HEADERS,
            pad_len: 4,
            len: 9
        }
    );
    // PUSH_PROMISE: after the promised stream id.
    let e = conn_error(&frame(5, 0xc, 1, &[2, 0, 0, 0, 2, 0]));
    assert_eq!(
        e,
        FrameError::InvalidPadding {
            kind: FrameType::PUSH_PROMISE,
            pad_len: 2,
            len: 6
        }
    );
    let Frame::PushPromise(pp) = decode_one(&frame(5, 0xc, 1, &[1, 0, 0, 0, 2, 0])) else {
        panic!()
    };
    assert_eq!((pp.promised, pp.block.len(), pp.pad), (sid(2), 0, Some(1)));
}

#[test]
fn zero_window_increment() {
    let e = conn_error(&frame(8, 0, 0, &[0, 0, 0, 0]));
    assert_eq!(
        e,
        FrameError::ZeroWindowIncrement {
            stream: StreamId::ZERO
        }
    );
    assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
    // The reserved bit alone is still 0.
    let e = conn_error(&frame(8, 0, 0, &[0x80, 0, 0, 0]));
    assert!(matches!(e, FrameError::ZeroWindowIncrement { .. }));

    // On a stream: a stream error, and decoding goes on.
    let input = [frame(8, 0, 5, &[0x80, 0, 0, 0]), PING.to_vec()].concat();
    let d = decode_all(&input);
    let e = FrameError::ZeroWindowIncrement { stream: sid(5) };
    assert_eq!(e.hint(), reset(5, ErrorCode::PROTOCOL_ERROR));
    assert_eq!(d.items, vec![Err(e), Ok(ping_frame())]);
    assert_eq!(d.fatal, None);
    // The reserved bit is dropped from a non-zero increment.
    let Frame::WindowUpdate(w) = decode_one(&frame(8, 0, 5, &[0xff, 0xff, 0xff, 0xff])) else {
        panic!()
    };
    assert_eq!(w.increment, MAX_WINDOW_SIZE);
}

#[test]
fn settings_values() {
    let entry = |id: u16, v: u32| [&id.to_be_bytes()[..], &v.to_be_bytes()[..]].concat();
    let bad: &[(u16, u32, SettingId, ErrorCode)] = &[
        (2, 2, SettingId::EnablePush, ErrorCode::PROTOCOL_ERROR),
        (
            2,
            u32::MAX,
            SettingId::EnablePush,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            4,
            0x8000_0000,
            SettingId::InitialWindowSize,
            ErrorCode::FLOW_CONTROL_ERROR,
        ),
        (
            4,
            u32::MAX,
            SettingId::InitialWindowSize,
            ErrorCode::FLOW_CONTROL_ERROR,
        ),
        (5, 0, SettingId::MaxFrameSize, ErrorCode::PROTOCOL_ERROR),
        (
            5,
            16_383,
            SettingId::MaxFrameSize,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            5,
            16_777_216,
            SettingId::MaxFrameSize,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            8,
            2,
            SettingId::EnableConnectProtocol,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            9,
            7,
            SettingId::NoRfc7540Priorities,
            ErrorCode::PROTOCOL_ERROR,
        ),
    ];
    for &(code, value, id, reply) in bad {
        // After a valid entry, so the error is found mid-frame.
        let p = [entry(3, 100), entry(code, value)].concat();
        let e = conn_error(&frame(4, 0, 0, &p));
        assert_eq!(e, FrameError::InvalidSetting { id, value });
        assert_eq!(e.hint(), goaway(reply));
        assert_eq!(id.validate(value), Err(e.clone()));
        assert_eq!(Settings::new().set(id, value), Err(e));
    }
    // The bounds themselves are fine.
    let p = [
        entry(2, 0),
        entry(2, 1),
        entry(4, MAX_WINDOW_SIZE),
        entry(5, 16_384),
        entry(5, 16_777_215),
        entry(8, 1),
        entry(9, 1),
        entry(1, u32::MAX),
        entry(3, 0),
        entry(6, u32::MAX),
    ]
    .concat();
    let Frame::Settings(s) = decode_one(&frame(4, 0, 0, &p)) else {
        panic!()
    };
    assert!(!s.ack);
    let s = s.settings;
    assert_eq!(s.enable_push(), Some(true), "the last value wins");
    assert_eq!(s.initial_window_size(), Some(MAX_WINDOW_SIZE));
    assert_eq!(s.max_frame_size(), Some(16_777_215));
    assert_eq!(s.enable_connect_protocol(), Some(true));
    assert_eq!(s.no_rfc7540_priorities(), Some(true));
    assert_eq!(s.header_table_size(), Some(u32::MAX));
    assert_eq!(s.max_concurrent_streams(), Some(0));
    assert_eq!(s.max_header_list_size(), Some(u32::MAX));
    assert_eq!(s.len(), 8);
}

#[test]
fn unknown_settings_are_ignored() {
    let p = [
        0x00, 0x07, 0xff, 0xff, 0xff, 0xff, // 0x7 is unassigned
        0x00, 0x03, 0x00, 0x00, 0x00, 0x64, // MAX_CONCURRENT_STREAMS 100
        0xfa, 0xfa, 0x12, 0x34, 0x56, 0x78, // grease
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0x0 is reserved
    ];
    let Frame::Settings(s) = decode_one(&frame(4, 0, 0, &p)) else {
        panic!()
    };
    assert_eq!(
        s.settings.iter().collect::<Vec<_>>(),
        vec![(SettingId::MaxConcurrentStreams, 100)]
    );
    // Re-encoded without them.
    assert_eq!(
        &encode(&[Frame::Settings(s)])[..],
        &frame(4, 0, 0, &p[6..12])[..]
    );
}

#[test]
fn unknown_flags_and_reserved_bits_are_ignored() {
    // DATA with every flag bit set except PADDED: END_STREAM is read, the rest dropped.
    let Frame::Data(d) = decode_one(&frame(0, 0xf7, 0x8000_0001, b"abc")) else {
        panic!()
    };
    assert_eq!(
        (d.stream, d.end_stream, d.pad, &d.data[..]),
        (sid(1), true, None, &b"abc"[..])
    );
    // PING with all flags: ACK.
    let Frame::Ping(p) = decode_one(&frame(6, 0xff, 0x8000_0000, &[0; 8])) else {
        panic!()
    };
    assert!(p.ack);
    // RST_STREAM, GOAWAY, WINDOW_UPDATE, PRIORITY ignore all flags.
    assert_eq!(
        decode_one(&frame(3, 0xff, 1, &[0, 0, 0, 8])),
        Frame::RstStream(RstStream {
            stream: sid(1),
            code: ErrorCode::CANCEL
        })
    );
    let Frame::GoAway(g) = decode_one(&frame(7, 0xff, 0, &[0x80, 0, 0, 9, 0, 0, 0, 0xb, b'x']))
    else {
        panic!()
    };
    assert_eq!(
        (g.last_stream, g.code, &g.debug[..]),
        (sid(9), ErrorCode::ENHANCE_YOUR_CALM, &b"x"[..])
    );
    let Frame::Priority(p) = decode_one(&frame(2, 0xff, 3, &[0x80, 0, 0, 1, 255])) else {
        panic!()
    };
    assert_eq!(
        p.spec,
        PrioritySpec {
            dependency: sid(1),
            exclusive: true,
            weight: 255
        }
    );
    assert_eq!(p.spec.weight(), 256);
    // CONTINUATION keeps END_HEADERS only.
    let input = [
        frame(1, 0x00, 1, b"a"),
        frame(9, 0xfb, 1, b"b"),
        frame(9, 0x04, 1, b"c"),
    ]
    .concat();
    let d = decode_all(&input);
    assert_eq!(d.fatal, None);
    assert_eq!(
        d.items[1],
        Ok(Frame::Continuation(Continuation {
            stream: sid(1),
            block: Bytes::from_static(b"b"),
            end_headers: false
        }))
    );
    assert_eq!(d.items.len(), 3);
}

#[test]
fn self_dependency() {
    // PRIORITY: a stream error.
    let input = [frame(2, 0, 7, &[0x80, 0, 0, 7, 0]), PING.to_vec()].concat();
    let e = FrameError::SelfDependency {
        kind: FrameType::PRIORITY,
        stream: sid(7),
    };
    assert_eq!(e.hint(), reset(7, ErrorCode::PROTOCOL_ERROR));
    assert_eq!(decode_all(&input).items, vec![Err(e), Ok(ping_frame())]);
    // HEADERS: decoded, priority and all; the connection resets the
    // stream once its field block has been through HPACK (a stream error,
    // RFC 9113 §5.3.1, that must not desynchronise the table).
    let items = decode_all(&frame(1, 0x24, 7, &[0, 0, 0, 7, 0, 0x82])).items;
    assert_eq!(items.len(), 1);
    match &items[0] {
        Ok(Frame::Headers(h)) => {
            assert_eq!(h.priority.map(|p| p.dependency), Some(sid(7)));
            assert_eq!(h.block, Bytes::from_static(&[0x82]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn continuation_sequencing() {
    let open = frame(1, 0, 1, b"a");
    // Anything but a CONTINUATION on the same stream breaks the block.
    for (other, kind, got) in [
        (PING.to_vec(), FrameType::PING, 0),
        (frame(0, 0, 1, b"x"), FrameType::DATA, 1),
        (frame(9, 4, 3, b"x"), FrameType::CONTINUATION, 3),
        (frame(2, 0, 1, &[0, 0, 0, 3, 0]), FrameType::PRIORITY, 1),
        (frame(2, 0, 1, &[0; 7]), FrameType::PRIORITY, 1),
        (frame(0x20, 0, 1, b""), FrameType(0x20), 1),
        (frame(1, 4, 3, b"x"), FrameType::HEADERS, 3),
    ] {
        // Refused from its header.
        let e = conn_error(&[&open[..], &other[..9]].concat());
        assert_eq!(
            e,
            FrameError::ExpectedContinuation {
                stream: sid(1),
                kind,
                got: StreamId::from_bits(got)
            }
        );
        assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
    }
    // Also after PUSH_PROMISE.
    let e = conn_error(&[&frame(5, 0, 1, &[0, 0, 0, 2])[..], &PING[..9]].concat());
    assert!(matches!(e, FrameError::ExpectedContinuation { .. }));
    // A CONTINUATION with no block open, or after the block ended.
    let e = conn_error(&raw(1, 9, 4, 1, &[]));
    assert_eq!(e, FrameError::UnexpectedContinuation { stream: sid(1) });
    assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
    let e = conn_error(&[frame(1, 4, 1, b"a"), raw(1, 9, 4, 1, &[])].concat());
    assert_eq!(e, FrameError::UnexpectedContinuation { stream: sid(1) });
    // The open block is visible.
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::from(&open[..]);
    dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(dec.open_header_block(), Some(sid(1)));
    buf.extend_from_slice(&frame(9, 4, 1, b"b"));
    dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(dec.open_header_block(), None);
}

#[test]
fn continuation_flood_is_bounded() {
    let mut dec = FrameDecoder::new();
    assert_eq!(dec.max_header_block_size(), DEFAULT_MAX_HEADER_BLOCK_SIZE);
    dec.set_max_header_block_size(100);
    // HEADERS (9 + 1) then empty CONTINUATIONs (9 each): 10 + 9 * 10 = 100 fits.
    let mut input = frame(1, 0, 1, b"a");
    for _ in 0..10 {
        input.extend(frame(9, 0, 1, b""));
    }
    let d = decode_with(&mut dec, &input);
    assert_eq!((d.items.len(), d.fatal), (11, None));
    // One more empty frame is refused from its header.
    let d = decode_with(&mut dec, &frame(9, 0, 1, b""));
    let e = FrameError::HeaderBlockTooLarge {
        stream: sid(1),
        max: 100,
    };
    assert_eq!(d.fatal, Some(e.clone()));
    assert_eq!(e.hint(), goaway(ErrorCode::ENHANCE_YOUR_CALM));
    assert_eq!(e.kind(), ErrorKind::Limit);
    // A single HEADERS over the bound, refused before its payload.
    let mut dec = FrameDecoder::new();
    dec.set_max_header_block_size(50);
    let d = decode_with(&mut dec, &raw(42, 1, 4, 3, &[]));
    assert_eq!(
        d.fatal,
        Some(FrameError::HeaderBlockTooLarge {
            stream: sid(3),
            max: 50
        })
    );
    // Each block starts afresh.
    let mut dec = FrameDecoder::new();
    dec.set_max_header_block_size(30);
    let one = [frame(1, 0, 1, b"a"), frame(9, 4, 1, b"b")].concat();
    let d = decode_with(&mut dec, &[one.clone(), one.clone(), one].concat());
    assert_eq!((d.items.len(), d.fatal), (6, None));
}

#[test]
fn connection_errors_are_sticky() {
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::from(&[frame(6, 0, 1, &[0; 8]), PING.to_vec()].concat()[..]);
    let e = dec.decode(&mut buf).unwrap_err();
    for _ in 0..3 {
        assert_eq!(dec.decode(&mut buf), Err(e.clone()));
    }
    // Refused from the header: its payload and the next frame stay.
    assert_eq!(buf.len(), 8 + PING.len(), "nothing more is taken");
}

#[test]
fn unknown_frames_surface_whole() {
    let f = decode_one(&frame(0xfb, 0xa5, 0x8000_0003, b"extension"));
    assert_eq!(
        f,
        Frame::Unknown(Unknown {
            kind: FrameType(0xfb),
            flags: Flags(0xa5),
            stream: sid(3),
            payload: Bytes::from_static(b"extension")
        })
    );
    assert_eq!(
        (f.frame_type(), f.payload_len(), f.flags()),
        (FrameType(0xfb), 9, Flags(0xa5))
    );
    // ALTSVC (0xa), ORIGIN (0xc), PRIORITY_UPDATE (0x10) are extensions here.
    for kind in [0xa, 0xc, 0x10] {
        assert!(matches!(
            decode_one(&frame(kind, 0, 0, b"")),
            Frame::Unknown(_)
        ));
    }
}

#[test]
fn payloads_are_not_copied() {
    let wire = encode(&[
        Frame::Data(Data::new(sid(1), Bytes::from(vec![7; 1000]), false)),
        Frame::Headers(Headers::new(sid(3), Bytes::from(vec![8; 1000]), true)),
    ])
    .freeze();
    let mut buf = BytesMut::from(&wire[..]);
    let start = buf.as_ptr() as usize;
    let range = start..start + buf.len();
    let mut dec = FrameDecoder::new();
    let Some(Frame::Data(d)) = dec.decode(&mut buf).unwrap() else {
        panic!()
    };
    let Some(Frame::Headers(h)) = dec.decode(&mut buf).unwrap() else {
        panic!()
    };
    assert!(range.contains(&(d.data.as_ptr() as usize)));
    assert!(range.contains(&(h.block.as_ptr() as usize)));
}

#[test]
fn encoding_refuses_what_the_wire_cannot_carry() {
    let huge = Bytes::from(vec![0; 1 << 24]);
    let mut out = BytesMut::new();
    let e = Frame::Data(Data::new(sid(1), huge.clone(), false))
        .encode(&mut out)
        .unwrap_err();
    assert_eq!(
        e,
        FrameError::PayloadTooLarge {
            kind: FrameType::DATA,
            len: 1 << 24
        }
    );
    assert_eq!((e.kind(), e.hint()), (ErrorKind::Usage, None));
    assert!(out.is_empty(), "nothing written");
    assert!(encode_data_header(sid(1), 1 << 24, false).is_err());
    assert!(encode_data_header(sid(1), (1 << 24) - 1, false).is_ok());
    // The padding counts too.
    let mut d = Data::new(sid(1), huge.slice(..(1 << 24) - 1), false);
    d.pad = Some(0);
    assert!(Frame::Data(d.clone()).encode(&mut out).is_err());
    assert!(d.encode_head(&mut out).is_err());
    let e = Frame::WindowUpdate(WindowUpdate {
        stream: sid(1),
        increment: 0x8000_0000,
    })
    .encode(&mut out)
    .unwrap_err();
    assert_eq!(e, FrameError::InvalidIncrement(0x8000_0000));
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(out.is_empty());
}

// ----------------------------------------------------------- the preface

const FIRST_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

#[test]
fn preface_in_every_split() {
    let input = [&PREFACE[..], &FIRST_SETTINGS[..]].concat();
    let n = input.len();
    for a in 0..=n {
        for b in a..=n {
            let mut m = PrefaceMatcher::new();
            let mut buf = BytesMut::new();
            let mut done_at = None;
            for (i, piece) in [&input[..a], &input[a..b], &input[b..]]
                .into_iter()
                .enumerate()
            {
                buf.extend_from_slice(piece);
                if m.decode(&mut buf).unwrap() && done_at.is_none() {
                    done_at = Some(i);
                }
            }
            assert!(m.is_complete());
            let expected_piece = if a >= 24 {
                0
            } else if b >= 24 {
                1
            } else {
                2
            };
            assert_eq!(done_at, Some(expected_piece));
            assert_eq!(&buf[..], FIRST_SETTINGS, "cuts {a} {b}");
            // Completion is stable: more input is frames, not preface.
            assert_eq!(m.feed(b"xyz"), Ok(0));
            let mut dec = FrameDecoder::new();
            assert_eq!(
                dec.decode(&mut buf),
                Ok(Some(Frame::Settings(SettingsFrame::default())))
            );
        }
    }
}

#[test]
fn preface_mismatch_at_every_byte() {
    for k in 0..PREFACE.len() {
        let mut bad = PREFACE.to_vec();
        bad[k] ^= 0x20;
        // Byte by byte: the error comes with byte k.
        let mut m = PrefaceMatcher::new();
        for (i, b) in bad.iter().enumerate() {
            let r = m.feed(std::slice::from_ref(b));
            if i < k {
                assert_eq!(r, Ok(1));
            } else {
                let e = r.unwrap_err();
                assert_eq!(e, FrameError::InvalidPreface);
                assert_eq!(e.hint(), goaway(ErrorCode::PROTOCOL_ERROR));
                break;
            }
        }
        // Sticky, even for good bytes.
        assert_eq!(m.feed(&PREFACE[k..]), Err(FrameError::InvalidPreface));
        // Whole.
        assert_eq!(
            PrefaceMatcher::new().feed(&bad),
            Err(FrameError::InvalidPreface)
        );
        let mut buf = BytesMut::from(&bad[..]);
        assert_eq!(
            PrefaceMatcher::new().decode(&mut buf),
            Err(FrameError::InvalidPreface)
        );
        // The sniffer.
        assert_eq!(is_h2_preface_prefix(&bad[..k]), None);
        assert_eq!(is_h2_preface_prefix(&bad[..=k]), Some(false));
        assert_eq!(is_h2_preface_prefix(&bad), Some(false));
    }
}

#[test]
fn sniffer() {
    for k in 0..PREFACE.len() {
        assert_eq!(is_h2_preface_prefix(&PREFACE[..k]), None, "{k}");
    }
    assert_eq!(is_h2_preface_prefix(PREFACE), Some(true));
    assert_eq!(
        is_h2_preface_prefix(&[&PREFACE[..], &FIRST_SETTINGS[..]].concat()),
        Some(true)
    );
    for http1 in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"PRI / HTTP/1.1\r\n",
        b"PRI * HTTP/1.1\r\n\r\n",
        b"POST",
        b"P",
        b"\x16\x03\x01",                         // a TLS ClientHello
        b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", // frames without the preface
    ] {
        let expected = if PREFACE.starts_with(http1) {
            None
        } else {
            Some(false)
        };
        assert_eq!(is_h2_preface_prefix(http1), expected, "{http1:?}");
    }
    assert_eq!(is_h2_preface_prefix(b"P"), None);
}

// ------------------------------------------------------- hand-made vectors

#[rustfmt::skip]
const CURL_SETTINGS: [u8; 27] = [
    0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x64, // MAX_CONCURRENT_STREAMS 100
    0x00, 0x04, 0x02, 0x00, 0x00, 0x00, // INITIAL_WINDOW_SIZE 32 MiB
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // ENABLE_PUSH 0
];

/// WINDOW_UPDATE on stream 0: 33488897, the connection window to 32 MiB.
const CURL_WINDOW_UPDATE: [u8; 13] = [0, 0, 4, 8, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x01];

/// HEADERS on stream 1, END_STREAM | END_HEADERS, 17 bytes.
#[rustfmt::skip]
const CURL_HEADERS: [u8; 26] = [
    0x00, 0x00, 0x11, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01,
    0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4,
    0xff,
];

/// A client's first flight as curl sends it through nghttp2: the preface,
/// SETTINGS (MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 32 MiB,
/// ENABLE_PUSH 0), a connection WINDOW_UPDATE, then the request HEADERS
/// (RFC 7541 C.4.1's block: GET http://www.example.com/).
#[test]
fn curl_first_flight() {
    let wire = [
        &PREFACE[..],
        &CURL_SETTINGS,
        &CURL_WINDOW_UPDATE,
        &CURL_HEADERS,
    ]
    .concat();
    let wire = &wire[..];
    assert_eq!(is_h2_preface_prefix(wire), Some(true));
    let mut buf = BytesMut::from(wire);
    assert!(PrefaceMatcher::new().decode(&mut buf).unwrap());
    let mut dec = FrameDecoder::new();
    let mut frames = Vec::new();
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty());
    let mut settings = Settings::new();
    settings.set(SettingId::MaxConcurrentStreams, 100).unwrap();
    settings
        .set(SettingId::InitialWindowSize, 32 << 20)
        .unwrap();
    settings.set(SettingId::EnablePush, 0).unwrap();
    assert_eq!(
        frames,
        vec![
            Frame::Settings(SettingsFrame::new(settings)),
            Frame::WindowUpdate(WindowUpdate {
                stream: StreamId::ZERO,
                increment: 33_488_897
            }),
            Frame::Headers(Headers::new(
                sid(1),
                Bytes::copy_from_slice(&CURL_HEADERS[9..]),
                true
            )),
        ]
    );
    let Frame::Settings(s) = &frames[0] else {
        unreachable!()
    };
    assert_eq!(s.settings.enable_push(), Some(false));
    // Settings go out in identifier order.
    let mut out = BytesMut::new();
    frames[0].encode(&mut out).unwrap();
    assert_eq!(
        &out[..],
        [
            0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, //
            0x00, 0x02, 0x00, 0x00, 0x00, 0x00, //
            0x00, 0x03, 0x00, 0x00, 0x00, 0x64, //
            0x00, 0x04, 0x02, 0x00, 0x00, 0x00,
        ]
    );
    for f in &frames[1..] {
        let mut out = BytesMut::new();
        f.encode(&mut out).unwrap();
        assert!(wire.windows(out.len()).any(|w| w == &out[..]), "{f:?}");
    }
}

/// Server frames in exact bytes: SETTINGS ACK, PING ACK, RST_STREAM,
/// GOAWAY with debug data, a padded DATA, a PUSH_PROMISE, a PRIORITY.
#[test]
fn exact_encodings() {
    let cases: Vec<(Frame, Vec<u8>)> = vec![
        (
            Frame::Settings(SettingsFrame::ack()),
            vec![0, 0, 0, 4, 1, 0, 0, 0, 0],
        ),
        (
            Frame::Ping(Ping {
                ack: true,
                payload: *b"wirestat",
            }),
            [&[0, 0, 8, 6, 1, 0, 0, 0, 0][..], b"wirestat"].concat(),
        ),
        (
            Frame::RstStream(RstStream {
                stream: sid(3),
                code: ErrorCode::REFUSED_STREAM,
            }),
            vec![0, 0, 4, 3, 0, 0, 0, 0, 3, 0, 0, 0, 7],
        ),
        (
            Frame::GoAway(GoAway {
                last_stream: sid(5),
                code: ErrorCode::PROTOCOL_ERROR,
                debug: Bytes::from_static(b"bye"),
            }),
            vec![
                0, 0, 11, 7, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, b'b', b'y', b'e',
            ],
        ),
        (
            Frame::Data(Data {
                stream: sid(1),
                data: Bytes::from_static(b"ok"),
                end_stream: true,
                pad: Some(2),
            }),
            vec![0, 0, 5, 0, 9, 0, 0, 0, 1, 2, b'o', b'k', 0, 0],
        ),
        (
            Frame::PushPromise(PushPromise {
                stream: sid(1),
                promised: sid(2),
                block: Bytes::from_static(&[0x82]),
                end_headers: true,
                pad: None,
            }),
            vec![0, 0, 5, 5, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0x82],
        ),
        (
            Frame::Priority(Priority {
                stream: sid(5),
                spec: PrioritySpec {
                    dependency: sid(3),
                    exclusive: false,
                    weight: 15,
                },
            }),
            vec![0, 0, 5, 2, 0, 0, 0, 0, 5, 0, 0, 0, 3, 15],
        ),
        (
            Frame::Headers(Headers {
                stream: sid(1),
                priority: Some(PrioritySpec {
                    dependency: StreamId::ZERO,
                    exclusive: true,
                    weight: 255,
                }),
                block: Bytes::from_static(&[0x88]),
                end_stream: false,
                end_headers: true,
                pad: Some(1),
            }),
            vec![0, 0, 8, 1, 0x2c, 0, 0, 0, 1, 1, 0x80, 0, 0, 0, 255, 0x88, 0],
        ),
    ];
    for (f, bytes) in cases {
        assert_eq!(&encode(std::slice::from_ref(&f))[..], &bytes[..], "{f:?}");
        assert_eq!(f.encoded_len(), bytes.len());
        assert_eq!(decode_one(&bytes), f);
    }
}

#[test]
fn settings_api() {
    let mut s = Settings::new();
    assert!(s.is_empty());
    s.set(SettingId::HeaderTableSize, 0).unwrap();
    s.set(SettingId::MaxFrameSize, 1 << 20).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(SettingId::MaxFrameSize), Some(1 << 20));
    let mut current = Settings::new();
    current.set(SettingId::HeaderTableSize, 4096).unwrap();
    current.set(SettingId::EnablePush, 1).unwrap();
    current.merge(&s);
    assert_eq!(
        current.iter().collect::<Vec<_>>(),
        vec![
            (SettingId::HeaderTableSize, 0),
            (SettingId::EnablePush, 1),
            (SettingId::MaxFrameSize, 1 << 20)
        ]
    );
    assert_eq!(current.remove(SettingId::EnablePush), Some(1));
    assert_eq!(current.enable_push(), None);
    for id in SettingId::ALL {
        assert_eq!(SettingId::from_code(id.code()), Some(id));
    }
    for code in [0u16, 7, 10, 0xffff] {
        assert_eq!(SettingId::from_code(code), None);
    }
}
