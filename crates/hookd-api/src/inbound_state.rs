//! What the ingest route keeps in memory on each node: the receive-side settings, a
//! short-lived cache of sources, and the inbound rate limits.
//!
//! **Invariants:** a cached source is never older than `SOURCE_MAX_AGE`, and any change
//! to a source through this node clears the cache (another node's change is seen within
//! that age). Rate limits are token buckets per node, in memory: with N nodes behind a
//! load balancer a provider may get up to N times the configured rate, and a restart
//! refills every bucket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hookd_core::ids::SourceId;
use hookd_core::source::{Source, TokenBucket};

const SOURCE_MAX_AGE: Duration = Duration::from_secs(2);
/// Past this many entries a map starts over, so neither can grow without bound.
const MAX_ENTRIES: usize = 10_000;

/// Settings of the receive side.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// The URL providers reach hookd at (`https://hooks.example.com`), used to rebuild
    /// the URL a provider signed. Default: none, `http://{Host}` is used.
    pub public_base_url: Option<String>,
    /// Requests per second accepted at `/in` across every source (bursts of as many).
    /// Default: no limit.
    pub global_rate_limit: Option<u32>,
    /// How long a provider event id is remembered for deduplication. Default: 7 days.
    pub dedup_window: Duration,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            public_base_url: None,
            global_rate_limit: None,
            dedup_window: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The ingest route's per-node memory.
pub struct InboundState {
    pub config: InboundConfig,
    started: Instant,
    /// Shared, so that a request takes the cached source without copying it.
    sources: Mutex<HashMap<String, (Instant, Arc<Source>)>>,
    global_bucket: Mutex<Option<TokenBucket>>,
    source_buckets: Mutex<HashMap<SourceId, TokenBucket>>,
}

impl InboundState {
    pub fn new(config: InboundConfig) -> Self {
        Self {
            config,
            started: Instant::now(),
            sources: Mutex::new(HashMap::new()),
            global_bucket: Mutex::new(None),
            source_buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The cached source for `id_or_uid`, if fresh.
    pub fn cached_source(&self, id_or_uid: &str) -> Option<Arc<Source>> {
        lock(&self.sources)
            .get(id_or_uid)
            .filter(|(fetched, _)| fetched.elapsed() < SOURCE_MAX_AGE)
            .map(|(_, source)| Arc::clone(source))
    }

    pub fn cache_source(&self, id_or_uid: &str, source: &Arc<Source>) {
        let mut sources = lock(&self.sources);
        if sources.len() >= MAX_ENTRIES {
            sources.clear();
        }
        sources.insert(id_or_uid.to_owned(), (Instant::now(), Arc::clone(source)));
    }

    /// Forgets every cached source (after a change on this node).
    pub fn forget_sources(&self) {
        lock(&self.sources).clear();
    }

    /// Takes a token from the global bucket. `Err` is the seconds to wait.
    pub fn admit_global(&self) -> Result<(), u64> {
        let Some(rate) = self.config.global_rate_limit else {
            return Ok(());
        };
        let now_ms = self.now_ms();
        let mut bucket = lock(&self.global_bucket);
        bucket
            .get_or_insert_with(|| TokenBucket::full(rate, now_ms))
            .take(rate, rate, now_ms)
    }

    /// Takes a token from the source's bucket. `Err` is the seconds to wait.
    pub fn admit_source(&self, source: &Source) -> Result<(), u64> {
        let Some(rate) = source.settings.rate_limit else {
            return Ok(());
        };
        let now_ms = self.now_ms();
        let mut buckets = lock(&self.source_buckets);
        if buckets.len() >= MAX_ENTRIES && !buckets.contains_key(&source.id) {
            buckets.clear();
        }
        buckets
            .entry(source.id.clone())
            .or_insert_with(|| TokenBucket::full(rate, now_ms))
            .take(rate, rate, now_ms)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
