//! `hookd verify`: checks one captured request (headers and body) against a provider's
//! rules and secrets, and says which check passed or failed: a missing or malformed
//! header, a stale timestamp (with its age), a signature that matches none of the
//! secrets, or which secret matched. Exit code 0 when the request verifies, 1 when a check
//! fails, 2 for usage errors (the caller's `main` maps `Err` to 2).
//!
//! The rules are exactly the ones `POST /in/{source}` applies (`hookd_core::inbound`), so
//! a request this command accepts is one a source accepts.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use hookd_core::inbound::{
    self, GenericScheme, InboundError, InboundRequest, Provider, VerifierConfig,
    DEFAULT_TOLERANCE_SECS,
};

/// `hookd verify` flags.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Provider rules: stripe, github, shopify, razorpay, slack, twilio, standard-webhooks,
    /// svix, paddle, square, discord, meta, gitlab, generic.
    #[arg(long)]
    pub provider: String,
    /// A secret to try (repeat it for every secret of a rotation, current first). For
    /// Discord the application's public key (hex); for GitLab the token.
    #[arg(long, required = true)]
    pub secret: Vec<String>,
    /// The captured headers: `Name: value` lines (a request line or blank lines are
    /// skipped), or a JSON object of names to values.
    #[arg(long)]
    pub headers_file: Option<PathBuf>,
    /// One header, `Name: value` (repeatable; added after --headers-file).
    #[arg(short = 'H', long = "header")]
    pub header: Vec<String>,
    /// The raw body exactly as received (`-` reads stdin).
    #[arg(long)]
    pub body_file: PathBuf,
    /// The full URL the provider called (Twilio and Square sign it; Meta's handshake
    /// reads its query) [default: `https://{Host}{path}` from a request line and `Host`
    /// header in --headers-file].
    #[arg(long)]
    pub url: Option<String>,
    /// The request method [default: POST].
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// The time to check timestamps against, in Unix seconds [default: now]. Use the
    /// time of capture to check an old request's signature.
    #[arg(long)]
    pub now: Option<i64>,
    /// Allowed distance of a signed timestamp from now, in seconds [default: 300].
    #[arg(long, default_value_t = DEFAULT_TOLERANCE_SECS)]
    pub tolerance: i64,
    /// Meta: the verify token of the subscription handshake.
    #[arg(long)]
    pub verify_token: Option<String>,
    /// The generic scheme as JSON, e.g.
    /// '{"algorithm":"sha256","encoding":"hex","header":"X-Signature","prefix":"sha256="}'.
    #[arg(long)]
    pub generic: Option<String>,
}

/// Runs `hookd verify`.
///
/// # Errors
/// Usage errors: an unknown provider, unreadable files, a malformed header line.
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let provider = Provider::parse(&args.provider).with_context(|| {
        let names: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        format!(
            "--provider: unknown provider {:?}; expected one of {}",
            args.provider,
            names.join(", ")
        )
    })?;
    let generic = match &args.generic {
        Some(text) => {
            Some(serde_json::from_str::<GenericScheme>(text).context("--generic: not a scheme")?)
        }
        None if provider == Provider::Generic => {
            bail!("--generic: the generic provider needs its scheme as JSON")
        }
        None => None,
    };
    let Capture {
        mut headers,
        request_target,
    } = match &args.headers_file {
        Some(path) => read_headers(path)?,
        None => Capture::default(),
    };
    for line in &args.header {
        headers.push(parse_header_line(line).with_context(|| format!("-H {line:?}"))?);
    }
    let body = read_body(&args.body_file)?;
    let config = VerifierConfig {
        provider,
        secrets: args.secret.clone(),
        tolerance_secs: args.tolerance,
        generic,
        verify_token: args.verify_token.clone(),
    };
    let captured_url = request_target.and_then(|target| {
        let host = headers.iter().find(|(name, _)| name == "host")?;
        Some(format!("https://{}{target}", host.1))
    });
    let url = match (&args.url, captured_url) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url,
        (None, None) if matches!(provider, Provider::Twilio | Provider::Square) => {
            bail!("--url: {provider} signs the URL it called; give it exactly as configured there")
        }
        (None, None) => String::new(),
    };
    let request = InboundRequest {
        method: &args.method,
        url: &url,
        headers: &headers,
        body: &body,
    };
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let report = check(&config, &request, now);
    let mut stdout = std::io::stdout().lock();
    for line in &report.lines {
        writeln!(stdout, "{line}").context("writing to stdout")?;
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What `hookd verify` prints, and whether the request passed.
struct Report {
    passed: bool,
    lines: Vec<String>,
}

fn check(config: &VerifierConfig, request: &InboundRequest<'_>, now: i64) -> Report {
    let provider = config.provider;
    let n_secrets = config.secrets.len();
    let mut lines = vec![format!(
        "provider {provider}, {n_secrets} secret(s), {} header(s), {} body byte(s)",
        request.headers.len(),
        request.body.len()
    )];
    if !request.url.is_empty() {
        lines.push(format!("url: {}", request.url));
    }
    if let Some(reply) = inbound::handshake(config, request) {
        lines.push(format!(
            "handshake: answered with status {} ({} byte(s) of {})",
            reply.status,
            reply.body.len(),
            reply.content_type
        ));
        return Report {
            passed: (200..300).contains(&reply.status),
            lines,
        };
    }
    let passed = match inbound::verify(config, request, now) {
        Ok(verified) => {
            lines.push(format!(
                "ok: the signature matches secret #{} of {n_secrets} (--secret number {})",
                verified.secret_index,
                verified.secret_index + 1
            ));
            true
        }
        Err(error) => {
            lines.push(format!("FAILED {}: {error}", error.code()));
            lines.extend(hint(config, request, now, &error));
            false
        }
    };
    let event_id = inbound::source_event_id(config, request);
    let event_type = inbound::source_event_type(config, request);
    lines.push(format!(
        "event id: {}",
        event_id.as_deref().unwrap_or("(none found)")
    ));
    lines.push(format!(
        "event type: {}",
        event_type.as_deref().unwrap_or("(none found)")
    ));
    Report { passed, lines }
}

/// What to try next after `error`.
fn hint(
    config: &VerifierConfig,
    request: &InboundRequest<'_>,
    now: i64,
    error: &InboundError,
) -> Option<String> {
    match error {
        InboundError::StaleTimestamp { age_secs, .. } => {
            // Would the signature have passed at the time it was sent?
            let relaxed = VerifierConfig {
                tolerance_secs: i64::MAX,
                ..config.clone()
            };
            Some(match inbound::verify(&relaxed, request, now) {
                Ok(verified) => format!(
                    "hint: the signature itself matches secret #{}; the request is {age_secs} s old (a replay, a clock off, or a captured request: pass --now)",
                    verified.secret_index
                ),
                Err(_) => "hint: the signature would not match either".to_owned(),
            })
        }
        InboundError::SignatureMismatch { .. } => Some(match config.provider {
            Provider::Twilio | Provider::Square => "hint: the signature covers --url; it must be exactly the URL the provider called (scheme, host, port, path, query)".to_owned(),
            _ => "hint: check the secret and that the body file holds the raw bytes received (not re-serialised JSON, and no added newline)".to_owned(),
        }),
        InboundError::MissingHeader(_) => Some(format!(
            "hint: headers given: {}",
            request
                .headers
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    }
}

fn read_body(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("reading the body from stdin")?;
        return Ok(body);
    }
    std::fs::read(path).with_context(|| format!("--body-file: reading {}", path.display()))
}

/// What a headers file holds.
#[derive(Default)]
struct Capture {
    /// Lowercase names, in order.
    headers: Vec<(String, String)>,
    /// `/in/x?y`, when the file starts with a request line.
    request_target: Option<String>,
}

fn read_headers(path: &Path) -> anyhow::Result<Capture> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--headers-file: reading {}", path.display()))?;
    if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("--headers-file: {} is not a JSON object", path.display()))?;
        let headers = object
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(value) => (name.to_ascii_lowercase(), value),
                other => (name.to_ascii_lowercase(), other.to_string()),
            })
            .collect();
        return Ok(Capture {
            headers,
            request_target: None,
        });
    }
    let mut headers = Vec::new();
    let mut request_target = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        // A request line (`POST /in/x HTTP/1.1`) gives the path; a status line and
        // blank lines are skipped.
        if line.contains(" HTTP/") {
            let mut words = line.split_whitespace();
            if let (Some(_method), Some(target)) = (words.next(), words.next()) {
                if target.starts_with('/') {
                    request_target = Some(target.to_owned());
                }
            }
            continue;
        }
        if line.trim().is_empty() || !line.contains(':') {
            continue;
        }
        headers.push(parse_header_line(line)?);
    }
    Ok(Capture {
        headers,
        request_target,
    })
}

fn parse_header_line(line: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = line.split_once(':').context("expected `Name: value`")?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("expected `Name: value`");
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
}
