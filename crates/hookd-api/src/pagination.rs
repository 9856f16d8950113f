//! Svix-style pagination: `limit` (1..=250, default 50), `iterator`, `order` (its values
//! documented by [`Order`]), answered as `{data, iterator, prevIterator, done}`.

use hookd_store::{Ordering, Page, PageRequest};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::Query;

/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 250;
const DEFAULT_LIMIT: usize = 50;

/// The page a query asks for, with the listing's default order.
pub fn page_request(query: &Query, default_order: Ordering) -> Result<PageRequest, ApiError> {
    let limit = query.parse::<usize>("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field(
            "query parameter limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let order = match query.typed("order") {
        None => default_order,
        Some("ascending") => Ordering::Ascending,
        Some("descending") => Ordering::Descending,
        Some(other) => {
            return Err(ApiError::field(
                "query parameter order",
                format!("expected ascending or descending, found {other:?}"),
            ))
        }
    };
    Ok(PageRequest {
        limit,
        iterator: query.get("iterator").map(str::to_owned),
        order,
    })
}

/// The `order` query parameter, as the document states it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Order {
    Ascending,
    Descending,
}

/// A list response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> ListResponse<T> {
    /// Maps a store page to its wire shape.
    pub fn from_page<R>(page: Page<R>, map: impl FnMut(R) -> T) -> Self {
        Self {
            data: page.items.into_iter().map(map).collect(),
            iterator: page.iterator,
            prev_iterator: page.prev_iterator,
            done: page.done,
        }
    }
}
