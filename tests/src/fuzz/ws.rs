//! The WebSocket frame codec: headers parse the same from every prefix,
//! re-encode to the same bytes, and unmasking in pieces equals unmasking whole.

use wirestate_ws::{FrameHeader, apply_mask};

/// Frame limits the first input byte chooses from.
const LIMITS: [u64; 4] = [u64::MAX, 125, 65_536, 16 << 20];

/// Fuzz body for `ws_frame`: `[limit choice] [frames...]`.
pub fn ws_frame(data: &[u8]) {
    let Some((&choice, mut rest)) = data.split_first() else {
        return;
    };
    let max = LIMITS[usize::from(choice) % LIMITS.len()];
    // Bounded: every round consumes at least the two header bytes.
    while !rest.is_empty() {
        let (header, n) = match FrameHeader::parse(rest, max) {
            Ok(Some(found)) => found,
            Ok(None) | Err(_) => return,
        };
        assert!(header.len <= max, "length over the limit accepted");
        assert_eq!(n, header.encoded_len(), "header length");
        for cut in 0..n {
            assert_eq!(
                FrameHeader::parse(&rest[..cut], max),
                Ok(None),
                "a prefix parsed"
            );
        }
        let mut again = Vec::new();
        header.encode(&mut again);
        assert_eq!(&again[..], &rest[..n], "re-encoding differs");
        rest = &rest[n..];
        let take = usize::try_from(header.len)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        if let Some(key) = header.mask {
            let mut whole = rest[..take].to_vec();
            apply_mask(&mut whole, key, 0);
            let mut pieces = rest[..take].to_vec();
            let mid = take / 3;
            let (a, b) = pieces.split_at_mut(mid);
            apply_mask(a, key, 0);
            apply_mask(b, key, mid);
            assert_eq!(whole, pieces, "unmasking in pieces differs");
            apply_mask(&mut whole, key, 0);
            assert_eq!(
                &whole[..],
                &rest[..take],
                "masking twice is not the identity"
            );
        }
        rest = &rest[take..];
    }
}
