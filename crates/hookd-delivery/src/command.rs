//! The command runner: the sibling of [`crate::HttpSender`] for endpoints whose URL is
//! `command://NAME`. It runs the operator's configured argv (never through a shell) with
//! the message payload on stdin, chosen payload fields and the message ids in the
//! environment, under a timeout, and at most `concurrency` runs at a time per command.
//!
//! **Invariants:** like `HttpSender::send`, `run` never returns an error: whatever
//! happens becomes a [`SendResult`] (exit 0 is delivered; see
//! `hookd_core::command::exit_outcome` for the rest). A run that passes its timeout has
//! its whole process group killed. The child sees only `PATH`, `HOME`, the configured
//! variables and `HOOKD_*` ids, never hookd's own environment (which may hold tokens).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::command::{env_from_payload, exit_outcome};
use hookd_core::model::Message;
use hookd_core::retry::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::command_gate::{CommandGate, Ticket};
use crate::sender::{NoResponseReason, SendResult};

/// One command as the operator declared it (`[commands.NAME]` in the config file),
/// already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// What endpoints name in `command://NAME`.
    pub name: String,
    /// The program (an absolute path) and its arguments.
    pub argv: Vec<String>,
    /// A run still going after this long is killed with its process group. Default: 60 s.
    pub timeout: Duration,
    /// Runs at once; 1 runs one at a time in message order. Default: 1.
    pub concurrency: usize,
    /// `(variable, JSON pointer into the payload)`.
    pub env: Vec<(String, String)>,
    /// The run's working directory. Default: hookd's.
    pub working_dir: Option<PathBuf>,
}

/// Environment variables passed through from hookd's own environment.
const INHERITED_ENV: &[&str] = &["PATH", "HOME"];

/// How long output is still read after the process exited, for descendants that keep
/// the pipe open (a daemon started in the background).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Runs configured commands.
#[derive(Debug)]
pub struct CommandRunner {
    commands: HashMap<String, (CommandSpec, Arc<CommandGate>)>,
    output_limit: usize,
}

impl CommandRunner {
    /// A runner for `commands`, keeping at most `output_limit` bytes of each run's output.
    pub fn new(commands: Vec<CommandSpec>, output_limit: usize) -> Self {
        let commands = commands
            .into_iter()
            .map(|spec| {
                let gate = CommandGate::new(spec.concurrency);
                (spec.name.clone(), (spec, gate))
            })
            .collect();
        Self {
            commands,
            output_limit,
        }
    }

    /// The longest timeout of any command (zero without commands): leases must outlast it.
    pub fn longest_timeout(&self) -> Duration {
        self.commands
            .values()
            .map(|(spec, _)| spec.timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    pub(crate) fn timeout_of(&self, name: &str) -> Option<Duration> {
        self.commands.get(name).map(|(spec, _)| spec.timeout)
    }

    /// Puts a run of `message` by command `name` in that command's line (`None` for an
    /// unknown command).
    pub(crate) fn ticket(&self, name: &str, message: &Message) -> Option<Ticket> {
        let (_, gate) = self.commands.get(name)?;
        Some(gate.ticket(message.created_at, message.id.as_str()))
    }

    /// Runs command `name` for `message`. The caller holds the run's slot.
    pub(crate) async fn run(&self, name: &str, message: &Message) -> SendResult {
        let started = Instant::now();
        let failed = |reason: String| SendResult {
            outcome: Outcome::NoResponse,
            status_code: 0,
            response: reason,
            duration: started.elapsed(),
            no_response: Some(NoResponseReason::Other),
        };
        let Some((spec, _)) = self.commands.get(name) else {
            return failed(format!(
                "command {name:?} is not configured on this node (declare it under [commands.{name}] on every node that runs a worker)"
            ));
        };
        let (reader, writer) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok(pair) => pair,
            Err(error) => return failed(format!("could not create the output pipe: {error}")),
        };
        let mut child = match self.spawn(spec, message, writer) {
            Ok(child) => child,
            Err(error) => return failed(format!("could not start {:?}: {error}", spec.argv[0])),
        };
        let output = tokio::spawn(read_output(reader, self.output_limit));
        if let Some(mut stdin) = child.stdin.take() {
            let payload = message.payload.clone().into_bytes();
            // A program that never reads stdin must not block the run: write on the side
            // and ignore a closed pipe.
            tokio::spawn(async move {
                let _ = stdin.write_all(&payload).await;
            });
        }
        let pid = child.id();
        let finished = tokio::time::timeout(spec.timeout, child.wait()).await;
        let (exit_code, timed_out) = match finished {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(error)) => {
                kill_group(pid);
                return failed(format!("waiting for the command failed: {error}"));
            }
            Err(_) => {
                kill_group(pid);
                let _ = child.kill().await;
                (None, true)
            }
        };
        let text = match tokio::time::timeout(OUTPUT_GRACE, output).await {
            Ok(Ok(text)) => text,
            _ => "[output still open after the command exited; not read]".to_owned(),
        };
        if timed_out {
            return SendResult {
                outcome: Outcome::NoResponse,
                status_code: 0,
                response: format!(
                    "command timed out after {} ms; its process group was killed\n{text}",
                    spec.timeout.as_millis()
                ),
                duration: started.elapsed(),
                no_response: Some(NoResponseReason::Timeout),
            };
        }
        let (outcome, status_code) = exit_outcome(exit_code);
        let response = match exit_code {
            Some(_) => text,
            None => format!("command was killed by a signal\n{text}"),
        };
        let no_response = exit_code.is_none().then_some(NoResponseReason::Other);
        SendResult {
            outcome,
            status_code,
            response,
            duration: started.elapsed(),
            no_response,
        }
    }

    fn spawn(
        &self,
        spec: &CommandSpec,
        message: &Message,
        output: OwnedFd,
    ) -> std::io::Result<tokio::process::Child> {
        let stderr = output.try_clone()?;
        let mut command = tokio::process::Command::new(&spec.argv[0]);
        command
            .args(&spec.argv[1..])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(stderr))
            // Its own process group, so a timeout kills what the program started too.
            .process_group(0)
            .kill_on_drop(true);
        for name in INHERITED_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        for (variable, value) in env_from_payload(&spec.env, &message.payload) {
            command.env(variable, value);
        }
        command
            .env("HOOKD_MSG_ID", message.id.as_str())
            .env("HOOKD_EVENT_TYPE", &message.event_type)
            .env("HOOKD_APP_ID", message.app_id.as_str())
            .env("HOOKD_COMMAND", &spec.name);
        if let Some(event_id) = &message.event_id {
            command.env("HOOKD_EVENT_ID", event_id);
        }
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        // N.B.: `command` holds the pipe's write ends; it is dropped when this function
        // returns, so the output reaches end-of-file once the child (and what it
        // started) closes them.
        command.spawn()
    }
}

/// Reads the combined output up to `limit` bytes, draining (and dropping) the rest so the
/// program never blocks on a full pipe.
async fn read_output(reader: OwnedFd, limit: usize) -> String {
    let mut receiver = match tokio::net::unix::pipe::Receiver::from_owned_fd(reader) {
        Ok(receiver) => receiver,
        Err(error) => return format!("[could not read the output: {error}]"),
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = vec![0u8; 8192];
    loop {
        match receiver.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if truncated {
        text.push_str("…[truncated]");
    }
    text
}

/// Kills the process group led by `pid` (the child was made its leader at spawn).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The group may be gone already; nothing else to do then.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}
