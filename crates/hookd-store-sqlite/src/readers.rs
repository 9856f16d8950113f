//! The read pool: a few `query_only` connections that serve reads on tokio's blocking
//! threads, concurrently with each other and with the writer (WAL mode).
//!
//! **Invariant:** at most `size` reads run at once, each on a connection nobody else
//! holds; a connection lost to a panicking read is replaced by a fresh one, so the pool
//! never shrinks for good. Every read sees every write whose caller has been answered.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use hookd_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{unavailable, MachineryError};
use crate::setup;

/// A fixed-size pool of read-only connections.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
}

impl Readers {
    /// Opens `size` read connections to the (already migrated) database at `path`.
    pub(crate) fn open(path: PathBuf, size: usize) -> StoreResult<Arc<Self>> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(setup::open_reader(&path)?);
        }
        Ok(Arc::new(Self {
            path,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
            size,
        }))
    }

    /// Runs `read` on a pooled connection on a blocking thread.
    ///
    /// # Errors
    /// `read`'s own error; `Internal` when the read panicked.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| unavailable(MachineryError::ReadersClosed))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let connection = readers.take()?;
            let result = read(&connection);
            readers.give_back(connection);
            result
        })
        .await
        .map_err(StoreError::internal)?
    }

    /// (connections in the pool, connections serving a read now), from memory.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let free = self.permits.available_permits().min(self.size);
        (self.size, self.size - free)
    }

    /// An idle connection; a new one if a panic lost the one this permit stood for.
    fn take(&self) -> StoreResult<Connection> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match pooled {
            Some(connection) => Ok(connection),
            None => setup::open_reader(&self.path),
        }
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
    }
}
