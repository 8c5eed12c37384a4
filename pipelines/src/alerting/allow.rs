//! Allow-lists: addresses (CIDRs), ports, entities and signature ids whose alerts are
//! dropped, globally or per rule.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What an allow-list is written as, in a rules file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSpec {
    /// Addresses and networks (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`).
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Source or destination ports.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Entities (users, client addresses) or series, as written in the rows.
    #[serde(default)]
    pub entities: Vec<String>,
    /// Signature ids.
    #[serde(default)]
    pub sids: Vec<u32>,
}

/// A network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `a.b.c.d`, `a.b.c.d/n`, `v6` or `v6/n`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.trim().parse().map_err(|_| format!("`{s}` is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the network (an IPv4 address never is in an IPv6 network).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 { 0 } else { bits >> (width - prefix) }
        }
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, self.prefix, 32)
                    == masked(u32::from(*a) as u128, self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(*a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// A checked allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    cidrs: Vec<Cidr>,
    ports: Vec<u16>,
    entities: std::collections::HashSet<String>,
    sids: std::collections::HashSet<u32>,
}

/// What an alert is checked against an allow-list by.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowKey<'a> {
    /// Signature id.
    pub sid: u32,
    /// Source and destination addresses, as written.
    pub ips: [Option<&'a str>; 2],
    /// Source and destination ports.
    pub ports: [Option<u16>; 2],
    /// Entity or series.
    pub entity: Option<&'a str>,
}

impl AllowList {
    /// Check a spec; every bad entry is reported.
    pub fn new(spec: &AllowSpec) -> Result<AllowList, Vec<String>> {
        let mut problems = Vec::new();
        let cidrs = spec
            .cidrs
            .iter()
            .filter_map(|c| Cidr::parse(c).map_err(|e| problems.push(e)).ok())
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(AllowList {
            cidrs,
            ports: spec.ports.clone(),
            entities: spec.entities.iter().cloned().collect(),
            sids: spec.sids.iter().copied().collect(),
        })
    }

    /// This list and `other` together.
    pub fn extend(&mut self, other: AllowList) {
        self.cidrs.extend(other.cidrs);
        self.ports.extend(other.ports);
        self.entities.extend(other.entities);
        self.sids.extend(other.sids);
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.cidrs.is_empty()
            && self.ports.is_empty()
            && self.entities.is_empty()
            && self.sids.is_empty()
    }

    /// Whether an alert with these fields is allowed (dropped).
    pub fn allows(&self, k: &AllowKey<'_>) -> bool {
        if self.sids.contains(&k.sid) {
            return true;
        }
        if k.ports.iter().flatten().any(|p| self.ports.contains(p)) {
            return true;
        }
        if let Some(e) = k.entity
            && self.entities.contains(e)
        {
            return true;
        }
        if self.cidrs.is_empty() {
            return false;
        }
        // An entity may be a client address (HSTU over access logs).
        k.ips
            .iter()
            .flatten()
            .chain(k.entity.iter())
            .any(|s| s.parse::<IpAddr>().is_ok_and(|ip| self.cidrs.iter().any(|c| c.contains(&ip))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains(&"10.1.200.3".parse().unwrap()));
        assert!(!n.contains(&"10.2.0.1".parse().unwrap()));
        assert!(!n.contains(&"::ffff:10.1.0.1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(&"2001:db8:1::5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&"8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("192.0.2.7").unwrap().contains(&"192.0.2.7".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("host").is_err());
    }

    #[test]
    fn lists_match_addresses_ports_entities_and_sids() {
        let spec = AllowSpec {
            cidrs: vec!["192.0.2.0/24".into()],
            ports: vec![53],
            entities: vec!["backup-job".into()],
            sids: vec![9200001],
        };
        let a = AllowList::new(&spec).unwrap();
        let key = |sid, src, port, entity| AllowKey {
            sid,
            ips: [Some(src), Some("198.51.100.1")],
            ports: [Some(40000), Some(port)],
            entity,
        };
        assert!(a.allows(&key(1, "192.0.2.9", 80, None)));
        assert!(a.allows(&key(1, "203.0.113.1", 53, None)));
        assert!(a.allows(&key(9200001, "203.0.113.1", 80, None)));
        assert!(a.allows(&key(1, "203.0.113.1", 80, Some("backup-job"))));
        assert!(!a.allows(&key(1, "203.0.113.1", 80, Some("alice"))));
        // A client address as the entity.
        let k = AllowKey { sid: 1, entity: Some("192.0.2.50"), ..Default::default() };
        assert!(a.allows(&k));
        let bad = AllowSpec { cidrs: vec!["x".into(), "10.0.0.0/40".into()], ..Default::default() };
        assert_eq!(AllowList::new(&bad).unwrap_err().len(), 2);
    }
}
