//! `hookd-bench`: the reproducible benchmark. It starts release-built `hookd serve`
//! processes on fresh SQLite files and on fresh PostgreSQL databases (one and two nodes),
//! a minimal local webhook receiver and a bare axum server (the HTTP roof), drives the
//! same load at all of them, and reports publish and delivery throughput, backlog drain
//! times, latencies, CPU per message and memory as medians of several runs, as a
//! markdown table on stdout and as JSON under `bench/results/`.
//!
//! Run it with `bench/run` from the repository root (see bench/README.md and
//! BENCHMARKS.md). It is not a test: nothing in CI runs it.

mod inbound;
mod loadgen;
mod postgres;
mod process;
mod report;
mod scenario;
mod servers;
mod stats;
mod stream;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Map, Value};

#[derive(Debug, Parser)]
#[command(
    name = "hookd-bench",
    about = "Benchmark hookd (release build, SQLite and PostgreSQL) against a bare HTTP server."
)]
struct Args {
    /// Runs to take the median of.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// How long each scenario sends load, e.g. 10s or 500ms.
    #[arg(long, default_value = "10s", value_parser = stats::parse_duration)]
    duration: Duration,
    /// A smoke run: one run of 2 s scenarios.
    #[arg(long)]
    quick: bool,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Endpoints in the fan-out scenario.
    #[arg(long, default_value_t = 10)]
    fanout_endpoints: usize,
    /// Longest wait for deliveries after publishing stops.
    #[arg(long, default_value = "30s", value_parser = stats::parse_duration)]
    drain_timeout: Duration,
    /// The hookd binary [default: `hookd` next to this program, i.e. target/release/hookd].
    #[arg(long)]
    hookd: Option<PathBuf>,
    /// Skip the PostgreSQL scenarios.
    #[arg(long)]
    no_postgres: bool,
    /// A PostgreSQL server the benchmark may create (and drop) databases on; any
    /// database of it will do.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Messages in the PostgreSQL drain backlog.
    #[arg(long, default_value_t = 1_000)]
    drain_messages: u64,
    /// Endpoints each drain backlog message fans out to (messages × endpoints = due
    /// deliveries).
    #[arg(long, default_value_t = 100)]
    drain_endpoints: usize,
    /// Longest a backlog drain may take.
    #[arg(long, default_value = "300s", value_parser = stats::parse_duration)]
    backlog_timeout: Duration,
    /// Which scenarios to run: all, send (publish and delivery), stream, postgres
    /// (only PostgreSQL with one node, 1 endpoint at full speed: for comparing changes
    /// to the PostgreSQL path quickly; it reports no ratio against SQLite) or inbound
    /// (the roof and the inbound scenario, for comparing changes to the receive path).
    #[arg(long, default_value = "all", value_parser = ["all", "send", "stream", "postgres", "inbound"])]
    scenarios: String,
    /// How the stream scenario's subscribers read: sse, ws (WebSocket) or both (one
    /// after the other).
    #[arg(long, default_value = "sse", value_parser = ["sse", "ws", "both"])]
    stream_transport: String,
    /// Concurrent subscribers in the stream scenario (capped by `ulimit -n`).
    #[arg(long, default_value_t = 5000)]
    stream_subscribers: usize,
    /// Messages published per second in the stream scenario.
    #[arg(long, default_value_t = 100.0)]
    stream_rate: f64,
    /// Directory the JSON results go to.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.runs = 1;
        args.duration = Duration::from_secs(2);
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let hookd_binary = match &args.hookd {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("locating this program")?
            .with_file_name("hookd"),
    };
    if !hookd_binary.is_file() {
        bail!(
            "no hookd binary at {}; build it with `cargo build --release -p hookd` or use bench/run",
            hookd_binary.display()
        );
    }
    // Absolute, because each server runs in its own temporary directory.
    let hookd_binary = std::fs::canonicalize(&hookd_binary)
        .with_context(|| format!("resolving {}", hookd_binary.display()))?;
    let roof = servers::start_roof().await?;
    let (receiver_addr, receiver) = servers::start_receiver().await?;
    let setup = scenario::Setup {
        hookd_binary,
        duration: args.duration,
        connections: args.connections,
        fanout_endpoints: args.fanout_endpoints,
        drain_timeout: args.drain_timeout,
        roof,
        receiver_addr,
        receiver,
    };

    let pg = (!args.no_postgres).then(|| postgres::PgSetup {
        server_url: args.postgres_url.clone(),
        drain_messages: args.drain_messages,
        drain_endpoints: args.drain_endpoints,
        drain_timeout: args.backlog_timeout,
    });

    let began = Instant::now();
    let mut runs = Vec::with_capacity(args.runs);
    for index in 1..=args.runs {
        eprintln!("hookd-bench: run {index} of {}", args.runs);
        let mut numbers = match args.scenarios.as_str() {
            "stream" | "postgres" => Map::new(),
            "inbound" => scenario::run_inbound_once(&setup).await?,
            _ => scenario::run_once(&setup).await?,
        };
        if args.scenarios != "stream" && args.scenarios != "inbound" {
            if let Some(pg) = &pg {
                let only_one_node = args.scenarios == "postgres";
                postgres::run_once(&setup, pg, only_one_node, &mut numbers).await?;
            }
        }
        if args.scenarios == "all" || args.scenarios == "stream" {
            for transport in stream_transports(&args.stream_transport) {
                let streamed =
                    stream::run(&setup, transport, args.stream_subscribers, args.stream_rate)
                        .await?;
                numbers.extend(streamed);
            }
        }
        runs.push(numbers);
    }
    let medians = report::medians(&runs);
    eprintln!(
        "hookd-bench: {} run(s) took {:.0} s",
        args.runs,
        began.elapsed().as_secs_f64()
    );

    let mut stdout = std::io::stdout().lock();
    report::write_markdown(&mut stdout, &runs, &medians)?;
    let path = write_json(&args, &runs, &medians)?;
    eprintln!("hookd-bench: results written to {}", path.display());
    Ok(())
}

fn stream_transports(choice: &str) -> Vec<stream::Transport> {
    match choice {
        "ws" => vec![stream::Transport::WebSocket],
        "both" => vec![stream::Transport::Sse, stream::Transport::WebSocket],
        _ => vec![stream::Transport::Sse],
    }
}

fn write_json(
    args: &Args,
    runs: &[Map<String, Value>],
    medians: &Map<String, Value>,
) -> anyhow::Result<PathBuf> {
    let now = chrono::Utc::now();
    let document = json!({
        "date": now.to_rfc3339(),
        "machine": machine(),
        "options": {
            "runs": args.runs,
            "duration_s": args.duration.as_secs_f64(),
            "connections": args.connections,
            "fanout_endpoints": args.fanout_endpoints,
            "postgres": !args.no_postgres,
            "drain_messages": args.drain_messages,
            "drain_endpoints": args.drain_endpoints,
            "scenarios": args.scenarios,
            "stream_transport": args.stream_transport,
            "stream_subscribers": args.stream_subscribers,
            "stream_rate": args.stream_rate,
        },
        "median": medians,
        "runs": runs,
    });
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args
        .out
        .join(format!("{}.json", now.format("%Y%m%d-%H%M%S")));
    let text = serde_json::to_string_pretty(&document)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// What the numbers depend on: cores, CPU model, kernel, and how that kernel places
/// and idles threads (a VM kernel may pack threads onto few vCPUs and halt idle ones at
/// once, which costs every hand-off between threads a wake-up: see BENCHMARKS.md).
fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map(|model| model.trim().to_owned());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu_model,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "memory_total": read("/proc/meminfo").lines().next().map(|line| line.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")),
        "scheduler": scheduler_settings(&read("/proc/cmdline"), &read("/proc/sys/kernel/sched_vcpu_pack")),
    })
}

/// The kernel command line's scheduler and idle settings (`sched_*`, `*haltpoll*`,
/// `idle=`), and `kernel.sched_vcpu_pack` when this kernel has it, as one string.
fn scheduler_settings(cmdline: &str, vcpu_pack: &str) -> String {
    let mut settings: Vec<String> = cmdline
        .split_whitespace()
        .take_while(|word| *word != "--")
        .filter(|word| {
            word.starts_with("sched_") || word.contains("haltpoll") || word.starts_with("idle=")
        })
        .map(str::to_owned)
        .collect();
    if !vcpu_pack.trim().is_empty() {
        settings.push(format!("kernel.sched_vcpu_pack={}", vcpu_pack.trim()));
    }
    settings.join(" ")
}

#[cfg(test)]
mod tests {
    use super::scheduler_settings;

    #[test]
    fn scheduler_settings_keep_the_kernels_placement_and_idle_words() {
        let cmdline = "console=ttyS0 cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0 \
                       sched_vcpu_pack=15 quiet -- --sched_other=1";
        assert_eq!(
            scheduler_settings(cmdline, "15\n"),
            "cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0 sched_vcpu_pack=15 \
             kernel.sched_vcpu_pack=15"
        );
        assert_eq!(scheduler_settings("quiet", ""), "");
    }
}
