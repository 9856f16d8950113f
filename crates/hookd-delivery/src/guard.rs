//! The SSRF guard at connect time: a DNS resolver that drops addresses the network policy
//! refuses, so a name that resolves to 127.0.0.1 is refused like the literal address.
//!
//! **Invariant:** the address checked is the address connected to. Both HTTP clients
//! (the delivery sender's hyper connector and the replayer's reqwest client) connect only
//! to addresses this resolver returns; IP-literal URLs never reach a resolver, so their
//! callers check those themselves before sending.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hookd_core::network::{BlockedAddress, NetworkPolicy};
use hyper_util::client::legacy::connect::dns::Name as HyperName;

type BoxError = Box<dyn StdError + Send + Sync>;

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

impl GuardedResolver {
    /// The addresses `host` resolves to that the policy allows (port 0: the connector
    /// sets the URL's port), or [`AllAddressesBlocked`] when it allows none of them.
    async fn allowed_addresses(
        policy: Arc<NetworkPolicy>,
        host: String,
    ) -> Result<Vec<SocketAddr>, BoxError> {
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
                return Err(Box::new(AllAddressesBlocked { blocked }));
            }
        }
        Ok(allowed)
    }
}

/// The resolver of the delivery sender's `hyper_util` connector.
impl tower_service::Service<HyperName> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: HyperName) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = Self::allowed_addresses(policy, host).await?;
            Ok(allowed.into_iter())
        })
    }
}

/// The resolver of the replayer's reqwest client.
impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = Self::allowed_addresses(policy, host).await?;
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Finds a refusal by the guard anywhere in an error's source chain.
pub(crate) fn find_refusal<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a BlockedAddress> {
    let mut current: Option<&'a (dyn StdError + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<AllAddressesBlocked>() {
            return Some(&refusal.blocked);
        }
        current = error.source();
    }
    None
}
