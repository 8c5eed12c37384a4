//! Zeek-style connection uids: `C` followed by base62 characters.
//!
//! Zeek draws uids from a seeded random generator; here they come from a per-run counter
//! through a bijective mixer, so a run is reproducible and uids never collide.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64's finaliser: a bijection on `u64`.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn push_base62(out: &mut String, mut v: u64, width: usize) {
    let mut buf = [b'0'; 11];
    for slot in buf.iter_mut().rev().take(width) {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    for &c in &buf[11 - width..] {
        out.push(char::from(c));
    }
}

/// The uid string of the `n`th uid drawn in a run with this `seed`: `C` + 15 base62 chars.
pub(crate) fn uid_string(n: u64, seed: u64) -> String {
    let h1 = mix(n ^ seed.rotate_left(17));
    let h2 = mix(h1 ^ seed);
    let mut s = String::with_capacity(16);
    s.push('C');
    push_base62(&mut s, h1, 11); // 62^11 > 2^64: injective in n
    push_base62(&mut s, h2, 4);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn shape_and_uniqueness() {
        let mut seen = HashSet::new();
        for n in 0..10_000 {
            let u = uid_string(n, 0);
            assert_eq!(u.len(), 16);
            assert!(u.starts_with('C'));
            assert!(u[1..].bytes().all(|c| c.is_ascii_alphanumeric()));
            assert!(seen.insert(u));
        }
        assert_eq!(uid_string(7, 0), uid_string(7, 0));
        assert_ne!(uid_string(7, 0), uid_string(7, 1));
    }
}
