//! The command line: `hookd serve | migrate | verify | token | send | listen`, parsed with clap, each subcommand a
//! function that returns the process exit code.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{parse_database_url, Config, LogFormat, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "hookd",
    version,
    about = "Self-hosted webhooks, both ways: signed, retried, durable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the delivery worker.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        /// Database URL [default: sqlite://hookd.db].
        #[arg(long, env = "HOOKD_DATABASE")]
        database: Option<String>,
    },
    /// Check a captured request against a provider's rules and secrets, and say which
    /// check failed (exit 0 verified, 1 a check failed, 2 usage error).
    Verify(Box<crate::verify::VerifyArgs>),
    /// Application tokens for browsers (asks a running server).
    #[command(subcommand)]
    Token(crate::token::TokenCommand),
    /// Fire one signed test event at a URL and print the request and the answer
    /// (exit 0 on a 2xx answer, 1 otherwise, 2 usage error).
    Send(Box<crate::send::SendArgs>),
    /// Forward a source's requests, an application's messages or (with neither) a new
    /// inspector bin's requests from a hookd server to a local URL, live, one line per
    /// event (exit 0 on Ctrl-C, 1 when the server cannot be reached or refuses, 2 usage
    /// error).
    Listen(Box<crate::listen::ListenArgs>),
}

/// Parses the command line and runs the subcommand.
///
/// # Errors
/// Any failure, already described for the user.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(*args)?;
            init_logging(config.log_format);
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                crate::serve::run(config, None, shutdown).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { database } => {
            init_logging(LogFormat::Text);
            let database = parse_database_url(database.as_deref().unwrap_or("sqlite://hookd.db"))?;
            runtime.block_on(crate::serve::open_store(&database))?;
            eprintln!("hookd: database {database:?} is at the current schema");
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => crate::verify::run(*args),
        Command::Token(command) => {
            runtime.block_on(crate::token::run(command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(args) => {
            drop(runtime);
            crate::send::run(*args)
        }
        Command::Listen(args) => {
            drop(runtime);
            crate::listen::run(*args)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file or journald should not get escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight work");
    shutdown.cancel();
}
