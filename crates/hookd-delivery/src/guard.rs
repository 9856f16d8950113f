//! The SSRF guard at connect time: a DNS resolver that drops addresses the network policy
//! refuses, so a name that resolves to 127.0.0.1 is refused like the literal address.
//!
//! **Invariant:** the address checked is the address connected to. reqwest connects only
//! to addresses this resolver returns; IP-literal URLs never reach a resolver, so the
//! sender checks those itself before sending.

use std::net::SocketAddr;
use std::sync::Arc;

use hookd_core::network::{BlockedAddress, NetworkPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves names with the system resolver and keeps only allowed addresses.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) policy: Arc<NetworkPolicy>,
}

/// Every address a name resolved to was refused.
#[derive(Debug, thiserror::Error)]
#[error("{blocked}")]
pub(crate) struct AllAddressesBlocked {
    pub(crate) blocked: BlockedAddress,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let mut allowed = Vec::with_capacity(resolved.len());
            for address in resolved {
                match policy.check(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(blocked) => {
                        first_refusal.get_or_insert(blocked);
                    }
                }
            }
            if allowed.is_empty() {
                if let Some(blocked) = first_refusal {
                    return Err(Box::new(AllAddressesBlocked { blocked }) as _);
                }
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Finds a refusal by the guard anywhere in an error's source chain.
pub(crate) fn find_refusal<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BlockedAddress> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<AllAddressesBlocked>() {
            return Some(&refusal.blocked);
        }
        current = error.source();
    }
    None
}
