//! An unkeyed hasher for the maps on every call's path whose keys a peer
//! cannot pile into one bucket: the server's own route table (a lookup of
//! an unknown path costs one probe; collisions are only among the routes
//! the application registered) and a connection's streams in progress
//! (bounded by the concurrent-stream limit the server advertises). Std's
//! SipHash cost about 100-200 instructions per lookup there, several per
//! call.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's word mix (rotate, xor, multiply) over the key's words, with
/// murmur3's finalizer so that the low bits (which pick the bucket) depend
/// on every input bit: stream ids are all odd, and would otherwise leave
/// half the buckets empty.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
        // The length too, so that trailing zero bytes (zero-padded into
        // the last word) still change the hash.
        self.add(bytes.len() as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The `BuildHasher` of [`FxHasher`], for `HashMap::with_hasher` /
/// `HashMap::default`.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn strings_that_differ_hash_apart() {
        let b = FxBuild::default();
        let paths = [
            "/wirestate.echo.v1.Echo/Echo",
            "/wirestate.echo.v1.Echo/EchoStream",
            "/wirestate.echo.v1.Echo/EchoBidi",
            "/grpc.health.v1.Health/Check",
            "",
            "a",
            "a\0",
        ];
        let mut hashes: Vec<u64> = paths.iter().map(|p| b.hash_one(p)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), paths.len());
    }

    #[test]
    fn odd_ids_fill_every_low_bit_pattern() {
        // The bucket of a 64-slot table is the hash's low six bits: the
        // first 512 client stream ids (all odd) reach every one of them.
        let b = FxBuild::default();
        let mut seen = [false; 64];
        for id in (1u32..1024).step_by(2) {
            seen[(b.hash_one(id) & 63) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
