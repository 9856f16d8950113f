//! Configuration of `hookd serve`: raw sources (flags, `HOOKD_*` environment, a TOML file,
//! defaults) merged with precedence flag > env > file > default, then validated once into
//! a typed [`Config`]. Nothing after validation re-parses a string.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hookd_core::retry::parse_schedule;
use ipnet::IpNet;
use serde::Deserialize;

/// `hookd serve` flags. Each also reads `HOOKD_<FLAG>` (clap does flag > env).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address the API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "HOOKD_LISTEN")]
    pub listen: Option<String>,
    /// `sqlite://hookd.db` (relative), `sqlite:///abs/path.db` [default: sqlite://hookd.db].
    #[arg(long, env = "HOOKD_DATABASE")]
    pub database: Option<String>,
    /// Admin bearer token. Without one, the first start creates one and prints it once.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// CIDR that deliveries may reach although private (repeatable; comma-separated in env).
    #[arg(long, env = "HOOKD_ALLOW_PRIVATE_NETWORK", value_delimiter = ',')]
    pub allow_private_network: Vec<String>,
    /// Delays between attempts [default: 5s,5m,30m,2h,5h,10h,10h].
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Serve the API only; run no delivery worker.
    #[arg(long, env = "HOOKD_NO_WORKER")]
    pub no_worker: bool,
    /// Run the delivery worker only; serve no API.
    #[arg(long, env = "HOOKD_NO_API")]
    pub no_api: bool,
    /// TOML configuration file (see config.default.toml).
    #[arg(long, env = "HOOKD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Timeout of one delivery request [default: 15s].
    #[arg(long, env = "HOOKD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Longest a client may take to send a request's head (and longest a keep-alive
    /// connection may sit idle) before the server closes it [default: 30s].
    #[arg(long, env = "HOOKD_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// Largest request body the API accepts, e.g. 1MiB or 262144 [default: 1MiB].
    #[arg(long, env = "HOOKD_BODY_LIMIT")]
    pub body_limit: Option<String>,
    /// Disable an endpoint that fails without a success for this long [default: 5d].
    #[arg(long, env = "HOOKD_DISABLE_ENDPOINT_AFTER")]
    pub disable_endpoint_after: Option<String>,
    /// Delivery requests in flight at once [default: 512].
    #[arg(long, env = "HOOKD_WORKER_CONCURRENCY")]
    pub worker_concurrency: Option<usize>,
    /// Delivery requests in flight at once to one endpoint [default: the worker concurrency].
    #[arg(long, env = "HOOKD_ENDPOINT_CONCURRENCY")]
    pub endpoint_concurrency: Option<usize>,
    /// Grace period of a rotated secret [default: 24h].
    #[arg(long, env = "HOOKD_SECRET_GRACE_PERIOD")]
    pub secret_grace_period: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HOOKD_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Bytes of each endpoint response kept in the attempt log [default: 16KiB].
    #[arg(long, env = "HOOKD_RESPONSE_BODY_LIMIT")]
    pub response_body_limit: Option<String>,
    /// Cap on the SQLite file's size, e.g. 10GiB; publishes past it get 503 [default: none].
    #[arg(long, env = "HOOKD_MAX_DATABASE_SIZE")]
    pub max_database_size: Option<String>,
    /// Benchmarking knob: most SQLite writes committed per transaction; 1 disables group
    /// commit [default: 512].
    #[arg(long, env = "HOOKD_SQLITE_MAX_BATCH", hide = true)]
    pub sqlite_max_batch: Option<usize>,
    /// PEM certificate chain: serve HTTPS (with --tls-key) instead of HTTP.
    #[arg(long, env = "HOOKD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "HOOKD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Keep message payloads this long, or `off` to keep them forever [default: 30d].
    #[arg(long, env = "HOOKD_RETENTION_PAYLOAD")]
    pub retention_payload: Option<String>,
    /// Keep attempts' response bodies and request headers this long, or `off` [default: 30d].
    #[arg(long, env = "HOOKD_RETENTION_ATTEMPT_BODY")]
    pub retention_attempt_body: Option<String>,
    /// How often the retention job looks for expired records [default: 1m].
    #[arg(long, env = "HOOKD_RETENTION_INTERVAL")]
    pub retention_interval: Option<String>,
    /// URL that receives operational webhooks (endpoint.disabled, message.attempt.exhausted…)
    /// [default: none, no operational webhooks].
    #[arg(long, env = "HOOKD_OPERATIONAL_WEBHOOK_URL")]
    pub operational_webhook_url: Option<String>,
    /// The whsec_ secret that signs operational webhooks [default: generated once, printed,
    /// and kept in the database].
    #[arg(long, env = "HOOKD_OPERATIONAL_WEBHOOK_SECRET", hide_env_values = true)]
    pub operational_webhook_secret: Option<String>,
    /// URL providers reach hookd at, e.g. https://hooks.example.com, to rebuild the URL a
    /// provider signed behind a reverse proxy [default: http://{Host}].
    #[arg(long, env = "HOOKD_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Requests per second accepted at /in across all sources, per node [default: no limit].
    #[arg(long, env = "HOOKD_INBOUND_RATE_LIMIT")]
    pub inbound_rate_limit: Option<u32>,
    /// How long a provider event id is remembered to drop re-sends [default: 7d].
    #[arg(long, env = "HOOKD_INBOUND_DEDUP_WINDOW")]
    pub inbound_dedup_window: Option<String>,
    /// Heartbeat of an idle live stream (SSE comment, WebSocket ping) [default: 15s].
    #[arg(long, env = "HOOKD_STREAM_HEARTBEAT")]
    pub stream_heartbeat: Option<String>,
    /// Messages a stream client may fall behind by before it is cut off [default: 1024].
    #[arg(long, env = "HOOKD_STREAM_BUFFER")]
    pub stream_buffer: Option<usize>,
    /// Longest wait a long-poll (`/events?wait=`) may ask for [default: 30s].
    #[arg(long, env = "HOOKD_LONG_POLL_MAX_WAIT")]
    pub long_poll_max_wait: Option<String>,
    /// Browser origin allowed to call the stream routes, or `*` (repeatable;
    /// comma-separated in env) [default: none].
    #[arg(long, env = "HOOKD_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// How long an inspector bin lives unless it asks otherwise (`expiresIn`) [default: 24h].
    #[arg(long, env = "HOOKD_BIN_TTL")]
    pub bin_ttl: Option<String>,
    /// Requests a bin records unless it asks otherwise (`maxRequests`) [default: 500].
    #[arg(long, env = "HOOKD_BIN_MAX_REQUESTS")]
    pub bin_max_requests: Option<u64>,
    /// Bytes of a request body a bin keeps; the rest is counted [default: 1MiB].
    #[arg(long, env = "HOOKD_BIN_BODY_LIMIT")]
    pub bin_body_limit: Option<String>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database: Option<String>,
    admin_token: Option<String>,
    allow_private_network: Option<Vec<String>>,
    retry_schedule: Option<String>,
    no_worker: Option<bool>,
    no_api: Option<bool>,
    request_timeout: Option<String>,
    header_read_timeout: Option<String>,
    body_limit: Option<String>,
    disable_endpoint_after: Option<String>,
    worker_concurrency: Option<usize>,
    endpoint_concurrency: Option<usize>,
    secret_grace_period: Option<String>,
    log_format: Option<String>,
    response_body_limit: Option<String>,
    max_database_size: Option<String>,
    sqlite_max_batch: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    retention_payload: Option<String>,
    retention_attempt_body: Option<String>,
    retention_interval: Option<String>,
    operational_webhook_url: Option<String>,
    operational_webhook_secret: Option<String>,
    public_base_url: Option<String>,
    inbound_rate_limit: Option<u32>,
    inbound_dedup_window: Option<String>,
    stream_heartbeat: Option<String>,
    stream_buffer: Option<usize>,
    long_poll_max_wait: Option<String>,
    cors_allowed_origins: Option<Vec<String>>,
    bin_ttl: Option<String>,
    bin_max_requests: Option<u64>,
    bin_body_limit: Option<String>,
    /// `[commands.NAME]` tables: local commands that `command://NAME` endpoints run.
    commands: Option<std::collections::BTreeMap<String, CommandFile>>,
}

/// One `[commands.NAME]` table of the config file (file only: never a flag or the API).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandFile {
    argv: Vec<String>,
    timeout: Option<String>,
    concurrency: Option<usize>,
    env: Option<std::collections::BTreeMap<String, String>>,
    working_dir: Option<PathBuf>,
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            // A DSN may carry a password.
            Self::Postgres(_) => f.write_str("postgres://[redacted]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated settings of `hookd serve`.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    pub admin_token: Option<String>,
    pub allow_private_network: Vec<IpNet>,
    pub retry_schedule: Vec<Duration>,
    pub run_worker: bool,
    pub run_api: bool,
    pub request_timeout: Duration,
    /// How long the HTTP server waits for a request head, idle keep-alive included.
    pub header_read_timeout: Duration,
    pub body_limit: usize,
    pub disable_endpoint_after: Duration,
    pub worker_concurrency: usize,
    pub endpoint_concurrency: usize,
    pub secret_grace_period: Duration,
    pub log_format: LogFormat,
    pub response_body_limit: usize,
    /// Most SQLite writes per transaction (group commit); 1 commits each on its own.
    pub sqlite_max_batch: usize,
    /// Largest size of the SQLite file, in bytes.
    pub max_database_size: Option<u64>,
    /// How long message payloads are kept; `None` keeps them forever.
    pub retention_payload: Option<Duration>,
    /// How long attempts' response bodies and request headers are kept; `None` keeps
    /// them forever.
    pub retention_attempt_body: Option<Duration>,
    /// Pause between two passes of the retention job.
    pub retention_interval: Duration,
    /// Where operational webhooks go; `None` sends none.
    pub operational_webhook_url: Option<String>,
    /// The `whsec_` secret that signs them; `None` keeps (or generates) the stored one.
    pub operational_webhook_secret: Option<String>,
    /// The URL providers reach hookd at, without a trailing slash.
    pub public_base_url: Option<String>,
    /// Requests per second accepted at /in on this node.
    pub inbound_rate_limit: Option<u32>,
    /// How long a provider event id is remembered.
    pub inbound_dedup_window: Duration,
    pub stream_heartbeat: Duration,
    pub stream_buffer: usize,
    pub long_poll_max_wait: Duration,
    pub cors_allowed_origins: Vec<String>,
    /// Default lifetime of an inspector bin.
    pub bin_ttl: Duration,
    /// Default request cap of an inspector bin.
    pub bin_max_requests: u64,
    /// Bytes of a request body a bin keeps.
    pub bin_body_limit: usize,
    /// Serve HTTPS with this certificate and key (checked when the server starts).
    pub tls: Option<TlsFiles>,
    /// Local commands `command://NAME` endpoints run (config file only).
    pub commands: Vec<hookd_delivery::CommandSpec>,
}

/// The PEM files `serve` uses for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("allow_private_network", &self.allow_private_network)
            .field(
                "retry_schedule",
                &hookd_core::retry::format_schedule(&self.retry_schedule),
            )
            .field("run_worker", &self.run_worker)
            .field("run_api", &self.run_api)
            .field("request_timeout", &self.request_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_limit", &self.body_limit)
            .field("disable_endpoint_after", &self.disable_endpoint_after)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("endpoint_concurrency", &self.endpoint_concurrency)
            .field("secret_grace_period", &self.secret_grace_period)
            .field("log_format", &self.log_format)
            .field("response_body_limit", &self.response_body_limit)
            .field("sqlite_max_batch", &self.sqlite_max_batch)
            .field("max_database_size", &self.max_database_size)
            .field("tls", &self.tls)
            .field("retention_payload", &self.retention_payload)
            .field("retention_attempt_body", &self.retention_attempt_body)
            .field("retention_interval", &self.retention_interval)
            .field("operational_webhook_url", &self.operational_webhook_url)
            .field(
                "operational_webhook_secret",
                &self
                    .operational_webhook_secret
                    .as_ref()
                    .map(|_| "[redacted]"),
            )
            .field("public_base_url", &self.public_base_url)
            .field("inbound_rate_limit", &self.inbound_rate_limit)
            .field("inbound_dedup_window", &self.inbound_dedup_window)
            .field("stream_heartbeat", &self.stream_heartbeat)
            .field("stream_buffer", &self.stream_buffer)
            .field("long_poll_max_wait", &self.long_poll_max_wait)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("bin_ttl", &self.bin_ttl)
            .field("bin_max_requests", &self.bin_max_requests)
            .field("bin_body_limit", &self.bin_body_limit)
            .field("commands", &self.commands)
            .finish()
    }
}

impl Config {
    /// Merges flags (already merged with env by clap), the config file and defaults, and
    /// validates the result.
    ///
    /// # Errors
    /// Names the setting at fault and what is wrong with it.
    pub fn load(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().with_context(|| {
            format!("listen: {listen_text:?} is not an address like 127.0.0.1:8080")
        })?;
        let database = parse_database_url(
            &args
                .database
                .or(file.database)
                .unwrap_or_else(|| "sqlite://hookd.db".into()),
        )?;
        let admin_token = args.admin_token.or(file.admin_token);
        if let Some(token) = &admin_token {
            if token.len() < 16 {
                bail!("admin_token: must be at least 16 characters");
            }
        }
        let allow_texts = if args.allow_private_network.is_empty() {
            file.allow_private_network.unwrap_or_default()
        } else {
            args.allow_private_network
        };
        let allow_private_network =
            hookd_core::network::parse_allow_list(&allow_texts.join(","))
                .map_err(|error| anyhow::anyhow!("allow_private_network: {error}"))?;
        let retry_text = args.retry_schedule.or(file.retry_schedule);
        let retry_schedule = match retry_text {
            Some(text) => {
                parse_schedule(&text).map_err(|error| anyhow::anyhow!("retry_schedule: {error}"))?
            }
            None => hookd_core::retry::RetryPolicy::default().schedule,
        };
        let run_worker = !(args.no_worker || file.no_worker.unwrap_or(false));
        let run_api = !(args.no_api || file.no_api.unwrap_or(false));
        if !run_worker && !run_api {
            bail!("no_worker and no_api: at least one of the API and the worker must run");
        }
        let request_timeout = positive_duration(
            "request_timeout",
            args.request_timeout.or(file.request_timeout),
            "15s",
        )?;
        let header_read_timeout = positive_duration(
            "header_read_timeout",
            args.header_read_timeout.or(file.header_read_timeout),
            "30s",
        )?;
        let body_limit = parse_size(
            "body_limit",
            &args
                .body_limit
                .or(file.body_limit)
                .unwrap_or_else(|| "1MiB".into()),
        )?;
        let disable_endpoint_after = duration(
            "disable_endpoint_after",
            args.disable_endpoint_after.or(file.disable_endpoint_after),
            "5d",
        )?;
        let worker_concurrency = args
            .worker_concurrency
            .or(file.worker_concurrency)
            .unwrap_or(512);
        if worker_concurrency == 0 {
            bail!("worker_concurrency: must be at least 1");
        }
        // Unset, one endpoint may use every slot (no separate bound).
        let endpoint_concurrency = args
            .endpoint_concurrency
            .or(file.endpoint_concurrency)
            .unwrap_or(worker_concurrency);
        if endpoint_concurrency == 0 {
            bail!("endpoint_concurrency: must be at least 1");
        }
        let secret_grace_period = duration(
            "secret_grace_period",
            args.secret_grace_period.or(file.secret_grace_period),
            "24h",
        )?;
        let log_format = match args.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("log_format: expected text or json, found {other:?}"),
        };
        let sqlite_max_batch = args
            .sqlite_max_batch
            .or(file.sqlite_max_batch)
            .unwrap_or(hookd_store_sqlite::SqliteOptions::default().max_batch);
        if sqlite_max_batch == 0 {
            bail!("sqlite_max_batch: must be at least 1");
        }
        let response_body_limit = parse_size(
            "response_body_limit",
            &args
                .response_body_limit
                .or(file.response_body_limit)
                .unwrap_or_else(|| "16KiB".into()),
        )?;
        let max_database_size = args
            .max_database_size
            .or(file.max_database_size)
            .map(|text| parse_size("max_database_size", &text).map(|bytes| bytes as u64))
            .transpose()?;
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => bail!("tls_key: --tls-cert needs its private key (--tls-key)"),
            (None, Some(_)) => bail!("tls_cert: --tls-key needs its certificate (--tls-cert)"),
        };
        let retention_payload = retention_period(
            "retention_payload",
            args.retention_payload.or(file.retention_payload),
        )?;
        let retention_attempt_body = retention_period(
            "retention_attempt_body",
            args.retention_attempt_body.or(file.retention_attempt_body),
        )?;
        let retention_interval = positive_duration(
            "retention_interval",
            args.retention_interval.or(file.retention_interval),
            "1m",
        )?;
        let operational_webhook_url = args
            .operational_webhook_url
            .or(file.operational_webhook_url);
        if let Some(url) = &operational_webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(' ') {
                bail!(
                    "operational_webhook_url: expected an http:// or https:// URL, found {url:?}"
                );
            }
        }
        let operational_webhook_secret = args
            .operational_webhook_secret
            .or(file.operational_webhook_secret);
        if let Some(secret) = &operational_webhook_secret {
            hookd_core::signature::validate_secret(
                hookd_core::signature::SignatureScheme::Standard,
                secret,
            )
            .map_err(|error| anyhow::anyhow!("operational_webhook_secret: {error}"))?;
        }
        let public_base_url = args
            .public_base_url
            .or(file.public_base_url)
            .map(|text| parse_public_base_url(&text))
            .transpose()?;
        let inbound_rate_limit = args.inbound_rate_limit.or(file.inbound_rate_limit);
        if inbound_rate_limit == Some(0) {
            bail!("inbound_rate_limit: must be at least 1 request per second");
        }
        let inbound_dedup_window = duration(
            "inbound_dedup_window",
            args.inbound_dedup_window.or(file.inbound_dedup_window),
            "7d",
        )?;
        let stream_heartbeat = positive_duration(
            "stream_heartbeat",
            args.stream_heartbeat.or(file.stream_heartbeat),
            "15s",
        )?;
        let stream_buffer = args.stream_buffer.or(file.stream_buffer).unwrap_or(1024);
        if stream_buffer == 0 {
            bail!("stream_buffer: must be at least 1");
        }
        let long_poll_max_wait = duration(
            "long_poll_max_wait",
            args.long_poll_max_wait.or(file.long_poll_max_wait),
            "30s",
        )?;
        let cors_allowed_origins = if args.cors_allowed_origins.is_empty() {
            file.cors_allowed_origins.unwrap_or_default()
        } else {
            args.cors_allowed_origins
        };
        for origin in &cors_allowed_origins {
            let valid = origin == "*"
                || url::Url::parse(origin).is_ok_and(|url| {
                    url.origin().ascii_serialization() == origin.trim_end_matches('/')
                });
            if !valid {
                bail!("cors_allowed_origins: {origin:?} is not an origin like https://app.example.com, or *");
            }
        }
        let bin_ttl = duration("bin_ttl", args.bin_ttl.or(file.bin_ttl), "24h")?;
        if bin_ttl.is_zero() || bin_ttl > Duration::from_secs(30 * 24 * 3600) {
            bail!("bin_ttl: must be more than zero and at most 30 days");
        }
        let bin_max_requests = args
            .bin_max_requests
            .or(file.bin_max_requests)
            .unwrap_or(500);
        if !(1..=100_000).contains(&bin_max_requests) {
            bail!("bin_max_requests: must be between 1 and 100000");
        }
        let bin_body_limit = parse_size(
            "bin_body_limit",
            &args
                .bin_body_limit
                .or(file.bin_body_limit)
                .unwrap_or_else(|| "1MiB".into()),
        )?;
        let commands = file
            .commands
            .unwrap_or_default()
            .into_iter()
            .map(|(name, command)| command_spec(name, command))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            bin_ttl,
            bin_max_requests,
            bin_body_limit,
            commands,
            tls,
            retention_payload,
            retention_attempt_body,
            retention_interval,
            operational_webhook_url,
            operational_webhook_secret,
            public_base_url,
            inbound_rate_limit,
            inbound_dedup_window,
            stream_heartbeat,
            stream_buffer,
            long_poll_max_wait,
            cors_allowed_origins,
            max_database_size,
            response_body_limit,
            sqlite_max_batch,
            listen,
            database,
            admin_token,
            allow_private_network,
            retry_schedule,
            run_worker,
            run_api,
            request_timeout,
            header_read_timeout,
            body_limit,
            disable_endpoint_after,
            worker_concurrency,
            endpoint_concurrency,
            secret_grace_period,
            log_format,
        })
    }
}

/// An absolute http(s) URL without query or fragment; returned without a trailing slash.
fn parse_public_base_url(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_end_matches('/');
    let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        && trimmed.split_once("://").is_some_and(|(_, rest)| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(['?', '#', ' '])
        });
    if !valid {
        bail!("public_base_url: {text:?} is not an http(s) URL like https://hooks.example.com");
    }
    Ok(trimmed.to_owned())
}

/// Validates one `[commands.NAME]` table: a valid name, a program that exists (a bare
/// name is looked up on `PATH`; a relative path is taken from `working_dir`, else the
/// current directory), a positive timeout and concurrency, and valid variable names and
/// JSON pointers.
fn command_spec(name: String, file: CommandFile) -> anyhow::Result<hookd_delivery::CommandSpec> {
    use hookd_core::command::{check_command_name, check_env_name, check_json_pointer};
    let at = format!("commands.{name}");
    check_command_name(&name).map_err(|error| anyhow::anyhow!("{at}: {error}"))?;
    let working_dir = match file.working_dir {
        Some(dir) => {
            let dir = std::path::absolute(&dir)
                .with_context(|| format!("{at}.working_dir: {}", dir.display()))?;
            if !dir.is_dir() {
                bail!("{at}.working_dir: {} is not a directory", dir.display());
            }
            Some(dir)
        }
        None => None,
    };
    let mut argv = file.argv;
    let Some(program) = argv.first() else {
        bail!("{at}.argv: must name a program, e.g. [\"/usr/local/bin/deploy.sh\"]");
    };
    if program.is_empty() {
        bail!("{at}.argv: the program (argv[0]) must not be empty");
    }
    let resolved = resolve_program(program, working_dir.as_deref())
        .with_context(|| format!("{at}.argv: program {program:?}"))?;
    argv[0] = resolved.display().to_string();
    let timeout = positive_duration(&format!("{at}.timeout"), file.timeout, "60s")?;
    let concurrency = file.concurrency.unwrap_or(1);
    if concurrency == 0 {
        bail!("{at}.concurrency: must be at least 1");
    }
    let mut env = Vec::new();
    for (variable, pointer) in file.env.unwrap_or_default() {
        check_env_name(&variable).map_err(|error| anyhow::anyhow!("{at}.env: {error}"))?;
        check_json_pointer(&pointer)
            .map_err(|error| anyhow::anyhow!("{at}.env.{variable}: {error}"))?;
        env.push((variable, pointer));
    }
    Ok(hookd_delivery::CommandSpec {
        name,
        argv,
        timeout,
        concurrency,
        env,
        working_dir,
    })
}

/// The absolute path of an executable file: `program` itself when absolute, found on
/// `PATH` when it has no `/`, else relative to `working_dir` (or the current directory).
fn resolve_program(program: &str, working_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |path: &Path| {
        std::fs::metadata(path)
            .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        if is_executable(candidate) {
            return Ok(candidate.to_path_buf());
        }
        bail!("not found or not an executable file");
    }
    if !program.contains('/') {
        let path = std::env::var_os("PATH").unwrap_or_default();
        return std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|path| is_executable(path))
            .context("not found on PATH (give an absolute path)");
    }
    let base = match working_dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let path = base.join(candidate);
    if is_executable(&path) {
        return Ok(path);
    }
    bail!("{} is not found or not an executable file", path.display());
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// Parses `sqlite://relative.db`, `sqlite:///abs/path.db`, a bare path, or `postgres://…`.
pub fn parse_database_url(text: &str) -> anyhow::Result<DatabaseUrl> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(text.to_owned()));
    }
    let path = match text.strip_prefix("sqlite://") {
        Some(rest) => rest,
        None if text.contains("://") => {
            bail!("database: unsupported URL {text:?}; use sqlite://FILE or postgres://…")
        }
        None => text,
    };
    if path.is_empty() {
        bail!("database: {text:?} names no file");
    }
    Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
}

fn duration(name: &str, text: Option<String>, default: &str) -> anyhow::Result<Duration> {
    let text = text.unwrap_or_else(|| default.to_owned());
    match parse_schedule(&text) {
        Ok(parsed) if parsed.len() == 1 => Ok(parsed[0]),
        Ok(_) => bail!("{name}: expected one duration like 15s, found {text:?}"),
        Err(error) => bail!("{name}: {error}"),
    }
}

/// [`duration`], refusing zero.
fn positive_duration(name: &str, text: Option<String>, default: &str) -> anyhow::Result<Duration> {
    let parsed = duration(name, text, default)?;
    if parsed.is_zero() {
        bail!("{name}: must be more than zero");
    }
    Ok(parsed)
}

/// A retention period: a duration (default 30 days), or `off` to keep forever.
fn retention_period(name: &str, text: Option<String>) -> anyhow::Result<Option<Duration>> {
    match text.as_deref().map(str::trim) {
        Some("off") => Ok(None),
        other => {
            let period = duration(name, other.map(str::to_owned), "30d")?;
            if period.is_zero() {
                bail!("{name}: must be more than zero; use \"off\" to keep records forever");
            }
            Ok(Some(period))
        }
    }
}

fn parse_size(name: &str, text: &str) -> anyhow::Result<usize> {
    let trimmed = text.trim();
    let (digits, multiplier) = [
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, multiplier)| {
        trimmed
            .strip_suffix(suffix)
            .map(|digits| (digits.trim(), *multiplier))
    })
    .unwrap_or((trimmed, 1usize));
    let value: usize = digits.parse().with_context(|| {
        format!("{name}: expected a size like 1MiB, 512KiB or 65536, found {text:?}")
    })?;
    let bytes = value
        .checked_mul(multiplier)
        .with_context(|| format!("{name}: {text:?} is too large"))?;
    if bytes == 0 {
        bail!("{name}: must be more than zero");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_input() {
        let config = Config::load(ServeArgs::default()).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.database, DatabaseUrl::Sqlite("hookd.db".into()));
        assert_eq!(config.retry_schedule.len(), 7);
        assert_eq!(config.body_limit, 1 << 20);
        assert!(config.run_worker && config.run_api);
        assert_eq!(config.sqlite_max_batch, 512);
        assert_eq!(config.stream_heartbeat, Duration::from_secs(15));
        assert_eq!(config.stream_buffer, 1024);
        assert_eq!(config.long_poll_max_wait, Duration::from_secs(30));
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(config.bin_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(config.bin_max_requests, 500);
        assert_eq!(config.bin_body_limit, 1 << 20);
    }

    #[test]
    fn bin_settings_take_flag_over_env_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        std::fs::write(
            &path,
            "bin_ttl = \"2h\"\nbin_max_requests = 7\nbin_body_limit = \"4KiB\"\n",
        )
        .unwrap();
        let from_file = Config::load(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(from_file.bin_ttl, Duration::from_secs(7200));
        assert_eq!(from_file.bin_max_requests, 7);
        assert_eq!(from_file.bin_body_limit, 4096);
        let from_flags = Config::load(ServeArgs {
            config: Some(path),
            bin_ttl: Some("10m".into()),
            bin_max_requests: Some(3),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(from_flags.bin_ttl, Duration::from_secs(600));
        assert_eq!(from_flags.bin_max_requests, 3);
        assert_eq!(from_flags.bin_body_limit, 4096);
        let refused = Config::load(ServeArgs {
            bin_max_requests: Some(0),
            ..ServeArgs::default()
        });
        assert!(refused
            .unwrap_err()
            .to_string()
            .contains("bin_max_requests"));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nretry_schedule = \"1s\"\nbody_limit = \"2MiB\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:9001".into()),
            ..ServeArgs::default()
        };
        let config = Config::load(args).unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.retry_schedule, vec![Duration::from_secs(1)]);
        assert_eq!(config.body_limit, 2 << 20);
    }

    #[test]
    fn receive_side_settings() {
        let defaults = Config::load(ServeArgs::default()).unwrap();
        assert_eq!(defaults.public_base_url, None);
        assert_eq!(defaults.inbound_rate_limit, None);
        assert_eq!(
            defaults.inbound_dedup_window,
            Duration::from_secs(7 * 24 * 3600)
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        std::fs::write(
            &path,
            "public_base_url = \"https://hooks.example.com/\"\ninbound_rate_limit = 50\n\
             inbound_dedup_window = \"1h\"\n",
        )
        .unwrap();
        let config = Config::load(ServeArgs {
            config: Some(path),
            inbound_rate_limit: Some(80),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(
            config.public_base_url.as_deref(),
            Some("https://hooks.example.com")
        );
        assert_eq!(config.inbound_rate_limit, Some(80));
        assert_eq!(config.inbound_dedup_window, Duration::from_secs(3600));

        for (args, setting) in [
            (
                ServeArgs {
                    public_base_url: Some("hooks.example.com".into()),
                    ..Default::default()
                },
                "public_base_url",
            ),
            (
                ServeArgs {
                    public_base_url: Some("https://hooks.example.com/?a=1".into()),
                    ..Default::default()
                },
                "public_base_url",
            ),
            (
                ServeArgs {
                    inbound_rate_limit: Some(0),
                    ..Default::default()
                },
                "inbound_rate_limit",
            ),
            (
                ServeArgs {
                    inbound_dedup_window: Some("soon".into()),
                    ..Default::default()
                },
                "inbound_dedup_window",
            ),
        ] {
            let error = Config::load(args).unwrap_err().to_string();
            assert!(error.starts_with(setting), "{error}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            (
                ServeArgs {
                    listen: Some("nowhere".into()),
                    ..Default::default()
                },
                "listen",
            ),
            (
                ServeArgs {
                    retry_schedule: Some("5x".into()),
                    ..Default::default()
                },
                "retry_schedule",
            ),
            (
                ServeArgs {
                    allow_private_network: vec!["10.0.0.0/99".into()],
                    ..Default::default()
                },
                "allow_private_network",
            ),
            (
                ServeArgs {
                    database: Some("mysql://x".into()),
                    ..Default::default()
                },
                "database",
            ),
            (
                ServeArgs {
                    body_limit: Some("lots".into()),
                    ..Default::default()
                },
                "body_limit",
            ),
            (
                ServeArgs {
                    no_api: true,
                    no_worker: true,
                    ..Default::default()
                },
                "no_worker",
            ),
            (
                ServeArgs {
                    cors_allowed_origins: vec!["https://app.example.com/path".into()],
                    ..Default::default()
                },
                "cors_allowed_origins",
            ),
            (
                ServeArgs {
                    stream_buffer: Some(0),
                    ..Default::default()
                },
                "stream_buffer",
            ),
            (
                ServeArgs {
                    stream_heartbeat: Some("0s".into()),
                    ..Default::default()
                },
                "stream_heartbeat",
            ),
        ];
        for (args, setting) in cases {
            let error = Config::load(args).unwrap_err().to_string();
            assert!(
                error.starts_with(setting),
                "{error:?} should name {setting}"
            );
        }
    }

    #[test]
    fn retention_periods_default_to_30_days_and_can_be_turned_off() {
        let config = Config::load(ServeArgs::default()).unwrap();
        let thirty_days = Duration::from_secs(30 * 24 * 3600);
        assert_eq!(config.retention_payload, Some(thirty_days));
        assert_eq!(config.retention_attempt_body, Some(thirty_days));
        assert_eq!(config.retention_interval, Duration::from_secs(60));

        let config = Config::load(ServeArgs {
            retention_payload: Some("off".into()),
            retention_attempt_body: Some("7d".into()),
            retention_interval: Some("250ms".into()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(config.retention_payload, None);
        assert_eq!(
            config.retention_attempt_body,
            Some(Duration::from_secs(7 * 24 * 3600))
        );
        assert_eq!(config.retention_interval, Duration::from_millis(250));

        for (args, setting) in [
            (
                ServeArgs {
                    retention_payload: Some("0s".into()),
                    ..ServeArgs::default()
                },
                "retention_payload",
            ),
            (
                ServeArgs {
                    retention_attempt_body: Some("forever".into()),
                    ..ServeArgs::default()
                },
                "retention_attempt_body",
            ),
            (
                ServeArgs {
                    retention_interval: Some("0s".into()),
                    ..ServeArgs::default()
                },
                "retention_interval",
            ),
        ] {
            let error = Config::load(args).unwrap_err().to_string();
            assert!(
                error.starts_with(setting),
                "{error:?} should name {setting}"
            );
        }
    }

    /// config.default.toml documents the defaults: loading it changes nothing.
    #[test]
    fn config_default_toml_holds_the_defaults() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config.default.toml");
        let from_file = Config::load(ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        })
        .unwrap();
        let built_in = Config::load(ServeArgs::default()).unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let error = Config::load(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{error:#}").contains("lisen"), "{error:#}");
    }

    #[test]
    fn tls_files_come_from_flags_or_the_file_and_go_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        std::fs::write(
            &path,
            "tls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"\n",
        )
        .unwrap();
        let from_file = Config::load(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            from_file.tls,
            Some(TlsFiles {
                cert: "/etc/c.pem".into(),
                key: "/etc/k.pem".into()
            })
        );
        let flag_wins = Config::load(ServeArgs {
            config: Some(path),
            tls_cert: Some("/flag/c.pem".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(flag_wins.tls.unwrap().cert, PathBuf::from("/flag/c.pem"));
        assert_eq!(Config::load(ServeArgs::default()).unwrap().tls, None);
        let error = Config::load(ServeArgs {
            tls_key: Some("/k.pem".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(error.to_string().starts_with("tls_cert"), "{error}");
    }

    #[test]
    fn commands_are_validated_at_start_with_the_setting_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.toml");
        let load = |tables: &str| {
            std::fs::write(&path, tables).unwrap();
            Config::load(ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            })
        };
        let config = load(
            "[commands.deploy]\nargv = [\"sh\", \"-c\", \"true\"]\ntimeout = \"5m\"\n\
             env = { REF = \"/ref\" }\n",
        )
        .unwrap();
        let deploy = &config.commands[0];
        assert_eq!(deploy.name, "deploy");
        assert!(
            Path::new(&deploy.argv[0]).is_absolute(),
            "{:?}",
            deploy.argv
        );
        assert_eq!(deploy.timeout, Duration::from_secs(300));
        assert_eq!(deploy.concurrency, 1);
        assert_eq!(deploy.env, vec![("REF".to_owned(), "/ref".to_owned())]);
        let cases = [
            ("[commands.deploy]\nargv = []\n", "commands.deploy.argv"),
            (
                "[commands.deploy]\nargv = [\"no-such-program-hookd\"]\n",
                "commands.deploy.argv",
            ),
            (
                "[commands.deploy]\nargv = [\"/no/such/deploy.sh\"]\n",
                "commands.deploy.argv",
            ),
            (
                "[commands.deploy]\nargv = [\"./deploy.sh\"]\n",
                "commands.deploy.argv",
            ),
            (
                "[commands.deploy]\nargv = [\"sh\"]\nenv = { REF = \"ref\" }\n",
                "commands.deploy.env.REF",
            ),
            (
                "[commands.deploy]\nargv = [\"sh\"]\nenv = { HOOKD_X = \"/ref\" }\n",
                "commands.deploy.env",
            ),
            (
                "[commands.deploy]\nargv = [\"sh\"]\nconcurrency = 0\n",
                "commands.deploy.concurrency",
            ),
            (
                "[commands.deploy]\nargv = [\"sh\"]\ntimeout = \"soon\"\n",
                "commands.deploy.timeout",
            ),
            (
                "[commands.\"de ploy\"]\nargv = [\"sh\"]\n",
                "commands.de ploy",
            ),
        ];
        for (tables, setting) in cases {
            let error = format!("{:#}", load(tables).unwrap_err());
            assert!(
                error.starts_with(setting),
                "{error:?} should name {setting}"
            );
        }
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            parse_database_url("sqlite://hookd.db").unwrap(),
            DatabaseUrl::Sqlite("hookd.db".into())
        );
        assert_eq!(
            parse_database_url("sqlite:///var/lib/h.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/h.db".into())
        );
        assert_eq!(
            parse_database_url("data/h.db").unwrap(),
            DatabaseUrl::Sqlite("data/h.db".into())
        );
        assert!(matches!(
            parse_database_url("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
    }
}
