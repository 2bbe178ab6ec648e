//! The static table (RFC 7541 §2.3.1, Appendix A) and the dynamic table
//! (§2.3.2, §4): the decoder's plain FIFO, and the encoder's with a hash
//! index for lookups.

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The size an entry counts for in the dynamic table and in the header list
/// (RFC 7541 §4.1, RFC 9113 §6.5.2): its name and value lengths plus 32.
pub const ENTRY_OVERHEAD: usize = 32;

/// The number of static table entries: dynamic indices start after it.
pub const STATIC_LEN: usize = 61;

/// Appendix A: the static table, index 1 first.
pub(crate) const STATIC: [(&[u8], &[u8]); STATIC_LEN] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// A static table match for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// Name and value match the entry at this index.
    Field(usize),
    /// Only the name matches; this is the first index with that name.
    Name(usize),
}

/// Finds `name: value` in the static table. The match arms are the table
/// above grouped by name (checked against it by a test).
pub(crate) fn find_static(name: &[u8], value: &[u8]) -> Option<StaticMatch> {
    use StaticMatch::{Field, Name};
    // Every name with a single entry has an empty value there.
    let name_only = |i| Some(if value.is_empty() { Field(i) } else { Name(i) });
    match name {
        b":authority" => name_only(1),
        b":method" => match value {
            b"GET" => Some(Field(2)),
            b"POST" => Some(Field(3)),
            _ => Some(Name(2)),
        },
        b":path" => match value {
            b"/" => Some(Field(4)),
            b"/index.html" => Some(Field(5)),
            _ => Some(Name(4)),
        },
        b":scheme" => match value {
            b"http" => Some(Field(6)),
            b"https" => Some(Field(7)),
            _ => Some(Name(6)),
        },
        b":status" => match value {
            b"200" => Some(Field(8)),
            b"204" => Some(Field(9)),
            b"206" => Some(Field(10)),
            b"304" => Some(Field(11)),
            b"400" => Some(Field(12)),
            b"404" => Some(Field(13)),
            b"500" => Some(Field(14)),
            _ => Some(Name(8)),
        },
        b"accept-charset" => name_only(15),
        b"accept-encoding" => match value {
            b"gzip, deflate" => Some(Field(16)),
            _ => Some(Name(16)),
        },
        b"accept-language" => name_only(17),
        b"accept-ranges" => name_only(18),
        b"accept" => name_only(19),
        b"access-control-allow-origin" => name_only(20),
        b"age" => name_only(21),
        b"allow" => name_only(22),
        b"authorization" => name_only(23),
        b"cache-control" => name_only(24),
        b"content-disposition" => name_only(25),
        b"content-encoding" => name_only(26),
        b"content-language" => name_only(27),
        b"content-length" => name_only(28),
        b"content-location" => name_only(29),
        b"content-range" => name_only(30),
        b"content-type" => name_only(31),
        b"cookie" => name_only(32),
        b"date" => name_only(33),
        b"etag" => name_only(34),
        b"expect" => name_only(35),
        b"expires" => name_only(36),
        b"from" => name_only(37),
        b"host" => name_only(38),
        b"if-match" => name_only(39),
        b"if-modified-since" => name_only(40),
        b"if-none-match" => name_only(41),
        b"if-range" => name_only(42),
        b"if-unmodified-since" => name_only(43),
        b"last-modified" => name_only(44),
        b"link" => name_only(45),
        b"location" => name_only(46),
        b"max-forwards" => name_only(47),
        b"proxy-authenticate" => name_only(48),
        b"proxy-authorization" => name_only(49),
        b"range" => name_only(50),
        b"referer" => name_only(51),
        b"refresh" => name_only(52),
        b"retry-after" => name_only(53),
        b"server" => name_only(54),
        b"set-cookie" => name_only(55),
        b"strict-transport-security" => name_only(56),
        b"transfer-encoding" => name_only(57),
        b"user-agent" => name_only(58),
        b"vary" => name_only(59),
        b"via" => name_only(60),
        b"www-authenticate" => name_only(61),
        _ => None,
    }
}

/// The static entry at `index` (1-based) as shared bytes, without copying.
pub(crate) fn static_entry(index: usize) -> Option<(Bytes, Bytes)> {
    let (name, value) = STATIC.get(index.checked_sub(1)?)?;
    Some((Bytes::from_static(name), Bytes::from_static(value)))
}

/// The size of an entry (RFC 7541 §4.1).
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len()
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD)
}

/// The decoder's dynamic table: newest entry first.
#[derive(Debug, Clone)]
pub(crate) struct DynamicTable {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at dynamic index `i` (0 = newest).
    pub(crate) fn get(&self, i: usize) -> Option<&(Bytes, Bytes)> {
        self.entries.get(i)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.entries.iter()
    }

    /// Changes the maximum size, evicting the oldest entries until it fits (§4.3).
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry, evicting first (§4.4). An entry larger than the
    /// maximum size empties the table and is not added.
    pub(crate) fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// A dynamic table match for a field: the HPACK index (62 and up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DynamicMatch {
    /// Name and value match.
    Field(usize),
    /// Only the name matches (the newest entry with it).
    Name(usize),
}

/// Hashes of a field's name and of the whole field, from one pass over its
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hashes {
    name: u64,
    field: u64,
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex = HashMap<u64, u64, BuildHasherDefault<PreHashed>>;

/// One step of the field hash: the FxHash word mix (rotate, xor, multiply).
/// SipHash cost about 130 instructions per response field, nine fields a
/// gRPC call; this costs a few per 8 bytes. A weak hash is enough here: a
/// hit is confirmed against the entry's bytes, so a collision, crafted or
/// not, costs one missed match (see [`EncoderTable`]).
fn fold_word(state: u64, word: u64) -> u64 {
    (state.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Folds `bytes` into `state` 8 at a time, the tail zero-padded with its
/// length mixed in, so that trailing zero bytes still change the hash.
fn fold_bytes(mut state: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        state = fold_word(state, u64::from_le_bytes(w));
    }
    let tail = chunks.remainder();
    let mut w = [0u8; 8];
    w[..tail.len()].copy_from_slice(tail);
    fold_word(state, u64::from_le_bytes(w) ^ ((tail.len() as u64) << 59))
}

/// Spreads the multiply's high-bit entropy into the low bits, which the
/// hash map uses to pick a bucket (murmur3's 64-bit finalizer).
fn finish_hash(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// An encoder table entry: name and value in one allocation.
#[derive(Debug, Clone)]
struct EncoderEntry {
    bytes: Box<[u8]>,
    name_len: usize,
    hashes: Hashes,
}

impl EncoderEntry {
    fn name(&self) -> &[u8] {
        &self.bytes[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.bytes[self.name_len..]
    }
    fn size(&self) -> usize {
        self.bytes.len() + ENTRY_OVERHEAD
    }
}

/// The encoder's dynamic table: the same FIFO as the decoder's, plus hash
/// indexes from a field and from a name to the newest entry holding them,
/// so a lookup costs one hash of the field however large the peer lets the
/// table grow.
///
/// Entries are numbered by insertion (`seq`); the newest has
/// `inserted - 1`, and its HPACK index is `STATIC_LEN + inserted - seq`.
/// The indexes map 64-bit hashes of a fixed, unkeyed function: the core
/// reads no randomness, and none is needed — a hit is confirmed against the
/// entry's bytes, each hash maps to one entry (no chains), and the table
/// holds at most `max_size / 32` entries under our own cap, so a crafted
/// collision costs one missed match and nothing more.
#[derive(Debug, Clone)]
pub(crate) struct EncoderTable {
    entries: VecDeque<EncoderEntry>,
    size: usize,
    max_size: usize,
    inserted: u64,
    fields: HashIndex,
    names: HashIndex,
}

impl EncoderTable {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            // Room for a typical request's fields without regrowing.
            entries: VecDeque::with_capacity(16),
            size: 0,
            max_size,
            inserted: 0,
            fields: HashIndex::with_capacity_and_hasher(16, Default::default()),
            names: HashIndex::with_capacity_and_hasher(16, Default::default()),
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|e| (e.name(), e.value()))
    }

    /// The hashes [`find`](Self::find) and [`insert`](Self::insert) take,
    /// computed once per field.
    pub(crate) fn hashes(&self, name: &[u8], value: &[u8]) -> Hashes {
        // The name's length goes in first so that name "ab" + value "c"
        // and name "a" + value "bc" hash apart.
        let name_state = fold_bytes(fold_word(0, name.len() as u64), name);
        Hashes {
            name: finish_hash(name_state),
            field: finish_hash(fold_bytes(name_state, value)),
        }
    }

    /// The live entry numbered `seq`, if any.
    fn by_seq(&self, seq: u64) -> Option<&EncoderEntry> {
        let back = usize::try_from(self.inserted.checked_sub(seq)?.checked_sub(1)?).ok()?;
        self.entries.get(back)
    }

    fn index_of(&self, seq: u64) -> usize {
        // `seq` is live, so `inserted - seq` is at most the entry count.
        STATIC_LEN + usize::try_from(self.inserted - seq).unwrap_or(usize::MAX)
    }

    /// Finds `name: value`, preferring an exact match.
    pub(crate) fn find(&self, name: &[u8], value: &[u8], h: Hashes) -> Option<DynamicMatch> {
        if self.entries.is_empty() {
            return None;
        }
        if let Some(&seq) = self.fields.get(&h.field) {
            if self
                .by_seq(seq)
                .is_some_and(|e| e.name() == name && e.value() == value)
            {
                return Some(DynamicMatch::Field(self.index_of(seq)));
            }
        }
        let &seq = self.names.get(&h.name)?;
        self.by_seq(seq)
            .filter(|e| e.name() == name)
            .map(|_| DynamicMatch::Name(self.index_of(seq)))
    }

    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8], hashes: Hashes) {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        let seq = self.inserted;
        self.inserted += 1;
        self.fields.insert(hashes.field, seq);
        self.names.insert(hashes.name, seq);
        let mut bytes = Vec::with_capacity(name.len() + value.len());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        self.size += size;
        self.entries.push_front(EncoderEntry {
            bytes: bytes.into_boxed_slice(),
            name_len: name.len(),
            hashes,
        });
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(entry) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size -= entry.size();
            // The entry evicted is the oldest: an index still pointing at
            // it means no newer entry took its key.
            let seq = self.inserted - self.entries.len() as u64 - 1;
            if self.fields.get(&entry.hashes.field) == Some(&seq) {
                self.fields.remove(&entry.hashes.field);
            }
            if self.names.get(&entry.hashes.name) == Some(&seq) {
                self.names.remove(&entry.hashes.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_static_agrees_with_the_table() {
        for (i, (name, value)) in STATIC.iter().enumerate() {
            let index = i + 1;
            let first_field = STATIC.iter().position(|e| e == &(*name, *value)).unwrap() + 1;
            let first_name = STATIC.iter().position(|e| e.0 == *name).unwrap() + 1;
            assert_eq!(index, first_field, "duplicate static entry");
            assert_eq!(find_static(name, value), Some(StaticMatch::Field(index)));
            assert_eq!(
                find_static(name, b"\0not-in-the-table"),
                Some(StaticMatch::Name(first_name))
            );
        }
        assert_eq!(find_static(b"x-custom", b""), None);
        assert_eq!(find_static(b":method", b""), Some(StaticMatch::Name(2)));
        assert_eq!(find_static(b":status", b""), Some(StaticMatch::Name(8)));
        assert_eq!(static_entry(0), None);
        assert_eq!(static_entry(62), None);
    }

    #[test]
    fn encoder_index_follows_evictions() {
        let mut t = EncoderTable::new(100);
        t.insert(b"a", b"1", t.hashes(b"a", b"1")); // 34
        t.insert(b"b", b"2", t.hashes(b"b", b"2")); // 34
        assert_eq!(
            t.find(b"a", b"1", t.hashes(b"a", b"1")),
            Some(DynamicMatch::Field(63))
        );
        assert_eq!(
            t.find(b"b", b"2", t.hashes(b"b", b"2")),
            Some(DynamicMatch::Field(62))
        );
        t.insert(b"a", b"3", t.hashes(b"a", b"3")); // evicts a: 1
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.find(b"a", b"1", t.hashes(b"a", b"1")),
            Some(DynamicMatch::Name(62))
        );
        assert_eq!(
            t.find(b"b", b"x", t.hashes(b"b", b"x")),
            Some(DynamicMatch::Name(63))
        );
        t.set_max_size(34);
        assert_eq!(t.find(b"b", b"2", t.hashes(b"b", b"2")), None);
        assert_eq!(
            t.find(b"a", b"3", t.hashes(b"a", b"3")),
            Some(DynamicMatch::Field(62))
        );
        t.insert(
            b"long-name",
            b"long-value-beyond-the-maximum",
            t.hashes(b"long-name", b"long-value-beyond-the-maximum"),
        );
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(b"a", b"3", t.hashes(b"a", b"3")), None);
        assert!(t.fields.is_empty() && t.names.is_empty());
    }
}
