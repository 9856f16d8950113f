//! [`Db`]: the connection pool plus the name of the server it talks to, with the query
//! helpers every operation uses, and [`Params`] for SQL built at run time.
//!
//! **Invariant:** no PostgreSQL or pool error leaves this module unmapped: each becomes a
//! `StoreError` through `error::map` with the server named. Statements are prepared once
//! per pooled connection (deadpool's statement cache), so the hot paths cost one round
//! trip each.

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::{Client, Pool};
use hookd_store::{StoreError, StoreResult};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::error::{self, is_transient, violation, Violation};

/// Tries a statement or transaction that meets a deadlock, a serialization failure or a
/// foreign key that vanished under it gets in all: one of two colliding transactions is
/// aborted by the server, and running it again normally succeeds.
const MAX_TRIES: u32 = 3;

/// Runs `attempt` until it succeeds, fails for good, or has failed transiently
/// [`MAX_TRIES`] times (see [`is_transient`]). `attempt` answers `Err` for what cannot be
/// retried (no connection), `Ok(Err)` for a PostgreSQL error that might be.
pub(crate) async fn retry_transient<T, Attempt, Fut>(
    db: &Db,
    mut attempt: Attempt,
) -> StoreResult<T>
where
    Attempt: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<Result<T, tokio_postgres::Error>>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await? {
            Ok(value) => return Ok(value),
            Err(error) if is_transient(&error) && tries < MAX_TRIES => continue,
            Err(error) => return Err(db.error(error)),
        }
    }
}

/// The pool and the name of the server behind it.
pub(crate) struct Db {
    pool: Pool,
    server: Arc<str>,
    pool_size: usize,
}

/// One statement parameter, owned so that SQL and its parameters can be built together.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

impl Db {
    pub(crate) fn new(pool: Pool, server: Arc<str>, pool_size: usize) -> Self {
        Self {
            pool,
            server,
            pool_size,
        }
    }

    /// The server, as `Unavailable` details name it ("127.0.0.1:5432").
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The pool's counters (max, open, free, waiting), from memory.
    pub(crate) fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> StoreResult<Client> {
        self.pool
            .get()
            .await
            .map_err(|error| error::map_pool(&self.server, self.pool_size, error))
    }

    /// Maps a PostgreSQL error, naming this server.
    pub(crate) fn error(&self, error: tokio_postgres::Error) -> StoreError {
        error::map(&self.server, error)
    }

    /// Maps a PostgreSQL error, naming a unique violation with `conflict` (which gets
    /// the constraint name).
    pub(crate) fn error_naming(
        &self,
        error: tokio_postgres::Error,
        conflict: impl FnOnce(&str) -> StoreError,
    ) -> StoreError {
        match violation(&error) {
            Some(Violation::Unique(constraint)) => conflict(constraint),
            _ => self.error(error),
        }
    }

    /// `sql` prepared on `client` (cached per connection).
    pub(crate) async fn prepare(&self, client: &Client, sql: &str) -> StoreResult<Statement> {
        client
            .prepare_cached(sql)
            .await
            .map_err(|error| self.error(error))
    }

    /// Runs `sql` on a pooled connection; the raw PostgreSQL error is left to the caller.
    pub(crate) async fn try_query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Result<Vec<Row>, tokio_postgres::Error>> {
        let client = self.client().await?;
        let statement = self.prepare(&client, sql).await?;
        Ok(client.query(&statement, params).await)
    }

    /// The rows `sql` returns.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        self.try_query(sql, params)
            .await?
            .map_err(|error| self.error(error))
    }

    /// The one row `sql` returns, or `None`.
    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs `sql`; returns how many rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        self.try_execute(sql, params)
            .await?
            .map_err(|error| self.error(error))
    }

    /// Runs `sql`, naming a unique violation with `conflict`.
    pub(crate) async fn execute_naming(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        conflict: impl FnOnce(&str) -> StoreError,
    ) -> StoreResult<u64> {
        self.try_execute(sql, params)
            .await?
            .map_err(|error| self.error_naming(error, conflict))
    }

    async fn try_execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Result<u64, tokio_postgres::Error>> {
        let client = self.client().await?;
        let statement = self.prepare(&client, sql).await?;
        Ok(client.execute(&statement, params).await)
    }
}

/// Parameters of a statement whose SQL is assembled at run time: each `bind` returns the
/// placeholder (`$3`) to splice into the SQL, so numbers and values cannot drift apart.
#[derive(Default)]
pub(crate) struct Params(Vec<Param>);

impl Params {
    /// Adds a value; returns its placeholder.
    pub(crate) fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    /// The values, in placeholder order, as tokio-postgres takes them.
    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// `Ok` when a statement changed a row, `NotFound(what)` when it matched none.
pub(crate) fn found_if(changed: u64, what: &'static str) -> StoreResult<()> {
    if changed == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}
