//! Conformance: send slots of throttled endpoints (`Store::take_send_slot`).
//!
//! Invariants checked: slots of one endpoint are a spacing apart, however many takers
//! race for them; a delivery that must wait is given back due at its slot and keeps it,
//! so it goes without taking another when claimed again; a stale slot is replaced; a lost
//! lease changes nothing; endpoints do not share slots.

use std::sync::Arc;
use std::time::Duration;

use hookd_core::Timestamp;

use super::{app_with_endpoints, fixtures, publish_at};
use crate::{ClaimedDelivery, Lease, SendSlot, Store};

const LEASE: Duration = Duration::from_secs(30);
const SPACING: Duration = Duration::from_millis(100);

fn ms(base: Timestamp, ms: u64) -> Timestamp {
    fixtures::later(base, Duration::from_millis(ms))
}

async fn claim_all(store: &dyn Store, now: Timestamp) -> Vec<ClaimedDelivery> {
    store.claim_due_deliveries(now, LEASE, 100).await.unwrap()
}

async fn take(store: &dyn Store, claim: &ClaimedDelivery, now: Timestamp) -> SendSlot {
    store
        .take_send_slot(&claim.lease, &claim.endpoint.id, SPACING, now)
        .await
        .unwrap()
}

/// Three deliveries to one endpoint: the first goes, the others wait one and two
/// spacings, are not claimable before their slots, and go without another slot when
/// claimed at them.
pub async fn send_slots_space_deliveries_to_one_endpoint(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    for _ in 0..3 {
        publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    }
    let claimed = claim_all(store.as_ref(), ms(t0, 10)).await;
    assert_eq!(claimed.len(), 3);
    let t1 = ms(t0, 20);
    assert_eq!(take(store.as_ref(), &claimed[0], t1).await, SendSlot::Now);
    assert_eq!(
        take(store.as_ref(), &claimed[1], t1).await,
        SendSlot::Later(ms(t1, 100))
    );
    assert_eq!(
        take(store.as_ref(), &claimed[2], t1).await,
        SendSlot::Later(ms(t1, 200))
    );

    // The waiting deliveries were given back, due at their slots, without a lease.
    for (claim, slot) in [(&claimed[1], ms(t1, 100)), (&claimed[2], ms(t1, 200))] {
        let delivery = store
            .delivery(&application.id, &claim.delivery.msg_id, &endpoints[0].id)
            .await
            .unwrap();
        assert_eq!(delivery.next_attempt_at, Some(slot));
        assert_eq!(delivery.n_attempts, 0);
        assert_eq!(store.lease_of(&delivery.id).await.unwrap(), None);
    }
    assert!(claim_all(store.as_ref(), ms(t1, 99)).await.is_empty());

    // At its slot the second goes, although the endpoint's next free slot is later.
    let second = claim_all(store.as_ref(), ms(t1, 100)).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.id, claimed[1].delivery.id);
    assert_eq!(
        take(store.as_ref(), &second[0], ms(t1, 100)).await,
        SendSlot::Now
    );
    // A little late is still on time.
    let third = claim_all(store.as_ref(), ms(t1, 450)).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].delivery.id, claimed[2].delivery.id);
    assert_eq!(
        take(store.as_ref(), &third[0], ms(t1, 450)).await,
        SendSlot::Now
    );
    // The slots were used once: a delivery holds none after going, so another take for
    // it (a retry, say) queues behind the endpoint's next free slot (t1 + 300 ms).
    assert_eq!(
        take(store.as_ref(), &third[0], ms(t1, 460)).await,
        SendSlot::Now,
        "the endpoint's next free slot (t1 + 300 ms) had passed at t1 + 460 ms"
    );
    assert_eq!(
        take(store.as_ref(), &second[0], ms(t1, 460)).await,
        SendSlot::Later(ms(t1, 560))
    );
}

/// Many takers at the same instant (on one node or several): one goes, the others get
/// distinct slots a spacing apart.
pub async fn send_slots_are_distinct_when_taken_concurrently(store: Arc<dyn Store>) {
    const TAKERS: u64 = 12;
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    for _ in 0..TAKERS {
        publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    }
    let claimed = claim_all(store.as_ref(), ms(t0, 10)).await;
    assert_eq!(claimed.len() as u64, TAKERS);
    let t1 = ms(t0, 20);
    let mut takers = tokio::task::JoinSet::new();
    for claim in claimed {
        let store = Arc::clone(&store);
        takers.spawn(async move { take(store.as_ref(), &claim, t1).await });
    }
    let answers = takers.join_all().await;
    let mut slots: Vec<Timestamp> = answers
        .iter()
        .map(|answer| match answer {
            SendSlot::Now => t1,
            SendSlot::Later(at) => *at,
            SendSlot::LeaseLost => panic!("every lease is current"),
        })
        .collect();
    slots.sort();
    let expected: Vec<Timestamp> = (0..TAKERS).map(|index| ms(t1, index * 100)).collect();
    assert_eq!(slots, expected, "{answers:?}");
}

/// A delivery claimed more than the grace period after its slot takes a fresh one, and
/// one claimed early (a node whose clock runs ahead) waits for the slot it holds.
pub async fn send_slots_stale_and_early_claims(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 1).await;
    let t0 = fixtures::now();
    for _ in 0..2 {
        publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    }
    let claimed = claim_all(store.as_ref(), t0).await;
    assert_eq!(take(store.as_ref(), &claimed[0], t0).await, SendSlot::Now);
    assert_eq!(
        take(store.as_ref(), &claimed[1], t0).await,
        SendSlot::Later(ms(t0, 100))
    );

    // Its lease says it may be claimed from t0 + 100 ms; a claim that comes early (only
    // possible with clock skew) is sent back to the same slot, taking no other.
    let early = claim_all(store.as_ref(), ms(t0, 100)).await.remove(0);
    assert_eq!(
        take(store.as_ref(), &early, ms(t0, 50)).await,
        SendSlot::Later(ms(t0, 100))
    );

    // Claimed 1 s after its slot (a worker that fell behind): the slot is stale, and a
    // fresh one is taken, which is free now.
    let late = claim_all(store.as_ref(), ms(t0, 1_100)).await.remove(0);
    assert_eq!(late.delivery.id, claimed[1].delivery.id);
    assert_eq!(
        take(store.as_ref(), &late, ms(t0, 1_100)).await,
        SendSlot::Now
    );
    // It moved the endpoint's next free slot on by one spacing.
    assert_eq!(
        take(store.as_ref(), &claimed[0], ms(t0, 1_150)).await,
        SendSlot::Later(ms(t0, 1_200))
    );
}

/// A take under a lease that is no longer current changes nothing; slots are per
/// endpoint.
pub async fn send_slots_need_the_lease_and_are_per_endpoint(store: Arc<dyn Store>) {
    let (application, endpoints) = app_with_endpoints(store.as_ref(), 2).await;
    let t0 = fixtures::now();
    publish_at(store.as_ref(), &application.id, &endpoints, t0).await;
    publish_at(store.as_ref(), &application.id, &endpoints[..1], t0).await;
    let claimed = claim_all(store.as_ref(), t0).await;
    assert_eq!(claimed.len(), 3);
    let (to_first, to_second): (Vec<_>, Vec<_>) = claimed
        .iter()
        .partition(|claim| claim.endpoint.id == endpoints[0].id);

    let stale = Lease {
        delivery_id: to_first[0].lease.delivery_id.clone(),
        token: format!("{}-not-the-token", to_first[0].lease.token),
    };
    let answer = store
        .take_send_slot(&stale, &endpoints[0].id, SPACING, t0)
        .await
        .unwrap();
    assert_eq!(answer, SendSlot::LeaseLost);
    assert_eq!(
        store.lease_of(&stale.delivery_id).await.unwrap(),
        Some(fixtures::later(t0, LEASE)),
        "a lost-lease take left the delivery alone"
    );

    // Nothing was taken above: the first endpoint's first slot is still free.
    assert_eq!(take(store.as_ref(), to_first[0], t0).await, SendSlot::Now);
    assert_eq!(
        take(store.as_ref(), to_first[1], t0).await,
        SendSlot::Later(ms(t0, 100))
    );
    // The second endpoint has slots of its own.
    assert_eq!(take(store.as_ref(), to_second[0], t0).await, SendSlot::Now);
    // A given-back delivery no longer holds its lease.
    assert_eq!(
        take(store.as_ref(), to_first[1], t0).await,
        SendSlot::LeaseLost
    );
}
