//! Community ID v1 (corelight/community-id-spec): `1:` + base64(SHA-1(seed, tuple)).

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// Protocols whose tuple includes ports (ICMP "ports" are type and counterpart/code).
fn has_ports(proto: u8) -> bool {
    matches!(proto, 1 | 6 | 17 | 58 | 132)
}

fn octets(a: &IpAddr, out: &mut [u8; 16]) -> usize {
    match a {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            out.copy_from_slice(&v6.octets());
            16
        }
    }
}

/// Community ID v1 of a flow given as Zeek's conn id (`orig_p`/`resp_p` are the ICMP type and
/// counterpart or code for ICMP). `one_way` is set for one-way ICMP messages, which are not reordered.
pub fn community_id_v1(
    seed: u16,
    saddr: &IpAddr,
    sport: u16,
    daddr: &IpAddr,
    dport: u16,
    proto: u8,
    one_way: bool,
) -> String {
    let mut sa = [0u8; 16];
    let mut da = [0u8; 16];
    let sl = octets(saddr, &mut sa);
    let dl = octets(daddr, &mut da);
    let ordered = one_way || (&sa[..sl], sport) <= (&da[..dl], dport);
    let (a, al, ap, b, bl, bp) =
        if ordered { (&sa, sl, sport, &da, dl, dport) } else { (&da, dl, dport, &sa, sl, sport) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&a[..al]);
    h.update(&b[..bl]);
    h.update([proto, 0]);
    if has_ports(proto) {
        h.update(ap.to_be_bytes());
        h.update(bp.to_be_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(30);
    out.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str, sp: u16, d: &str, dp: u16, proto: u8, one_way: bool) -> String {
        community_id_v1(0, &s.parse().unwrap(), sp, &d.parse().unwrap(), dp, proto, one_way)
    }

    /// Vectors from the spec repository's `baseline/baseline_deflt.json`.
    #[test]
    fn spec_baseline_vectors() {
        assert_eq!(
            cid("128.232.110.120", 34855, "66.35.250.204", 80, 6, false),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid("66.35.250.204", 80, "128.232.110.120", 34855, 6, false),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            cid("192.168.1.52", 54585, "8.8.8.8", 53, 17, false),
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ="
        );
        assert_eq!(
            cid(
                "2001:470:e5bf:dead:4957:2174:e82c:4887",
                63943,
                "2607:f8b0:400c:c03::1a",
                25,
                6,
                false
            ),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="
        );
        assert_eq!(
            cid("192.168.0.89", 8, "192.168.0.1", 0, 1, false),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            cid("192.168.0.1", 0, "192.168.0.89", 8, 1, false),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(cid("10.0.0.1", 11, "10.0.0.2", 0, 1, true), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
        assert_eq!(
            cid("fe80::200:86ff:fe05:80da", 135, "fe80::260:97ff:fe07:69ea", 136, 58, false),
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="
        );
        assert_eq!(
            cid("fe80::260:97ff:fe07:69ea", 135, "fe80::200:86ff:fe05:80da", 136, 58, false),
            "1:zavyT/cezQr1fmImYCwYnMXbgck="
        );
        assert_eq!(
            cid("3ffe:501:1800:2345::2", 3, "3ffe:507:0:1:200:86ff:fe05:80da", 0, 58, true),
            "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="
        );
        assert_eq!(
            cid("192.168.170.8", 7, "192.168.170.56", 7, 132, false),
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="
        );
        assert_eq!(
            cid("10.1.12.1", 0, "10.1.12.2", 0, 46, false),
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="
        );
        assert_eq!(
            cid("10.1.12.2", 0, "10.1.12.1", 0, 46, false),
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="
        );
    }
}
