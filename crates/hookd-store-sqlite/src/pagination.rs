//! Keyset pagination shared by every listing: `limit`, `iterator`, `prevIterator`,
//! `done`, in either order.
//!
//! **Invariant:** a page is one `WHERE filters AND key >|< cursor ORDER BY key LIMIT n+1`
//! query on an indexed key, so listing cost does not grow with how far a client has
//! paged; the extra row only decides `done`. `done` speaks of the direction walked.

use hookd_store::{Page, PageRequest, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

use crate::error::DbResultExt;

/// A listing: what to select, how to filter it and which column orders it.
pub(crate) struct Listing {
    /// `SELECT columns FROM table alias`, without WHERE.
    pub(crate) select: String,
    /// The unique, indexed column pages are cut on (`a.id`, `v.name`).
    pub(crate) key: &'static str,
    /// Conditions joined with AND, using `?` placeholders.
    pub(crate) filters: Vec<String>,
    /// One value per `?` in `filters`, in order.
    pub(crate) params: Vec<Value>,
}

impl Listing {
    pub(crate) fn new(select: String, key: &'static str) -> Self {
        Self {
            select,
            key,
            filters: Vec::new(),
            params: Vec::new(),
        }
    }

    /// Adds a condition and the values of its placeholders.
    pub(crate) fn filter(mut self, condition: impl Into<String>, params: Vec<Value>) -> Self {
        self.filters.push(condition.into());
        self.params.extend(params);
        self
    }

    /// The SQL and parameters of one page; separate so tests can check its plan.
    pub(crate) fn page_sql(&self, page: &PageRequest) -> (String, Vec<Value>) {
        let cursor = page.cursor();
        let ascending = page.walks_ascending();
        let mut conditions = self.filters.clone();
        let mut params = self.params.clone();
        if let Some(after) = cursor.after {
            let comparison = if ascending { '>' } else { '<' };
            conditions.push(format!("{} {comparison} ?", self.key));
            params.push(Value::Text(after.to_owned()));
        }
        let mut sql = self.select.clone();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let direction = if ascending { "ASC" } else { "DESC" };
        sql.push_str(&format!(" ORDER BY {} {direction} LIMIT ?", self.key));
        params.push(Value::Integer(page.fetch_limit()));
        (sql, params)
    }

    /// Runs the page query and shapes the result.
    pub(crate) fn fetch<T>(
        &self,
        connection: &Connection,
        page: &PageRequest,
        map: impl Fn(&Row) -> rusqlite::Result<T>,
        key_of: impl Fn(&T) -> String,
    ) -> StoreResult<Page<T>> {
        let (sql, params) = self.page_sql(page);
        let mut statement = connection.prepare_cached(&sql).db()?;
        let items = statement
            .query_map(params_from_iter(params), |row| map(row))
            .db()?
            .collect::<rusqlite::Result<Vec<T>>>()
            .db()?;
        Ok(Page::from_fetched(items, page, key_of))
    }
}
