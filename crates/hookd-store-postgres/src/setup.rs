//! From a `postgres://` URL to a ready store: parsing and checking the settings, naming
//! the server without credentials, preparing the database (migrations, durability
//! check) and building the pool.
//!
//! **Invariants:** no password ever reaches a log line, an error or a `Debug` output
//! (the server is named by host and port only, URLs are shown through [`redact_url`]);
//! the schema is current before the first pooled connection serves a request; pooled
//! sessions commit with `synchronous_commit` on (or stronger), so a returned write is
//! durable.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use hookd_store::{StoreError, StoreResult};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use crate::error::{self, unavailable, MachineryError};
use crate::{migrate, PostgresOptions};

/// How long recycling a pooled connection may take before it is discarded.
const RECYCLE_LIMIT: Duration = Duration::from_secs(5);

/// The parsed connection settings and the server's printable name.
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) server: String,
}

impl Settings {
    /// Parses `url` (a `postgres://` URL or a `key=value` string) and fills in hookd's
    /// defaults where the URL says nothing: `application_name=hookd`, the connect timeout.
    ///
    /// # Errors
    /// `Unavailable` when the URL does not parse, or asks for TLS (`sslmode=require`).
    pub(crate) fn parse(url: &str, options: &PostgresOptions) -> StoreResult<Settings> {
        let mut config: Config = url.parse().map_err(|error: tokio_postgres::Error| {
            let cause = std::error::Error::source(&error)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            StoreError::Unavailable {
                detail: format!("invalid PostgreSQL URL {}{cause}", redact_url(url)),
                source: Some(Box::new(error)),
            }
        })?;
        if matches!(config.get_ssl_mode(), SslMode::Require) {
            return Err(unavailable(MachineryError::TlsRequired));
        }
        if config.get_application_name().is_none() {
            config.application_name("hookd");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        let server = describe(&config);
        Ok(Settings { config, server })
    }

    /// The settings of the dedicated LISTEN connection: its own application name (so an
    /// operator can tell it apart in `pg_stat_activity`) and a short keepalive.
    pub(crate) fn listener_config(&self) -> Config {
        let mut config = self.config.clone();
        let name = self.config.get_application_name().unwrap_or("hookd");
        config.application_name(format!("{name}-listener"));
        config.keepalives_idle(Duration::from_secs(30));
        config
    }

    /// Applies pending migrations on a connection of its own, and makes sure pooled
    /// sessions commit durably.
    pub(crate) async fn prepare_database(&mut self) -> StoreResult<()> {
        let (mut client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|error| error::map(&self.server, error))?;
        let driver = tokio::spawn(connection);
        let prepared = async {
            migrate::migrate(&mut client, &self.server).await?;
            let row = client
                .query_one("SHOW synchronous_commit", &[])
                .await
                .map_err(|error| error::map(&self.server, error))?;
            row.try_get::<_, String>(0)
                .map_err(|error| error::map(&self.server, error))
        }
        .await;
        drop(client);
        driver.abort();
        if prepared? == "off" {
            // "2xx means committed" needs the commit flushed before we answer. The server
            // (or the role) says otherwise, so hookd's own sessions opt back in.
            tracing::warn!(
                server = %self.server,
                "synchronous_commit is off on this server; hookd turns it on for its own sessions"
            );
            let options = self.config.get_options().unwrap_or("").to_owned();
            self.config
                .options(format!("{options} -c synchronous_commit=on").trim_start());
        }
        Ok(())
    }

    /// The connection pool: at most `pool_size` connections, opened on demand.
    pub(crate) fn pool(&self, options: &PostgresOptions) -> StoreResult<Pool> {
        let manager = Manager::from_config(
            self.config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(
                self.config
                    .get_connect_timeout()
                    .copied()
                    .unwrap_or(options.connect_timeout),
            ))
            .recycle_timeout(Some(RECYCLE_LIMIT))
            .build()
            .map_err(StoreError::internal)
    }
}

/// The server as logs and errors name it: `host:port` for each host (no user, password
/// or database).
pub(crate) fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let port = |index: usize| {
        ports
            .get(index)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432)
    };
    let mut names: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| match host {
            Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port(index)),
            Host::Tcp(name) => format!("{name}:{}", port(index)),
            Host::Unix(path) => format!("{}/.s.PGSQL.{}", path.display(), port(index)),
        })
        .collect();
    if names.is_empty() {
        names = config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(index, address)| match address {
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{}", port(index)),
                std::net::IpAddr::V4(v4) => format!("{v4}:{}", port(index)),
            })
            .collect();
    }
    if names.is_empty() {
        "(no host given)".to_owned()
    } else {
        names.join(",")
    }
}

/// `url` with any password replaced by `***`, for logs and error messages: the
/// `user:password@` part of a URL, and `password=` in a query string or a `key=value`
/// connection string.
pub fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(scheme_end) = redacted.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = redacted[authority_start..]
            .find(['/', '?', '#'])
            .map_or(redacted.len(), |end| authority_start + end);
        if let Some(at) = redacted[authority_start..authority_end].rfind('@') {
            let userinfo = authority_start..authority_start + at;
            if let Some(colon) = redacted[userinfo.clone()].find(':') {
                redacted.replace_range(userinfo.start + colon + 1..userinfo.end, "***");
            }
        }
    }
    redact_password_values(&redacted)
}

/// Replaces the value of every `password=` (URL query or `key=value` form).
fn redact_password_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("password=") {
        let value_start = found + "password=".len();
        // Only a whole key counts (not `xpassword=`).
        let whole_key = found == 0
            || matches!(
                rest.as_bytes()[found - 1],
                b'?' | b'&' | b' ' | b'\t' | b'\n'
            );
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if !whole_key {
            continue;
        }
        let value_end = if rest.starts_with('\'') {
            // A quoted key=value value runs to the next unescaped quote.
            let mut end = rest.len();
            let mut escaped = false;
            for (index, character) in rest.char_indices().skip(1) {
                match character {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = index + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            end
        } else {
            rest.find(['&', ' ', '\t', '\n', '#']).unwrap_or(rest.len())
        };
        out.push_str("***");
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_every_url_form() {
        let cases = [
            (
                "postgres://hookd:s3cret@db.example:5433/hookd",
                "postgres://hookd:***@db.example:5433/hookd",
            ),
            (
                "postgresql://hookd:p%40ss@[::1]/hookd?sslmode=disable",
                "postgresql://hookd:***@[::1]/hookd?sslmode=disable",
            ),
            (
                "postgres://hookd@localhost/hookd?password=s3cret&application_name=x",
                "postgres://hookd@localhost/hookd?password=***&application_name=x",
            ),
            (
                "host=localhost user=hookd password=s3cret dbname=hookd",
                "host=localhost user=hookd password=*** dbname=hookd",
            ),
            (
                "host=localhost password='a \\' b' dbname=hookd",
                "host=localhost password=*** dbname=hookd",
            ),
            ("postgres://localhost/hookd", "postgres://localhost/hookd"),
            (
                "postgres://user@localhost/db",
                "postgres://user@localhost/db",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }

    #[test]
    fn servers_are_named_by_host_and_port_only() {
        let describe_url = |url: &str| describe(&url.parse().unwrap());
        assert_eq!(
            describe_url("postgres://u:secret@127.0.0.1:5432/db"),
            "127.0.0.1:5432"
        );
        assert_eq!(describe_url("postgres://db.example/db"), "db.example:5432");
        assert_eq!(describe_url("postgres://[::1]:6000/db"), "[::1]:6000");
        assert_eq!(
            describe_url("host=/var/run/postgresql port=5433"),
            "/var/run/postgresql/.s.PGSQL.5433"
        );
        assert_eq!(describe_url("postgres://a:1,b:2/db"), "a:1,b:2");
    }
}
