//! `hookd send URL`: fires one signed test event at a URL, the way hookd's worker would
//! deliver it, and prints the request it sent and the answer it got (status, headers,
//! body, latency). Exit code 0 on a 2xx answer, 1 on any other answer or when the URL
//! cannot be reached, 2 for usage errors (the caller's `main` maps `Err` to 2).
//!
//! **Invariant:** a client command: it talks HTTP to the URL only and never opens a
//! store. Signing is `hookd_core::signature::sign`, the worker's own function, so what a
//! receiver accepts from `hookd send` it accepts from hookd.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use hookd_core::ids::MessageId;
use hookd_core::signature::{self, SignatureScheme};

/// `hookd send` flags.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Where to POST the event (http or https).
    pub url: String,
    /// The signing secret (`whsec_…` for standard and svix; any string for the others)
    /// [default: a new `whsec_` secret, printed].
    #[arg(long)]
    pub secret: Option<String>,
    /// The event type, in the body's `type` field when --data is not given.
    #[arg(long, default_value = "hookd.test")]
    pub event_type: String,
    /// The JSON payload, or `@FILE` to read it from a file
    /// [default: `{"type": EVENT_TYPE, "data": {"test": true}}`].
    #[arg(long)]
    pub data: Option<String>,
    /// Signature scheme: standard, svix, hmac-sha256-hex, stripe, github.
    #[arg(long, default_value = "standard")]
    pub scheme: String,
    /// The header name for hmac-sha256-hex [default: x-webhook-signature].
    #[arg(long)]
    pub signature_header: Option<String>,
    /// An extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub header: Vec<String>,
    /// Whole-request timeout in seconds.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
}

/// Runs `hookd send`.
///
/// # Errors
/// Usage errors (bad JSON, unknown scheme, unusable secret, malformed header).
pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let scheme = SignatureScheme::parse(&args.scheme).with_context(|| {
        format!(
            "--scheme: expected standard, svix, hmac-sha256-hex, stripe or github, found {:?}",
            args.scheme
        )
    })?;
    let url = reqwest::Url::parse(&args.url).with_context(|| format!("URL {:?}", args.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "URL: scheme must be http or https, found {:?}",
            url.scheme()
        );
    }
    let body = payload(&args)?;
    let mut stdout = std::io::stdout().lock();
    let secret = match args.secret {
        Some(secret) => secret,
        None => {
            let secret = signature::generate_symmetric_secret(&rand::random::<[u8; 24]>());
            writeln!(stdout, "generated secret: {secret}").context("writing to stdout")?;
            secret
        }
    };
    signature::validate_secret(scheme, &secret)
        .map_err(|error| anyhow::anyhow!("--secret: {error}"))?;
    let mut headers: Vec<(String, String)> =
        vec![("content-type".into(), "application/json".into())];
    for line in &args.header {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("--header: expected `Name: value`, found {line:?}"))?;
        let name = name.trim();
        if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            bail!("--header: {name:?} is not a valid header name");
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let now = chrono::Utc::now();
    let msg_id = MessageId::new(now.timestamp_millis().max(0) as u64, rand::random());
    let signature_header = args.signature_header.map(|name| name.to_ascii_lowercase());
    headers.extend(
        signature::sign(
            scheme,
            signature_header.as_deref(),
            &[secret.as_str()],
            msg_id.as_str(),
            now.timestamp(),
            body.as_bytes(),
        )
        .map_err(|error| anyhow::anyhow!("--secret: {error}"))?,
    );

    writeln!(stdout, "> POST {url}").context("writing to stdout")?;
    for (name, value) in &headers {
        writeln!(stdout, "> {name}: {value}").context("writing to stdout")?;
    }
    writeln!(stdout, ">\n{body}\n").context("writing to stdout")?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(post(
        &url,
        &headers,
        body,
        Duration::from_secs(args.timeout),
    ));
    let (status, response_headers, response_body, latency) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            drop(stdout);
            eprintln!("hookd: could not reach {url}: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    writeln!(stdout, "< {status} ({} ms)", latency.as_millis()).context("writing to stdout")?;
    for (name, value) in &response_headers {
        writeln!(stdout, "< {name}: {value}").context("writing to stdout")?;
    }
    writeln!(stdout, "<\n{response_body}").context("writing to stdout")?;
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

type Answer = (reqwest::StatusCode, Vec<(String, String)>, String, Duration);

async fn post(
    url: &reqwest::Url,
    headers: &[(String, String)],
    body: String,
    timeout: Duration,
) -> Result<Answer, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("hookd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| error.to_string())?;
    let mut request = client.post(url.clone()).body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let started = Instant::now();
    let response = request.send().await.map_err(|error| describe(&error))?;
    let latency = started.elapsed();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text().await.unwrap_or_default();
    Ok((status, headers, body, latency))
}

/// One line: the error and its causes.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The body: --data (or the file after `@`) re-serialised as compact JSON in its own key
/// order, or the default test event.
fn payload(args: &SendArgs) -> anyhow::Result<String> {
    let text = match &args.data {
        None => {
            return Ok(
                serde_json::json!({"type": args.event_type, "data": {"test": true}}).to_string(),
            )
        }
        Some(data) => match data.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(PathBuf::from(file))
                .with_context(|| format!("--data: reading {file}"))?,
            None => data.clone(),
        },
    };
    let value: serde_json::Value = serde_json::from_str(&text).context("--data: not valid JSON")?;
    Ok(value.to_string())
}
