//! [`AppState`]: what every handler shares: the store, the API settings, caches, the
//! live-stream hubs and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use hookd_store::Store;
use tokio_util::sync::CancellationToken;

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
    /// The receive side (`/in/{source}`).
    pub inbound: crate::inbound_state::InboundConfig,
    /// Live streams: heartbeats, buffers, long-poll bound, browser origins.
    pub streams: StreamConfig,
    /// The key application tokens are signed with (shared by every node).
    pub app_token_key: [u8; 32],
}

/// Settings of the live streams (`/stream`, `/events`) and of browser access.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// How often an idle stream sends a heartbeat (an SSE comment, a WebSocket ping).
    /// Default: 15 s.
    pub heartbeat: Duration,
    /// Messages a subscriber may fall behind by before it is cut off as too slow.
    /// Default: 1024.
    pub buffer: usize,
    /// Longest `wait` a long-poll may ask for; longer asks are cut to it. Default: 30 s.
    pub long_poll_max_wait: Duration,
    /// Origins a browser may call the stream routes from (CORS); `*` allows any. Default:
    /// none (same origin only).
    pub cors_allowed_origins: Vec<String>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            buffer: 1024,
            long_poll_max_wait: Duration::from_secs(30),
            cors_allowed_origins: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("admin_token_hash", &"[redacted]")
            .field("body_limit", &self.body_limit)
            .field("idempotency_window", &self.idempotency_window)
            .field("secret_grace_period", &self.secret_grace_period)
            .field("inbound", &self.inbound)
            .field("streams", &self.streams)
            .field("app_token_key", &"[redacted]")
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
    /// Renders `/metrics`; `None` answers that route 404.
    pub(crate) metrics: Option<crate::metrics::MetricsRender>,
    /// Where `endpoint.created/updated/deleted/disabled` events go, if anywhere.
    pub(crate) operational: Option<hookd_store::OperationalWebhooks>,
    pub(crate) inbound: Arc<crate::inbound_state::InboundState>,
    pub(crate) streams: Arc<crate::stream::StreamHubs>,
    /// Inspector bins: their defaults and limits, and the replay client.
    pub(crate) bins: Arc<crate::bin::Bins>,
    /// Cancelled when the server shuts down: open streams and long-polls end then.
    pub(crate) shutdown: CancellationToken,
    /// Names of the commands configured on this node, the only `command://NAME` URLs an
    /// endpoint may have.
    pub(crate) commands: Arc<std::collections::BTreeSet<String>>,
    /// This node's delivery worker, when it runs one: publishes lease their deliveries
    /// to it so they are attempted at once, without a claim.
    pub(crate) worker: Option<Arc<hookd_delivery::Worker>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        let inbound = crate::inbound_state::InboundState::new(config.inbound.clone());
        Self {
            schemas: Arc::new(SchemaCache::default()),
            applications: Arc::new(crate::app_cache::AppCache::default()),
            idempotency_locks: Arc::new(crate::idempotency::KeyLocks::default()),
            metrics: None,
            operational: None,
            inbound: Arc::new(inbound),
            streams: Arc::new(crate::stream::StreamHubs::new(
                Arc::clone(&store),
                config.streams.buffer,
            )),
            shutdown: CancellationToken::new(),
            commands: Arc::default(),
            worker: None,
            bins: Arc::new(crate::bin::Bins::new(crate::bin::BinConfig::default())),
            store,
            config: Arc::new(config),
        }
    }

    /// Sends operational events about endpoint changes through `hooks`. Default: none.
    pub fn with_operational_webhooks(mut self, hooks: hookd_store::OperationalWebhooks) -> Self {
        self.operational = Some(hooks);
        self
    }

    /// Serves `GET /metrics` with `render` (the binary's Prometheus exporter).
    pub fn with_metrics(mut self, render: crate::metrics::MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }

    /// Ends open streams and long-polls when `shutdown` is cancelled (graceful shutdown
    /// waits for every open request, so they must end for it to finish).
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Settings of the inspector bins. Default: `BinConfig::default()`.
    pub fn with_bins(mut self, config: crate::bin::BinConfig) -> Self {
        self.bins = Arc::new(crate::bin::Bins::new(config));
        self
    }

    /// The commands configured on this node (from the config file), which endpoints may
    /// target as `command://NAME`.
    pub fn with_commands(mut self, names: std::collections::BTreeSet<String>) -> Self {
        self.commands = Arc::new(names);
        self
    }

    /// Hands the deliveries of this node's publishes straight to `worker`, this node's
    /// delivery worker, leased to it in the publish's own transaction. Without it (an
    /// API-only node) every delivery waits in the queue for a worker's claim.
    pub fn with_worker(mut self, worker: Arc<hookd_delivery::Worker>) -> Self {
        self.worker = Some(worker);
        self
    }
}
