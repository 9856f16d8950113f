//! The hookd under test: a `hookd serve` child process on a fresh SQLite file in a
//! temporary directory or on a PostgreSQL database, plus what `/proc` says about it (CPU
//! time, resident memory).
//!
//! **Invariant:** the child never outlives its [`Hookd`] handle: dropping the handle kills
//! it and waits for it, so a failed or interrupted benchmark leaves no server behind.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use serde::Deserialize;

use crate::loadgen;

/// The admin token every benchmarked server is started with.
const ADMIN_TOKEN: &str = "hookd-bench-admin-token-0123456789";

/// A running `hookd serve`.
#[derive(Debug)]
pub struct Hookd {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// CPU time a process has used so far, user plus system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CpuTime(Duration);

impl CpuTime {
    fn from_ticks(ticks: u64) -> Self {
        let nanos_per_tick = 1_000_000_000 / u64::from(clock_ticks_per_second());
        CpuTime(Duration::from_nanos(ticks.saturating_mul(nanos_per_tick)))
    }

    /// CPU time used since `earlier`.
    pub fn since(self, earlier: CpuTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The sum of two CPU times (of two processes, say).
    pub fn plus(self, other: CpuTime) -> CpuTime {
        CpuTime(self.0 + other.0)
    }
}

/// How a benchmarked server is started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A `postgres://` database; `None` means a fresh SQLite file in the temporary dir.
    pub postgres: Option<String>,
    /// `HOOKD_SQLITE_MAX_BATCH`, when given.
    pub max_batch: Option<usize>,
    /// `--no-worker`: serve the API only.
    pub no_worker: bool,
}

impl Hookd {
    /// Starts `binary serve` on a free loopback port with a fresh database, loopback
    /// deliveries allowed, and `HOOKD_SQLITE_MAX_BATCH=max_batch` when given; returns once
    /// `/api/v1/health` answers 200.
    ///
    /// # Errors
    /// When the binary cannot start or is not healthy within 15 s (its log is quoted).
    pub async fn start(binary: &Path, max_batch: Option<usize>) -> anyhow::Result<Self> {
        Self::start_with(
            binary,
            &Options {
                max_batch,
                ..Options::default()
            },
        )
        .await
    }

    /// [`Hookd::start`] with explicit [`Options`].
    ///
    /// # Errors
    /// As [`Hookd::start`].
    pub async fn start_with(binary: &Path, options: &Options) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hookd-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        let addr = free_port()?;
        let log = File::create(dir.path().join("hookd.log")).context("creating the log file")?;
        let database = match &options.postgres {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", dir.path().join("hookd.db").display()),
        };
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database")
            .arg(database)
            .arg("--admin-token")
            .arg(ADMIN_TOKEN)
            .arg("--allow-private-network")
            .arg("127.0.0.0/8")
            .current_dir(dir.path())
            .env_remove("HOOKD_CONFIG")
            .env_remove("HOOKD_SQLITE_MAX_BATCH")
            .env_remove("HOOKD_DATABASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(max_batch) = options.max_batch {
            command.env("HOOKD_SQLITE_MAX_BATCH", max_batch.to_string());
        }
        if options.no_worker {
            command.arg("--no-worker");
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut hookd = Hookd { child, addr, dir };
        hookd.wait_healthy().await?;
        Ok(hookd)
    }

    /// The token the API accepts.
    pub fn token(&self) -> &str {
        ADMIN_TOKEN
    }

    /// Creates an application and returns its id.
    ///
    /// # Errors
    /// When the API does not answer 201.
    pub async fn create_app(&self) -> anyhow::Result<String> {
        let body = serde_json::json!({"name": "bench"}).to_string();
        let created: Created = self.post("/api/v1/app", body).await?;
        Ok(created.id)
    }

    /// Subscribes an endpoint at `url` to everything the application publishes.
    ///
    /// # Errors
    /// When the API does not answer 201.
    pub async fn create_endpoint(&self, app_id: &str, url: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({"url": url}).to_string();
        let _: Created = self
            .post(&format!("/api/v1/app/{app_id}/endpoint"), body)
            .await?;
        Ok(())
    }

    /// Resident memory now (`VmRSS`), in bytes.
    ///
    /// # Errors
    /// When `/proc` cannot be read (the process is gone, or this is not Linux).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        status_kib(self.child.id(), "VmRSS:").map(|kib| kib * 1024)
    }

    /// The most resident memory the process has had (`VmHWM`), in bytes.
    ///
    /// # Errors
    /// As [`Hookd::rss_bytes`].
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        status_kib(self.child.id(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// CPU time used so far by the whole process.
    ///
    /// # Errors
    /// As [`Hookd::rss_bytes`].
    pub fn cpu(&self) -> anyhow::Result<CpuTime> {
        cpu_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// CPU time used so far by each thread, summed by thread name (tokio's workers and
    /// blocking threads share one name; the SQLite writer has its own).
    ///
    /// # Errors
    /// As [`Hookd::rss_bytes`].
    pub fn cpu_by_thread_name(&self) -> anyhow::Result<Vec<(String, CpuTime)>> {
        let mut totals: Vec<(String, CpuTime)> = Vec::new();
        let tasks = PathBuf::from(format!("/proc/{}/task", self.child.id()));
        for entry in std::fs::read_dir(&tasks).with_context(|| tasks.display().to_string())? {
            let task = entry?.path();
            // A thread may end between the listing and the read.
            let Ok(name) = std::fs::read_to_string(task.join("comm")) else {
                continue;
            };
            let Ok(cpu) = cpu_of(&task.join("stat").display().to_string()) else {
                continue;
            };
            let name = name.trim().to_owned();
            match totals.iter_mut().find(|(known, _)| *known == name) {
                Some((_, total)) => total.0 += cpu.0,
                None => totals.push((name, cpu)),
            }
        }
        totals.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(totals)
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: String,
    ) -> anyhow::Result<T> {
        let (status, answer) =
            loadgen::call(self.addr, Method::POST, path, Some(ADMIN_TOKEN), Some(body)).await?;
        if status != StatusCode::CREATED {
            bail!(
                "POST {path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        serde_json::from_slice(&answer)
            .with_context(|| format!("reading the answer to POST {path}"))
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("hookd exited with {status} at start:\n{}", self.log_tail());
            }
            if let Ok((StatusCode::OK, _)) =
                loadgen::call(self.addr, Method::GET, "/api/v1/health", None, None).await
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("hookd was not healthy after 15 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("hookd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        // SIGKILL: nothing of this server is kept, so a graceful drain would only cost time.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time this benchmark process (load generator, receiver, roof) has used so far.
///
/// # Errors
/// When `/proc/self/stat` cannot be read.
pub fn own_cpu() -> anyhow::Result<CpuTime> {
    cpu_of("/proc/self/stat")
}

/// CPU time the whole machine has spent busy so far (every core; user, system, interrupts
/// and steal), from the first line of `/proc/stat`. Subtracting hookd's and this
/// process's CPU from its growth shows how much other programs took during a scenario.
///
/// # Errors
/// When `/proc/stat` cannot be read.
pub fn machine_busy() -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_machine_busy_ticks(&stat).context("parsing /proc/stat")?;
    Ok(CpuTime::from_ticks(ticks))
}

/// CPU time used so far by the PostgreSQL backends serving `database` (processes whose
/// title names it). Server-wide processes (WAL writer, checkpointer) are not included,
/// and a backend that exited takes its time with it.
pub fn database_backends_cpu(database: &str) -> CpuTime {
    let mut total = CpuTime::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_pid = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.bytes().all(|byte| byte.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let Ok(title) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let title = String::from_utf8_lossy(&title);
        if !title.starts_with("postgres:") || !title.contains(database) {
            continue;
        }
        if let Ok(cpu) = cpu_of(&path.join("stat").display().to_string()) {
            total = total.plus(cpu);
        }
    }
    total
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// `utime + stime` of a `/proc/…/stat` file.
fn cpu_of(path: &str) -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_cpu_ticks(&stat).with_context(|| format!("parsing {path}"))?;
    Ok(CpuTime::from_ticks(ticks))
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // Fields 3 (state) to 13 come first; utime is field 14 and stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of all cores from the `cpu` line of `/proc/stat`: every field except idle
/// (4th) and iowait (5th); guest time is already inside user time.
fn parse_machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields[..] else {
        return None;
    };
    Some(user + nice + system + irq + softirq + steal)
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

/// `USER_HZ`, the unit of `/proc` CPU times: asked of `getconf CLK_TCK` once, 100 (the
/// value on every mainstream Linux) when that fails.
fn clock_ticks_per_second() -> u32 {
    static TICKS: OnceLock<u32> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "4242 (tokio (runtime) w) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 40 0 0 20 0 9 0 100 123456 789 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(290));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn machine_busy_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 30 9000 70 1 2 3 0 0\ncpu0 50 2 15 4500 35 0 1 1 0 0\n";
        assert_eq!(parse_machine_busy_ticks(stat), Some(141));
        assert_eq!(parse_machine_busy_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        own_cpu().unwrap();
    }
}
