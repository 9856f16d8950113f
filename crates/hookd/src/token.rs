//! `hookd token create --app APP --expires 1h`: asks a running server for a short-lived
//! application token (`POST /api/v1/auth/app-portal-access/{app}` with the admin token)
//! and prints it.
//!
//! **Invariant:** a client command: it talks HTTP to the server and never opens a store.
//! There is no token without `--app`: an application-less token would be an admin
//! credential, and admin tokens are configured, not minted.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a short-lived token that reads one application's stream (for a browser).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The application (id or uid) the token opens.
    #[arg(long)]
    pub app: String,
    /// How long the token is valid, e.g. 15m, 1h, 7d (at most 7d).
    #[arg(long, default_value = "1h")]
    pub expires: String,
    /// The hookd server.
    #[arg(long, env = "HOOKD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The admin token of that server.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Runs a `hookd token` subcommand; prints the new token on stdout.
///
/// # Errors
/// A bad `--expires`, an unreachable server, or the server's refusal, in one line.
pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create(args) = command;
    let expires = expiry_seconds(&args.expires)?;
    let server = args.server.trim_end_matches('/');
    let url = format!(
        "{server}/api/v1/auth/app-portal-access/{}",
        url::form_urlencoded::byte_serialize(args.app.as_bytes()).collect::<String>()
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let response = client
        .post(&url)
        .bearer_auth(&args.token)
        .json(&serde_json::json!({ "expiry": expires }))
        .send()
        .await
        .with_context(|| format!("cannot reach the hookd server at {server}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("the server at {server} answered {status} without JSON"))?;
    if !status.is_success() {
        let detail = body["detail"].as_str().unwrap_or("no detail");
        bail!("the server refused ({status}): {detail}");
    }
    let token = body["token"]
        .as_str()
        .context("the server's answer has no token")?;
    #[allow(clippy::print_stdout)]
    {
        println!("{token}");
    }
    eprintln!(
        "hookd: token for application {} valid for {}; stream URL: {}",
        args.app,
        args.expires,
        body["url"].as_str().unwrap_or("")
    );
    Ok(())
}

/// `--expires` in whole seconds.
fn expiry_seconds(text: &str) -> anyhow::Result<i64> {
    let parsed = hookd_core::retry::parse_schedule(text)
        .map_err(|error| anyhow::anyhow!("--expires: {error}"))?;
    let [duration] = parsed.as_slice() else {
        bail!("--expires: expected one duration like 1h, found {text:?}");
    };
    let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
    if seconds < 1 {
        bail!("--expires: must be at least 1s");
    }
    Ok(seconds)
}
