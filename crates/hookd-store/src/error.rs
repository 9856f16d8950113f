//! [`StoreError`]: what can go wrong below the store trait, in variants a caller acts on.

/// An error from a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or belongs to another application).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique field is taken: a uid, an event type name, a message `eventId`.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot take work now: gone, locked for too long, disk full. The
    /// caller should answer 503 and try later; nothing was written.
    #[error("database unavailable: {detail}")]
    Unavailable {
        detail: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Anything else: a bug or corrupt data.
    #[error("storage error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An `Internal` error from any error type.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }
}
