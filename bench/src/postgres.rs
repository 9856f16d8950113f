//! The PostgreSQL scenarios of one run: hookd nodes on a local PostgreSQL server, each
//! scenario on a database of its own, created for it and dropped after.
//!
//! - **1 node / 2 nodes, max rate**: one endpoint, publishing at full speed for the
//!   scenario's duration (spread over the nodes' APIs), then waiting for every delivery.
//! - **Drain 1 node / 2 nodes**: an API-only node (`--no-worker`) publishes a backlog of
//!   `drain_messages × drain_endpoints` due deliveries and stops; then the nodes start on
//!   the full queue and the time until the receiver has every delivery is measured from
//!   their start.
//!
//! **Invariant:** every database this module creates is dropped again, also when a
//! scenario fails (`Database::drop_now` runs before the error is returned), and each has
//! a name no one else uses (`hookd_bench_` and random bits).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use tokio_postgres::NoTls;

use crate::loadgen::{self, Pace, Target};
use crate::process::{database_backends_cpu, machine_busy, own_cpu, Hookd, Options};
use crate::scenario::{
    mib, others_cpu_pct, publish_body, publish_to_nodes, wait_for_arrivals, with_endpoints, Setup,
};

/// What the PostgreSQL scenarios need besides the run's [`Setup`].
#[derive(Debug, Clone)]
pub struct PgSetup {
    /// A URL of the server with the right to create databases (any database on it).
    pub server_url: String,
    /// Messages in the drain backlog.
    pub drain_messages: u64,
    /// Endpoints each backlog message fans out to.
    pub drain_endpoints: usize,
    /// Longest a drain may take.
    pub drain_timeout: Duration,
}

/// Runs the PostgreSQL scenarios and adds their numbers (and the ratios against the
/// SQLite numbers already in `numbers`) to `numbers`; with `only_one_node`, only the
/// one-node full-speed scenario.
///
/// # Errors
/// When the server cannot be reached, a node cannot start, or a scenario fails.
pub async fn run_once(
    setup: &Setup,
    pg: &PgSetup,
    only_one_node: bool,
    numbers: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let node_counts: &[usize] = if only_one_node { &[1] } else { &[1, 2] };
    for &n_nodes in node_counts {
        eprintln!("  PostgreSQL, {n_nodes} node(s), 1 endpoint, max rate");
        let database = Database::create(&pg.server_url).await?;
        let measured = max_rate(setup, database.url(), n_nodes).await;
        database.drop_now().await;
        let (single, peak_rss) = measured?;
        let prefix = format!("pg{n_nodes}");
        single.insert_into(numbers, &prefix);
        numbers.insert(format!("{prefix}.peak_rss_mb"), json!(mib(peak_rss)));
    }
    if only_one_node {
        return Ok(());
    }
    for n_nodes in [1usize, 2] {
        eprintln!(
            "  PostgreSQL, drain {} due deliveries with {n_nodes} node(s)",
            pg.drain_messages * pg.drain_endpoints as u64
        );
        let database = Database::create(&pg.server_url).await?;
        let drained = drain(setup, pg, database.url(), n_nodes).await;
        database.drop_now().await;
        let drained = drained?;
        let prefix = format!("drain{n_nodes}");
        numbers.insert(format!("{prefix}.deliveries"), json!(drained.deliveries));
        numbers.insert(format!("{prefix}.seconds"), json!(drained.seconds));
        numbers.insert(
            format!("{prefix}.deliveries_per_s"),
            json!(drained.deliveries as f64 / drained.seconds.max(1e-9)),
        );
        numbers.insert(
            format!("{prefix}.hookd_cpu_ms_per_delivery"),
            json!(drained.hookd_cpu_ms_per_delivery),
        );
        numbers.insert(
            format!("{prefix}.postgres_cpu_ms_per_delivery"),
            json!(drained.postgres_cpu_ms_per_delivery),
        );
        numbers.insert(
            format!("{prefix}.others_cpu_pct"),
            json!(drained.others_cpu_pct),
        );
        numbers.insert(format!("{prefix}.peak_rss_mb"), json!(drained.peak_rss_mb));
    }
    let ratio = |numerator: &str, denominator: &str| {
        let value = |key: &str| numbers.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
        json!(value(numerator) / value(denominator))
    };
    let ratios = [
        (
            "ratio.pg_over_sqlite_delivered",
            ratio("pg1.deliveries_per_s", "single.deliveries_per_s"),
        ),
        (
            "ratio.pg_two_nodes_over_one_delivered",
            ratio("pg2.deliveries_per_s", "pg1.deliveries_per_s"),
        ),
        (
            "ratio.pg_two_nodes_over_one_drain",
            ratio("drain2.deliveries_per_s", "drain1.deliveries_per_s"),
        ),
    ];
    for (key, value) in ratios {
        numbers.insert(key.into(), value);
    }
    Ok(())
}

/// `n_nodes` nodes on `database`, one endpoint, publishing at full speed; returns the
/// numbers and the largest peak RSS of the nodes.
async fn max_rate(
    setup: &Setup,
    database: &str,
    n_nodes: usize,
) -> anyhow::Result<(crate::scenario::PublishNumbers, u64)> {
    let nodes = start_nodes(setup, database, n_nodes).await?;
    let app = with_endpoints(&nodes[0], setup, 1).await?;
    let refs: Vec<&Hookd> = nodes.iter().collect();
    let name = database_name(database);
    let (postgres_before, began) = (database_backends_cpu(name), Instant::now());
    let mut numbers = publish_to_nodes(&refs, &app, setup, 1, Pace::MaxRate).await?;
    // PostgreSQL's backends are not "other programs" here: they do hookd's storage.
    let postgres = database_backends_cpu(name).since(postgres_before);
    numbers.postgres_cpu_ms_per_msg =
        Some(postgres.as_secs_f64() * 1e3 / numbers.messages.max(1) as f64);
    numbers.others_cpu_pct = (numbers.others_cpu_pct
        - 100.0 * postgres.as_secs_f64() / began.elapsed().as_secs_f64().max(1e-9))
    .max(0.0);
    let mut peak = 0;
    for node in &nodes {
        peak = peak.max(node.peak_rss_bytes()?);
    }
    Ok((numbers, peak))
}

/// What a drain measured.
#[derive(Debug)]
struct Drained {
    deliveries: u64,
    /// From the nodes' start to the last arrival.
    seconds: f64,
    hookd_cpu_ms_per_delivery: f64,
    /// CPU of the database's PostgreSQL backends per delivery.
    postgres_cpu_ms_per_delivery: f64,
    others_cpu_pct: f64,
    peak_rss_mb: f64,
}

/// Publishes the backlog with the worker off, then times `n_nodes` nodes draining it.
async fn drain(
    setup: &Setup,
    pg: &PgSetup,
    database: &str,
    n_nodes: usize,
) -> anyhow::Result<Drained> {
    let expected = pg.drain_messages * pg.drain_endpoints as u64;
    let publisher = Hookd::start_with(
        &setup.hookd_binary,
        &Options {
            postgres: Some(database.to_owned()),
            no_worker: true,
            ..Options::default()
        },
    )
    .await?;
    let app = with_endpoints(&publisher, setup, pg.drain_endpoints).await?;
    let target = Target {
        addr: publisher.addr,
        path: format!("/api/v1/app/{app}/msg"),
        token: Some(publisher.token().to_owned()),
        body: publish_body(),
        expect: hyper::StatusCode::ACCEPTED,
        keep_ids: false,
        provider_secret: None,
    };
    let published = loadgen::send_count(&target, 16, pg.drain_messages)
        .await
        .with_context(|| {
            format!(
                "publishing the backlog; hookd's log ends:\n{}",
                publisher.log_tail()
            )
        })?;
    if published != pg.drain_messages {
        bail!(
            "published {published} of {} backlog messages",
            pg.drain_messages
        );
    }
    drop(publisher);
    setup.receiver.take();

    let (bench_before, machine_before) = (own_cpu()?, machine_busy()?);
    let postgres_before = database_backends_cpu(database_name(database));
    let began = Instant::now();
    let nodes = start_nodes(setup, database, n_nodes).await?;
    let all_came = wait_for_arrivals(&setup.receiver, expected, pg.drain_timeout).await;
    let arrivals = setup.receiver.take();
    let last = arrivals.iter().map(|arrival| arrival.at).max();
    let wall = began.elapsed();
    let mut hookd_cpu = Duration::ZERO;
    let mut peak = 0u64;
    for node in &nodes {
        hookd_cpu += node.cpu()?.since(Default::default());
        peak = peak.max(node.peak_rss_bytes()?);
    }
    let machine = machine_busy()?.since(machine_before);
    let bench = own_cpu()?.since(bench_before);
    let postgres = database_backends_cpu(database_name(database)).since(postgres_before);
    if !all_came {
        bail!(
            "drain: {} of {expected} deliveries arrived within {:?}; a node's log ends:\n{}",
            arrivals.len(),
            pg.drain_timeout,
            nodes[0].log_tail()
        );
    }
    let seconds = last.map_or(wall, |last| last - began).as_secs_f64();
    Ok(Drained {
        deliveries: arrivals.len() as u64,
        seconds,
        hookd_cpu_ms_per_delivery: hookd_cpu.as_secs_f64() * 1e3 / expected.max(1) as f64,
        postgres_cpu_ms_per_delivery: postgres.as_secs_f64() * 1e3 / expected.max(1) as f64,
        others_cpu_pct: others_cpu_pct(machine, hookd_cpu + bench + postgres, wall),
        peak_rss_mb: mib(peak),
    })
}

async fn start_nodes(setup: &Setup, database: &str, n_nodes: usize) -> anyhow::Result<Vec<Hookd>> {
    let options = Options {
        postgres: Some(database.to_owned()),
        ..Options::default()
    };
    let mut nodes = Vec::with_capacity(n_nodes);
    for _ in 0..n_nodes {
        nodes.push(Hookd::start_with(&setup.hookd_binary, &options).await?);
    }
    Ok(nodes)
}

/// A database created for one scenario.
struct Database {
    name: String,
    url: String,
    server_url: String,
}

impl Database {
    async fn create(server_url: &str) -> anyhow::Result<Database> {
        let name = format!("hookd_bench_{:016x}", random_u64());
        admin(server_url, &format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating the database {name} (is PostgreSQL running? --no-postgres skips these scenarios)"))?;
        Ok(Database {
            url: with_database(server_url, &name)?,
            name,
            server_url: server_url.to_owned(),
        })
    }

    fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database (forcing out connections left by killed nodes); a failure is
    /// reported, not returned, so it never hides the scenario's own result.
    async fn drop_now(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = admin(&self.server_url, &sql).await {
            eprintln!(
                "hookd-bench: could not drop the database {}: {error:#}",
                self.name
            );
        }
    }
}

async fn admin(server_url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(server_url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .with_context(|| sql.to_owned())?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// The database a `postgres://…/name?…` URL names.
fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// `server_url` with its database replaced by `name` (`postgres://…/name?…`).
fn with_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = server_url.find("://") else {
        bail!("--postgres-url must be a postgres:// URL");
    };
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_end = base[scheme_end + 3..]
        .find('/')
        .map_or(base.len(), |slash| scheme_end + 3 + slash);
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// Random bits for a database name, from the clock and the process id (the benchmark has
/// no random-number dependency and needs none stronger).
fn random_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_urls_database() {
        let check = |server: &str, expect: &str| {
            assert_eq!(with_database(server, "hookd_bench_1").unwrap(), expect);
        };
        check(
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.0.0.1:5432/hookd_bench_1",
        );
        check(
            "postgres://postgres@127.0.0.1:5432",
            "postgres://postgres@127.0.0.1:5432/hookd_bench_1",
        );
        check(
            "postgres://u:p@db/x?sslmode=disable",
            "postgres://u:p@db/hookd_bench_1?sslmode=disable",
        );
        assert!(with_database("127.0.0.1:5432", "x").is_err());
    }
}
