//! The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B).
//!
//! [`CODES`] is Appendix B transcribed, one `(code, length)` row per symbol
//! (the code right-aligned, as in the appendix's hex column). Everything else
//! is derived from it at compile time by `const fn`s that assert what they
//! rely on, so a mistyped row fails the build instead of a request:
//!
//! * the code is *canonical*: sorted by (length, symbol), each code is the
//!   previous one plus one, shifted left when the length grows — so the rows
//!   cannot disagree with the lengths, and the lengths are checked by the
//!   RFC's Appendix C vectors in the tests;
//! * the code is complete (the tree has no empty branch).
//!
//! Decoding runs a finite-state machine four bits at a time (the approach of
//! nghttp2): the states are the 256 internal nodes of the code tree, and each
//! `(state, nibble)` entry gives the next state and at most one symbol (the
//! shortest code has 5 bits, so a nibble completes at most one). Reaching
//! EOS fails at once; at the end of the string the state must be the root or
//! a node on the all-ones path no deeper than 7 bits, which is exactly "the
//! padding is at most 7 bits and is a prefix of EOS".

use bytes::BufMut;

/// Appendix B: `(code, length in bits)` for the symbols 0..=255 and EOS (256).
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),     // ' ' (32)
    (0x3f8, 10),   // '!'
    (0x3f9, 10),   // '"'
    (0xffa, 12),   // '#'
    (0x1ff9, 13),  // '$'
    (0x15, 6),     // '%'
    (0xf8, 8),     // '&'
    (0x7fa, 11),   // '''
    (0x3fa, 10),   // '('
    (0x3fb, 10),   // ')'
    (0xf9, 8),     // '*'
    (0x7fb, 11),   // '+'
    (0xfa, 8),     // ','
    (0x16, 6),     // '-'
    (0x17, 6),     // '.'
    (0x18, 6),     // '/'
    (0x0, 5),      // '0' (48)
    (0x1, 5),      // '1'
    (0x2, 5),      // '2'
    (0x19, 6),     // '3'
    (0x1a, 6),     // '4'
    (0x1b, 6),     // '5'
    (0x1c, 6),     // '6'
    (0x1d, 6),     // '7'
    (0x1e, 6),     // '8'
    (0x1f, 6),     // '9'
    (0x5c, 7),     // ':'
    (0xfb, 8),     // ';'
    (0x7ffc, 15),  // '<'
    (0x20, 6),     // '='
    (0xffb, 12),   // '>'
    (0x3fc, 10),   // '?'
    (0x1ffa, 13),  // '@' (64)
    (0x21, 6),     // 'A'
    (0x5d, 7),     // 'B'
    (0x5e, 7),     // 'C'
    (0x5f, 7),     // 'D'
    (0x60, 7),     // 'E'
    (0x61, 7),     // 'F'
    (0x62, 7),     // 'G'
    (0x63, 7),     // 'H'
    (0x64, 7),     // 'I'
    (0x65, 7),     // 'J'
    (0x66, 7),     // 'K'
    (0x67, 7),     // 'L'
    (0x68, 7),     // 'M'
    (0x69, 7),     // 'N'
    (0x6a, 7),     // 'O'
    (0x6b, 7),     // 'P' (80)
    (0x6c, 7),     // 'Q'
    (0x6d, 7),     // 'R'
    (0x6e, 7),     // 'S'
    (0x6f, 7),     // 'T'
    (0x70, 7),     // 'U'
    (0x71, 7),     // 'V'
    (0x72, 7),     // 'W'
    (0xfc, 8),     // 'X'
    (0x73, 7),     // 'Y'
    (0xfd, 8),     // 'Z'
    (0x1ffb, 13),  // '['
    (0x7fff0, 19), // '\'
    (0x1ffc, 13),  // ']'
    (0x3ffc, 14),  // '^'
    (0x22, 6),     // '_'
    (0x7ffd, 15),  // '`' (96)
    (0x3, 5),      // 'a'
    (0x23, 6),     // 'b'
    (0x4, 5),      // 'c'
    (0x24, 6),     // 'd'
    (0x5, 5),      // 'e'
    (0x25, 6),     // 'f'
    (0x26, 6),     // 'g'
    (0x27, 6),     // 'h'
    (0x6, 5),      // 'i'
    (0x74, 7),     // 'j'
    (0x75, 7),     // 'k'
    (0x28, 6),     // 'l'
    (0x29, 6),     // 'm'
    (0x2a, 6),     // 'n'
    (0x7, 5),      // 'o'
    (0x2b, 6),     // 'p' (112)
    (0x76, 7),     // 'q'
    (0x2c, 6),     // 'r'
    (0x8, 5),      // 's'
    (0x9, 5),      // 't'
    (0x2d, 6),     // 'u'
    (0x77, 7),     // 'v'
    (0x78, 7),     // 'w'
    (0x79, 7),     // 'x'
    (0x7a, 7),     // 'y'
    (0x7b, 7),     // 'z'
    (0x7ffe, 15),  // '{'
    (0x7fc, 11),   // '|'
    (0x3ffd, 14),  // '}'
    (0x1ffd, 13),  // '~'
    (0xffffffc, 28),
    (0xfffe6, 20), // 128
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24), // 144
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22), // 160
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21), // 176
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26), // 192
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19), // 208
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20), // 224
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26), // 240
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30), // EOS (256)
];

/// The EOS symbol, which only ever appears as padding.
const EOS: u16 = 256;
/// Marks a tree child as a leaf (the low bits are the symbol).
const LEAF: u16 = 0x8000;

/// Checks that [`CODES`] is a canonical prefix code: in (length, symbol)
/// order each code follows the previous one as canonical Huffman codes do,
/// and the last (EOS) is all ones, so the code is complete.
const fn check_canonical() -> bool {
    let mut prev_code: u64 = 0;
    let mut prev_len: u32 = 0;
    let mut first = true;
    let mut len = 1;
    while len <= 30 {
        let mut sym = 0;
        while sym < 257 {
            let (code, l) = CODES[sym];
            if l as u32 == len {
                let expect = if first {
                    0
                } else {
                    (prev_code + 1) << (len - prev_len)
                };
                assert!(code as u64 == expect, "Appendix B is mistranscribed");
                first = false;
                prev_code = code as u64;
                prev_len = len;
            }
            sym += 1;
        }
        len += 1;
    }
    assert!(
        prev_len == 30 && prev_code == (1 << 30) - 1,
        "incomplete code"
    );
    true
}

const _: () = assert!(check_canonical());

/// The code tree: 256 internal nodes (node 0 is the root), each with two
/// children that are either another node or `LEAF | symbol`.
const fn build_tree() -> [[u16; 2]; 256] {
    let mut nodes = [[0u16; 2]; 256];
    let mut next: u16 = 1;
    let mut sym = 0;
    while sym < 257 {
        let (code, len) = CODES[sym];
        let mut node = 0usize;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            let child = nodes[node][bit];
            if child == 0 {
                assert!(next < 256, "more internal nodes than a full tree has");
                nodes[node][bit] = next;
                node = next as usize;
                next += 1;
            } else {
                assert!(child & LEAF == 0, "a code is a prefix of another");
                node = child as usize;
            }
        }
        let bit = (code & 1) as usize;
        assert!(nodes[node][bit] == 0, "a code is a prefix of another");
        nodes[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(next == 256, "the code tree is not full");
    let mut n = 0;
    while n < 256 {
        assert!(nodes[n][0] != 0 && nodes[n][1] != 0, "an empty branch");
        n += 1;
    }
    nodes
}

const TREE: [[u16; 2]; 256] = build_tree();

/// Whether ending the string in this state is valid: the state is the root,
/// or reached from it by at most 7 one-bits (a prefix of EOS).
const fn build_accept() -> [bool; 256] {
    let mut accept = [false; 256];
    accept[0] = true;
    let mut node = 0usize;
    let mut depth = 0;
    while depth < 7 {
        let child = TREE[node][1];
        assert!(child & LEAF == 0, "EOS is 30 one-bits");
        node = child as usize;
        accept[node] = true;
        depth += 1;
    }
    accept
}

/// A `static`, not a `const`: indexed at run time, a `const` array may be
/// copied to the stack on every call.
static ACCEPT: [bool; 256] = build_accept();

/// [`CODES`] for run-time lookups (see [`ACCEPT`]).
static ENCODE: [(u32, u8); 257] = CODES;

/// One transition: the next state, the symbol completed (if `EMIT`), and
/// whether EOS was reached (`FAIL`).
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    sym: u8,
    flags: u8,
}

const EMIT: u8 = 1;
const FAIL: u8 = 2;

const fn build_steps() -> [[Step; 16]; 256] {
    let mut steps = [[Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut sym = 0u8;
            let mut flags = 0u8;
            let mut bit = 4;
            while bit > 0 {
                bit -= 1;
                let child = TREE[node][(nibble >> bit) & 1];
                if child & LEAF != 0 {
                    let s = child & !LEAF;
                    if s == EOS {
                        flags = FAIL;
                        node = 0;
                        break;
                    }
                    // The shortest code has 5 bits: one symbol per nibble at most.
                    assert!(flags & EMIT == 0);
                    flags = EMIT;
                    sym = s as u8;
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            steps[state][nibble] = Step {
                next: node as u8,
                sym,
                flags,
            };
            nibble += 1;
        }
        state += 1;
    }
    steps
}

static STEPS: [[Step; 16]; 256] = build_steps();

/// Why a Huffman-coded string is refused (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The string holds the EOS symbol.
    Eos,
    /// The padding is longer than 7 bits or not the most significant bits of EOS.
    Padding,
}

/// Appends the decoding of `src` to `dst`.
pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // 8 bits in, at least 5 bits per symbol out.
    dst.reserve(src.len() * 8 / 5 + 1);
    let mut state = 0usize;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = STEPS[state][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HuffmanError::Eos);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = usize::from(step.next);
        }
    }
    if ACCEPT[state] {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

/// Checks `src` as [`decode`] does, without producing the output.
pub(crate) fn validate(src: &[u8]) -> Result<(), HuffmanError> {
    let mut state = 0usize;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = STEPS[state][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HuffmanError::Eos);
            }
            state = usize::from(step.next);
        }
    }
    if ACCEPT[state] {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

/// The length of `src` Huffman-coded, padding included.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(ENCODE[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-coded, padded with the high bits of EOS (ones).
pub(crate) fn encode<B: BufMut>(src: &[u8], dst: &mut B) {
    // Bits are shifted into the low end of `acc`; whole 32-bit words leave
    // from the top of the pending bits. At most 31 pending bits plus a
    // 30-bit code fit in 64 (bits above the pending ones are discarded by
    // the shifts and never written).
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = ENCODE[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        if bits >= 32 {
            bits -= 32;
            dst.put_u32((acc >> bits) as u32);
        }
    }
    while bits >= 8 {
        bits -= 8;
        dst.put_u8((acc >> bits) as u8);
    }
    if bits > 0 {
        let pad = 8 - bits;
        dst.put_u8(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn appendix_c_strings() {
        for (text, coded) in [
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("302", "6402"),
            ("private", "aec3 771a 4b"),
            (
                "Mon, 21 Oct 2013 20:13:21 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            ),
            (
                "https://www.example.com",
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            ),
            ("307", "640e ff"),
            ("gzip", "9bd9 ab"),
        ] {
            let coded = hex(coded);
            let mut out = Vec::new();
            encode(text.as_bytes(), &mut out);
            assert_eq!(out, coded, "{text}");
            assert_eq!(encoded_len(text.as_bytes()), coded.len());
            let mut back = Vec::new();
            decode(&coded, &mut back).unwrap();
            assert_eq!(back, text.as_bytes());
        }
    }

    #[test]
    fn every_symbol_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut coded = Vec::new();
        encode(&all, &mut coded);
        let mut back = Vec::new();
        decode(&coded, &mut back).unwrap();
        assert_eq!(back, all);
        assert_eq!(validate(&coded), Ok(()));
    }

    #[test]
    fn padding_and_eos() {
        // 'a' is 00011: padded with 111 is valid.
        assert_eq!(validate(&[0b0001_1111]), Ok(()));
        // Padded with zeros: not a prefix of EOS.
        assert_eq!(validate(&[0b0001_1000]), Err(HuffmanError::Padding));
        // A whole byte of ones as padding: more than 7 bits.
        assert_eq!(validate(&[0b0001_1111, 0xff]), Err(HuffmanError::Padding));
        assert_eq!(validate(&[0xff]), Err(HuffmanError::Padding));
        // EOS itself (30 ones) inside the string.
        assert_eq!(validate(&[0xff, 0xff, 0xff, 0xfc]), Err(HuffmanError::Eos));
        assert_eq!(validate(&[]), Ok(()));
    }
}
