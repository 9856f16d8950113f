//! Replaying to an endpoint what it never got: the messages of its application, in a time
//! window, that it accepts and that have no delivery to it (an endpoint made after them,
//! or whose filters changed), each given a manual delivery due now.
//!
//! **Invariant:** one call looks at a bounded number of messages; a message that already
//! has a delivery to the endpoint is never touched (one made meanwhile by a resend wins:
//! the insert skips it), and an endpoint deleted meanwhile gets none.

use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::{MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{endpoint_accepts_message, ReplayBatch, StoreResult, TimeWindow};

use crate::applications;
use crate::db::{Db, Params};
use crate::messages::new_delivery_id;
use crate::rows::{message_from_row, status_code, trigger_code, MESSAGE_COLUMNS};
use crate::runs::created_in;

pub(crate) async fn replay_missing(
    db: &Db,
    app_id: &ApplicationId,
    endpoint_id: &EndpointId,
    window: &TimeWindow,
    after: Option<&MessageId>,
    scan: usize,
    now: Timestamp,
) -> StoreResult<ReplayBatch> {
    let endpoint = applications::endpoint(db, app_id, endpoint_id.as_str()).await?;
    let mut params = Params::default();
    let app = params.bind(app_id.to_string());
    let after = params.bind(after.map_or_else(String::new, MessageId::to_string));
    let endpoint_param = params.bind(endpoint.id.to_string());
    let in_window = created_in(&mut params, window);
    let limit = params.bind(i64::try_from(scan).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m \
         WHERE m.app_id = {app} AND m.id > {after} AND m.payload <> ''{in_window} \
           AND NOT EXISTS (SELECT 1 FROM deliveries d \
                           WHERE d.msg_id = m.id AND d.endpoint_id = {endpoint_param}) \
         ORDER BY m.id LIMIT {limit}"
    );
    let candidates = db
        .query(&sql, &params.refs())
        .await?
        .iter()
        .map(message_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let accepted: Vec<&MessageId> = candidates
        .iter()
        .filter(|message| endpoint_accepts_message(&endpoint, message))
        .map(|message| &message.id)
        .collect();
    let replayed = if accepted.is_empty() {
        0
    } else {
        let ids: Vec<String> = accepted
            .iter()
            .map(|_| new_delivery_id(now).to_string())
            .collect();
        let msg_ids: Vec<&str> = accepted.iter().map(|id| id.as_str()).collect();
        let insert = format!(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
                 trigger_type, next_attempt_at, created_at, updated_at) \
             SELECT t.id, e.app_id, t.msg_id, e.id, {pending}, 0, {manual}, $4, $4, $4 \
             FROM unnest($1::text[], $2::text[]) AS t (id, msg_id) \
             JOIN endpoints e ON e.id = $3 \
             ON CONFLICT (msg_id, endpoint_id) DO NOTHING",
            pending = status_code(MessageStatus::Pending),
            manual = trigger_code(TriggerType::Manual),
        );
        db.execute(&insert, &[&ids, &msg_ids, &endpoint.id.as_str(), &now])
            .await?
    };
    let next = (candidates.len() == scan)
        .then(|| candidates.last().map(|message| message.id.clone()))
        .flatten();
    Ok(ReplayBatch { replayed, next })
}
