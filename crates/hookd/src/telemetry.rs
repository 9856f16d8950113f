//! Process-wide telemetry: the Prometheus recorder behind the `metrics` facade (installed
//! once per process, no HTTP listener of its own: the API serves `/metrics`), and the
//! help text of every hookd metric.
//!
//! **Invariants:** at most one recorder per process, whatever the number of servers a
//! test starts in it; histograms are drained by an upkeep thread every few seconds, so
//! their memory stays bounded when nobody scrapes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookd_api::metrics::MetricsRender;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Bucket bounds of every hookd histogram, in seconds: from a fast local commit to a
/// delivery that ran into a long request timeout.
const BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The render function of the process's Prometheus recorder, installing it on first use.
pub fn metrics_render() -> MetricsRender {
    let handle = handle().clone();
    Arc::new(move || handle.render())
}

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(BUCKETS_SECONDS)
            .expect("the bucket list is not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(error) => {
                // Another recorder owns the facade (an embedding program installed its
                // own): serve an empty page rather than fail the server.
                tracing::warn!(%error, "a metrics recorder is already installed; /metrics will only show hookd's descriptions");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        hookd_api::metrics::describe();
        hookd_delivery::metrics::describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("hookd-metrics-upkeep".to_owned())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread; histograms are folded at scrape time only");
        }
        handle
    })
}
