//! The inbound scenario: a provider-signed request stream at `/in/{source}`.
//!
//! A standard-webhooks source feeds an application with one endpoint on the local
//! receiver. The load generator signs every request as a Standard Webhooks provider
//! would (a fresh `webhook-id` each, so nothing is deduplicated) and expects 200. It runs
//! at full speed, then open loop at half the acknowledged rate, then at full speed to a
//! source whose application has no endpoints (the acknowledgment alone). The cost of
//! `verify` itself is measured in this process, apart from HTTP and storage.
//!
//! **Invariant:** an acknowledged request is one hookd answered 200, which it does only
//! after the request, its dedup key and its message are committed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::loadgen::{self, Pace, Target};
use crate::process::{machine_busy, own_cpu, Hookd};
use crate::scenario::{ms, others_cpu_pct, publish_body, with_endpoints, Setup};
use crate::stats::percentile;

/// The provider's signing secret the bench's source is configured with.
const PROVIDER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Runs the inbound scenario on `hookd` (which has `app` with one endpoint); returns
/// its numbers keyed `inbound.*`, `inbound_half.*` and `inbound_bare.*`.
///
/// # Errors
/// When the source cannot be created or the load cannot be sent.
pub async fn run(hookd: &Hookd, app: &str, setup: &Setup) -> anyhow::Result<Map<String, Value>> {
    let source = create_source(hookd, app).await?;
    let body = inbound_body();
    let target = Target {
        addr: hookd.addr,
        path: format!("/in/{source}"),
        token: None,
        body: body.clone(),
        expect: StatusCode::OK,
        keep_ids: false,
        provider_secret: Some(PROVIDER_SECRET.to_owned()),
    };
    let mut numbers = Map::new();
    let full = max_rate(hookd, &target, setup, "inbound", &mut numbers).await?;

    // Let the deliveries of the full-speed run drain before measuring latency.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let half_rate = (full.rate() / 2.0).max(1.0);
    eprintln!("  hookd, inbound, open loop at {half_rate:.0} req/s");
    let half = loadgen::run(
        &target,
        setup.connections,
        setup.duration,
        Pace::FixedRate(half_rate),
    )
    .await?;
    report_failures("half rate", &half);
    numbers.insert("inbound_half.target_req_per_s".into(), json!(half_rate));
    numbers.insert(
        "inbound_half.ack_p50_ms".into(),
        json!(ms(percentile(&half.latencies_us, 50.0))),
    );
    numbers.insert(
        "inbound_half.ack_p99_ms".into(),
        json!(ms(percentile(&half.latencies_us, 99.0))),
    );
    numbers.insert("inbound_half.failed".into(), json!(half.failed));
    numbers.insert(
        "inbound.verify_us_per_req".into(),
        json!(verify_cost_us(&body)?),
    );

    // The acknowledgment alone: a source feeding an application without endpoints,
    // whose events are read by streams or listings rather than delivered over HTTP.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bare_app = with_endpoints(hookd, setup, 0).await?;
    let bare_source = create_source(hookd, &bare_app).await?;
    let bare_target = Target {
        path: format!("/in/{bare_source}"),
        ..target
    };
    eprintln!("  hookd, inbound to an application without endpoints, max rate");
    max_rate(hookd, &bare_target, setup, "inbound_bare", &mut numbers).await?;
    Ok(numbers)
}

/// Sends to `target` at full speed for the scenario's duration; adds the acknowledged
/// rate, p99, hookd's CPU per request, the other programs' CPU and the failures to
/// `numbers` under `prefix`, and returns the load's result.
async fn max_rate(
    hookd: &Hookd,
    target: &Target,
    setup: &Setup,
    prefix: &str,
    numbers: &mut Map<String, Value>,
) -> anyhow::Result<loadgen::LoadResult> {
    let (hookd_before, bench_before, machine_before, began) =
        (hookd.cpu()?, own_cpu()?, machine_busy()?, Instant::now());
    let result = loadgen::run(target, setup.connections, setup.duration, Pace::MaxRate).await?;
    let hookd_cpu = hookd.cpu()?.since(hookd_before);
    let ours = hookd_cpu + own_cpu()?.since(bench_before);
    let others = others_cpu_pct(machine_busy()?.since(machine_before), ours, began.elapsed());
    report_failures(&format!("max rate ({prefix})"), &result);
    numbers.insert(format!("{prefix}.ack_req_per_s"), json!(result.rate()));
    numbers.insert(
        format!("{prefix}.ack_p99_ms"),
        json!(ms(percentile(&result.latencies_us, 99.0))),
    );
    numbers.insert(
        format!("{prefix}.hookd_cpu_ms_per_req"),
        json!(hookd_cpu.as_secs_f64() * 1e3 / result.ok.max(1) as f64),
    );
    numbers.insert(format!("{prefix}.others_cpu_pct"), json!(others));
    numbers.insert(format!("{prefix}.failed"), json!(result.failed));
    Ok(result)
}

/// The body a provider sends: the publish body's payload, about 250 bytes of JSON.
fn inbound_body() -> Bytes {
    let publish: Value = serde_json::from_slice(&publish_body()).unwrap_or(Value::Null);
    Bytes::from(publish["payload"].to_string())
}

async fn create_source(hookd: &Hookd, app: &str) -> anyhow::Result<String> {
    let body = json!({
        "name": "bench provider",
        "provider": "standard-webhooks",
        "secret": PROVIDER_SECRET,
        "appId": app,
    })
    .to_string();
    let (status, answer) = loadgen::call(
        hookd.addr,
        Method::POST,
        "/api/v1/source",
        Some(hookd.token()),
        Some(body),
    )
    .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating the source answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let created: Value = serde_json::from_slice(&answer).context("reading the new source")?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .context("the new source has no id")
}

/// Microseconds one `hookd_core::inbound::verify` of a signed request takes here (the
/// median of 5 batches of 2,000).
fn verify_cost_us(body: &[u8]) -> anyhow::Result<f64> {
    use hookd_core::inbound::{verify, InboundRequest, Provider, VerifierConfig};
    let config = VerifierConfig {
        provider: Provider::StandardWebhooks,
        secrets: vec![PROVIDER_SECRET.to_owned()],
        tolerance_secs: 300,
        generic: None,
        verify_token: None,
    };
    let now = chrono::Utc::now().timestamp();
    let headers = hookd_core::signature::sign(
        hookd_core::signature::SignatureScheme::Standard,
        None,
        &[PROVIDER_SECRET],
        "msg_verify_cost",
        now,
        body,
    )
    .context("signing the verify-cost request")?;
    let request = InboundRequest {
        method: "POST",
        url: "http://127.0.0.1/in/src",
        headers: &headers,
        body,
    };
    const BATCH: u32 = 2_000;
    let mut per_request_us = Vec::with_capacity(5);
    for _ in 0..5 {
        let began = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(verify(&config, std::hint::black_box(&request), now))
                .map_err(|error| anyhow::anyhow!("verify refused the bench request: {error}"))?;
        }
        per_request_us.push(began.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
    }
    per_request_us.sort_by(f64::total_cmp);
    Ok(per_request_us[per_request_us.len() / 2])
}

fn report_failures(which: &str, result: &loadgen::LoadResult) {
    if let Some(failure) = &result.first_failure {
        eprintln!(
            "    inbound {which}: {} requests failed, the first with: {failure}",
            result.failed
        );
    }
}
