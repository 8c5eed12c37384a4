//! Zeek-style connection uids: `C` followed by base62 characters.
//!
//! Zeek draws uids from a seeded random generator. Here a flow's uid and its
//! `flow_id` are drawn from the flow's key and first-packet time, mixed with a seed
//! made from the sensor's name ([`sensor_seed`]): a replay of the same traffic gives
//! the same uids, and two sensors (or two captures) do not share them.

use std::hash::{Hash, Hasher};

use super::key::{FlowKey, FxHasher};

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

/// The number a flow's uid and id are drawn from: its (canonical) key and the time
/// of its first packet.
pub(crate) fn flow_number(key: &FlowKey, first_ts: i64) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.write_u64(first_ts as u64);
    mix(h.finish())
}

/// The seed of a sensor's uids and flow ids.
pub fn sensor_seed(sensor: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(sensor.as_bytes());
    h.write_u64(sensor.len() as u64);
    mix(h.finish())
}

/// The uid and `flow_id` of a flow record that did not come from packets (a flow
/// CSV row), drawn from whatever identifies it (`what`: its tuple, start time and
/// row) and the sensor's seed.
pub fn record_uid(seed: u64, what: impl Hash) -> (String, u64) {
    let mut h = FxHasher::default();
    what.hash(&mut h);
    let n = mix(h.finish());
    (uid_string(n, seed), flow_id_of(n, seed))
}

/// The `flow_id` of flow number `n` under `seed`: the 63 high bits of the hash that
/// also starts its uid (so it fits a signed 64-bit integer, as EVE consumers expect).
pub(crate) fn flow_id_of(n: u64, seed: u64) -> u64 {
    mix(n ^ seed.rotate_left(17)) >> 1
}

/// The uid string of flow number `n` with this `seed`: `C` + 15 base62 chars.
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

    #[test]
    fn sensors_and_first_packets_make_the_uid() {
        let key = FlowKey::new([1; 16], 1, [2; 16], 2, 6, false, None, None);
        let n = flow_number(&key, 1_000);
        assert_eq!(n, flow_number(&key, 1_000), "a replay gives the same number");
        assert_ne!(n, flow_number(&key, 1_001));
        let (a, b) = (sensor_seed("lab"), sensor_seed("dmz"));
        assert_ne!(uid_string(n, a), uid_string(n, b));
        assert_ne!(flow_id_of(n, a), flow_id_of(n, b));
        assert!(flow_id_of(n, a) <= i64::MAX as u64);
    }
}
