//! Which IP addresses deliveries may reach (the SSRF guard's decision).
//!
//! **Invariant:** an address in a refused range (private, loopback, link-local and cloud
//! metadata, CGNAT, multicast, reserved…) is refused unless the operator allowed a
//! network that contains it. IPv6 addresses that embed an IPv4 address (IPv4-mapped
//! `::ffff:0:0/96`, NAT64 `64:ff9b::/96`) are judged by that IPv4 address, so no IPv6
//! spelling reaches what its IPv4 form could not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Ranges refused by default, minus the ranges the operator opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    /// Networks deliveries may reach even though a refused range contains them.
    pub allowed: Vec<IpNet>,
}

/// A refused address, with a message that says how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused {ip}: {category} address ({range}) and private networks are not allowed by default; allow it with --allow-private-network {range} (or HOOKD_ALLOW_PRIVATE_NETWORK)")]
pub struct BlockedAddress {
    /// The address as the resolver returned it.
    pub ip: IpAddr,
    /// What the refused range is, e.g. `loopback`.
    pub category: &'static str,
    /// The refused range that contains `ip` (or the IPv4 address it embeds).
    pub range: IpNet,
}

impl NetworkPolicy {
    /// A policy that opens the `allowed` networks on top of the default refusals.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// `Ok` when deliveries may connect to `ip`.
    ///
    /// # Errors
    ///
    /// [`BlockedAddress`] naming the refused range that contains `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedAddress> {
        let embedded_v4 = match ip {
            IpAddr::V4(_) => None,
            IpAddr::V6(v6) => embedded_ipv4(v6),
        };
        let Some((category, range)) = blocked_range(ip) else {
            return Ok(());
        };
        let allowed = self.allowed.iter().any(|net| {
            net.contains(&ip) || embedded_v4.is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
        });
        if allowed {
            Ok(())
        } else {
            Err(BlockedAddress {
                ip,
                category,
                range,
            })
        }
    }
}

/// Parses an allow list such as `127.0.0.0/8, ::1` (CIDRs or bare addresses, separated
/// by commas and/or whitespace). A bare address is a /32 or /128; host bits of a CIDR
/// are cleared, so `10.1.2.3/8` reads as `10.0.0.0/8`.
///
/// # Errors
///
/// A message naming the first item that is neither a CIDR nor an IP address.
pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "invalid network {item:?} in allow list: expected a CIDR such as 10.0.0.0/8 or an IP address"
                    )
                })
        })
        .collect()
}

/// IPv4 ranges refused by default, with the word the error uses for them.
const BLOCKED_V4: [(Ipv4Net, &str); 11] = [
    (v4(0, 0, 0, 0, 8), "unspecified / this network"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local / cloud metadata"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignment"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(240, 0, 0, 0, 4), "reserved / broadcast"),
];

/// IPv6 ranges refused by default. The ranges that embed an IPv4 address are not here:
/// they are judged by [`embedded_ipv4`].
const BLOCKED_V6: [(Ipv6Net, &str); 6] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
];

const IPV4_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// The refused range containing `ip`, if any.
fn blocked_range(ip: IpAddr) -> Option<(&'static str, IpNet)> {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => v4,
            None => {
                return BLOCKED_V6
                    .iter()
                    .find(|(net, _)| net.contains(&v6))
                    .map(|(net, category)| (*category, IpNet::V6(*net)));
            }
        },
    };
    BLOCKED_V4
        .iter()
        .find(|(net, _)| net.contains(&v4))
        .map(|(net, category)| (*category, IpNet::V4(*net)))
}

/// The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if IPV4_MAPPED.contains(&ip) || NAT64.contains(&ip) {
        let [.., a, b, c, d] = ip.octets();
        Some(Ipv4Addr::new(a, b, c, d))
    } else {
        None
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix_len)
}

const fn v6(segments: [u16; 8], prefix_len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix_len)
}

#[cfg(test)]
mod tests;
