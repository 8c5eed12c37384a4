//! Zeek's `conn_state` (`scripts/base/protocols/conn/main.zeek`).

use super::tcp_state::EpState;

/// `/\^?S[^HAFGIQ]*R.*/ == history`.
fn rstos0_history(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

/// `conn_state` of a TCP connection from its endpoint states, payload sizes and history.
pub(crate) fn tcp_conn_state(
    os: EpState,
    rs: EpState,
    orig_size: u64,
    resp_size: u64,
    history: &str,
) -> &'static str {
    use EpState::*;
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent) || (os == Reset && orig_size == 0 && resp_size == 0) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if os == Reset {
        if r_inactive { if rstos0_history(history) { "RSTOS0" } else { "OTH" } } else { "RSTO" }
    } else if rs == Closed && os == Closed {
        "SF"
    } else if os == Closed {
        if r_inactive { "SH" } else { "S2" }
    } else if rs == Closed {
        if o_inactive { "SHR" } else { "S3" }
    } else if os == SynSent && rs == Inactive {
        "S0"
    } else if os == Established && rs == Established {
        "S1"
    } else {
        "OTH"
    }
}

/// `conn_state` of a UDP connection: which sides sent anything.
pub(crate) fn udp_conn_state(orig_active: bool, resp_active: bool) -> &'static str {
    match (orig_active, resp_active) {
        (true, true) => "SF",
        (true, false) => "S0",
        (false, true) => "SHR",
        (false, false) => "OTH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EpState::*;

    #[test]
    fn rstos0_pattern() {
        assert!(rstos0_history("SR"));
        assert!(rstos0_history("^SdR"));
        assert!(rstos0_history("ShR"), "the class is case-sensitive");
        assert!(!rstos0_history("SAR"));
        assert!(!rstos0_history("R"));
    }

    #[test]
    fn tcp_states() {
        assert_eq!(tcp_conn_state(SynSent, Inactive, 0, 0, "S"), "S0");
        assert_eq!(tcp_conn_state(SynSent, Reset, 0, 0, "Sr"), "REJ");
        assert_eq!(tcp_conn_state(Closed, Closed, 1, 1, "ShADadFf"), "SF");
        assert_eq!(tcp_conn_state(Established, Established, 1, 1, "ShADad"), "S1");
        assert_eq!(tcp_conn_state(Partial, Closed, 0, 0, "^fA"), "SHR");
        assert_eq!(tcp_conn_state(Inactive, Reset, 0, 0, "^r"), "RSTRH");
        assert_eq!(tcp_conn_state(Reset, Inactive, 0, 0, "R"), "OTH");
        assert_eq!(tcp_conn_state(Reset, Established, 1, 1, "ShADadR"), "RSTO");
        assert_eq!(tcp_conn_state(Closed, Established, 1, 1, "ShADadF"), "S2");
        assert_eq!(tcp_conn_state(Established, Closed, 1, 1, "ShADadf"), "S3");
        assert_eq!(tcp_conn_state(Closed, Inactive, 0, 0, "F"), "SH");
        assert_eq!(udp_conn_state(false, true), "SHR");
    }
}
