//! [`AppState`]: what every handler shares: the store, the API settings, and caches.

use std::sync::Arc;
use std::time::Duration;

use hookd_store::{LocalWorker, Store};

use crate::schema::SchemaCache;

/// Settings of the HTTP API.
#[derive(Clone)]
pub struct ApiConfig {
    /// SHA-256 of the admin token. Requests must present the token itself.
    pub admin_token_hash: [u8; 32],
    /// Largest request body accepted, in bytes. Default: 1 MiB.
    pub body_limit: usize,
    /// How long an idempotency key keeps returning its first response. Default: 24 h.
    pub idempotency_window: Duration,
    /// Default grace period of a rotated endpoint secret. Default: 24 h.
    pub secret_grace_period: Duration,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("admin_token_hash", &"[redacted]")
            .field("body_limit", &self.body_limit)
            .field("idempotency_window", &self.idempotency_window)
            .field("secret_grace_period", &self.secret_grace_period)
            .finish()
    }
}

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ApiConfig>,
    pub(crate) schemas: Arc<SchemaCache>,
    pub(crate) applications: Arc<crate::app_cache::AppCache>,
    pub(crate) idempotency_locks: Arc<crate::idempotency::KeyLocks>,
    /// This node's delivery worker, when it runs one: publishes hand it their deliveries.
    pub(crate) local_worker: Option<Arc<dyn LocalWorker>>,
    /// Names of the commands configured on this node, the only `command://NAME` URLs an
    /// endpoint may have.
    pub(crate) commands: Arc<std::collections::BTreeSet<String>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            schemas: Arc::new(SchemaCache::default()),
            applications: Arc::new(crate::app_cache::AppCache::default()),
            idempotency_locks: Arc::new(crate::idempotency::KeyLocks::default()),
            local_worker: None,
            commands: Arc::default(),
        }
    }

    /// Publishes on this node hand their deliveries straight to `worker` while it has
    /// room, instead of leaving them for the next claim.
    pub fn with_local_worker(mut self, worker: Arc<dyn LocalWorker>) -> Self {
        self.local_worker = Some(worker);
        self
    }

    /// The commands configured on this node (from the config file), which endpoints may
    /// target as `command://NAME`.
    pub fn with_commands(mut self, names: std::collections::BTreeSet<String>) -> Self {
        self.commands = Arc::new(names);
        self
    }
}
