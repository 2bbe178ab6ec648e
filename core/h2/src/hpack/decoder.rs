//! The HPACK decoder (RFC 7541 §3, §6).

use super::table::{self, DynamicTable, STATIC_LEN};
use super::{
    DEFAULT_MAX_HEADER_LIST_SIZE, DEFAULT_TABLE_SIZE, Error, Field, decode_integer, huffman,
};
use bytes::Bytes;

/// Decodes header blocks, keeping the decoding side's dynamic table.
///
/// One decoder per connection, fed every block in the order the frames
/// arrived. See the [module docs](super) for errors and limits.
///
/// ```
/// use bytes::Bytes;
/// use wirestate_h2::hpack::{Decoder, Field};
///
/// // RFC 7541 C.3.1: three static entries and a literal added to the table.
/// let block = Bytes::from_static(b"\x82\x86\x84\x41\x0fwww.example.com");
/// let mut decoder = Decoder::new();
/// let fields = decoder.decode(&block).unwrap();
/// assert_eq!(fields[3], Field::new(":authority", "www.example.com"));
/// assert_eq!(decoder.table_size(), 57);
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE as the peer's encoder knows it: the most a
    /// size update may ask for.
    limit: usize,
    /// The limit was lowered below the table's maximum size: the next block
    /// must start with a size update.
    update_required: bool,
    max_header_list_size: usize,
    /// The error that broke the compression context, repeated for every
    /// later block.
    failed: Option<Error>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder in HTTP/2's initial state: a 4,096-byte table, and the
    /// [default header list limit](super::DEFAULT_MAX_HEADER_LIST_SIZE).
    pub fn new() -> Self {
        Self::with_table_size(DEFAULT_TABLE_SIZE)
    }

    /// A decoder whose table starts at `size` bytes, as agreed with the
    /// encoder out of band (RFC 7541 Appendix C.5 uses 256). For HTTP/2 use
    /// [`new`](Self::new) and [`set_max_table_size`](Self::set_max_table_size).
    pub fn with_table_size(size: usize) -> Self {
        Self {
            table: DynamicTable::new(size),
            limit: size,
            update_required: false,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            failed: None,
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours, once the peer has
    /// acknowledged it (RFC 9113 §6.5.3): until then its encoder may still
    /// use the old one.
    ///
    /// Size updates above `limit` are refused from now on. When `limit` is
    /// below the table's current maximum size, the encoder must shrink its
    /// table, so the next block must start with a size update
    /// ([`Error::MissingSizeUpdate`] otherwise, RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, limit: usize) {
        self.limit = limit;
        self.update_required = limit < self.table.max_size();
    }

    /// The header list limit (SETTINGS_MAX_HEADER_LIST_SIZE we advertise):
    /// the sum of name + value + 32 over a block's fields. Decoding a larger
    /// list fails with [`Error::HeaderListTooLarge`], with the table in sync.
    pub fn set_max_header_list_size(&mut self, max: usize) {
        self.max_header_list_size = max;
    }

    /// The header list limit in force.
    pub fn max_header_list_size(&self) -> usize {
        self.max_header_list_size
    }

    /// The size of the dynamic table's entries (name + value + 32 each).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's maximum size, as last set by the encoder.
    pub fn table_max_size(&self) -> usize {
        self.table.max_size()
    }

    /// The number of dynamic table entries.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table's entries as `(name, value)`, newest (index 62) first.
    pub fn table_entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|(n, v)| (&n[..], &v[..]))
    }

    /// Decodes one complete header block into its fields.
    pub fn decode(&mut self, block: &Bytes) -> Result<Vec<Field>, Error> {
        // Every field takes at least one byte; most blocks are small.
        let mut out = Vec::with_capacity(block.len().min(32));
        self.decode_into(block, &mut out)?;
        Ok(out)
    }

    /// Decodes one complete header block, appending its fields to `out`.
    ///
    /// Literal strings that were not Huffman-coded and do not enter the
    /// table are slices of `block`, without copying. On
    /// [`HeaderListTooLarge`](Error::HeaderListTooLarge), `out` holds the
    /// fields before the one that crossed the limit; on other errors its
    /// contents are unspecified.
    pub fn decode_into(&mut self, block: &Bytes, out: &mut Vec<Field>) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode_block(block, out) {
            Err(e) if e.is_connection_error() => {
                self.failed = Some(e.clone());
                Err(e)
            }
            other => other,
        }
    }

    fn decode_block(&mut self, block: &Bytes, out: &mut Vec<Field>) -> Result<(), Error> {
        let buf: &[u8] = block;
        let mut pos = 0;
        let mut at_start = true;
        let mut list_size = 0usize;
        let mut over = false;
        while pos < buf.len() {
            let b = buf[pos];
            if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !at_start {
                    return Err(Error::SizeUpdateNotAtStart);
                }
                let size = decode_integer(buf, &mut pos, 5)?;
                let size = match usize::try_from(size) {
                    Ok(s) if s <= self.limit => s,
                    _ => {
                        return Err(Error::SizeUpdateTooLarge {
                            size,
                            max: self.limit,
                        });
                    }
                };
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            }
            if at_start {
                at_start = false;
                if self.update_required {
                    return Err(Error::MissingSizeUpdate);
                }
            }
            let field = if b & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = decode_integer(buf, &mut pos, 7)?;
                let (name, value) = self.entry(index)?;
                (name, value, false)
            } else {
                // Literal (§6.2): with incremental indexing (01), without (0000)
                // or never indexed (0001).
                let indexing = b & 0x40 != 0;
                let sensitive = !indexing && b & 0x10 != 0;
                let index = decode_integer(buf, &mut pos, if indexing { 6 } else { 4 })?;
                // The table copies what it keeps, so it never pins the
                // caller's receive buffers. What is not kept needs no bytes
                // once the list is over the limit.
                let mode = if indexing {
                    Keep::Copy
                } else if over {
                    Keep::Skip
                } else {
                    Keep::Slice
                };
                let name = if index == 0 {
                    read_string(block, &mut pos, mode)?
                } else {
                    self.entry(index)?.0
                };
                let value = read_string(block, &mut pos, mode)?;
                if indexing {
                    self.table.insert(name.clone(), value.clone());
                }
                (name, value, sensitive)
            };
            if over {
                continue;
            }
            list_size = list_size.saturating_add(table::entry_size(&field.0, &field.1));
            if list_size > self.max_header_list_size {
                over = true;
                continue;
            }
            out.push(Field {
                name: field.0,
                value: field.1,
                sensitive: field.2,
            });
        }
        if at_start && self.update_required {
            return Err(Error::MissingSizeUpdate);
        }
        if over {
            return Err(Error::HeaderListTooLarge {
                max: self.max_header_list_size,
            });
        }
        Ok(())
    }

    /// The entry at HPACK `index` (§2.3.3).
    fn entry(&self, index: u64) -> Result<(Bytes, Bytes), Error> {
        let invalid = || Error::InvalidIndex {
            index,
            max: STATIC_LEN + self.table.len(),
        };
        let i = usize::try_from(index).map_err(|_| invalid())?;
        if i <= STATIC_LEN {
            return table::static_entry(i).ok_or_else(invalid);
        }
        let (name, value) = self.table.get(i - STATIC_LEN - 1).ok_or_else(invalid)?;
        Ok((name.clone(), value.clone()))
    }
}

/// What [`read_string`] makes of a literal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Check it (Huffman validity) but produce an empty `Bytes`.
    Skip,
    /// A slice of the block when it is not Huffman-coded.
    Slice,
    /// Bytes of its own.
    Copy,
}

/// Reads a string literal (§5.2).
fn read_string(block: &Bytes, pos: &mut usize, keep: Keep) -> Result<Bytes, Error> {
    let buf: &[u8] = block;
    let huffman_coded = *buf.get(*pos).ok_or(Error::Truncated)? & 0x80 != 0;
    let len = decode_integer(buf, pos, 7)?;
    let start = *pos;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= buf.len())
        .ok_or(Error::Truncated)?;
    *pos = end;
    let raw = &buf[start..end];
    match (huffman_coded, keep) {
        (true, Keep::Skip) => {
            huffman::validate(raw)?;
            Ok(Bytes::new())
        }
        (true, _) => {
            let mut out = Vec::new();
            huffman::decode(raw, &mut out)?;
            Ok(Bytes::from(out))
        }
        (false, Keep::Skip) => Ok(Bytes::new()),
        (false, Keep::Slice) => Ok(block.slice(start..end)),
        (false, Keep::Copy) => Ok(Bytes::copy_from_slice(raw)),
    }
}
