//! `hookd listen --forward-to URL`: follows a stream of a hookd server over WebSocket
//! and forwards each event to a local URL, printing one line per attempt.
//!
//! - `--app APP`: the application's messages (`/api/v1/app/{app}/stream`), each POSTed
//!   as its payload signed with Standard Webhooks headers under a local secret (`--sign`,
//!   or one derived from the token, server and application and printed at start).
//! - `--source NAME`: the source's verified requests (`/api/v1/source/{source}/stream`),
//!   each sent with the provider's method, body bytes and headers, so the local app
//!   checks the provider's own signature (or re-signed, with `--sign`).
//! - neither: a new temporary inspector bin (`POST /api/v1/bin`) whose URL it prints
//!   for the provider; each captured request is sent like a source's, to the local URL
//!   with the path below the bin's URL and the query appended (`/b/{bin}/stripe?x=1` goes
//!   to `{forward-to}/stripe?x=1`). A server without bins is told in one line.
//!
//! Exit codes: 0 after Ctrl-C, 1 when the server cannot be reached or refuses at start
//! (or refuses a reconnection for good: token revoked, source deleted), 2 usage errors.
//!
//! **Invariants:** the resume cursor only moves past an event once the local URL took
//! it (any answer but a 5xx, 408 or 429) or past a `ready` frame (everything before it
//! was handled), so a reconnection, after a server restart say, resumes exactly after
//! the last forwarded event: nothing lost, nothing forwarded twice. A client command: it
//! talks HTTP and WebSocket only, never opens a store.

mod connection;
pub mod forward;
pub mod frame;
pub mod output;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_util::sync::CancellationToken;

use connection::{ConnectError, Socket};
use forward::{LocalOutcome, LocalRequest};
use frame::ServerFrame;

/// `hookd listen` flags.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The local URL every event is sent to (`localhost:3000/hook` means http).
    #[arg(long)]
    pub forward_to: String,
    /// The hookd server.
    #[arg(long, env = "HOOKD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The server's token [default: $HOOKD_TOKEN, else $HOOKD_ADMIN_TOKEN]. For --app an
    /// application token (`hookd token create --app`) is enough.
    #[arg(long, env = "HOOKD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Forward the requests this source (id or uid) verified, with their original bytes
    /// and headers.
    #[arg(long, conflicts_with = "app")]
    pub source: Option<String>,
    /// Forward this application's (id or uid) messages, signed with the local secret.
    #[arg(long)]
    pub app: Option<String>,
    /// The local `whsec_` secret to sign with (Standard Webhooks headers). With --app
    /// [default: derived from the token, server and application, printed at start];
    /// with --source [default: the provider's own headers, unchanged].
    #[arg(long)]
    pub sign: Option<String>,
    /// Seconds the local URL has to answer one request.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Runs `hookd listen` until Ctrl-C.
///
/// # Errors
/// Usage errors: an unusable URL or secret.
pub fn run(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("HOOKD_ADMIN_TOKEN").ok())
        .filter(|token| !token.is_empty());
    let plan = Plan::new(args, token)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(listen(plan))
}

/// What the stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    App(String),
    Source(String),
    /// A bin `hookd listen` creates when it starts.
    NewBin,
    /// The bin it created: its id and the URL to give the provider.
    Bin {
        id: String,
        url: String,
    },
}

/// Validated flags.
#[derive(Debug)]
struct Plan {
    server: url::Url,
    forward_to: String,
    token: Option<String>,
    target: Target,
    /// `--app`: the secret messages are signed with; `--source`: the secret to re-sign
    /// with, if any.
    secret: Option<String>,
    timeout: Duration,
}

impl Plan {
    fn new(args: ListenArgs, token: Option<String>) -> anyhow::Result<Self> {
        let server = server_url(&args.server)?;
        let forward_to = forward_url(&args.forward_to)?;
        let target = match (args.app, args.source) {
            (Some(app), _) => Target::App(app),
            (None, Some(source)) => Target::Source(source),
            (None, None) => Target::NewBin,
        };
        if let Some(secret) = &args.sign {
            hookd_core::signature::validate_secret(
                hookd_core::signature::SignatureScheme::Standard,
                secret,
            )
            .map_err(|error| anyhow::anyhow!("--sign: {error}"))?;
        }
        let secret = match (&target, args.sign) {
            (_, Some(secret)) => Some(secret),
            (Target::App(app), None) => Some(forward::derived_secret(
                token.as_deref().unwrap_or_default(),
                server.as_str(),
                &format!("app:{app}"),
            )),
            (_, None) => None,
        };
        Ok(Self {
            server,
            forward_to,
            token,
            target,
            secret,
            timeout: Duration::from_secs(args.timeout.max(1)),
        })
    }
}

/// The server's base URL: http or https, nothing after the path.
fn server_url(text: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(text).with_context(|| format!("--server {text:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!(
            "--server: expected an http or https URL such as http://127.0.0.1:8080, found {text:?}"
        );
    }
    Ok(url)
}

/// The local URL; a bare `host:port/path` means http.
fn forward_url(text: &str) -> anyhow::Result<String> {
    let expected = || {
        format!("--forward-to: expected an http or https URL such as http://localhost:3000/webhooks, found {text:?}")
    };
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let parsed = url::Url::parse(&with_scheme).with_context(expected)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        bail!(expected());
    }
    Ok(parsed.to_string())
}

/// The WebSocket URL of the target's stream on `server`, resuming after `cursor`.
pub fn stream_url(server: &url::Url, target: &Target, cursor: Option<&str>) -> url::Url {
    let mut url = server.clone();
    let scheme = if server.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    url.set_scheme(scheme)
        .expect("http and https URLs can become ws and wss");
    url.set_query(None);
    url.set_fragment(None);
    let (kind, name) = match target {
        Target::App(app) => ("app", app.as_str()),
        Target::Source(source) => ("source", source.as_str()),
        Target::Bin { id, .. } => ("bin", id.as_str()),
        // Never streamed: `listen` creates the bin first.
        Target::NewBin => ("bin", ""),
    };
    url.path_segments_mut()
        .expect("an http URL has a path")
        .pop_if_empty()
        .extend(["api", "v1", kind, name, "stream"]);
    if let Some(cursor) = cursor {
        url.query_pairs_mut().append_pair("after", cursor);
    }
    url
}

/// Doubling waits between `first` and `max`.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The wait to use now; the following one is twice as long, up to the maximum.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Waits between reconnection attempts.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Waits between attempts at the local URL.
const LOCAL_RETRY_FIRST: Duration = Duration::from_millis(500);
const LOCAL_RETRY_MAX: Duration = Duration::from_secs(10);
/// How often listen pings the server while it waits for events.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// This long without any frame (a pong, at least) means the connection is dead even if
/// no error says so.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// How one connection ended.
enum End {
    Stopped,
    Lost(String),
    /// Not worth reconnecting (a frame this version cannot read).
    Fatal(String),
}

async fn listen(mut plan: Plan) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_interrupt(shutdown.clone()));
    let local = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(plan.timeout)
        .user_agent(concat!("hookd-listen/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let server = plan.server.as_str().trim_end_matches('/').to_owned();
    if plan.target == Target::NewBin {
        let created = tokio::select! {
            () = shutdown.cancelled() => return Ok(ExitCode::SUCCESS),
            created = connection::create_bin(&plan.server, plan.token.as_deref()) => created,
        };
        match created {
            Ok((id, url)) => plan.target = Target::Bin { id, url },
            Err(ConnectError::Refused { status: 404, .. }) => {
                eprintln!("hookd: error: the server at {server} has no inspector bins (an older hookd); give --app APP or --source NAME");
                return Ok(ExitCode::from(1));
            }
            Err(error) => {
                eprintln!("hookd: error: {}", start_failure(&error, &server, &plan));
                return Ok(ExitCode::from(1));
            }
        }
    }
    let mut cursor: Option<String> = None;
    let mut announced = false;
    let mut connected_once = false;
    let mut reconnect = Backoff::new(RECONNECT_FIRST, RECONNECT_MAX);
    loop {
        let url = stream_url(&plan.server, &plan.target, cursor.as_deref());
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return Ok(ExitCode::SUCCESS),
            attempt = connection::connect(&url, plan.token.as_deref()) => attempt,
        };
        let socket = match attempt {
            Ok(socket) => socket,
            Err(error) if connected_once && error.is_retryable() => {
                let wait = reconnect.next_wait();
                note(&format!(
                    "hookd listen: cannot reconnect to {server}: {error}; trying again in {}",
                    output::seconds(wait)
                ));
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(ExitCode::SUCCESS),
                    () = tokio::time::sleep(wait) => continue,
                }
            }
            Err(error) => {
                eprintln!("hookd: error: {}", start_failure(&error, &server, &plan));
                return Ok(ExitCode::from(1));
            }
        };
        if connected_once {
            note(&format!(
                "hookd listen: reconnected to {server}; resuming after {}",
                cursor.as_deref().unwrap_or("the start")
            ));
        } else {
            if let (Target::App(_), Some(secret)) = (&plan.target, &plan.secret) {
                say(&format!(
                    "Local signing secret: {secret} (Standard Webhooks; configure it in the local app)"
                ));
            }
            if let Target::Bin { url, .. } = &plan.target {
                say(&format!(
                    "Bin URL: {url} (give it to the provider: any method, any path below it)"
                ));
            }
        }
        connected_once = true;
        reconnect.reset();
        let session = Session {
            plan: &plan,
            local: &local,
            server: &server,
            shutdown: &shutdown,
        };
        match session.follow(socket, &mut cursor, &mut announced).await {
            End::Stopped => return Ok(ExitCode::SUCCESS),
            End::Lost(reason) => {
                note(&format!(
                    "hookd listen: lost the connection to {server} ({reason}); reconnecting"
                ));
            }
            End::Fatal(reason) => {
                eprintln!("hookd: error: {reason}");
                return Ok(ExitCode::from(1));
            }
        }
    }
}

/// One line for a connection that failed before any succeeded.
fn start_failure(error: &ConnectError, server: &str, plan: &Plan) -> String {
    match error {
        ConnectError::Refused {
            status: 401 | 403, ..
        } if plan.token.is_none() => {
            format!("{server} needs a token: give --token, or set HOOKD_TOKEN or HOOKD_ADMIN_TOKEN")
        }
        ConnectError::Refused {
            status: 401 | 403,
            detail,
            ..
        } => format!("{server} refused the token: {detail}"),
        ConnectError::Refused { .. } => format!("{server}: {error}"),
        ConnectError::Unreachable(reason) => {
            format!("cannot reach the hookd server at {server}: {reason}")
        }
    }
}

struct Session<'a> {
    plan: &'a Plan,
    local: &'a reqwest::Client,
    server: &'a str,
    shutdown: &'a CancellationToken,
}

impl Session<'_> {
    /// Reads frames and forwards events until the connection ends.
    async fn follow(
        &self,
        socket: Socket,
        cursor: &mut Option<String>,
        announced: &mut bool,
    ) -> End {
        let (mut sink, mut stream) = socket.split();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard_at = tokio::time::Instant::now();
        loop {
            let next = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    return End::Stopped;
                }
                _ = ping.tick() => {
                    if heard_at.elapsed() > IDLE_LIMIT {
                        return End::Lost(format!("nothing heard for {}s", IDLE_LIMIT.as_secs()));
                    }
                    // A protocol-level ping: any WebSocket server answers it, so a
                    // connection that died silently is noticed whatever the server's
                    // heartbeat setting.
                    let sent = tokio::time::timeout(
                        PING_INTERVAL,
                        sink.send(WsMessage::Ping(Default::default())),
                    );
                    match sent.await {
                        Ok(Ok(())) => continue,
                        Ok(Err(error)) => return End::Lost(error.to_string()),
                        Err(_) => return End::Lost("the server stopped reading".to_owned()),
                    }
                }
                next = stream.next() => next,
            };
            heard_at = tokio::time::Instant::now();
            let text = match next {
                None => return End::Lost("the server closed the connection".to_owned()),
                Some(Err(error)) => return End::Lost(error.to_string()),
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(frame))) => {
                    return End::Lost(match frame {
                        Some(frame) => {
                            format!("closed: {} {}", u16::from(frame.code), frame.reason)
                        }
                        None => "closed".to_owned(),
                    })
                }
                Some(Ok(_)) => continue,
            };
            let frame = match frame::parse(text.as_str()) {
                Ok(frame) => frame,
                Err(error) => return End::Fatal(error.to_string()),
            };
            let forwarded = match frame {
                ServerFrame::Ready { cursor: ready } => {
                    *cursor = Some(ready);
                    if !*announced {
                        *announced = true;
                        say(&output::ready_line(
                            &self.describe_target(),
                            self.server,
                            &self.plan.forward_to,
                        ));
                    }
                    continue;
                }
                ServerFrame::Other => continue,
                ServerFrame::Message(message) => {
                    let Some(secret) = self.plan.secret.as_deref() else {
                        return End::Fatal(
                            "the server sent a message on a source's stream".to_owned(),
                        );
                    };
                    let request = match forward::message_request(
                        &self.plan.forward_to,
                        &message,
                        secret,
                        chrono::Utc::now().timestamp(),
                    ) {
                        Ok(request) => request,
                        Err(error) => return End::Fatal(format!("signing: {error}")),
                    };
                    self.deliver(&request, &message.event_type, &message.msg_id)
                        .await
                        .map(|()| message.cursor)
                }
                ServerFrame::Request(captured) => {
                    let url = match &self.plan.target {
                        Target::Bin { .. } => forward::bin_forward_url(
                            &self.plan.forward_to,
                            &captured.path,
                            captured.query.as_deref(),
                        ),
                        _ => self.plan.forward_to.clone(),
                    };
                    let request = match forward::captured_request(
                        &url,
                        &captured,
                        self.plan.secret.as_deref(),
                        chrono::Utc::now().timestamp(),
                    ) {
                        Ok(request) => request,
                        Err(error) => return End::Fatal(format!("signing: {error}")),
                    };
                    let label = output::event_label(
                        captured.event_type.as_deref(),
                        &captured.method,
                        &captured.path,
                    );
                    let id = captured.msg_id.as_deref().unwrap_or(&captured.id);
                    self.deliver(&request, &label, id)
                        .await
                        .map(|()| captured.cursor)
                }
            };
            match forwarded {
                Some(forwarded) => *cursor = Some(forwarded),
                None => return End::Stopped,
            }
            // Time spent on the local URL is not the server's silence.
            heard_at = tokio::time::Instant::now();
        }
    }

    /// Sends one event to the local URL until it takes it; `None` when stopped first.
    async fn deliver(&self, request: &LocalRequest, label: &str, id: &str) -> Option<()> {
        let mut backoff = Backoff::new(LOCAL_RETRY_FIRST, LOCAL_RETRY_MAX);
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                () = self.shutdown.cancelled() => return None,
                outcome = send(self.local, request) => outcome,
            };
            let latency = started.elapsed();
            let retry_in = (!outcome.is_final()).then(|| backoff.next_wait());
            let time = chrono::Local::now().format("%H:%M:%S").to_string();
            say(&output::event_line(
                &time, label, &outcome, latency, id, retry_in,
            ));
            let Some(wait) = retry_in else {
                return Some(());
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn describe_target(&self) -> String {
        match &self.plan.target {
            Target::App(app) => format!("the messages of application {app}"),
            Target::Source(source) if self.plan.secret.is_some() => {
                format!("the requests of source {source} (re-signed with the local secret)")
            }
            Target::Source(source) => format!("the requests of source {source}"),
            Target::Bin { url, .. } => format!("the requests sent to {url}"),
            Target::NewBin => "the requests of a new bin".to_owned(),
        }
    }
}

/// One attempt at the local URL.
async fn send(client: &reqwest::Client, request: &LocalRequest) -> LocalOutcome {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut builder = client
        .request(method, &request.url)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the answer so the connection can be reused; its content is not shown.
            let _ = response.bytes().await;
            LocalOutcome::Answered(status)
        }
        Err(error) => LocalOutcome::Unreachable(describe(&error)),
    }
}

/// The innermost cause of a failed request, which is the one that says what happened
/// ("Connection refused", "operation timed out").
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// A line on stdout: the event log and the ready line.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (the pipe went away) must not stop forwarding.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// A line on stderr about the connection to the server.
fn note(line: &str) {
    eprintln!("{line}");
}

/// Cancels `shutdown` on Ctrl-C (SIGINT) or SIGTERM.
async fn cancel_on_interrupt(shutdown: CancellationToken) {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls_follow_the_server_scheme_and_path() {
        let server = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            stream_url(&server, &Target::App("acme".into()), None).as_str(),
            "ws://127.0.0.1:8080/api/v1/app/acme/stream"
        );
        assert_eq!(
            stream_url(&server, &Target::Source("src_1".into()), Some("3.41")).as_str(),
            "ws://127.0.0.1:8080/api/v1/source/src_1/stream?after=3.41"
        );
        let behind_proxy = url::Url::parse("https://hooks.example.com/hookd/?x=1").unwrap();
        assert_eq!(
            stream_url(&behind_proxy, &Target::App("a b/c".into()), None).as_str(),
            "wss://hooks.example.com/hookd/api/v1/app/a%20b%2Fc/stream"
        );
    }

    #[test]
    fn forward_urls_default_to_http() {
        assert_eq!(
            forward_url("localhost:3000/hook").unwrap(),
            "http://localhost:3000/hook"
        );
        assert_eq!(
            forward_url("https://app.test/webhooks?x=1").unwrap(),
            "https://app.test/webhooks?x=1"
        );
        assert!(forward_url("ftp://x/y").is_err());
        assert!(forward_url("").is_err());
        assert!(server_url("127.0.0.1:8080").is_err());
        assert!(server_url("ftp://host").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let waits: Vec<u128> = (0..5).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(250));
    }
}
