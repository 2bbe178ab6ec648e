use std::time::Duration;

/// Size limits shared by both roles. Every limit has a safe default; a
/// message over a limit is refused with the matching error (and status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line, without its CRLF (414 when exceeded).
    pub max_request_line: usize,
    /// Largest head: start line, header lines and the blank line (431).
    pub max_head_bytes: usize,
    /// Most header fields in a head (431).
    pub max_headers: usize,
    /// Longest chunk-size line, extensions included (400).
    pub max_chunk_line: usize,
    /// Largest trailer section (431).
    pub max_trailer_bytes: usize,
    /// Largest body, if bounded (413). Bodies are streamed, never buffered
    /// whole, so the default is unbounded.
    pub max_body_bytes: Option<u64>,
}

/// The largest `max_headers` honoured: header slots live on the stack.
pub const MAX_HEADERS_CEILING: usize = 512;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_line: 8 * 1024,
            max_head_bytes: 32 * 1024,
            max_headers: 100,
            max_chunk_line: 1024,
            max_trailer_bytes: 16 * 1024,
            max_body_bytes: None,
        }
    }
}

/// Settings of a [`ServerConnection`](crate::ServerConnection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Size limits for requests.
    pub limits: Limits,
    /// Time allowed from the first byte of a request head (or from the
    /// connection's start) to the end of the head; 408 and close when it runs out.
    pub header_read_timeout: Option<Duration>,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive_timeout: Option<Duration>,
    /// Requests read ahead of their responses (pipelining depth); reading
    /// pauses beyond it.
    pub max_pipelined: usize,
    /// Largest amount of unparsed input held at once.
    pub max_buffered_input: usize,
    /// Body bytes queued as events before `wants_read` turns false.
    pub read_high_water: usize,
    /// Output bytes queued before `is_send_buffer_full` turns true.
    pub write_high_water: usize,
    /// Record the original case of request header names in a
    /// [`HeaderCaseMap`](crate::HeaderCaseMap) extension, and honour one on responses.
    pub preserve_header_case: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            limits,
            header_read_timeout: Some(Duration::from_secs(30)),
            keep_alive_timeout: Some(Duration::from_secs(75)),
            max_pipelined: 16,
            max_buffered_input: limits.max_head_bytes + 64 * 1024,
            read_high_water: 256 * 1024,
            write_high_water: 256 * 1024,
            preserve_header_case: false,
        }
    }
}

/// Settings of a [`ClientConnection`](crate::ClientConnection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Size limits for responses.
    pub limits: Limits,
    /// How long to hold a request body back after `Expect: 100-continue`
    /// before sending it anyway.
    pub expect_continue_timeout: Duration,
    /// Largest amount of unparsed input held at once.
    pub max_buffered_input: usize,
    /// Body bytes queued as events before `wants_read` turns false.
    pub read_high_water: usize,
    /// Output bytes queued before `is_send_buffer_full` turns true.
    pub write_high_water: usize,
    /// Write request targets in absolute form (for forward proxies).
    pub absolute_form: bool,
    /// Record the original case of response header names, and honour a
    /// [`HeaderCaseMap`](crate::HeaderCaseMap) on requests.
    pub preserve_header_case: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            limits,
            expect_continue_timeout: Duration::from_secs(1),
            max_buffered_input: limits.max_head_bytes + 64 * 1024,
            read_high_water: 256 * 1024,
            write_high_water: 256 * 1024,
            absolute_form: false,
            preserve_header_case: false,
        }
    }
}
