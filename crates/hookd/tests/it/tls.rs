//! `hookd serve --tls-cert --tls-key`: HTTPS with a self-signed certificate made here,
//! a client that trusts it, graceful shutdown with an idle TLS client connected, and the
//! errors for unusable certificate and key files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookd::config::{Config, ServeArgs};
use tokio_util::sync::CancellationToken;

use crate::support::TOKEN;

struct Pem {
    cert: String,
    key: String,
}

fn self_signed() -> Pem {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen makes a certificate");
    Pem {
        cert: generated.cert.pem(),
        key: generated.key_pair.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn tls_config(dir: &Path, cert: PathBuf, key: PathBuf) -> Config {
    Config::load(ServeArgs {
        database: Some(format!("sqlite://{}", dir.join("hookd.db").display())),
        admin_token: Some(TOKEN.into()),
        no_worker: true,
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..ServeArgs::default()
    })
    .expect("the config is valid")
}

struct Running {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(config: Config) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(hookd::serve::run(config, Some(listener), shutdown.clone()));
    Running {
        address,
        shutdown,
        task,
    }
}

fn trusting_client(pem: &Pem, address: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.cert.as_bytes()).unwrap())
        .resolve("localhost", address)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_https_with_the_given_certificate_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed();
    let config = tls_config(
        dir.path(),
        write(dir.path(), "cert.pem", &pem.cert),
        write(dir.path(), "key.pem", &pem.key),
    );
    let server = start(config).await;
    let port = server.address.port();
    let client = trusting_client(&pem, server.address);
    let health = format!("https://localhost:{port}/api/v1/health");
    let mut answered = None;
    for _ in 0..100 {
        match client.get(&health).send().await {
            Ok(response) => {
                answered = Some(response.status());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(
        answered,
        Some(reqwest::StatusCode::OK),
        "HTTPS health check"
    );
    let apps = client
        .get(format!("https://localhost:{port}/api/v1/app"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(apps.status(), 200);

    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", server.address)
        .build()
        .unwrap();
    assert!(untrusting.get(&health).send().await.is_err());
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health")).await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP must not be served on the TLS port"
    );

    // An idle client that never finishes its handshake does not hold up shutdown.
    let _idle = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    server.shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("the server stops promptly")
        .expect("the server task does not panic");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn unusable_certificates_and_keys_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed();
    let other = self_signed();
    let cert = write(dir.path(), "cert.pem", &pem.cert);
    let key = write(dir.path(), "key.pem", &pem.key);
    let cases = [
        (
            cert.clone(),
            write(dir.path(), "other-key.pem", &other.key),
            "does not belong to the certificate",
        ),
        (
            dir.path().join("missing.pem"),
            key.clone(),
            "tls_cert: reading",
        ),
        (
            write(dir.path(), "garbage.pem", "not a certificate\n"),
            key.clone(),
            "holds no certificate",
        ),
        (
            cert.clone(),
            write(dir.path(), "cert-as-key.pem", &pem.cert),
            "tls_key",
        ),
    ];
    for (cert, key, expected) in cases {
        let server = start(tls_config(dir.path(), cert, key)).await;
        let result = tokio::time::timeout(Duration::from_secs(10), server.task)
            .await
            .expect("start fails promptly")
            .unwrap();
        let error = format!("{:#}", result.expect_err("the start must fail"));
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
        assert!(
            !error.contains("PRIVATE KEY-----\n"),
            "no key material in errors"
        );
    }
    let half = Config::load(ServeArgs {
        tls_cert: Some(cert),
        ..ServeArgs::default()
    });
    let error = half
        .expect_err("a certificate without a key is refused")
        .to_string();
    assert!(error.starts_with("tls_key"), "{error}");
}
