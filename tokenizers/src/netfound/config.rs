//! [`NetfoundConfig`]: burst rules, field selection and state bounds.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::TokenizerError;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// A network from an address and a prefix length; `None` when the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNetwork { addr, prefix })
    }

    /// True when `ip` lies in this network (an IPv4 network never contains an IPv6 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = TokenizerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TokenizerError::Config(format!("`{s}` is not an IP network (a.b.c.d/len)"));
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNetwork::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// When a packet starts a new burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurstSplit {
    /// The reference rule (`Tokenize.py` `split_based_on_iat`, applied to each
    /// direction separately, then bursts ordered by their first packet): a
    /// packet starts a new burst when more than the gap has passed since the
    /// previous packet *in the same direction*. Packets of the other direction
    /// in between do not split a burst.
    #[default]
    PerDirection,
    /// Also start a new burst whenever the direction differs from the
    /// previous packet's, so bursts never overlap in time.
    OnDirectionChange,
}

/// Settings of the netFound tokenizer. `Default` gives the reference values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetfoundConfig {
    /// Networks whose hosts are "internal": the internal end of a flow sends
    /// the forward (`direction = true`) packets. When neither or both ends are
    /// internal, the originator's side is forward. Default: empty (the
    /// reference's `internalIPs` lists its authors' campus network).
    pub internal_networks: Vec<IpNetwork>,
    /// A packet more than this many microseconds after the previous one of its
    /// direction starts a new burst. Reference: 10 ms (`BURST_SPLIT_BORDER`).
    pub burst_gap_us: i64,
    /// Burst rule; see [`BurstSplit`].
    pub burst_split: BurstSplit,
    /// Packets kept per burst; later packets of a full burst are dropped.
    /// Reference: 6 (`BURST_SIZE_LIMIT`).
    pub max_packets_per_burst: usize,
    /// Bursts kept per flow; later bursts are dropped. Reference: 12 (`FLOW_SIZE_LIMIT`).
    pub max_bursts: usize,
    /// Append the first 12 payload bytes (6 tokens) to each packet. Reference: on.
    pub payload: bool,
    /// Append the 40-byte TCP options block (20 tokens) to each TCP packet. Reference: off
    /// (`DefaultConfigNoTCPOptions.json`).
    pub tcp_options: bool,
    /// Start each burst with the CLS id, as netFound's tokenizer does before the model.
    pub prepend_cls: bool,
    /// Emit a flow as soon as this many bursts are complete, instead of waiting
    /// for it to close. `Some(max_bursts)` (the default) emits exactly the
    /// tokens the flow would have at close, early; smaller values score long
    /// flows sooner on fewer bursts. `None` emits only at close or eviction.
    pub emit_after_bursts: Option<usize>,
    /// Open flows held at most; the least recently seen flow is evicted (and
    /// emitted) to make room.
    pub max_open_flows: usize,
}

impl Default for NetfoundConfig {
    fn default() -> Self {
        NetfoundConfig {
            internal_networks: Vec::new(),
            burst_gap_us: 10_000,
            burst_split: BurstSplit::PerDirection,
            max_packets_per_burst: 6,
            max_bursts: 12,
            payload: true,
            tcp_options: false,
            prepend_cls: true,
            emit_after_bursts: Some(12),
            max_open_flows: 100_000,
        }
    }
}

impl NetfoundConfig {
    /// Check everything that can be known before any packet arrives; every problem is reported.
    pub fn validate(&self) -> Result<(), TokenizerError> {
        let mut problems = Vec::new();
        if self.burst_gap_us < 0 {
            problems.push(format!("burst_gap_us must be >= 0, got {}", self.burst_gap_us));
        }
        if self.max_packets_per_burst == 0 {
            problems.push("max_packets_per_burst must be >= 1".to_string());
        }
        if self.max_bursts == 0 {
            problems.push("max_bursts must be >= 1".to_string());
        }
        if let Some(n) = self.emit_after_bursts
            && (n == 0 || n > self.max_bursts)
        {
            problems.push(format!(
                "emit_after_bursts must be in 1..=max_bursts ({}), got {n}",
                self.max_bursts
            ));
        }
        if self.max_open_flows == 0 {
            problems.push("max_open_flows must be >= 1".to_string());
        }
        if problems.is_empty() { Ok(()) } else { Err(TokenizerError::Config(problems.join("; "))) }
    }

    /// True when `ip` is in one of the internal networks.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal_networks.iter().any(|n| n.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_membership() {
        let n: IpNetwork = "169.231.0.0/16".parse().unwrap();
        assert!(n.contains("169.231.5.9".parse().unwrap()));
        assert!(!n.contains("169.232.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let host: IpNetwork = "10.0.0.1".parse().unwrap();
        assert_eq!(host.to_string(), "10.0.0.1/32");
        let v6: IpNetwork = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
        assert!("nonsense".parse::<IpNetwork>().is_err());
    }

    #[test]
    fn validate_reports_every_problem() {
        let c = NetfoundConfig {
            max_bursts: 0,
            max_packets_per_burst: 0,
            max_open_flows: 0,
            ..Default::default()
        };
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("max_bursts") && msg.contains("max_packets_per_burst"), "{msg}");
        assert!(msg.contains("emit_after_bursts") && msg.contains("max_open_flows"), "{msg}");
        NetfoundConfig::default().validate().unwrap();
    }
}
