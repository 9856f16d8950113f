//! Throwaway databases for tests (feature `testing`): each test gets a database of its
//! own on the server `HOOKD_TEST_PG_URL` names, dropped again when the test ends.
//!
//! **Invariants:** a test never touches a database it did not create (names are
//! `hookd_test_` plus 64 random bits); without `HOOKD_TEST_PG_URL` a test is skipped
//! with "skipping postgres" on stderr, except under `CI`, where it fails, so CI cannot
//! go green by skipping.
//!
//! ```text
//! let Some(server_url) = hookd_store_postgres::testing::server_url() else { return };
//! let (store, database) = hookd_store_postgres::testing::store_in_new_database(&server_url).await;
//! // `database.url()` is what `hookd serve --database` would take.
//! ```

use std::fmt;

use tokio_postgres::NoTls;

use crate::{redact_url, PostgresOptions, PostgresStore};

/// The variable naming the server tests use, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const URL_VARIABLE: &str = "HOOKD_TEST_PG_URL";

/// The server URL from `HOOKD_TEST_PG_URL`, or `None` (after printing "skipping
/// postgres") when it is unset or empty.
///
/// # Panics
/// When it is unset and the environment variable `CI` is set.
pub fn server_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{URL_VARIABLE} is not set, and CI must not skip the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipping postgres: {URL_VARIABLE} is not set");
            None
        }
    }
}

/// A database created for one test; dropping it drops the database (best effort, and
/// `WITH (FORCE)`, so connections still open do not keep it alive).
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server `server_url` names (any database
    /// on it will do; the URL's credentials must be allowed to create databases).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create the database.
    pub async fn create(server_url: &str) -> TestDatabase {
        let name = format!("hookd_test_{:016x}", rand::random::<u64>());
        let (client, connection) = tokio_postgres::connect(server_url, NoTls)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "connecting to {} to create a test database: {error}",
                    redact_url(server_url)
                )
            });
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|error| panic!("CREATE DATABASE {name}: {error}"));
        drop(client);
        let _ = driver.await;
        TestDatabase {
            url: with_database(server_url, &name),
            name,
            server_url: server_url.to_owned(),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database: the server URL with the database name replaced.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the one we are on: drop the
        // database from a thread with a runtime of its own.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&server_url, &name))
        });
        match dropping.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: the thread panicked",
                self.name
            ),
        }
    }
}

/// A new database on `server_url` and a store connected to it (migrated, listening).
///
/// # Panics
/// When the database cannot be created or the store cannot connect.
pub async fn store_in_new_database(server_url: &str) -> (PostgresStore, TestDatabase) {
    store_in_new_database_with(server_url, test_options()).await
}

/// [`store_in_new_database`] with explicit [`PostgresOptions`].
///
/// # Panics
/// As [`store_in_new_database`].
pub async fn store_in_new_database_with(
    server_url: &str,
    options: PostgresOptions,
) -> (PostgresStore, TestDatabase) {
    let database = TestDatabase::create(server_url).await;
    let store = PostgresStore::connect_with(database.url(), options)
        .await
        .unwrap_or_else(|error| panic!("connecting to {database:?}: {error}"));
    (store, database)
}

/// A fresh store, or `None` when the test should be skipped (see [`server_url`]).
///
/// # Panics
/// As [`server_url`] and [`store_in_new_database`].
pub async fn fresh_store() -> Option<(PostgresStore, TestDatabase)> {
    let server_url = server_url()?;
    Some(store_in_new_database(&server_url).await)
}

/// Options for tests: a small pool, since many tests run at once against one server
/// whose `max_connections` is often 100.
pub fn test_options() -> PostgresOptions {
    PostgresOptions {
        pool_size: 4,
        ..PostgresOptions::default()
    }
}

async fn drop_database(
    server_url: &str,
    name: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (client, connection) = tokio_postgres::connect(server_url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let forced = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    if forced.is_err() {
        // PostgreSQL before 13 has no FORCE: end the sessions, then drop.
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .await?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// `server_url` pointing at database `name` instead.
fn with_database(server_url: &str, name: &str) -> String {
    match url::Url::parse(server_url) {
        Ok(mut url) if matches!(url.scheme(), "postgres" | "postgresql") => {
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        // A `key=value` connection string: a later key overrides an earlier one.
        _ => format!("{server_url} dbname={name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_one_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@host/db?sslmode=disable", "t2"),
            "postgres://u:p@host/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://localhost", "t3"),
            "postgres://localhost/t3"
        );
        assert_eq!(
            with_database("host=localhost dbname=postgres", "t4"),
            "host=localhost dbname=postgres dbname=t4"
        );
    }
}
