//! Limits, windows and timers of a [`Connection`](super::Connection).

use crate::frame::{DEFAULT_HEADER_TABLE_SIZE, DEFAULT_MAX_FRAME_SIZE, StreamId};
use http::uri::Scheme;
use std::time::Duration;

/// Limits, flow-control targets and timers of a
/// [`Connection`](super::Connection), with safe defaults.
///
/// The values we advertise in our SETTINGS (`initial_stream_window`,
/// `max_frame_size`, `max_header_list_size`, `header_table_size`,
/// `max_concurrent_streams`) govern what we accept; the peer's SETTINGS
/// govern what we send.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much each stream may
    /// receive before the application releases it. Default 256 KiB.
    pub initial_stream_window: u32,
    /// The connection receive window we aim for (announced with a
    /// WINDOW_UPDATE on stream 0 at start). Default 1 MiB.
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise (16384..=16777215; out-of-range
    /// values are clamped). Default 16384.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (name + value
    /// + 32 per field). Larger header lists end their stream: a request
    ///   head gets a 431 response, request trailers RST_STREAM
    ///   PROTOCOL_ERROR, a response's head or trailers RST_STREAM CANCEL
    ///   (see [`Event::Reset`](super::Event::Reset)). Default 64 KiB.
    pub max_header_list_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE we advertise (our HPACK decoder's table).
    /// Default 4096.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce: streams
    /// the peer opens beyond it are refused with RST_STREAM REFUSED_STREAM.
    /// Default 100.
    pub max_concurrent_streams: u32,
    /// The most bytes one field block (HEADERS and its CONTINUATION frames,
    /// 9-byte headers included) may take: GOAWAY ENHANCE_YOUR_CALM above
    /// it. Default 128 KiB.
    pub max_header_block_size: usize,
    /// The most CONTINUATION frames one field block may use: GOAWAY
    /// ENHANCE_YOUR_CALM above it (a flood of tiny CONTINUATIONs).
    /// Default 32.
    pub max_continuation_frames: usize,
    /// How many closed stream ids are remembered, so that late frames on
    /// them are told apart (ignored after our RST_STREAM, refused after
    /// END_STREAM). Older ids are forgotten; frames on them get RST_STREAM
    /// STREAM_CLOSED. As many ranges of ids the peer skipped (opened a
    /// higher one first) are remembered too: HEADERS on one of those is a
    /// new stream with a decreasing id, GOAWAY PROTOCOL_ERROR (RFC 9113
    /// §5.1.1). Default 256.
    pub max_closed_streams: usize,
    /// How long the peer may take to acknowledge our SETTINGS before GOAWAY
    /// SETTINGS_TIMEOUT. Default 10 s.
    pub settings_timeout: Duration,
    /// Close a connection that has had no stream open for this long:
    /// GOAWAY NO_ERROR (with the last stream processed, so a request that
    /// crossed it is known to be safe to retry), then the half-close.
    /// Frames other than PING restart the count; keep-alive PINGs keep no
    /// idle connection open (as gRPC's `MAX_CONNECTION_IDLE`), and while a
    /// stream is open the connection is never idle, so long uploads and
    /// long-lived gRPC streams are not cut. Both roles: a client closes its
    /// own idle connection too, unless it pings while idle
    /// (`keepalive_interval` with `keepalive_while_idle`), which asks for
    /// the idle connection to be kept. `None` disables it. Default 75 s, the
    /// HTTP/1.1 server's keep-alive idle time and nginx's `keepalive_timeout`.
    pub idle_timeout: Option<Duration>,
    /// How long the connection preface, one frame or one field block
    /// (HEADERS or PUSH_PROMISE waiting for CONTINUATION) may stay
    /// incomplete: GOAWAY ENHANCE_YOUR_CALM, then
    /// [`Error::IncompleteTimeout`](super::Error::IncompleteTimeout). The
    /// clock runs from the first byte and is not pushed back by later
    /// bytes of the same frame (a peer trickling a byte at a time is held
    /// to it), except for DATA payloads: those are a stream's body, paced
    /// by flow control, and each read of one restarts it. `None` disables
    /// it. Default 30 s, like the HTTP/1.1 server's header read timeout.
    pub header_block_timeout: Option<Duration>,
    /// Send a PING after this long without input. Default off.
    pub keepalive_interval: Option<Duration>,
    /// Whether keep-alive PINGs go out while no stream is active. With
    /// `false` (gRPC clients' default, gRFC A8: servers by default count
    /// pings on an idle connection against the client) the timer still
    /// runs, but a ping is sent only when it fires with a stream active.
    /// Default true.
    pub keepalive_while_idle: bool,
    /// How long a keep-alive PING may stay unanswered before the connection
    /// is closed (GOAWAY, then [`Error::KeepAliveTimeout`](super::Error::KeepAliveTimeout)).
    /// Default 20 s.
    pub keepalive_timeout: Duration,
    /// The peer's keep-alive policy (gRPC servers' `min_recv_ping_interval`
    /// / grpc-go's `EnforcementPolicy::MinTime`): a PING that comes sooner
    /// than this after the previous one, with no HEADERS or DATA sent by us
    /// in between, is a strike; more than
    /// [`max_ping_strikes`](Config::max_ping_strikes) strikes end the
    /// connection with GOAWAY ENHANCE_YOUR_CALM and the debug data
    /// `too_many_pings`, which gRPC clients answer by doubling their
    /// keep-alive interval. Default off (only the
    /// [`FloodLimits::max_pings`] budget applies).
    pub min_recv_ping_interval: Option<Duration>,
    /// Strikes tolerated under
    /// [`min_recv_ping_interval`](Config::min_recv_ping_interval). Default 2,
    /// as in gRPC.
    pub max_ping_strikes: u32,
    /// Servers: [`go_away`](super::Connection::go_away) first sends GOAWAY
    /// with the largest stream id and a PING, and the final GOAWAY once the
    /// PING is answered (or `graceful_timeout` passed), so requests already
    /// in flight are not lost (RFC 9113 §6.8). Default true.
    pub two_step_shutdown: bool,
    /// How long the first step of a two-step shutdown waits for the PING
    /// answer. Default 5 s.
    pub graceful_timeout: Duration,
    /// Queued output at which reading pauses ([`wants_read`] turns false).
    /// Default 1 MiB.
    ///
    /// [`wants_read`]: wirestate_machine::Machine::wants_read
    pub write_high_water: usize,
    /// The `:scheme` of requests whose URI has none. Default `https`.
    pub default_scheme: Scheme,
    /// The largest stream id used before the connection is wound down
    /// (clients: [`Event::StreamIdsExhausted`](super::Event::StreamIdsExhausted)
    /// and a graceful GOAWAY; servers: a graceful GOAWAY once the peer's
    /// ids pass it). Default 2^31 - 1; lower it to test.
    pub max_stream_id: StreamId,
    /// Flood defences.
    pub flood: FloodLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            initial_stream_window: 256 << 10,
            connection_window: 1 << 20,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 64 << 10,
            header_table_size: DEFAULT_HEADER_TABLE_SIZE,
            max_concurrent_streams: 100,
            max_header_block_size: 128 << 10,
            max_continuation_frames: 32,
            max_closed_streams: 256,
            settings_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(75)),
            header_block_timeout: Some(Duration::from_secs(30)),
            keepalive_interval: None,
            keepalive_while_idle: true,
            keepalive_timeout: Duration::from_secs(20),
            min_recv_ping_interval: None,
            max_ping_strikes: 2,
            two_step_shutdown: true,
            graceful_timeout: Duration::from_secs(5),
            write_high_water: 1 << 20,
            default_scheme: Scheme::HTTPS,
            max_stream_id: StreamId::MAX,
            flood: FloodLimits::default(),
        }
    }
}

/// Per-window budgets against abuse. Each count is kept over a tumbling
/// window of [`window`](FloodLimits::window); passing a budget ends the
/// connection with GOAWAY ENHANCE_YOUR_CALM
/// ([`Error::Flood`](super::Error::Flood)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FloodLimits {
    /// The counting window. Default 10 s.
    pub window: Duration,
    /// RST_STREAM frames from the peer (rapid reset, CVE-2023-44487) on
    /// its streams we had not begun to answer (resets of streams we
    /// opened are paced by us and never count). Default 200.
    pub max_remote_resets: u32,
    /// Streams we had to reset for the peer's errors (malformed requests,
    /// refused streams, frames on closed streams). Default 200.
    pub max_local_resets: u32,
    /// SETTINGS frames from the peer (acknowledgements included). Default 100.
    pub max_settings: u32,
    /// PING frames from the peer (acknowledgements included), except a
    /// PING that follows HEADERS or DATA we sent since its previous one
    /// (gRPC's bandwidth-delay probes: one per burst of data). Default 100.
    pub max_pings: u32,
    /// DATA frames with no payload and no END_STREAM. Default 100.
    pub max_empty_data: u32,
    /// WINDOW_UPDATE frames, except those that give back credit for DATA
    /// we sent (two per DATA frame and per started 4 KiB of it: a client
    /// reading a large download returns credit that often; for frames
    /// cut short by the peer's windows, two per 4 KiB of them only, so
    /// a window reopened a byte at a time still meets this). Default
    /// 20,000.
    pub max_window_updates: u32,
    /// Control frames we answer with (PING and SETTINGS acknowledgements,
    /// RST_STREAM) queued and not yet taken by
    /// [`poll_transmit`](wirestate_machine::Machine::poll_transmit): a peer
    /// that makes us answer without reading the answers. Default 1,000.
    pub max_pending_control: usize,
}

impl Default for FloodLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            max_remote_resets: 200,
            max_local_resets: 200,
            max_settings: 100,
            max_pings: 100,
            max_empty_data: 100,
            max_window_updates: 20_000,
            max_pending_control: 1_000,
        }
    }
}
