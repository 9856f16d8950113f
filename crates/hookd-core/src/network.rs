//! Which IP addresses deliveries may reach (the SSRF guard's decision).
//!
//! STUB: the public API below is fixed; the bodies are being written.

use std::net::IpAddr;

use ipnet::IpNet;

/// Ranges refused by default, minus the ranges the operator opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPolicy {
    pub allowed: Vec<IpNet>,
}

/// A refused address, with a message that says how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused {ip}: {category} address ({range}) and private networks are not allowed by default; allow it with --allow-private-network {range} (or HOOKD_ALLOW_PRIVATE_NETWORK)")]
pub struct BlockedAddress {
    pub ip: IpAddr,
    pub category: &'static str,
    pub range: IpNet,
}

impl NetworkPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// `Ok` when deliveries may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedAddress> {
        let _ = ip;
        unimplemented!("stub")
    }
}
