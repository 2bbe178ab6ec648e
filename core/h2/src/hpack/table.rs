//! The static table (RFC 7541 §2.3.1, Appendix A) and the dynamic table
//! (§2.3.2, §4): the decoder's plain FIFO, and the encoder's with a hash
//! index for lookups.

use bytes::Bytes;
use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

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

/// A `(name, value)` pair as a hash key that can be looked up by borrowed
/// slices (the `dyn` borrow idiom): the encoder's exact-match index.
#[derive(Debug, Clone)]
struct Pair(Bytes, Bytes);

trait PairKey {
    fn name(&self) -> &[u8];
    fn value(&self) -> &[u8];
}

impl PairKey for Pair {
    fn name(&self) -> &[u8] {
        &self.0
    }
    fn value(&self) -> &[u8] {
        &self.1
    }
}

impl PairKey for (&[u8], &[u8]) {
    fn name(&self) -> &[u8] {
        self.0
    }
    fn value(&self) -> &[u8] {
        self.1
    }
}

impl<'a> Borrow<dyn PairKey + 'a> for Pair {
    fn borrow(&self) -> &(dyn PairKey + 'a) {
        self
    }
}

impl Hash for dyn PairKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
        self.value().hash(state);
    }
}

impl PartialEq for dyn PairKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.value() == other.value()
    }
}

impl Eq for dyn PairKey + '_ {}

impl Hash for Pair {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn PairKey).hash(state);
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 && self.1 == other.1
    }
}

impl Eq for Pair {}

/// A dynamic table match for a field: the HPACK index (62 and up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DynamicMatch {
    /// Name and value match.
    Field(usize),
    /// Only the name matches (the newest entry with it).
    Name(usize),
}

/// The encoder's dynamic table: the same FIFO as the decoder's, plus hash
/// indexes from `(name, value)` and from `name` to the newest entry holding
/// them, so lookups cost O(1) however large the peer lets the table grow.
///
/// Entries are numbered by insertion (`seq`); the newest has
/// `inserted - 1`, and its HPACK index is `STATIC_LEN + inserted - seq`.
#[derive(Debug, Clone)]
pub(crate) struct EncoderTable {
    table: DynamicTable,
    inserted: u64,
    fields: HashMap<Pair, u64>,
    names: HashMap<Bytes, u64>,
}

impl EncoderTable {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            table: DynamicTable::new(max_size),
            inserted: 0,
            fields: HashMap::new(),
            names: HashMap::new(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.table.size()
    }

    pub(crate) fn max_size(&self) -> usize {
        self.table.max_size()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.table.iter()
    }

    fn index_of(&self, seq: u64) -> usize {
        // `seq` is live, so `inserted - seq` is at most the entry count.
        STATIC_LEN + usize::try_from(self.inserted - seq).unwrap_or(usize::MAX)
    }

    /// Finds `name: value`, preferring an exact match.
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> Option<DynamicMatch> {
        if self.names.is_empty() {
            return None;
        }
        let key: &dyn PairKey = &(name, value);
        if let Some(&seq) = self.fields.get(key) {
            return Some(DynamicMatch::Field(self.index_of(seq)));
        }
        self.names
            .get(name)
            .map(|&seq| DynamicMatch::Name(self.index_of(seq)))
    }

    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.table.max_size = max_size;
        self.evict_to(max_size);
    }

    pub(crate) fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.table.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.table.max_size - size);
        let seq = self.inserted;
        self.inserted += 1;
        self.fields.insert(Pair(name.clone(), value.clone()), seq);
        self.names.insert(name.clone(), seq);
        self.table.size += size;
        self.table.entries.push_front((name, value));
    }

    fn evict_to(&mut self, target: usize) {
        while self.table.size > target {
            let Some((name, value)) = self.table.entries.pop_back() else {
                self.table.size = 0;
                break;
            };
            self.table.size -= entry_size(&name, &value);
            // The entry evicted is the oldest: any other entry with the same
            // name or field is newer, so the index points at it only if
            // there is none.
            let seq = self.inserted - self.table.entries.len() as u64 - 1;
            let key: &dyn PairKey = &(&name[..], &value[..]);
            if self.fields.get(key) == Some(&seq) {
                self.fields.remove(key);
            }
            if self.names.get(&name[..]) == Some(&seq) {
                self.names.remove(&name[..]);
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
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        t.insert(b("a"), b("1")); // 34
        t.insert(b("b"), b("2")); // 34
        assert_eq!(t.find(b"a", b"1"), Some(DynamicMatch::Field(63)));
        assert_eq!(t.find(b"b", b"2"), Some(DynamicMatch::Field(62)));
        t.insert(b("a"), b("3")); // evicts a: 1
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(b"a", b"1"), Some(DynamicMatch::Name(62)));
        assert_eq!(t.find(b"b", b"x"), Some(DynamicMatch::Name(63)));
        t.set_max_size(34);
        assert_eq!(t.find(b"b", b"2"), None);
        assert_eq!(t.find(b"a", b"3"), Some(DynamicMatch::Field(62)));
        t.insert(b("long-name"), b("long-value-beyond-the-maximum"));
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(b"a", b"3"), None);
        assert!(t.fields.is_empty() && t.names.is_empty());
    }
}
