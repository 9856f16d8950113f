//! The single writer: one thread owns the read-write connection and commits every write
//! of the store, batching whatever is queued into one transaction (group commit).
//!
//! **Invariants:**
//! - A caller hears `Ok` only after the transaction holding its write has committed
//!   (with `synchronous=FULL`, after the WAL is on disk): "2xx means committed" holds
//!   although many writes share one fsync.
//! - One write's error (a `Conflict`, say) rolls back that write alone and the rest of
//!   the batch still commits: a batch runs without savepoints first, and if any write
//!   fails it is rolled back and run again with each write in its own `SAVEPOINT`. A
//!   write may therefore run twice, so writes touch nothing but the connection (and
//!   the stream-position counter, which skips the positions a rolled-back run took).
//! - The thread never dies of a database error: a failed batch is reported to each of its
//!   callers and the next batch starts afresh. A panicking write is caught, rolled back
//!   and reported as an error to its caller alone.
//! - Being the only writer, it makes claims race-free without any locking of its own.
//! - Every transaction commits the stream-position reservation its writes need
//!   ([`StreamPositions::reserve`] right before `COMMIT`), and the positions learn whether
//!   it committed.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use hookd_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::{map_batch, unavailable, BatchError, MachineryError};
use crate::stream_positions::StreamPositions;

/// Most writes committed by one transaction by default. Large enough to amortise the
/// fsync over a burst of publishes, small enough that no caller waits behind an unbounded
/// batch.
pub(crate) const DEFAULT_MAX_BATCH: usize = 512;

/// Writes that may wait for the writer before callers are pushed back on. It does not
/// follow the batch size, so that benchmarking a smaller batch changes nothing else.
const QUEUE_CAPACITY: usize = 4 * DEFAULT_MAX_BATCH;

/// Whether a write makes new work due, so workers should be woken once it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    Workers,
    Nobody,
}

/// The handle every store call writes through.
#[derive(Debug)]
pub(crate) struct Writer {
    commands: mpsc::Sender<Box<dyn Command>>,
}

impl Writer {
    /// Starts the writer thread on `connection`, committing at most `max_batch` writes
    /// per transaction (at least 1) and the reservation of the stream `positions` its
    /// writes take. The thread ends when the last `Writer` handle is dropped.
    pub(crate) fn spawn(
        connection: Connection,
        notify: Arc<Notify>,
        max_batch: usize,
        positions: Arc<StreamPositions>,
    ) -> StoreResult<Self> {
        let (commands, queue) = mpsc::channel(QUEUE_CAPACITY);
        let max_batch = max_batch.max(1);
        let transactions = Transactions {
            connection,
            positions,
        };
        std::thread::Builder::new()
            .name("hookd-sqlite-writer".to_owned())
            .spawn(move || run(transactions, queue, notify, max_batch))
            .map_err(|error| StoreError::Unavailable {
                detail: "cannot start the database writer thread".to_owned(),
                source: Some(Box::new(error)),
            })?;
        Ok(Self { commands })
    }

    /// Writes queued for the writer thread and not yet taken into a batch.
    pub(crate) fn queued(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }

    /// Runs `write` on the writer connection inside the next batch and returns its
    /// value once the batch has committed.
    ///
    /// N.B.: dropping the returned future does not cancel a write already queued; it
    /// still commits (a claim made that way simply lets its lease expire).
    ///
    /// # Errors
    /// `write`'s own error; `Unavailable` when the batch could not commit or the writer
    /// has stopped.
    pub(crate) async fn write<T, F>(&self, wake: Wake, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let wake: fn(&T) -> Wake = match wake {
            Wake::Workers => |_| Wake::Workers,
            Wake::Nobody => |_| Wake::Nobody,
        };
        self.write_waking(wake, write).await
    }

    /// As [`Writer::write`], but whether workers are woken once the write commits is
    /// decided by its value (`wake(&value)`): a write that may or may not make work due,
    /// such as a message that may have no deliveries, wakes them only when it did.
    pub(crate) async fn write_waking<T, F>(&self, wake: fn(&T) -> Wake, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            wake,
            reply,
            value: None,
        };
        self.commands
            .send(Box::new(job))
            .await
            .map_err(|_| unavailable(MachineryError::WriterStopped))?;
        // A dropped reply means the write panicked (the writer caught it) or the thread
        // is gone; both are our failure, not the database's.
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::internal(MachineryError::WriteDropped)))
    }
}

/// One queued write, type-erased so writes returning different values share a queue.
trait Command: Send {
    /// Runs the write inside the open transaction, with no savepoint of its own, and
    /// keeps its value for [`Command::finish`]. `false` when it failed or panicked; its
    /// caller is not answered then, because the batch is rolled back and run again.
    fn try_run(&mut self, connection: &Connection) -> bool;
    /// Answers the caller with the value `try_run` kept, or with the batch's error.
    fn finish(self: Box<Self>, committed: Result<(), BatchError>);
    /// Whether the write, as `try_run` ran it, asks to wake workers once it commits.
    fn wake(&self) -> Wake;
    /// Runs the write. `Some` carries what to do once the batch commits or fails; `None`
    /// means the write failed and has already answered its caller.
    fn run(self: Box<Self>, connection: &Connection) -> Option<Completion>;
    /// Answers the caller without running (the batch could not even start).
    fn abandon(self: Box<Self>, error: BatchError);
}

struct Job<T, F> {
    write: F,
    /// Whether a committed value of the write makes work due.
    wake: fn(&T) -> Wake,
    reply: oneshot::Sender<StoreResult<T>>,
    /// What `try_run` produced, waiting for the commit.
    value: Option<T>,
}

impl<T, F> Command for Job<T, F>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn try_run(&mut self, connection: &Connection) -> bool {
        let write = &mut self.write;
        match catch_unwind(AssertUnwindSafe(|| write(connection))) {
            Ok(Ok(value)) => {
                self.value = Some(value);
                true
            }
            Ok(Err(_)) | Err(_) => false,
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), BatchError>) {
        let answer = match (committed, self.value) {
            (Ok(()), Some(value)) => Ok(value),
            (Ok(()), None) => Err(StoreError::internal(MachineryError::WriteDropped)),
            (Err(error), _) => Err(map_batch(error)),
        };
        // The caller may have gone away (a cancelled request); nobody is left to tell,
        // and the write stands.
        let _ = self.reply.send(answer);
    }

    fn wake(&self) -> Wake {
        self.value.as_ref().map_or(Wake::Nobody, self.wake)
    }

    fn run(self: Box<Self>, connection: &Connection) -> Option<Completion> {
        let Job {
            mut write,
            wake,
            reply,
            ..
        } = *self;
        match write(connection) {
            Ok(value) => Some(Completion {
                wake: wake(&value),
                finish: Box::new(move |committed| {
                    // As in `finish`: a caller that went away leaves the write standing.
                    let _ = reply.send(committed.map(|()| value).map_err(map_batch));
                }),
            }),
            Err(error) => {
                let _ = reply.send(Err(error));
                None
            }
        }
    }

    fn abandon(self: Box<Self>, error: BatchError) {
        let _ = self.reply.send(Err(map_batch(error)));
    }
}

/// What is left of a successful write until its batch's fate is known.
struct Completion {
    wake: Wake,
    finish: Box<dyn FnOnce(Result<(), BatchError>) + Send>,
}

/// The writer's connection, with what every transaction on it commits besides its writes.
struct Transactions {
    connection: Connection,
    positions: Arc<StreamPositions>,
}

impl Transactions {
    fn begin(&self) -> rusqlite::Result<()> {
        run_cached(&self.connection, "BEGIN IMMEDIATE")
    }

    /// Commits the open transaction together with the stream-position reservation its
    /// writes need. On an error nothing is known committed; call [`Self::roll_back`].
    fn commit(&self) -> rusqlite::Result<()> {
        self.positions.reserve(&self.connection)?;
        run_cached(&self.connection, "COMMIT")?;
        self.positions.committed();
        Ok(())
    }

    /// Rolls back the transaction if it is still open (SQLite ends it by itself on a full
    /// disk or an I/O error).
    fn roll_back(&self) {
        if !self.connection.is_autocommit() {
            // N.B.: if even this fails, the next BEGIN fails too and reports it.
            let _ = run_cached(&self.connection, "ROLLBACK");
        }
        self.positions.rolled_back();
    }
}

/// The thread body: take everything queued (up to `max_batch`), commit it as one
/// transaction, answer, repeat until every handle is gone.
fn run(
    transactions: Transactions,
    mut queue: mpsc::Receiver<Box<dyn Command>>,
    notify: Arc<Notify>,
    max_batch: usize,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = VecDeque::with_capacity(max_batch);
        batch.push_back(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(command) => batch.push_back(command),
                Err(_) => break,
            }
        }
        if run_batch(&transactions, batch) == Wake::Workers {
            // `notify_waiters` wakes every worker parked right now; `notify_one` leaves a
            // permit for a worker that is between polls and not yet waiting.
            notify.notify_waiters();
            notify.notify_one();
        }
    }
    tracing::debug!("sqlite writer stopped: every store handle is gone");
}

/// Commits `batch`, in as few transactions as errors allow (normally one). Returns
/// whether any committed write asked to wake workers.
///
/// The batch is first run without savepoints, since almost every write succeeds and a
/// savepoint per write copies every page it touches into the statement journal. Only if
/// a write fails is that transaction rolled back and the batch run again write by write,
/// each in its own savepoint, so the failure is reported to its caller alone.
fn run_batch(transactions: &Transactions, mut batch: VecDeque<Box<dyn Command>>) -> Wake {
    if let Some(wake) = run_without_savepoints(transactions, &mut batch) {
        return wake;
    }
    let mut wake = Wake::Nobody;
    while !batch.is_empty() {
        if let Err(error) = transactions.begin() {
            tracing::error!(%error, "sqlite writer cannot begin a transaction");
            let error = BatchError::Commit(Arc::new(error));
            for command in batch.drain(..) {
                command.abandon(error.clone());
            }
            break;
        }
        let (completions, aborted) = run_commands(&transactions.connection, &mut batch);
        let outcome = match aborted {
            Some(error) => Err(error),
            None => transactions
                .commit()
                .map_err(|error| BatchError::Commit(Arc::new(error))),
        };
        if let Err(error) = &outcome {
            tracing::error!(%error, writes = completions.len(), "sqlite write batch failed");
            // A failed COMMIT may leave the transaction open; the next batch starts clean.
            transactions.roll_back();
        }
        for completion in completions {
            if outcome.is_ok() && completion.wake == Wake::Workers {
                wake = Wake::Workers;
            }
            (completion.finish)(outcome.clone());
        }
    }
    wake
}

/// Runs every write of `batch` in one transaction without savepoints and commits it.
/// `Some` (every caller answered) when that worked; `None` when a write failed or
/// panicked, or the transaction could not begin or commit: it is rolled back, nobody has
/// been answered, and `batch` is untouched for the write-by-write path.
fn run_without_savepoints(
    transactions: &Transactions,
    batch: &mut VecDeque<Box<dyn Command>>,
) -> Option<Wake> {
    transactions.begin().ok()?;
    let connection = &transactions.connection;
    let all_ran = batch.iter_mut().all(|command| command.try_run(connection));
    // A write may also have ended the transaction itself (SQLite does on a full disk).
    if !all_ran || connection.is_autocommit() || transactions.commit().is_err() {
        transactions.roll_back();
        return None;
    }
    let mut wake = Wake::Nobody;
    for command in batch.drain(..) {
        if command.wake() == Wake::Workers {
            wake = Wake::Workers;
        }
        command.finish(Ok(()));
    }
    Some(wake)
}

/// Runs commands from the front of `batch` inside the open transaction, each in its own
/// savepoint, until the batch is empty or the transaction is lost. Returns the
/// completions of the writes that succeeded, and the error if the transaction was lost
/// (the commands still in `batch` then go to a fresh transaction).
fn run_commands(
    connection: &Connection,
    batch: &mut VecDeque<Box<dyn Command>>,
) -> (Vec<Completion>, Option<BatchError>) {
    let mut completions = Vec::with_capacity(batch.len());
    while let Some(command) = batch.pop_front() {
        if let Err(error) = run_cached(connection, "SAVEPOINT write") {
            let error = BatchError::Commit(Arc::new(error));
            command.abandon(error.clone());
            return (completions, Some(error));
        }
        let ran = catch_unwind(AssertUnwindSafe(|| command.run(connection)));
        let succeeded = match ran {
            Ok(Some(completion)) => {
                completions.push(completion);
                true
            }
            Ok(None) => false,
            Err(_) => {
                tracing::error!("a sqlite write panicked; it was rolled back");
                false
            }
        };
        if connection.is_autocommit() {
            // SQLite rolled back the whole transaction (it does on a full disk or an I/O
            // error), taking every earlier write of this batch with it.
            return (completions, Some(BatchError::RolledBack));
        }
        let close = if succeeded {
            run_cached(connection, "RELEASE write")
        } else {
            run_cached(connection, "ROLLBACK TO write")
                .and_then(|()| run_cached(connection, "RELEASE write"))
        };
        if let Err(error) = close {
            return (completions, Some(BatchError::Commit(Arc::new(error))));
        }
    }
    (completions, None)
}

/// Runs one parameterless statement through the connection's statement cache: the
/// savepoint statements run twice per write, and parsing them each time showed in
/// profiles.
fn run_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;

    fn writer() -> Arc<Writer> {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE items (name TEXT PRIMARY KEY)")
            .unwrap();
        let positions = Arc::new(StreamPositions::continuing_after(0, 0));
        Arc::new(
            Writer::spawn(
                connection,
                Arc::new(Notify::new()),
                DEFAULT_MAX_BATCH,
                positions,
            )
            .unwrap(),
        )
    }

    fn insert(name: &'static str) -> impl FnMut(&Connection) -> StoreResult<()> + Send {
        move |connection| {
            connection
                .execute("INSERT INTO items (name) VALUES (?1)", [name])
                .map(|_| ())
                .map_err(|error| match crate::error::unique_violation(&error) {
                    Some(_) => StoreError::Conflict(format!("{name} exists")),
                    None => crate::error::map(error),
                })
        }
    }

    async fn names(writer: &Writer) -> Vec<String> {
        writer
            .write(Wake::Nobody, |connection| {
                let mut statement = connection
                    .prepare("SELECT name FROM items ORDER BY name")
                    .unwrap();
                let names = statement.query_map([], |row| row.get(0)).unwrap();
                Ok(names.collect::<Result<Vec<String>, _>>().unwrap())
            })
            .await
            .unwrap()
    }

    /// Holds the writer inside a batch of its own until `release` is sent, so that the
    /// writes queued meanwhile form the next batch together.
    async fn hold_writer(
        writer: &Arc<Writer>,
    ) -> (
        std_mpsc::Sender<()>,
        tokio::task::JoinHandle<StoreResult<()>>,
    ) {
        let (release, released) = std_mpsc::channel::<()>();
        let (started, has_started) = oneshot::channel();
        let writer = Arc::clone(writer);
        let held = tokio::spawn(async move {
            let mut started = Some(started);
            let hold = move |_: &Connection| {
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
                released.recv().unwrap();
                Ok(())
            };
            writer.write(Wake::Nobody, hold).await
        });
        has_started.await.unwrap();
        (release, held)
    }

    /// Runs `a`, `b` and `c` as one batch (queued while the writer is held) and returns
    /// their results in that order.
    async fn in_one_batch<A, B, C>(
        writer: &Arc<Writer>,
        a: A,
        b: B,
        c: C,
    ) -> (StoreResult<()>, StoreResult<()>, StoreResult<()>)
    where
        A: FnMut(&Connection) -> StoreResult<()> + Send + 'static,
        B: FnMut(&Connection) -> StoreResult<()> + Send + 'static,
        C: FnMut(&Connection) -> StoreResult<()> + Send + 'static,
    {
        let (release, held) = hold_writer(writer).await;
        let (a, b, c, ()) = tokio::join!(
            writer.write(Wake::Nobody, a),
            writer.write(Wake::Nobody, b),
            writer.write(Wake::Nobody, c),
            async { release.send(()).unwrap() },
        );
        held.await.unwrap().unwrap();
        (a, b, c)
    }

    #[tokio::test]
    async fn one_failing_write_does_not_abort_its_batch() {
        let writer = writer();
        writer.write(Wake::Nobody, insert("taken")).await.unwrap();
        let (first, clash, last) =
            in_one_batch(&writer, insert("first"), insert("taken"), insert("last")).await;
        first.unwrap();
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
        last.unwrap();
        assert_eq!(names(&writer).await, ["first", "last", "taken"]);
    }

    #[tokio::test]
    async fn a_lost_transaction_fails_its_batch_and_the_writer_goes_on() {
        let writer = writer();
        // Ending the transaction from inside a write is what SQLite does on a full disk.
        let rollback = |connection: &Connection| -> StoreResult<()> {
            connection
                .execute_batch("ROLLBACK")
                .map_err(crate::error::map)?;
            Err(StoreError::Unavailable {
                detail: "disk full".into(),
                source: None,
            })
        };
        let (before, lost, after) =
            in_one_batch(&writer, insert("before"), rollback, insert("after")).await;
        match before {
            Err(StoreError::Unavailable { detail, .. }) => assert!(detail.contains("rolled back")),
            other => panic!("the write rolled back with its batch must fail, got {other:?}"),
        }
        assert!(
            matches!(lost, Err(StoreError::Unavailable { .. })),
            "{lost:?}"
        );
        after.unwrap();
        assert_eq!(names(&writer).await, ["after"]);
    }

    #[tokio::test]
    async fn a_panicking_write_is_reported_and_rolled_back() {
        let writer = writer();
        let panicking = |connection: &Connection| -> StoreResult<()> {
            connection
                .execute("INSERT INTO items (name) VALUES ('ghost')", [])
                .unwrap();
            panic!("a bug in a write");
        };
        let result = writer.write(Wake::Nobody, panicking).await;
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        writer.write(Wake::Nobody, insert("alive")).await.unwrap();
        assert_eq!(names(&writer).await, ["alive"]);
    }

    #[tokio::test]
    async fn committed_wakeups_notify_workers() {
        let connection = Connection::open_in_memory().unwrap();
        let notify = Arc::new(Notify::new());
        let positions = Arc::new(StreamPositions::continuing_after(0, 0));
        let writer = Writer::spawn(
            connection,
            Arc::clone(&notify),
            DEFAULT_MAX_BATCH,
            positions,
        )
        .unwrap();
        writer.write(Wake::Workers, |_| Ok(())).await.unwrap();
        // `notify_one` left a permit, so this completes without any further write.
        tokio::time::timeout(std::time::Duration::from_secs(5), notify.notified())
            .await
            .unwrap();
    }

    /// A batch rerun with savepoints (one of its writes failed) takes fresh stream
    /// positions: what commits is still in queue order, and the reservation covers it.
    #[tokio::test]
    async fn a_rerun_batch_commits_increasing_positions_and_their_reservation() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE items (name TEXT PRIMARY KEY, position INTEGER); \
                 CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )
            .unwrap();
        let positions = Arc::new(StreamPositions::continuing_after(0, 0));
        let writer = Arc::new(
            Writer::spawn(
                connection,
                Arc::new(Notify::new()),
                DEFAULT_MAX_BATCH,
                Arc::clone(&positions),
            )
            .unwrap(),
        );
        let positioned = |name: &'static str| {
            let positions = Arc::clone(&positions);
            move |connection: &Connection| -> StoreResult<()> {
                connection
                    .execute(
                        "INSERT INTO items (name, position) VALUES (?1, ?2)",
                        rusqlite::params![name, positions.take()],
                    )
                    .map(|_| ())
                    .map_err(|_| StoreError::Conflict(format!("{name} exists")))
            }
        };
        writer.write(Wake::Nobody, positioned("a")).await.unwrap();
        let (b, clash, c) =
            in_one_batch(&writer, positioned("b"), positioned("a"), positioned("c")).await;
        b.unwrap();
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
        c.unwrap();

        let (names_in_position_order, reserved) = writer
            .write(Wake::Nobody, |connection| {
                let mut statement = connection
                    .prepare("SELECT name FROM items ORDER BY position")
                    .unwrap();
                let names = statement
                    .query_map([], |row| row.get(0))
                    .unwrap()
                    .collect::<Result<Vec<String>, _>>()
                    .unwrap();
                let reserved: String = connection
                    .query_row(
                        "SELECT value FROM settings WHERE key = 'stream_seq_reserved'",
                        [],
                        |row| row.get(0),
                    )
                    .unwrap();
                Ok((names, reserved))
            })
            .await
            .unwrap();
        assert_eq!(names_in_position_order, ["a", "b", "c"]);
        let highest: i64 = writer
            .write(Wake::Nobody, |connection| {
                Ok(connection
                    .query_row("SELECT max(position) FROM items", [], |row| row.get(0))
                    .unwrap())
            })
            .await
            .unwrap();
        assert!(
            reserved.parse::<i64>().unwrap() >= highest,
            "{reserved} < {highest}"
        );
    }

    #[tokio::test]
    async fn a_write_waking_by_its_value_notifies_only_when_it_says_so() {
        let connection = Connection::open_in_memory().unwrap();
        let notify = Arc::new(Notify::new());
        let positions = Arc::new(StreamPositions::continuing_after(0, 0));
        let writer = Writer::spawn(
            connection,
            Arc::clone(&notify),
            DEFAULT_MAX_BATCH,
            positions,
        )
        .unwrap();
        let by_count = |n_deliveries: &usize| {
            if *n_deliveries > 0 {
                Wake::Workers
            } else {
                Wake::Nobody
            }
        };
        // A zero timeout polls `notified()` once: it is ready only if a permit was left.
        let permit_left = || tokio::time::timeout(std::time::Duration::ZERO, notify.notified());
        writer.write_waking(by_count, |_| Ok(0)).await.unwrap();
        assert!(permit_left().await.is_err(), "nothing became due");
        writer.write_waking(by_count, |_| Ok(2)).await.unwrap();
        assert!(permit_left().await.is_ok(), "two deliveries became due");
    }
}
