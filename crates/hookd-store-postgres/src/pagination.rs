//! Keyset pagination shared by every listing: `limit`, `iterator`, `prevIterator`,
//! `done`, in either order.
//!
//! **Invariant:** a page is one `WHERE filters AND key >|< cursor ORDER BY key LIMIT n+1`
//! query on an indexed `COLLATE "C"` key, so listing cost does not grow with how far a
//! client has paged and keys order byte by byte; the extra row only decides `done`,
//! which speaks of the direction walked.

use hookd_store::{Ordering, Page, PageRequest, StoreResult};
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
        let cursor = Cursor::parse(page);
        let ascending = matches!(
            (page.order, cursor.backwards),
            (Ordering::Ascending, false) | (Ordering::Descending, true)
        );
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
        let limit = self.params.bind(fetch_limit(page.limit));
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
        let backwards = Cursor::parse(page).backwards;
        let (sql, params) = self.page_query(page);
        let rows = db.query(&sql, &params.refs()).await?;
        let mut items = rows.iter().map(map).collect::<StoreResult<Vec<T>>>()?;
        let done = items.len() <= page.limit;
        items.truncate(page.limit);
        if backwards {
            items.reverse();
        }
        Ok(Page {
            iterator: items.last().map(&key_of),
            prev_iterator: items.first().map(|item| format!("-{}", key_of(item))),
            items,
            done,
        })
    }
}

/// Where a page starts: after the key, or (walking back) before it.
struct Cursor<'a> {
    after: Option<&'a str>,
    backwards: bool,
}

impl<'a> Cursor<'a> {
    fn parse(page: &'a PageRequest) -> Self {
        match page.iterator.as_deref() {
            None | Some("") => Cursor {
                after: None,
                backwards: false,
            },
            Some(iterator) => match iterator.strip_prefix('-') {
                Some(before) => Cursor {
                    after: Some(before),
                    backwards: true,
                },
                None => Cursor {
                    after: Some(iterator),
                    backwards: false,
                },
            },
        }
    }
}

/// One row more than the page holds, to learn whether another page follows.
fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1)
}
