//! Keyset pagination shared by every listing: `limit`, `iterator`, `prevIterator`,
//! `done`, in either order.
//!
//! **Invariant:** a page is one `WHERE filters AND key >|< cursor ORDER BY key LIMIT n+1`
//! query on an indexed `COLLATE "C"` key, so listing cost does not grow with how far a
//! client has paged and keys order byte by byte; the extra row only decides `done`,
//! which speaks of the direction walked.

use hookd_store::{Page, PageRequest, StoreResult};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::db::{Db, Params};

/// A listing: what to select, how to filter it and which column orders it.
pub(crate) struct Listing {
    /// `SELECT columns FROM table alias`, without WHERE.
    select: String,
    /// The unique, indexed column pages are cut on (`a.id`, `v.name`).
    key: &'static str,
    /// Conditions joined with AND, with placeholders from `params`.
    conditions: Vec<String>,
    params: Params,
}

impl Listing {
    pub(crate) fn new(select: String, key: &'static str) -> Self {
        Self {
            select,
            key,
            conditions: Vec::new(),
            params: Params::default(),
        }
    }

    /// Adds a value; returns its placeholder for a condition.
    pub(crate) fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.bind(value)
    }

    /// Adds a condition (AND).
    pub(crate) fn filter(&mut self, condition: impl Into<String>) {
        self.conditions.push(condition.into());
    }

    /// The SQL and parameters of one page; separate so tests can check its plan.
    pub(crate) fn page_query(mut self, page: &PageRequest) -> (String, Params) {
        let cursor = page.cursor();
        let ascending = page.walks_ascending();
        if let Some(after) = cursor.after {
            let placeholder = self.params.bind(after.to_owned());
            let comparison = if ascending { '>' } else { '<' };
            self.conditions
                .push(format!("{} {comparison} {placeholder}", self.key));
        }
        let mut sql = self.select;
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        let direction = if ascending { "ASC" } else { "DESC" };
        let limit = self.params.bind(page.fetch_limit());
        sql.push_str(&format!(" ORDER BY {} {direction} LIMIT {limit}", self.key));
        (sql, self.params)
    }

    /// Runs the page query and shapes the result.
    pub(crate) async fn fetch<T>(
        self,
        db: &Db,
        page: &PageRequest,
        map: impl Fn(&Row) -> StoreResult<T>,
        key_of: impl Fn(&T) -> String,
    ) -> StoreResult<Page<T>> {
        let (sql, params) = self.page_query(page);
        let rows = db.query(&sql, &params.refs()).await?;
        let items = rows.iter().map(map).collect::<StoreResult<Vec<T>>>()?;
        Ok(Page::from_fetched(items, page, key_of))
    }
}
