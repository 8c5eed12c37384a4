//! Shared input splitting for the fuzz targets.

use vigil_ingest::LinkType;

/// Link types the decoder claims to handle, plus one it does not.
pub const LINKTYPES: [LinkType; 15] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::PPP,
    LinkType::C_HDLC,
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
    LinkType::PPI,
    LinkType::NFLOG,
    LinkType(12345),
];

/// Split `data` into frames: each frame is `[linktype index, len_hi, len_lo, ts delta, bytes…]`.
pub fn frames(mut data: &[u8]) -> Vec<(LinkType, i64, &[u8])> {
    let mut out = Vec::new();
    let mut ts = 1_000_000_000_000i64;
    while data.len() >= 4 {
        let lt = LINKTYPES[data[0] as usize % LINKTYPES.len()];
        let len = (usize::from(data[1]) << 8 | usize::from(data[2])).min(data.len() - 4);
        ts += i64::from(data[3]) * 250_000;
        out.push((lt, ts, &data[4..4 + len]));
        data = &data[4 + len..];
    }
    out
}
