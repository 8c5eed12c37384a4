//! ICMP "ports": how Zeek (and the Community ID spec) turn ICMP type/code into a conn id.
//!
//! Request/reply message pairs map to `(type, counterpart type)` and are bidirectional;
//! every other message maps to `(type, code)` and is one-way (Zeek's `ICMP4_counterpart`
//! and `ICMP6_counterpart` in `packet_analysis/protocol/icmp/ICMP.cc`).

/// `(resp_p, is_one_way)` for an ICMPv4 message.
pub(crate) fn icmp4_counterpart(icmp_type: u8, code: u8) -> (u16, bool) {
    let c = match icmp_type {
        8 => 0,   // echo -> echo reply
        0 => 8,   // echo reply -> echo
        13 => 14, // timestamp
        14 => 13,
        15 => 16, // information
        16 => 15,
        10 => 9, // router solicitation -> advertisement
        9 => 10,
        17 => 18, // address mask
        18 => 17,
        _ => return (u16::from(code), true),
    };
    (c, false)
}

/// `(resp_p, is_one_way)` for an ICMPv6 message.
pub(crate) fn icmp6_counterpart(icmp_type: u8, code: u8) -> (u16, bool) {
    let c = match icmp_type {
        128 => 129, // echo request -> reply
        129 => 128,
        133 => 134, // router solicitation -> advertisement
        134 => 133,
        135 => 136, // neighbor solicitation -> advertisement
        136 => 135,
        130 => 131, // MLD query -> report
        131 => 130,
        139 => 140, // node information query -> reply ("who are you")
        140 => 139,
        144 => 145, // home agent address discovery request -> reply
        145 => 144,
        _ => return (u16::from(code), true),
    };
    (c, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_one_way() {
        assert_eq!(icmp4_counterpart(8, 0), (0, false));
        assert_eq!(icmp4_counterpart(0, 0), (8, false));
        assert_eq!(icmp4_counterpart(3, 3), (3, true));
        assert_eq!(icmp4_counterpart(11, 0), (0, true));
        assert_eq!(icmp6_counterpart(135, 0), (136, false));
        assert_eq!(icmp6_counterpart(131, 0), (130, false));
        assert_eq!(icmp6_counterpart(143, 0), (0, true));
        assert_eq!(icmp6_counterpart(1, 4), (4, true));
    }
}
