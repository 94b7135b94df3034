//! IPv4 addresses and CIDR blocks as plain integers.

use std::net::Ipv4Addr;

/// An IPv4 CIDR block, normalized to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/16`. The address must be the network address (AWS rejects host bits).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let base = u32::from(addr);
        Some(Cidr { base, prefix })
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) }
    }

    /// Whether the address has no host bits set.
    pub fn is_network_address(&self) -> bool {
        self.base & !self.mask() == 0
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    pub fn last(&self) -> u32 {
        self.base | !self.mask()
    }

    pub fn contains_ip(&self, ip: u32) -> bool {
        ip & self.mask() == self.base & self.mask()
    }

    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains_ip(other.base)
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains_ip(other.base) || other.contains_ip(self.base)
    }

    /// The `n`th address of the block.
    pub fn nth(&self, n: u32) -> u32 {
        self.base.wrapping_add(n)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

pub fn ip_to_string(ip: u32) -> String {
    Ipv4Addr::from(ip).to_string()
}

pub fn parse_ip(text: &str) -> Option<u32> {
    text.parse::<Ipv4Addr>().ok().map(u32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        let b = Cidr::parse("10.0.1.128/25").unwrap();
        let out = Cidr::parse("10.1.0.0/24").unwrap();
        assert!(vpc.contains(&a) && a.overlaps(&b) && !vpc.contains(&out));
        assert_eq!(ip_to_string(a.last()), "10.0.1.255");
        assert!(!Cidr::parse("10.0.0.1/16").unwrap().is_network_address());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }
}
