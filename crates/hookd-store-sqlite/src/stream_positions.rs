//! Stream positions: the numbers in `messages.stream_seq` that order an application's
//! messages by commit for live streams (see `streams`), handed out by the writer thread
//! from a counter in memory.
//!
//! **Invariants:**
//! - Only the writer thread takes positions, while it runs writes one after another, so
//!   every position committed by a batch is higher than every position committed by the
//!   batches before it. Positions may have gaps; they never go backwards.
//! - No position is handed out twice, across restarts too, even after the messages with
//!   the highest positions are deleted: a transaction that commits a position also
//!   commits `settings.stream_seq_reserved` at or above it ([`StreamPositions::reserve`]
//!   runs before every commit), and an opened store continues above the reservation. The
//!   reservation is raised a block at a time, so almost every commit leaves it alone.
//! - A write run twice (see `writer`) takes fresh positions the second time; those of the
//!   rolled-back run are skipped, never reused.

use std::sync::atomic::{AtomicI64, Ordering};

use hookd_store::StoreResult;
use rusqlite::{Connection, OptionalExtension};

use crate::error::{map, unavailable, MachineryError};

/// The settings key of the reservation.
const RESERVED_KEY: &str = "stream_seq_reserved";

/// How far past the highest position taken a reservation reaches: one settings write per
/// this many messages, and at most this many positions skipped by a restart.
const RESERVATION_BLOCK: i64 = 1024;

/// The writer's position counter and its committed reservation.
///
/// Shared with the closures the store sends to the writer; only the writer thread calls
/// its methods, so the atomics are never contended and `Relaxed` suffices.
#[derive(Debug)]
pub(crate) struct StreamPositions {
    /// The next position to hand out.
    next: AtomicI64,
    /// The reservation as committed: positions up to it need no settings write.
    reserved: AtomicI64,
    /// The reservation the open transaction wrote, until its commit or rollback is known.
    pending: AtomicI64,
}

impl StreamPositions {
    /// Reads where to continue on the writer connection of a migrated database: above
    /// the committed reservation and above any position a message holds (the latter
    /// guards against a missing reservation row).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be read or the reservation is not a number.
    pub(crate) fn load(connection: &Connection) -> StoreResult<Self> {
        let stored: Option<String> = connection
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [RESERVED_KEY],
                |row| row.get(0),
            )
            .optional()
            .map_err(map)?;
        let reserved = match stored {
            Some(text) => text
                .parse::<i64>()
                .map_err(|_| unavailable(MachineryError::BadStreamReservation(text)))?,
            None => 0,
        };
        let highest_held: Option<i64> = connection
            .query_row(HIGHEST_HELD_SQL, [], |row| row.get(0))
            .map_err(map)?;
        Ok(Self::continuing_after(
            reserved.max(highest_held.unwrap_or(0)),
            reserved,
        ))
    }

    /// A counter that hands out `last + 1` next, with `reserved` committed.
    pub(crate) fn continuing_after(last: i64, reserved: i64) -> Self {
        Self {
            next: AtomicI64::new(last.saturating_add(1)),
            reserved: AtomicI64::new(reserved),
            pending: AtomicI64::new(0),
        }
    }

    /// The next position. Writer thread only, inside the transaction that inserts it.
    pub(crate) fn take(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Raises the reservation in the open transaction if positions past it were taken.
    /// The writer calls it right before every `COMMIT`.
    ///
    /// # Errors
    /// The settings write's; the transaction must then not commit.
    pub(crate) fn reserve(&self, connection: &Connection) -> rusqlite::Result<()> {
        let highest_taken = self.next.load(Ordering::Relaxed) - 1;
        if highest_taken <= self.reserved.load(Ordering::Relaxed) {
            return Ok(());
        }
        let reservation = highest_taken.saturating_add(RESERVATION_BLOCK);
        connection
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([RESERVED_KEY, &reservation.to_string()])?;
        self.pending.store(reservation, Ordering::Relaxed);
        Ok(())
    }

    /// The transaction committed: its reservation, if it wrote one, now holds.
    pub(crate) fn committed(&self) {
        let pending = self.pending.swap(0, Ordering::Relaxed);
        if pending > self.reserved.load(Ordering::Relaxed) {
            self.reserved.store(pending, Ordering::Relaxed);
        }
    }

    /// The transaction was rolled back: its reservation, if it wrote one, is gone. The
    /// positions it took stay taken.
    pub(crate) fn rolled_back(&self) {
        self.pending.store(0, Ordering::Relaxed);
    }
}

/// The highest position any message holds: one lookup at the end of each application's
/// range of `messages_by_stream`, so opening costs one step per application, not per
/// message.
pub(crate) const HIGHEST_HELD_SQL: &str = "SELECT max((SELECT max(m.stream_seq) FROM messages m \
     WHERE m.app_id = a.id)) FROM applications a";

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); \
                 CREATE TABLE applications (id TEXT PRIMARY KEY); \
                 CREATE TABLE messages (id TEXT PRIMARY KEY, app_id TEXT, stream_seq INTEGER); \
                 CREATE INDEX messages_by_stream ON messages (app_id, stream_seq);",
            )
            .unwrap();
        connection
    }

    fn commit(connection: &Connection, positions: &StreamPositions) {
        positions.reserve(connection).unwrap();
        connection.execute_batch("COMMIT").unwrap();
        positions.committed();
    }

    #[test]
    fn positions_never_repeat_across_reopening_even_when_rolled_back_or_deleted() {
        let connection = database();
        connection
            .execute_batch("INSERT INTO applications VALUES ('app')")
            .unwrap();
        let positions = StreamPositions::load(&connection).unwrap();
        let mut handed_out = Vec::new();

        // A batch that takes a position and is rolled back, as when the writer reruns
        // it: the reservation it wrote is gone with it.
        connection.execute_batch("BEGIN").unwrap();
        handed_out.push(positions.take());
        positions.reserve(&connection).unwrap();
        connection.execute_batch("ROLLBACK").unwrap();
        positions.rolled_back();

        connection.execute_batch("BEGIN").unwrap();
        for index in 0..3 {
            let position = positions.take();
            connection
                .execute(
                    "INSERT INTO messages VALUES (?1, 'app', ?2)",
                    rusqlite::params![format!("m{index}"), position],
                )
                .unwrap();
            handed_out.push(position);
        }
        commit(&connection, &positions);

        // The newest messages are deleted; reopening still continues above them.
        connection.execute_batch("DELETE FROM messages").unwrap();
        let reopened = StreamPositions::load(&connection).unwrap();
        let next = reopened.take();
        assert!(
            handed_out.iter().all(|&position| position < next),
            "{next} repeats one of {handed_out:?}"
        );
        assert!(
            handed_out.windows(2).all(|pair| pair[0] < pair[1]),
            "{handed_out:?}"
        );
    }

    #[test]
    fn a_missing_reservation_continues_above_the_messages() {
        let connection = database();
        connection
            .execute_batch(
                "INSERT INTO applications VALUES ('a'), ('b'); \
                 INSERT INTO messages VALUES ('m1', 'a', 7), ('m2', 'b', 40), ('m3', 'a', 9);",
            )
            .unwrap();
        assert_eq!(StreamPositions::load(&connection).unwrap().take(), 41);
    }

    #[test]
    fn the_reservation_is_written_once_per_block() {
        let connection = database();
        let positions = StreamPositions::load(&connection).unwrap();
        let reservation = |connection: &Connection| -> String {
            connection
                .query_row(
                    "SELECT value FROM settings WHERE key = ?1",
                    [RESERVED_KEY],
                    |row| row.get(0),
                )
                .unwrap()
        };
        connection.execute_batch("BEGIN").unwrap();
        assert_eq!(positions.take(), 1);
        commit(&connection, &positions);
        assert_eq!(
            reservation(&connection),
            (1 + RESERVATION_BLOCK).to_string()
        );

        connection
            .execute_batch("UPDATE settings SET value = 'untouched'")
            .unwrap();
        connection.execute_batch("BEGIN").unwrap();
        for _ in 0..RESERVATION_BLOCK {
            positions.take();
        }
        commit(&connection, &positions);
        assert_eq!(reservation(&connection), "untouched");
    }
}
