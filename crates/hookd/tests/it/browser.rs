//! Real headless Chromium for page tests: [`Browser`] runs `tests/browser/driver.mjs`
//! (playwright-core over Debian's `/usr/bin/chromium`) as a child process and sends it one
//! JSON command per line.
//!
//! Chromium comes from the `chromium` package and playwright-core from `.browser-js/`
//! (both installed by `.ci/run`; `HOOKD_CHROMIUM` and `HOOKD_BROWSER_JS` override the
//! paths). When either is missing the tests skip with a note, except under `CI`, where
//! that is a failure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Longest a command may take beyond its own timeout.
const COMMAND_GRACE: Duration = Duration::from_secs(30);

/// One headless Chromium with at most one open page.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Starts Chromium, or returns `None` (with a note) when it or playwright-core is not
    /// installed here; panics under `CI`, where both must be.
    pub async fn launch() -> Option<Browser> {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let chromium = std::env::var_os("HOOKD_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        let modules = std::env::var_os("HOOKD_BROWSER_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".browser-js"));
        let missing: Vec<String> = [
            chromium.clone(),
            modules.join("node_modules/playwright-core/package.json"),
        ]
        .into_iter()
        .filter(|path| !path.exists())
        .map(|path| path.display().to_string())
        .collect();
        if !missing.is_empty() {
            let missing = missing.join(", ");
            if std::env::var_os("CI").is_some() {
                panic!("browser tests need {missing} under CI (.ci/run installs them)");
            }
            eprintln!("skipping browser test: {missing} missing (run .ci/run once)");
            return None;
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/driver.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(&modules)
            .arg(&chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts the browser driver");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Some(Browser {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one command and returns its value; panics with the driver's error.
    pub async fn call(&mut self, command: Value) -> Value {
        let timeout_ms = command["timeoutMs"].as_u64().unwrap_or(0);
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("the browser driver reads commands");
        let answer = tokio::time::timeout(
            Duration::from_millis(timeout_ms) + COMMAND_GRACE,
            self.stdout.next_line(),
        )
        .await
        .unwrap_or_else(|_| panic!("the browser driver did not answer {command}"))
        .expect("reading the browser driver")
        .unwrap_or_else(|| panic!("the browser driver exited during {command}"));
        let answer: Value = serde_json::from_str(&answer).expect("the driver answers JSON");
        assert_eq!(
            answer["ok"], true,
            "browser command {command} failed: {answer}"
        );
        answer["value"].clone()
    }

    /// Opens `url` in a new page; returns the HTTP status of the document.
    pub async fn open(&mut self, url: &str) -> Value {
        self.call(json!({"op": "open", "url": url})).await
    }

    /// Waits until `expr` is truthy in the page (up to `timeout`) and returns its value.
    pub async fn wait(&mut self, expr: &str, timeout: Duration) -> Value {
        self.call(json!({"op": "wait", "expr": expr, "timeoutMs": timeout.as_millis() as u64}))
            .await
    }

    /// The value of `expr` in the page now.
    pub async fn eval(&mut self, expr: &str) -> Value {
        self.call(json!({"op": "eval", "expr": expr})).await
    }

    /// Holds every request to a URL matching `pattern` (a glob) until [`Browser::release`].
    pub async fn hold(&mut self, pattern: &str) {
        self.call(json!({"op": "hold", "pattern": pattern})).await;
    }

    /// Waits (up to `timeout`) until at least `at_least` requests are held, then sends
    /// them on and stops holding; returns how many there were.
    pub async fn release(&mut self, pattern: &str, at_least: u64, timeout: Duration) -> u64 {
        let timeout_ms = timeout.as_millis() as u64;
        self.call(json!({"op": "release", "pattern": pattern, "atLeast": at_least, "timeoutMs": timeout_ms}))
            .await
            .as_u64()
            .expect("a count")
    }

    /// Console errors and uncaught exceptions the pages logged so far.
    pub async fn problems(&mut self) -> Vec<String> {
        serde_json::from_value(self.call(json!({"op": "problems"})).await)
            .expect("a list of strings")
    }

    /// Closes Chromium and waits for the driver to exit.
    pub async fn close(mut self) {
        self.call(json!({"op": "close"})).await;
        let _ = tokio::time::timeout(COMMAND_GRACE, self.child.wait()).await;
    }
}
