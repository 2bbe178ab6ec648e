//! The HPACK encoder (RFC 7541 §2, §4, §6).

use super::table::{self, DynamicMatch, EncoderTable, StaticMatch, find_static};
use super::{DEFAULT_TABLE_SIZE, Field, encode_integer, encode_string};
use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};

/// How many recent all-indexed blocks an encoder keeps (a server's
/// response head and its trailers, and a couple more).
const RECENT_BLOCKS: usize = 4;

/// Blocks with more fields than this are not kept.
const RECENT_MAX_FIELDS: usize = 8;

/// Which fields the encoder adds to the dynamic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Indexing {
    /// The default. Fields are indexed unless:
    ///
    /// * they are sensitive — `authorization`, `proxy-authorization`,
    ///   `set-cookie`, and `cookie` values shorter than 20 bytes (guessable
    ///   by probing the table, RFC 7541 §7.1.3) are sent never-indexed, like
    ///   fields the caller marks sensitive;
    /// * their value rarely repeats (`content-length`, `content-range`,
    ///   `etag`, `age`, `last-modified`, `if-modified-since`,
    ///   `if-none-match`): sent without indexing;
    /// * they would take more than three quarters of the table.
    #[default]
    Guarded,
    /// Every field not marked sensitive is indexed, however large: the
    /// encoder of RFC 7541 Appendix C.
    Always,
    /// The dynamic table is never used: static matches and literals only.
    Never,
}

/// How an [`Encoder`] compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncoderConfig {
    /// The most memory the encoder's dynamic table may use, whatever the
    /// peer allows (default 4,096, HTTP/2's initial size). Below 4,096, the
    /// first block starts with a size update.
    pub max_table_size: usize,
    /// Huffman-code string literals when that is not longer (default true).
    pub huffman: bool,
    /// Which fields to index.
    pub indexing: Indexing,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            max_table_size: DEFAULT_TABLE_SIZE,
            huffman: true,
            indexing: Indexing::Guarded,
        }
    }
}

/// Encodes header lists into blocks, keeping the encoding side's dynamic
/// table.
///
/// One encoder per connection; blocks must be sent in the order they were
/// encoded. Lookups in the dynamic table go through hash indexes, so large
/// tables cost no more per field than small ones.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_h2::hpack::{Encoder, EncoderConfig, Field};
///
/// // RFC 7541 C.3.1 (no Huffman coding).
/// let mut config = EncoderConfig::default();
/// config.huffman = false;
/// let mut encoder = Encoder::with_config(config);
/// let mut block = BytesMut::new();
/// encoder.encode(
///     &[
///         Field::new(":method", "GET"),
///         Field::new(":scheme", "http"),
///         Field::new(":path", "/"),
///         Field::new(":authority", "www.example.com"),
///     ],
///     &mut block,
/// );
/// assert_eq!(&block[..], b"\x82\x86\x84\x41\x0fwww.example.com");
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    table: EncoderTable,
    config: EncoderConfig,
    /// The peer's SETTINGS_HEADER_TABLE_SIZE.
    limit: usize,
    /// Size changes to announce at the start of the next block: the
    /// smallest since the last block, and the final one (RFC 7541 §4.2).
    pending: Option<(usize, usize)>,
    /// Counts the changes to the dynamic table (insertions, size updates):
    /// a block's encoding depends on nothing else besides its fields.
    generation: u64,
    /// Recent blocks that were all indexed fields, to be written again
    /// as they were while the table has not changed (see
    /// [`encode_headers`](Self::encode_headers)).
    recent: Vec<Recent>,
    /// The slot of `recent` to reuse next.
    recent_next: usize,
}

/// A block of one-byte indexed fields only (every field a table hit), as
/// encoded at `generation`: the same fields encode to the same bytes
/// until the table changes. Kept buffers are reused, so keeping a block
/// allocates nothing once the slots are warm.
#[derive(Debug, Clone, Default)]
struct Recent {
    generation: u64,
    status: Option<Vec<u8>>,
    fields: Vec<(HeaderName, HeaderValue)>,
    bytes: Vec<u8>,
}

impl Recent {
    /// Whether this is the block of `status` and `headers` at `generation`.
    fn matches(&self, generation: u64, status: Option<&str>, headers: &HeaderMap) -> bool {
        self.generation == generation
            && self.status.as_deref() == status.map(str::as_bytes)
            && self.fields.len() == headers.len()
            && self
                .fields
                .iter()
                .zip(headers)
                .all(|((n, v), (name, value))| {
                    n == name
                        && v.as_bytes() == value.as_bytes()
                        && v.is_sensitive() == value.is_sensitive()
                })
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder in HTTP/2's initial state, with the default configuration.
    pub fn new() -> Self {
        Self::with_config(EncoderConfig::default())
    }

    /// An encoder with `config`, in HTTP/2's initial state (the peer's
    /// table limit is 4,096 until [`update_max_size`](Self::update_max_size)).
    pub fn with_config(config: EncoderConfig) -> Self {
        let mut encoder = Self {
            table: EncoderTable::new(DEFAULT_TABLE_SIZE),
            config,
            limit: DEFAULT_TABLE_SIZE,
            pending: None,
            generation: 0,
            recent: Vec::new(),
            recent_next: 0,
        };
        encoder.retarget();
        encoder
    }

    /// An encoder whose table starts at `size` bytes with no size update,
    /// as agreed with the decoder out of band (RFC 7541 Appendix C.5 uses
    /// 256). `size` also replaces `config.max_table_size` as the cap. For
    /// HTTP/2 use [`new`](Self::new) or [`with_config`](Self::with_config).
    pub fn with_table_size(size: usize, config: EncoderConfig) -> Self {
        Self {
            table: EncoderTable::new(size),
            config: EncoderConfig {
                max_table_size: size,
                ..config
            },
            limit: size,
            pending: None,
            generation: 0,
            recent: Vec::new(),
            recent_next: 0,
        }
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE.
    ///
    /// The table's size becomes the smaller of `setting` and
    /// [`max_table_size`](EncoderConfig::max_table_size). A change is
    /// announced at the start of the next block — when the size went down
    /// and back up since the last block, the smallest size first and then
    /// the final one, as RFC 7541 §4.2 requires.
    pub fn update_max_size(&mut self, setting: usize) {
        self.limit = setting;
        self.retarget();
    }

    fn retarget(&mut self) {
        let target = self.limit.min(self.config.max_table_size);
        let current = self.pending.map_or(self.table.max_size(), |(_, last)| last);
        if target != current {
            let smallest = self.pending.map_or(target, |(min, _)| min.min(target));
            self.pending = Some((smallest, target));
        }
    }

    /// The size of the dynamic table's entries (name + value + 32 each).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's maximum size as last announced.
    pub fn table_max_size(&self) -> usize {
        self.table.max_size()
    }

    /// The number of dynamic table entries.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table's entries as `(name, value)`, newest (index 62) first.
    pub fn table_entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter()
    }

    /// Starts a header block in `dst`, writing any pending table size
    /// update first. Fields are added through the returned [`Block`]; the
    /// block ends when it is dropped.
    pub fn block<'a>(&'a mut self, dst: &'a mut BytesMut) -> Block<'a> {
        if let Some((smallest, last)) = self.pending.take() {
            self.generation += 1;
            if smallest < last {
                encode_integer(smallest, 5, 0x20, dst);
                self.table.set_max_size(smallest);
            }
            encode_integer(last, 5, 0x20, dst);
            self.table.set_max_size(last);
        }
        Block { encoder: self, dst }
    }

    /// Encodes `fields` as one block, in order, keeping each field's
    /// sensitive flag.
    pub fn encode<'f>(&mut self, fields: impl IntoIterator<Item = &'f Field>, dst: &mut BytesMut) {
        let mut block = self.block(dst);
        for f in fields {
            block.field_with(&f.name, &f.value, f.sensitive);
        }
    }

    /// Encodes the pseudo-header fields and then `headers` as one block.
    /// Values marked [sensitive](http::HeaderValue::is_sensitive) are sent
    /// never-indexed.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use http::{HeaderMap, Method, Uri};
    /// use wirestate_h2::hpack::{Decoder, Encoder, Pseudo};
    ///
    /// let (method, uri) = (Method::GET, Uri::from_static("https://example.com/a?b"));
    /// let mut headers = HeaderMap::new();
    /// headers.insert("accept", "*/*".parse().unwrap());
    /// let mut block = BytesMut::new();
    /// Encoder::new().encode_headers(&Pseudo::request(&method, &uri), &headers, &mut block);
    /// let fields = Decoder::new().decode(&block.freeze()).unwrap();
    /// let names: Vec<&[u8]> = fields.iter().map(|f| &f.name[..]).collect();
    /// assert_eq!(names, [&b":method"[..], b":scheme", b":authority", b":path", b"accept"]);
    /// assert_eq!(fields[3].value, Bytes::from_static(b"/a?b"));
    /// ```
    ///
    /// A response head or trailers (no request pseudo-header) whose fields
    /// were all one-byte table hits is kept, and written again as the same
    /// bytes when the same fields come while the table has not changed: a
    /// server answering call after call with the same head and trailers
    /// skips the hashing and table lookups of every field.
    pub fn encode_headers(&mut self, pseudo: &Pseudo<'_>, headers: &HeaderMap, dst: &mut BytesMut) {
        let keep = self.pending.is_none()
            && pseudo.method.is_none()
            && pseudo.scheme.is_none()
            && pseudo.authority.is_none()
            && pseudo.path.is_none()
            && pseudo.protocol.is_none()
            && headers.len() <= RECENT_MAX_FIELDS;
        if keep {
            let generation = self.generation;
            if let Some(r) = self
                .recent
                .iter()
                .find(|r| r.matches(generation, pseudo.status, headers))
            {
                dst.extend_from_slice(&r.bytes);
                return;
            }
        }
        let start = dst.len();
        let generation = self.generation;
        let mut block = self.block(dst);
        block.pseudo(pseudo);
        block.headers(headers);
        let fields = headers.len() + usize::from(pseudo.status.is_some());
        let written = &dst[start..];
        // One byte per field: every field an indexed hit (index < 128),
        // so nothing was inserted and the bytes depend only on the table.
        if keep && self.generation == generation && written.len() == fields {
            self.keep_recent(pseudo.status, headers, written);
        }
    }

    /// Keeps an all-indexed block in the next slot, reusing its buffers.
    fn keep_recent(&mut self, status: Option<&str>, headers: &HeaderMap, bytes: &[u8]) {
        let slot = if self.recent.len() < RECENT_BLOCKS {
            self.recent.push(Recent::default());
            self.recent.len() - 1
        } else {
            let slot = self.recent_next;
            self.recent_next = (slot + 1) % RECENT_BLOCKS;
            slot
        };
        let r = &mut self.recent[slot];
        r.generation = self.generation;
        match (&mut r.status, status) {
            (Some(s), Some(new)) => {
                s.clear();
                s.extend_from_slice(new.as_bytes());
            }
            (s, new) => *s = new.map(|n| n.as_bytes().to_vec()),
        }
        r.fields.clear();
        r.fields
            .extend(headers.iter().map(|(n, v)| (n.clone(), v.clone())));
        r.bytes.clear();
        r.bytes.extend_from_slice(bytes);
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], rep: Rep, dst: &mut BytesMut) {
        let guarded = self.config.indexing == Indexing::Guarded;
        let never = rep == Rep::Never || (guarded && sensitive_by_default(name, value));
        let use_table = self.config.indexing != Indexing::Never;
        let stat = find_static(name, value);
        let hashes = (use_table && !matches!(stat, Some(StaticMatch::Field(_))))
            .then(|| self.table.hashes(name, value));
        let dynamic = hashes.and_then(|h| self.table.find(name, value, h));
        if !never {
            match (stat, dynamic) {
                (Some(StaticMatch::Field(i)), _) | (_, Some(DynamicMatch::Field(i))) => {
                    encode_integer(i, 7, 0x80, dst);
                    return;
                }
                _ => {}
            }
        }
        let name_index = match (stat, dynamic) {
            (Some(StaticMatch::Field(i) | StaticMatch::Name(i)), _) => Some(i),
            (None, Some(DynamicMatch::Field(i) | DynamicMatch::Name(i))) => Some(i),
            (None, None) => None,
        };
        let index = !never && rep == Rep::Auto && use_table && self.should_index(name, value);
        let (flags, prefix) = match (index, never) {
            (true, _) => (0x40, 6),
            (false, true) => (0x10, 4),
            (false, false) => (0x00, 4),
        };
        let huffman = self.config.huffman;
        match name_index {
            Some(i) => encode_integer(i, prefix, flags, dst),
            None => {
                encode_integer(0, prefix, flags, dst);
                encode_string(name, huffman, dst);
            }
        }
        encode_string(value, huffman, dst);
        if index {
            let hashes = hashes.unwrap_or_else(|| self.table.hashes(name, value));
            self.table.insert(name, value, hashes);
            self.generation += 1;
        }
    }

    fn should_index(&self, name: &[u8], value: &[u8]) -> bool {
        match self.config.indexing {
            Indexing::Always => true,
            Indexing::Never => false,
            Indexing::Guarded => {
                let fits = table::entry_size(name, value) <= self.table.max_size() / 4 * 3;
                fits && !matches!(
                    name,
                    b"content-length"
                        | b"content-range"
                        | b"etag"
                        | b"age"
                        | b"last-modified"
                        | b"if-modified-since"
                        | b"if-none-match"
                )
            }
        }
    }
}

/// Fields [`Indexing::Guarded`] never indexes (RFC 7541 §7.1.3).
fn sensitive_by_default(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" | b"set-cookie" => true,
        b"cookie" => value.len() < 20,
        _ => false,
    }
}

/// How the caller asked for a field to be represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rep {
    /// The encoder's policy decides.
    Auto,
    /// A literal without indexing, unless a table entry matches exactly.
    NotIndexed,
    /// A never-indexed literal.
    Never,
}

/// A header block being written; see [`Encoder::block`].
#[derive(Debug)]
pub struct Block<'a> {
    encoder: &'a mut Encoder,
    dst: &'a mut BytesMut,
}

impl Block<'_> {
    /// Adds a field; the encoder's [`Indexing`] policy picks its representation.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        self.encoder.encode_field(name, value, Rep::Auto, self.dst);
    }

    /// Adds a field that is never indexed, here or by any intermediary
    /// (RFC 7541 §6.2.3): credentials, session tokens.
    pub fn sensitive_field(&mut self, name: &[u8], value: &[u8]) {
        self.encoder.encode_field(name, value, Rep::Never, self.dst);
    }

    /// Adds a field as [`sensitive_field`](Self::sensitive_field) when
    /// `sensitive`, else as [`field`](Self::field).
    pub fn field_with(&mut self, name: &[u8], value: &[u8], sensitive: bool) {
        let rep = if sensitive { Rep::Never } else { Rep::Auto };
        self.encoder.encode_field(name, value, rep, self.dst);
    }

    /// Adds a field without adding it to the dynamic table (a value known
    /// not to repeat). An exact table match is still used.
    pub fn unindexed_field(&mut self, name: &[u8], value: &[u8]) {
        self.encoder
            .encode_field(name, value, Rep::NotIndexed, self.dst);
    }

    /// Adds the pseudo-header fields that are set, in the order
    /// `:method`, `:scheme`, `:authority`, `:path`, `:protocol`, `:status`.
    pub fn pseudo(&mut self, pseudo: &Pseudo<'_>) {
        let fields = [
            (&b":method"[..], pseudo.method),
            (b":scheme", pseudo.scheme),
            (b":authority", pseudo.authority),
            (b":path", pseudo.path),
            (b":protocol", pseudo.protocol),
            (b":status", pseudo.status),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                self.field(name, value.as_bytes());
            }
        }
    }

    /// Adds every field of `headers`, in the map's order; values marked
    /// [sensitive](http::HeaderValue::is_sensitive) are never indexed.
    pub fn headers(&mut self, headers: &HeaderMap) {
        for (name, value) in headers {
            self.field_with(
                name.as_str().as_bytes(),
                value.as_bytes(),
                value.is_sensitive(),
            );
        }
    }
}

/// The pseudo-header fields of a request or response (RFC 9113 §8.3),
/// written in front of the regular fields by [`Encoder::encode_headers`].
///
/// Only what is set is written; checking that the combination is valid is
/// the connection's job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pseudo<'a> {
    /// `:method`.
    pub method: Option<&'a str>,
    /// `:scheme`.
    pub scheme: Option<&'a str>,
    /// `:authority`.
    pub authority: Option<&'a str>,
    /// `:path`.
    pub path: Option<&'a str>,
    /// `:protocol` (extended CONNECT, RFC 8441).
    pub protocol: Option<&'a str>,
    /// `:status`.
    pub status: Option<&'a str>,
}

impl<'a> Pseudo<'a> {
    /// A request's pseudo-headers from its method and URI: `:method`, and
    /// `:scheme`, `:authority` (without userinfo) and `:path` from the URI
    /// (`/` when it has no path). CONNECT gets only `:authority` (RFC 9113 §8.5); for extended
    /// CONNECT set `protocol`, `scheme` and `path` afterwards.
    pub fn request(method: &'a Method, uri: &'a Uri) -> Self {
        // Without the userinfo, which :authority must not carry (RFC 9113
        // §8.3.1).
        let authority = uri
            .authority()
            .map(|a| a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h));
        if method == Method::CONNECT {
            return Self {
                method: Some(method.as_str()),
                authority,
                ..Self::default()
            };
        }
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            Some("") | None => "/",
            Some(p) => p,
        };
        Self {
            method: Some(method.as_str()),
            scheme: uri.scheme_str(),
            authority,
            path: Some(path),
            ..Self::default()
        }
    }

    /// A response's `:status`.
    pub fn response(status: &'a StatusCode) -> Self {
        Self {
            status: Some(status.as_str()),
            ..Self::default()
        }
    }
}
