//! `hookd serve`: opens the store, makes sure an admin token exists, and runs the API and
//! the delivery worker until SIGINT or SIGTERM, then shuts both down gracefully.

use std::sync::Arc;

use anyhow::{bail, Context};
use hookd_api::{ApiConfig, AppState, StreamConfig};
use hookd_core::network::NetworkPolicy;
use hookd_core::retry::RetryPolicy;
use hookd_delivery::{
    CommandRunner, HttpSender, RetentionConfig, RetentionJob, SenderConfig, Worker, WorkerConfig,
};
use hookd_store::{ExpiryKind, Store};
use hookd_store_sqlite::SqliteOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Config, DatabaseUrl};

/// The settings key under which the admin token's SHA-256 (hex) is kept.
const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";
/// The settings key of the key (hex) that signs application tokens, shared by all nodes.
const APP_TOKEN_KEY: &str = "app_token_key";

/// How long an idempotency key replays its first response; the retention job deletes
/// keys older than this.
const IDEMPOTENCY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Opens the store a configuration names, creating the SQLite file and schema if missing,
/// or connecting to PostgreSQL and applying its migrations.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_store(database: &DatabaseUrl) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(database, SqliteOptions::default()).await
}

/// [`open_store`] with SQLite tuning (ignored by other backends).
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_store_with(
    database: &DatabaseUrl,
    sqlite: SqliteOptions,
) -> anyhow::Result<Arc<dyn Store>> {
    match database {
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || {
                hookd_store_sqlite::SqliteStore::open_with(&path, sqlite)
            })
            .await
            .context("opening the SQLite database")?
            .context("opening the SQLite database")?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(url) => {
            let store = hookd_store_postgres::PostgresStore::connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Arc::new(store))
        }
    }
}

/// Runs the server until `shutdown` is cancelled. When `listener` is `None` and the API is
/// enabled, binds `config.listen`.
///
/// # Errors
/// When the store cannot be opened or the listener cannot be bound.
pub async fn run(
    config: Config,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sqlite = SqliteOptions {
        max_batch: config.sqlite_max_batch,
        max_size_bytes: config.max_database_size,
    };
    // A bad certificate or key stops the start before anything else runs.
    let tls_config = match &config.tls {
        Some(files) => Some(crate::tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let store = open_store_with(&config.database, sqlite).await?;
    let admin_token_hash =
        ensure_admin_token(store.as_ref(), config.admin_token.as_deref()).await?;

    // Installs the metrics recorder before the worker and API record anything.
    let metrics_render = crate::telemetry::metrics_render();
    let operational = crate::operational::setup(&store, &config).await?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut local_worker = None;
    if config.run_worker {
        let sender = HttpSender::new(SenderConfig {
            request_timeout: config.request_timeout,
            network: NetworkPolicy::new(config.allow_private_network.clone()),
            response_body_limit: config.response_body_limit,
        })
        .context("building the HTTP client")?;
        let commands = Arc::new(CommandRunner::new(
            config.commands.clone(),
            config.response_body_limit,
        ));
        // A lease must outlast the longest attempt, a command run included.
        let longest_attempt = config.request_timeout.max(commands.longest_timeout());
        let worker_config = WorkerConfig {
            retry: RetryPolicy {
                schedule: config.retry_schedule.clone(),
                ..RetryPolicy::default()
            },
            concurrency: config.worker_concurrency,
            endpoint_concurrency: config.endpoint_concurrency,
            disable_after: config.disable_endpoint_after,
            lease: longest_attempt + std::time::Duration::from_secs(10),
            drain_timeout: longest_attempt + std::time::Duration::from_secs(5),
            ..WorkerConfig::default()
        };
        let mut worker = Worker::new(store.clone(), sender, worker_config).with_commands(commands);
        if let Some(hooks) = &operational {
            worker = worker.with_operational_webhooks(hooks.clone());
        }
        let worker = Arc::new(worker);
        local_worker = Some(worker.clone());
        let token = shutdown.clone();
        tasks.spawn(async move {
            worker.run(token).await;
            Ok(())
        });
        // Retention runs where workers run, so an API-only node never writes in the
        // background.
        let retention = RetentionJob::new(store.clone(), retention_config(&config));
        let token = shutdown.clone();
        tasks.spawn(async move {
            retention.run(token).await;
            Ok(())
        });
    }
    if config.run_api {
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("listening on {}", config.listen))?,
        };
        let address = listener
            .local_addr()
            .context("reading the listen address")?;
        let app_token_key = ensure_app_token_key(store.as_ref()).await?;
        let mut state = AppState::new(
            store.clone(),
            ApiConfig {
                admin_token_hash,
                body_limit: config.body_limit,
                idempotency_window: IDEMPOTENCY_WINDOW,
                secret_grace_period: config.secret_grace_period,
                inbound: hookd_api::InboundConfig {
                    public_base_url: config.public_base_url.clone(),
                    global_rate_limit: config.inbound_rate_limit,
                    dedup_window: config.inbound_dedup_window,
                },
                streams: StreamConfig {
                    heartbeat: config.stream_heartbeat,
                    buffer: config.stream_buffer,
                    long_poll_max_wait: config.long_poll_max_wait,
                    cors_allowed_origins: config.cors_allowed_origins.clone(),
                },
                app_token_key,
            },
        )
        .with_metrics(metrics_render)
        .with_shutdown(shutdown.clone())
        .with_bins(hookd_api::BinConfig {
            default_ttl: config.bin_ttl,
            default_max_requests: config.bin_max_requests,
            body_limit: config.bin_body_limit,
            replay_timeout: config.request_timeout,
            network: NetworkPolicy::new(config.allow_private_network.clone()),
        });
        if let Some(hooks) = &operational {
            state = state.with_operational_webhooks(hooks.clone());
        }
        if let Some(worker) = local_worker.take() {
            state = state.with_worker(worker);
        }
        state = state.with_commands(
            config
                .commands
                .iter()
                .map(|command| command.name.clone())
                .collect(),
        );
        let service = hookd_api::service(state);
        let token = shutdown.clone();
        let header_read_timeout = config.header_read_timeout;
        let scheme = match tls_config {
            Some(tls_config) => {
                let listener = crate::tls::TlsListener::new(listener, tls_config, shutdown.clone())
                    .context("starting the TLS listener")?;
                tasks.spawn(async move {
                    crate::http_server::serve(listener, service, header_read_timeout, token).await;
                    Ok(())
                });
                "https"
            }
            None => {
                tasks.spawn(async move {
                    crate::http_server::serve(listener, service, header_read_timeout, token).await;
                    Ok(())
                });
                "http"
            }
        };
        info!(%address, scheme, database = ?config.database, worker = config.run_worker, "hookd is listening");
    } else {
        info!(database = ?config.database, "hookd worker running (no API)");
    }
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                shutdown.cancel();
                result = Err(error);
            }
            Err(error) => {
                shutdown.cancel();
                result = Err(anyhow::anyhow!("a server task panicked: {error}"));
            }
        }
    }
    info!("hookd stopped");
    result
}

/// What the retention job expires: payloads and attempt content after their configured
/// periods (unless turned off), idempotency keys after the idempotency window.
fn retention_config(config: &Config) -> RetentionConfig {
    let mut periods = Vec::new();
    if let Some(period) = config.retention_payload {
        periods.push((ExpiryKind::MessagePayloads, period));
    }
    if let Some(period) = config.retention_attempt_body {
        periods.push((ExpiryKind::AttemptContent, period));
    }
    periods.push((ExpiryKind::IdempotencyKeys, IDEMPOTENCY_WINDOW));
    RetentionConfig {
        periods,
        interval: config.retention_interval,
        // A stored inbound request holds the provider's payload: it is kept as long as
        // message payloads are. A provider's event id is forgotten after its window.
        inbound_requests: config.retention_payload,
        inbound_dedup_keys: Some(config.inbound_dedup_window),
        ..RetentionConfig::default()
    }
}

/// The hash the API checks tokens against. A configured token wins; otherwise the stored
/// hash; otherwise a new token is created, its hash stored, and the token printed once.
async fn ensure_admin_token(
    store: &dyn Store,
    configured: Option<&str>,
) -> anyhow::Result<[u8; 32]> {
    if let Some(token) = configured {
        return Ok(hookd_api::auth::hash_token(token));
    }
    if let Some(stored) = store.setting(ADMIN_TOKEN_KEY).await? {
        return decode_hash(&stored)
            .context("the stored admin token hash is corrupt; set --admin-token");
    }
    let token = new_admin_token();
    let hash = hookd_api::auth::hash_token(&token);
    let created = store
        .set_setting_if_absent(ADMIN_TOKEN_KEY, &encode_hash(&hash))
        .await?;
    if !created {
        // Another node created one at the same moment; use theirs.
        let stored = store
            .setting(ADMIN_TOKEN_KEY)
            .await?
            .context("admin token hash vanished")?;
        return decode_hash(&stored);
    }
    eprintln!(
        "hookd: created an admin token. It is shown only this once; only its hash is stored.\n\
         hookd: admin token: {token}\n\
         hookd: send it as `Authorization: Bearer <token>`, or set your own with --admin-token / HOOKD_ADMIN_TOKEN."
    );
    Ok(hash)
}

/// The key that signs application tokens: the stored one, or a new random one stored
/// for every node to share (the first node to store one wins).
async fn ensure_app_token_key(store: &dyn Store) -> anyhow::Result<[u8; 32]> {
    if let Some(stored) = store.setting(APP_TOKEN_KEY).await? {
        return decode_hash(&stored).context("the stored application token key is corrupt");
    }
    let key: [u8; 32] = rand::random();
    if store
        .set_setting_if_absent(APP_TOKEN_KEY, &encode_hash(&key))
        .await?
    {
        return Ok(key);
    }
    let stored = store
        .setting(APP_TOKEN_KEY)
        .await?
        .context("application token key vanished")?;
    decode_hash(&stored).context("the stored application token key is corrupt")
}

fn new_admin_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = (0..40)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect();
    format!("hookd_{body}")
}

fn encode_hash(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hash(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut hash = [0u8; 32];
    if text.len() != 64 {
        bail!("expected 64 hex characters");
    }
    for (index, slot) in hash.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16)?;
    }
    Ok(hash)
}
