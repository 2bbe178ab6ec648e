//! Helpers for the connection tests: a scripted peer that writes frames,
//! a reader for what a connection sent, and a pump between two machines.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use std::time::Instant;
use wirestate_h2::connection::{Config, Connection, Event};
use wirestate_h2::frame::{
    Continuation, Data, ErrorCode, Frame, FrameDecoder, GoAway, Headers, PREFACE, Ping, RstStream,
    SettingId, Settings, SettingsFrame, StreamId, WindowUpdate,
};
use wirestate_h2::hpack::{Encoder, Field};
use wirestate_machine::{Machine, Transmit};

pub fn sid(n: u32) -> StreamId {
    StreamId::new(n).unwrap()
}

/// A peer writing raw frames (its own HPACK encoder).
pub struct Peer {
    pub enc: Encoder,
    pub out: Vec<u8>,
}

impl Peer {
    pub fn new() -> Peer {
        Peer {
            enc: Encoder::new(),
            out: Vec::new(),
        }
    }

    /// A client: the preface and an empty SETTINGS.
    pub fn client() -> Peer {
        let mut p = Peer::new();
        p.out.extend_from_slice(PREFACE);
        p.settings(Settings::new());
        p
    }

    /// A server: an empty SETTINGS.
    pub fn server() -> Peer {
        let mut p = Peer::new();
        p.settings(Settings::new());
        p
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn frame(&mut self, f: Frame) -> &mut Self {
        let mut b = BytesMut::new();
        f.encode(&mut b).unwrap();
        self.out.extend_from_slice(&b);
        self
    }

    pub fn settings(&mut self, s: Settings) -> &mut Self {
        self.frame(Frame::Settings(SettingsFrame::new(s)))
    }

    pub fn setting(&mut self, id: SettingId, v: u32) -> &mut Self {
        let mut s = Settings::new();
        s.set(id, v).unwrap();
        self.settings(s)
    }

    pub fn settings_ack(&mut self) -> &mut Self {
        self.frame(Frame::Settings(SettingsFrame::ack()))
    }

    pub fn block(&mut self, fields: &[(&str, &str)]) -> Bytes {
        let fields: Vec<Field> = fields
            .iter()
            .map(|(n, v)| Field::new(n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let mut b = BytesMut::new();
        self.enc.encode(&fields, &mut b);
        b.freeze()
    }

    pub fn headers(&mut self, stream: u32, fields: &[(&str, &str)], es: bool) -> &mut Self {
        let block = self.block(fields);
        self.frame(Frame::Headers(Headers::new(sid(stream), block, es)))
    }

    /// A GET request for `path`.
    pub fn get(&mut self, stream: u32, path: &str) -> &mut Self {
        self.headers(
            stream,
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "example.com"),
                (":path", path),
            ],
            true,
        )
    }

    /// A POST head (no END_STREAM).
    pub fn post(&mut self, stream: u32, extra: &[(&str, &str)]) -> &mut Self {
        let mut f = vec![
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/upload"),
        ];
        f.extend_from_slice(extra);
        self.headers(stream, &f, false)
    }

    pub fn data(&mut self, stream: u32, data: &[u8], es: bool) -> &mut Self {
        self.frame(Frame::Data(Data::new(
            sid(stream),
            Bytes::copy_from_slice(data),
            es,
        )))
    }

    pub fn rst(&mut self, stream: u32, code: ErrorCode) -> &mut Self {
        self.frame(Frame::RstStream(RstStream {
            stream: sid(stream),
            code,
        }))
    }

    pub fn ping(&mut self, payload: [u8; 8]) -> &mut Self {
        self.frame(Frame::Ping(Ping {
            ack: false,
            payload,
        }))
    }

    pub fn window_update(&mut self, stream: u32, increment: u32) -> &mut Self {
        self.frame(Frame::WindowUpdate(WindowUpdate {
            stream: StreamId::from_bits(stream),
            increment,
        }))
    }

    pub fn goaway(&mut self, last: u32, code: ErrorCode) -> &mut Self {
        self.frame(Frame::GoAway(GoAway {
            last_stream: StreamId::from_bits(last),
            code,
            debug: Bytes::new(),
        }))
    }

    pub fn continuation(&mut self, stream: u32, block: Bytes, end: bool) -> &mut Self {
        self.frame(Frame::Continuation(Continuation {
            stream: sid(stream),
            block,
            end_headers: end,
        }))
    }
}

/// Everything a connection queued: its events, the frames it sent
/// (after the client preface, if any) and whether it half-closed.
pub struct Out {
    pub events: Vec<Event>,
    pub frames: Vec<Frame>,
    pub shutdown: bool,
}

impl Out {
    pub fn goaway(&self) -> Option<&GoAway> {
        self.frames.iter().find_map(|f| match f {
            Frame::GoAway(g) => Some(g),
            _ => None,
        })
    }

    pub fn goaway_code(&self) -> Option<ErrorCode> {
        self.goaway().map(|g| g.code)
    }

    pub fn resets(&self) -> Vec<(u32, ErrorCode)> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                Frame::RstStream(r) => Some((r.stream.get(), r.code)),
                _ => None,
            })
            .collect()
    }

    pub fn requests(&self) -> Vec<(u32, http::request::Parts, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => Some((stream.get(), head.clone(), *end_stream)),
                _ => None,
            })
            .collect()
    }

    pub fn errors(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Error(_)))
            .count()
    }
}

/// Reads what `c` queued. `decoder` keeps frame state across calls; the
/// client preface is skipped when present.
pub struct Reader {
    dec: FrameDecoder,
    buf: BytesMut,
    preface_checked: bool,
}

impl Reader {
    pub fn new() -> Reader {
        let mut dec = FrameDecoder::new();
        dec.set_max_frame_size(16_777_215).unwrap();
        dec.set_max_header_block_size(usize::MAX);
        Reader {
            dec,
            buf: BytesMut::new(),
            preface_checked: false,
        }
    }

    pub fn read(&mut self, c: &mut Connection) -> Out {
        let mut shutdown = false;
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Bytes(b) => self.buf.extend_from_slice(&b),
                Transmit::Shutdown => shutdown = true,
            }
        }
        if !self.preface_checked && self.buf.len() >= PREFACE.len() {
            self.preface_checked = true;
            if self.buf.starts_with(PREFACE) {
                let _ = self.buf.split_to(PREFACE.len());
            }
        }
        let mut frames = Vec::new();
        while let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
            frames.push(f);
        }
        let events = std::iter::from_fn(|| c.poll_event()).collect();
        Out {
            events,
            frames,
            shutdown,
        }
    }
}

/// A server fed `input` at `now`, returning what it produced.
pub fn server_with(config: Config, input: &[u8]) -> (Connection, Out) {
    let mut c = Connection::server(config);
    let _ = c.handle_input(Instant::now(), input);
    let mut r = Reader::new();
    let out = r.read(&mut c);
    (c, out)
}

/// Moves every queued byte between `a` and `b` until both are quiet,
/// handing each side's events to `on_a` / `on_b`.
pub fn pump(
    a: &mut Connection,
    b: &mut Connection,
    now: Instant,
    on_a: &mut dyn FnMut(&mut Connection, Event),
    on_b: &mut dyn FnMut(&mut Connection, Event),
) {
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            match t {
                Transmit::Bytes(bytes) => {
                    let _ = b.handle_input(now, &bytes);
                }
                Transmit::Shutdown => {
                    let _ = b.handle_eof(now);
                }
            }
        }
        while let Some(t) = b.poll_transmit() {
            moved = true;
            match t {
                Transmit::Bytes(bytes) => {
                    let _ = a.handle_input(now, &bytes);
                }
                Transmit::Shutdown => {
                    let _ = a.handle_eof(now);
                }
            }
        }
        while let Some(e) = a.poll_event() {
            moved = true;
            on_a(a, e);
        }
        while let Some(e) = b.poll_event() {
            moved = true;
            on_b(b, e);
        }
        if !moved {
            return;
        }
    }
    panic!("pump did not settle");
}

pub fn get(uri: &str) -> http::request::Parts {
    http::Request::get(uri).body(()).unwrap().into_parts().0
}

pub fn post(uri: &str) -> http::request::Parts {
    http::Request::post(uri).body(()).unwrap().into_parts().0
}

pub fn status(code: u16) -> http::response::Parts {
    http::Response::builder()
        .status(code)
        .body(())
        .unwrap()
        .into_parts()
        .0
}
