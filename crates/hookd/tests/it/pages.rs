//! Pages in real headless Chromium against a real `hookd serve` process (issue 6).
//!
//! A customer's "waiting for payment" page on another origin follows an application's
//! stream with an app token and flips to "paid" when the payment event is published; a
//! token of another application is refused and the page says so; an origin hookd does
//! not allow cannot read the stream at all. hookd's own `/ui/app/{app}` page shows events
//! live (payloads as text), survives a server restart, and then shows what was published
//! while it was away, each event once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::Browser;

const TOKEN: &str = "pages-admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// A `hookd serve` child process on a SQLite file; stopped with SIGTERM, killed on drop.
struct Hookd {
    child: Child,
    base: String,
}

impl Hookd {
    async fn start(database: &Path, port: u16, extra_args: &[&str]) -> Hookd {
        let child = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database")
            .arg(format!("sqlite://{}", database.display()))
            .args(["--admin-token", TOKEN])
            .args(extra_args)
            .env("HOOKD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the hookd binary starts");
        let hookd = Hookd {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        hookd.wait_healthy().await;
        hookd
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(response) = client
                .get(format!("{}/api/v1/health", self.base))
                .send()
                .await
            {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "hookd never became healthy");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit (open streams are told it is shutting down).
    async fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let mut child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("true runs"),
        );
        let exit = tokio::task::spawn_blocking(move || child.wait().expect("reaping hookd"))
            .await
            .expect("waiting for hookd");
        assert!(exit.success(), "hookd exits 0 on SIGTERM, got {exit:?}");
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("hookd answers");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    async fn app(&self, name: &str) -> String {
        let app = self.admin("/api/v1/app", json!({"name": name})).await;
        app["id"].as_str().expect("app id").to_owned()
    }

    /// `POST /api/v1/auth/app-portal-access/{app}`: `{url, token}`.
    async fn app_access(&self, app: &str) -> Value {
        self.admin(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
            .await
    }

    async fn publish(&self, app: &str, event_type: &str, payload: Value) -> String {
        let message = self
            .admin(
                &format!("/api/v1/app/{app}/msg"),
                json!({"eventType": event_type, "payload": payload}),
            )
            .await;
        message["id"].as_str().expect("message id").to_owned()
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The customer's own page: a few lines of HTML and JavaScript, as a shop would write
/// them from hookd's README. It reads hookd's address, the application, the app token and
/// the order from its query string.
const CUSTOMER_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Checkout</title>
<p>Order <span id="order"></span>: <strong id="status">connecting…</strong></p>
<script>
  const query = new URLSearchParams(location.search);
  const order = query.get('order');
  const status = document.getElementById('status');
  document.getElementById('order').textContent = order;
  const stream = `${query.get('hookd')}/api/v1/app/${query.get('app')}/stream`
    + `?event_types=payment.succeeded&token=${encodeURIComponent(query.get('token'))}`;
  const events = new EventSource(stream);
  document.body.dataset.seen = '0';
  events.addEventListener('ready', () => {
    if (status.textContent !== 'paid') status.textContent = 'waiting for payment…';
  });
  events.onmessage = (event) => {
    const message = JSON.parse(event.data);
    document.body.dataset.seen = String(Number(document.body.dataset.seen) + 1);
    if (message.payload.orderId === order) {
      status.textContent = 'paid';
      events.close();
    }
  };
  events.onerror = async () => {
    if (events.readyState !== EventSource.CLOSED) return;
    // hookd refused the stream; a long-poll with the same token says why.
    try {
      const answer = await fetch(stream.replace('/stream?', '/events?wait=0&'));
      const body = await answer.json().catch(() => ({}));
      status.textContent = `refused (${answer.status}): ${body.detail}`;
    } catch {
      // Down, or this origin is not one hookd allows (the browser cannot tell which).
      status.textContent = 'hookd cannot be reached from this page';
    }
  };
</script>
"#;

/// Serves [`CUSTOMER_PAGE`] for any path on a port of its own: another origin than hookd.
async fn serve_customer_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the customer's server");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{CUSTOMER_PAGE}",
                    CUSTOMER_PAGE.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    origin
}

fn text_of(id: &str) -> String {
    format!("document.getElementById('{id}').textContent")
}

#[tokio::test]
async fn customer_page_on_another_origin_flips_to_paid_and_shows_a_refused_token() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let customer = serve_customer_page().await;
    let stranger = serve_customer_page().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let hookd = Hookd::start(
        &dir.path().join("hookd.db"),
        free_port(),
        &["--cors-allowed-origins", &customer],
    )
    .await;
    let shop = hookd.app("Shop").await;
    let other = hookd.app("Other shop").await;
    let token = hookd.app_access(&shop).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let page_on = |origin: &str, token: &str| {
        let mut url = url::Url::parse(origin).expect("origin");
        url.query_pairs_mut()
            .append_pair("hookd", &hookd.base)
            .append_pair("app", &shop)
            .append_pair("token", token)
            .append_pair("order", "ord_1001");
        url.to_string()
    };
    let page = |token: &str| page_on(&customer, token);

    browser.open(&page(&token)).await;
    browser
        .wait(
            &format!("{} === 'waiting for payment…'", text_of("status")),
            WAIT,
        )
        .await;
    // Another event type (filtered out by the page) and another order's payment first:
    // the page stays waiting through them and flips on its own order's payment.
    hookd
        .publish(&shop, "invoice.created", json!({"orderId": "ord_1001"}))
        .await;
    hookd
        .publish(&shop, "payment.succeeded", json!({"orderId": "ord_999"}))
        .await;
    hookd
        .publish(
            &shop,
            "payment.succeeded",
            json!({"orderId": "ord_1001", "amount": 4200}),
        )
        .await;
    browser
        .wait(&format!("{} === 'paid'", text_of("status")), WAIT)
        .await;
    let seen = browser.eval("document.body.dataset.seen").await;
    assert_eq!(seen, "2", "the page saw both payments and not the invoice");

    // A token of another application opens nothing here: hookd answers 403 and the page,
    // on its own origin, can read why (CORS holds for the refusal too).
    let other_token = hookd.app_access(&other).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    browser.open(&page(&other_token)).await;
    let status = browser
        .wait(
            &format!("{0}.startsWith('refused') && {0}", text_of("status")),
            WAIT,
        )
        .await;
    let status = status.as_str().expect("text");
    assert!(status.starts_with("refused (403):"), "{status}");
    assert!(status.contains("scoped to application"), "{status}");

    // The same page with a good token, served from an origin hookd does not allow: the
    // browser withholds the stream (no CORS headers for that origin).
    browser.open(&page_on(&stranger, &token)).await;
    browser
        .wait(
            &format!(
                "{} === 'hookd cannot be reached from this page'",
                text_of("status")
            ),
            WAIT,
        )
        .await;
    browser.close().await;
}

/// The events the page lists, newest first: `[{id, type, time, payload}]`.
const LISTED_EVENTS: &str = "[...document.querySelectorAll('#events .event')].map((item) => ({
    id: item.querySelector('.event-id').textContent,
    type: item.querySelector('.event-type').textContent,
    time: item.querySelector('time').textContent,
    payload: item.querySelector('.payload').textContent,
}))";

fn listed_ids(listed: &Value) -> Vec<String> {
    listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| event["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn wait_for_count(browser: &mut Browser, count: usize) -> Value {
    browser
        .wait(
            &format!("document.querySelectorAll('#events .event').length >= {count}"),
            WAIT,
        )
        .await;
    browser.eval(LISTED_EVENTS).await
}

#[tokio::test]
async fn app_page_shows_events_live_and_resumes_after_a_restart_without_gaps() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let database: PathBuf = dir.path().join("hookd.db");
    let port = free_port();
    let hookd = Hookd::start(&database, port, &[]).await;
    let app = hookd.app("Acme").await;
    let access = hookd.app_access(&app).await;
    let url = access["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/ui/app/{app}?token=hkat.", hookd.base)),
        "{url}"
    );

    // The page is hookd's own, under its strict Content-Security-Policy.
    assert_eq!(browser.open(url).await, 200);
    browser
        .wait(
            "document.getElementById('connection').dataset.state === 'live'",
            WAIT,
        )
        .await;
    let first = hookd
        .publish(&app, "payment.succeeded", json!({"amount": 1200}))
        .await;
    let hostile = "<img src=x onerror=\"window.injected = 1\"><b>bold</b>";
    let second = hookd
        .publish(&app, "note.added", json!({"note": hostile}))
        .await;
    let listed = wait_for_count(&mut browser, 2).await;
    assert_eq!(listed_ids(&listed), [second.clone(), first.clone()]);
    assert_eq!(listed[1]["type"], "payment.succeeded");
    assert!(listed[1]["payload"]
        .as_str()
        .unwrap()
        .contains("\"amount\": 1200"));
    assert!(!listed[1]["time"].as_str().unwrap().is_empty());
    // The payload is shown as text: the markup is visible, and none of it became an element.
    assert!(listed[0]["payload"]
        .as_str()
        .unwrap()
        .contains("<img src=x"));
    assert_eq!(
        browser
            .eval("document.querySelector('#events img, #events b') === null && window.injected === undefined")
            .await,
        true
    );

    // Restart: the page says why it lost the stream while hookd is down.
    hookd.terminate().await;
    let state = browser
        .wait(
            "(document.getElementById('connection').dataset.state === 'reconnecting') && document.getElementById('connection').textContent",
            WAIT,
        )
        .await;
    assert!(
        state.as_str().unwrap().contains("shutting down"),
        "the page shows the server's reason: {state}"
    );
    // Its reconnects are held until the test has published, so these messages reach it
    // through the resume (EventSource's Last-Event-ID), not live.
    let stream_requests = format!("**/api/v1/app/{app}/stream*");
    browser.hold(&stream_requests).await;
    let hookd = Hookd::start(&database, port, &[]).await;
    let mut meanwhile = Vec::new();
    for amount in [1, 2, 3] {
        meanwhile.push(
            hookd
                .publish(&app, "payment.succeeded", json!({"amount": amount}))
                .await,
        );
    }
    // At least one reconnect was held, so the page came back after these commits.
    browser.release(&stream_requests, 1, WAIT).await;
    browser
        .wait(
            "document.getElementById('connection').dataset.state === 'live'",
            WAIT,
        )
        .await;
    let listed = wait_for_count(&mut browser, 5).await;
    let ids = listed_ids(&listed);
    let expected: Vec<String> = meanwhile
        .iter()
        .rev()
        .cloned()
        .chain([second, first])
        .collect();
    assert_eq!(ids, expected, "every event once, newest first");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());

    // Live again after the resume.
    let after = hookd
        .publish(&app, "payment.succeeded", json!({"amount": 4}))
        .await;
    let listed = wait_for_count(&mut browser, 6).await;
    // Anything repeated by the resume would have arrived before this live event.
    let expected: Vec<String> = [after].into_iter().chain(expected).collect();
    assert_eq!(listed_ids(&listed), expected);

    let problems = browser.problems().await;
    let blocked: Vec<&String> = problems
        .iter()
        .filter(|problem| {
            problem.contains("Content Security Policy") || problem.starts_with("page error")
        })
        .collect();
    assert!(blocked.is_empty(), "the page broke a rule: {blocked:?}");
    browser.close().await;
}

/// How many requests the page made to the API (resource timing lists EventSource and
/// fetch requests too).
const API_REQUESTS: &str = "performance.getEntriesByType('resource').filter((entry) => entry.name.includes('/api/')).length";

/// The page's connection text once it shows a refusal.
async fn refusal(browser: &mut Browser) -> String {
    let expr = "(document.getElementById('connection').dataset.state === 'refused') && document.getElementById('connection').textContent";
    browser
        .wait(expr, WAIT)
        .await
        .as_str()
        .expect("text")
        .to_owned()
}

#[tokio::test]
async fn app_page_refuses_the_admin_token_and_other_applications_tokens() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let hookd = Hookd::start(&dir.path().join("hookd.db"), free_port(), &[]).await;
    let app = hookd.app("Acme").await;
    let other = hookd.app("Other").await;
    let other_token = hookd.app_access(&other).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    // The admin token is never sent anywhere by a page.
    browser
        .open(&format!("{}/ui/app/{app}?token={TOKEN}", hookd.base))
        .await;
    let text = refusal(&mut browser).await;
    assert!(text.contains("needs an application token"), "{text}");
    assert_eq!(browser.eval(API_REQUESTS).await, 0);

    browser
        .open(&format!("{}/ui/app/{app}?token={other_token}", hookd.base))
        .await;
    let text = refusal(&mut browser).await;
    assert!(text.starts_with("refused (403):"), "{text}");
    assert!(text.contains("scoped to application"), "{text}");
    // The stream and the probe that read the refusal.
    assert!(browser.eval(API_REQUESTS).await.as_u64().unwrap() >= 2);
    browser.close().await;
}
