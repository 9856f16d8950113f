//! A hookd server for tests, and a small authenticated JSON client for it.

use std::time::Duration;

use hookd::config::{Config, ServeArgs};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-admin-token-0123456789";
pub const WAIT: Duration = Duration::from_secs(15);

/// A running in-process hookd with its own SQLite file.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Options for [`TestServer::start_with`].
pub struct Options {
    pub retry_schedule: &'static str,
    pub allow_loopback: bool,
    pub body_limit: Option<&'static str>,
    pub header_read_timeout: Option<&'static str>,
    pub disable_endpoint_after: Option<&'static str>,
    pub max_database_size: Option<&'static str>,
    /// A database URL instead of a fresh SQLite file.
    pub database: Option<String>,
    pub worker_concurrency: Option<usize>,
    pub endpoint_concurrency: Option<usize>,
    /// `retention_payload`, `retention_attempt_body`, `retention_interval`.
    pub retention: Option<(&'static str, &'static str, &'static str)>,
    /// Where operational webhooks go, and their secret.
    pub operational_webhook_url: Option<String>,
    pub operational_webhook_secret: Option<String>,
    pub stream_buffer: Option<usize>,
    pub stream_heartbeat: Option<&'static str>,
    pub cors_allowed_origins: Vec<&'static str>,
    /// A config file (e.g. with `[commands.NAME]` tables).
    pub config: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            retry_schedule: "50ms,50ms,50ms",
            allow_loopback: true,
            body_limit: None,
            header_read_timeout: None,
            disable_endpoint_after: None,
            max_database_size: None,
            database: None,
            worker_concurrency: None,
            endpoint_concurrency: None,
            retention: None,
            operational_webhook_url: None,
            operational_webhook_secret: None,
            stream_buffer: None,
            stream_heartbeat: None,
            cors_allowed_origins: Vec::new(),
            config: None,
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let args =
            ServeArgs {
                database: Some(options.database.clone().unwrap_or_else(|| {
                    format!("sqlite://{}", dir.path().join("hookd.db").display())
                })),
                admin_token: Some(TOKEN.into()),
                retry_schedule: Some(options.retry_schedule.into()),
                allow_private_network: if options.allow_loopback {
                    vec!["127.0.0.0/8".into(), "::1/128".into()]
                } else {
                    Vec::new()
                },
                body_limit: options.body_limit.map(str::to_owned),
                header_read_timeout: options.header_read_timeout.map(str::to_owned),
                disable_endpoint_after: options.disable_endpoint_after.map(str::to_owned),
                max_database_size: options.max_database_size.map(str::to_owned),
                worker_concurrency: options.worker_concurrency,
                endpoint_concurrency: options.endpoint_concurrency,
                request_timeout: Some("5s".into()),
                retention_payload: options.retention.map(|(payload, _, _)| payload.into()),
                retention_attempt_body: options.retention.map(|(_, body, _)| body.into()),
                retention_interval: options.retention.map(|(_, _, interval)| interval.into()),
                operational_webhook_url: options.operational_webhook_url.clone(),
                operational_webhook_secret: options.operational_webhook_secret.clone(),
                stream_buffer: options.stream_buffer,
                stream_heartbeat: options.stream_heartbeat.map(str::to_owned),
                cors_allowed_origins: options
                    .cors_allowed_origins
                    .iter()
                    .map(|origin| (*origin).to_owned())
                    .collect(),
                config: options.config.clone(),
                ..ServeArgs::default()
            };
        let config = Config::load(args).expect("test config is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(hookd::serve::run(config, Some(listener), shutdown.clone()));
        let server = Self {
            base,
            client: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            _dir: dir,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(response) = self
                .client
                .get(format!("{}/api/v1/health", self.base))
                .send()
                .await
            {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("hookd did not become healthy");
    }

    /// An authenticated request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches hookd");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, json)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Creates an application and returns its id.
    pub async fn app(&self, name: &str) -> String {
        let (status, body) = self
            .post("/api/v1/app", serde_json::json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("app id").to_owned()
    }

    /// Creates an endpoint and returns its id.
    pub async fn endpoint(&self, app_id: &str, body: Value) -> String {
        let (status, out) = self
            .post(&format!("/api/v1/app/{app_id}/endpoint"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{out}");
        out["id"].as_str().expect("endpoint id").to_owned()
    }

    pub async fn secret(&self, app_id: &str, endpoint_id: &str) -> String {
        let (status, out) = self
            .get(&format!(
                "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{out}");
        out["key"].as_str().expect("key").to_owned()
    }

    /// Publishes and returns the message id.
    pub async fn publish(&self, app_id: &str, body: Value) -> String {
        let (status, out) = self.post(&format!("/api/v1/app/{app_id}/msg"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{out}");
        out["id"].as_str().expect("msg id").to_owned()
    }

    /// Polls until `check` holds for the GET body at `path`, or panics after [`WAIT`].
    pub async fn eventually(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, body) = self.get(path).await;
            if check(&body) {
                return body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("condition on {path} never held; last body: {body}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server run");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Header lookup over a sink request, for `hookd_core::signature::verify`.
pub fn lookup(received: &hookd_test_support::Received) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| received.header(name).map(str::to_owned)
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
