//! 802.11 data frames (IP via LLC/SNAP), radiotap and PPI headers.

use super::bytes::{le16, le32};
use super::decoder::Ctx;
use super::l2;
use super::link;
use super::types::{Encapsulation, LinkType};

/// Radiotap: version, pad, little-endian header length, present bitmaps.
pub(crate) fn radiotap(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    let Some(len) = le16(data, 2) else { return ctx.weird("truncated_radiotap_header") };
    if len as usize >= data.len() {
        return ctx.weird("truncated_radiotap_header");
    }
    ieee80211(ctx, &data[len as usize..], encap);
}

/// PPI: version, flags, little-endian header length, little-endian link type.
pub(crate) fn ppi(ctx: &mut Ctx<'_>, data: &[u8]) {
    let (Some(len), Some(dlt)) = (le16(data, 2), le32(data, 4)) else {
        return ctx.weird("truncated_ppi_header");
    };
    if (len as usize) < 8 || len as usize > data.len() {
        return ctx.weird("truncated_ppi_header");
    }
    if dlt == LinkType::PPI.0 {
        return ctx.weird("ppi_in_ppi");
    }
    link::decode_link(ctx, LinkType(dlt), &data[len as usize..]);
}

/// An 802.11 MAC frame: only data frames carrying an MSDU are followed.
/// Protected frames, management/control frames and null-data subtypes
/// carry no visible IP.
pub(crate) fn ieee80211(ctx: &mut Ctx<'_>, d: &[u8], encap: Encapsulation) {
    if d.len() < 24 {
        return ctx.weird("truncated_802_11_header");
    }
    let (fc0, fc1) = (d[0], d[1]);
    if (fc0 >> 2) & 0x03 != 2 {
        return; // management / control
    }
    let subtype = fc0 >> 4;
    if subtype & 0x04 != 0 {
        return; // (QoS) null function: no payload
    }
    if fc1 & 0x40 != 0 {
        return; // protected: encrypted payload
    }
    let mut hl = 24;
    if fc1 & 0x03 == 0x03 {
        hl += 6; // 4-address (WDS) form
    }
    let mut amsdu = false;
    if subtype & 0x08 != 0 {
        // QoS control; the A-MSDU bit is bit 7 of its first byte.
        let Some(&qos) = d.get(hl) else { return ctx.weird("truncated_802_11_header") };
        amsdu = qos & 0x80 != 0;
        hl += 2;
        if fc1 & 0x80 != 0 {
            hl += 4; // +HTC
        }
    }
    if d.len() <= hl {
        return ctx.weird("truncated_802_11_header");
    }
    let body = &d[hl..];
    if amsdu {
        // Only the first A-MSDU subframe: DA, SA, length, then the LLC MSDU.
        if body.len() < 14 {
            return ctx.weird("truncated_802_11_amsdu_header");
        }
        let len = u16::from_be_bytes([body[12], body[13]]) as usize;
        let sub = &body[14..];
        if sub.len() < len {
            ctx.weird("truncated_802_11_amsdu_packet");
        }
        return l2::llc(ctx, &sub[..len.min(sub.len())], encap);
    }
    if body.len() < 8 {
        return ctx.weird("truncated_802_11_llc_header");
    }
    l2::llc(ctx, body, encap);
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::super::types::{DecodedPacket, LinkType, RawPacket};

    fn ipv4_icmp() -> Vec<u8> {
        vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2, // IPv4, ICMP
            8, 0, 0, 0, 0, 1, 0, 1, // echo request
        ]
    }

    const SNAP_V4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];

    fn mac_header(fc0: u8, fc1: u8, four_addr: bool) -> Vec<u8> {
        let mut h = vec![fc0, fc1, 0, 0]; // frame control, duration
        h.extend_from_slice(&[0x11; 18]); // addr1..3
        h.extend_from_slice(&[0, 0]); // sequence control
        if four_addr {
            h.extend_from_slice(&[0x22; 6]);
        }
        h
    }

    fn decode(lt: LinkType, f: &[u8]) -> DecodedPacket {
        Decoder::default().decode(&RawPacket {
            ts: 0,
            data: f,
            wire_len: f.len() as u32,
            linktype: lt,
        })
    }

    #[test]
    fn data_qos_wds_protected() {
        // Data frame (type 2, subtype 0), to-DS.
        let f = [mac_header(0x08, 0x01, false), SNAP_V4.to_vec(), ipv4_icmp()].concat();
        assert_eq!(decode(LinkType::IEEE802_11, &f).layers.len(), 1);
        // QoS data (subtype 8), 4-address, QoS control 2 bytes.
        let f = [mac_header(0x88, 0x03, true), vec![0, 0], SNAP_V4.to_vec(), ipv4_icmp()].concat();
        assert_eq!(decode(LinkType::IEEE802_11, &f).layers.len(), 1);
        // Protected: skipped quietly.
        let f = [mac_header(0x08, 0x41, false), SNAP_V4.to_vec(), ipv4_icmp()].concat();
        let p = decode(LinkType::IEEE802_11, &f);
        assert!(p.layers.is_empty() && p.weirds.is_empty());
        // Beacon (management): skipped.
        assert!(decode(LinkType::IEEE802_11, &mac_header(0x80, 0, false)).layers.is_empty());
    }

    #[test]
    fn radiotap_and_ppi() {
        let inner = [mac_header(0x08, 0x02, false), SNAP_V4.to_vec(), ipv4_icmp()].concat();
        // Radiotap v0, length 8, no present fields.
        let f = [vec![0, 0, 8, 0, 0, 0, 0, 0], inner.clone()].concat();
        assert_eq!(decode(LinkType::IEEE802_11_RADIOTAP, &f).layers.len(), 1);
        // PPI v0, flags 0, length 8, DLT 105.
        let f = [vec![0, 0, 8, 0, 105, 0, 0, 0], inner].concat();
        assert_eq!(decode(LinkType::PPI, &f).layers.len(), 1);
        // Bad radiotap length.
        assert!(!decode(LinkType::IEEE802_11_RADIOTAP, &[0, 0, 0xff, 0]).weirds.is_empty());
    }
}
