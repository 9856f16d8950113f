//! Grouped reads of applications' active endpoints, the one read every publish makes:
//! concurrent `active_endpoints` calls queue up, and one statement answers all of them
//! (`WHERE app_id = ANY($1)`), so a burst of publishes costs one query instead of one
//! each.
//!
//! **Invariants:**
//! - A call is answered by a statement that started after the call was made, so it sees
//!   every endpoint committed before the call (read-your-writes holds, across nodes too):
//!   a lookup already running when a call arrives never answers it.
//! - A failed statement fails every call it was answering, each with its own copy of the
//!   error's text (a read has no partial outcome to sort out).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use hookd_core::ids::ApplicationId;
use hookd_core::model::Endpoint;
use hookd_store::{StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::db::Db;
use crate::error::copy_of;
use crate::rows::{endpoint_from_row, ENDPOINT_COLUMNS};

/// Most calls one statement answers.
const MAX_BATCH: usize = 256;
/// Statements running at once.
const READERS: usize = 2;
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The lookup for one application (`$1`), its endpoints in id order.
static ONE_APPLICATION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
         WHERE e.app_id = $1 AND NOT e.disabled ORDER BY e.id"
    )
});

/// The lookup for several applications (`$1`, an array), in (application, id) order.
static APPLICATIONS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints e \
         WHERE e.app_id = ANY($1) AND NOT e.disabled ORDER BY e.app_id, e.id"
    )
});

/// The handle lookups go through; the task ends when the last handle is dropped.
pub(crate) struct EndpointLookups {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    app_id: ApplicationId,
    reply: oneshot::Sender<StoreResult<Vec<Endpoint>>>,
}

impl EndpointLookups {
    /// Starts the grouping task on `db`. Must be called inside a tokio runtime.
    pub(crate) fn start(db: Arc<Db>) -> EndpointLookups {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(db, pending));
        EndpointLookups { queue }
    }

    /// The application's endpoints that are not disabled, ordered by id.
    ///
    /// # Errors
    /// The store's error; `Unavailable` if the task has stopped.
    pub(crate) async fn active_endpoints(
        &self,
        app_id: &ApplicationId,
    ) -> StoreResult<Vec<Endpoint>> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            app_id: app_id.clone(),
            reply,
        };
        self.queue.send(pending).await.map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(db: Arc<Db>, mut queue: mpsc::Receiver<Pending>) {
    let readers = Arc::new(Semaphore::new(READERS));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let Some(first) = queue.recv().await else {
            return;
        };
        let Ok(slot) = Arc::clone(&readers).acquire_owned().await else {
            return;
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            batch.push(next);
        }
        let db = Arc::clone(&db);
        let answering = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        tokio::spawn(async move {
            answer(&db, answering).await;
            drop(slot);
        });
    }
}

async fn answer(db: &Db, batch: Vec<Pending>) {
    let mut app_ids: Vec<&str> = batch.iter().map(|p| p.app_id.as_str()).collect();
    app_ids.sort_unstable();
    app_ids.dedup();
    // N.B.: one application (the usual batch) gets a statement of its own. PostgreSQL
    // plans a prepared `= ANY($1)` again on every run: its generic plan assumes ten
    // elements, so it never looks cheaper than a plan made for the one actually passed.
    // That planning cost four times the lookup itself (11 µs against 2.6 µs per message
    // in `pg_stat_statements`); `= $1` settles on its generic plan after five runs.
    let found = match app_ids.as_slice() {
        [app_id] => db.query(&ONE_APPLICATION_SQL, &[app_id]).await,
        _ => db.query(&APPLICATIONS_SQL, &[&app_ids]).await,
    };
    let found = match found {
        Ok(rows) => rows.iter().map(endpoint_from_row).collect(),
        Err(error) => Err(error),
    };
    let endpoints: Vec<Endpoint> = match found {
        Ok(endpoints) => endpoints,
        Err(error) => {
            for pending in batch {
                let _ = pending.reply.send(Err(copy_of(&error)));
            }
            return;
        }
    };
    // Ordered by (app_id, id): each application's list stays ordered by id.
    let mut by_app: HashMap<String, Vec<Endpoint>> = HashMap::new();
    for endpoint in endpoints {
        by_app
            .entry(endpoint.app_id.to_string())
            .or_default()
            .push(endpoint);
    }
    for pending in batch {
        let endpoints = by_app
            .get(pending.app_id.as_str())
            .cloned()
            .unwrap_or_default();
        let _ = pending.reply.send(Ok(endpoints));
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        detail: "the endpoint lookup task has stopped".to_owned(),
        source: None,
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use hookd_store::conformance::fixtures;
    use hookd_store::Store;

    use super::*;
    use crate::testing;

    /// One statement answers calls for one application or for several (the two
    /// statements `answer` picks between), each caller with its own application's
    /// enabled endpoints in id order.
    #[tokio::test]
    async fn a_lookup_answers_each_caller_with_its_own_applications_endpoints() {
        let Some((store, _database)) = testing::fresh_store().await else {
            return;
        };
        let mut enabled = Vec::new();
        for name in ["acme", "globex"] {
            let application = fixtures::application(name);
            store.create_application(&application).await.unwrap();
            let mut ids = Vec::new();
            for index in 0..3 {
                let mut endpoint =
                    fixtures::endpoint(&application.id, &format!("https://{name}.example/{index}"));
                endpoint.disabled = index == 1;
                store.create_endpoint(&endpoint).await.unwrap();
                if !endpoint.disabled {
                    ids.push(endpoint.id);
                }
            }
            ids.sort();
            enabled.push((application.id, ids));
        }

        let callers = [0, 1, 0, 0];
        for batch in [&callers[..1], &callers[..]] {
            let mut answers = Vec::new();
            let pending = batch
                .iter()
                .map(|&app| {
                    let (reply, answer) = oneshot::channel();
                    answers.push((app, answer));
                    Pending {
                        app_id: enabled[app].0.clone(),
                        reply,
                    }
                })
                .collect();
            answer(&store.db, pending).await;
            for (app, answer) in answers {
                let endpoints = answer.await.unwrap().unwrap();
                let ids: Vec<_> = endpoints.into_iter().map(|e| e.id).collect();
                assert_eq!(ids, enabled[app].1, "batch of {}", batch.len());
            }
        }
    }
}
