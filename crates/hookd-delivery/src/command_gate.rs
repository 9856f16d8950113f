//! [`CommandGate`]: the per-command concurrency limit, handing out run slots in message
//! order.
//!
//! A delivery takes a [`Ticket`] as soon as the worker starts it (synchronously, before
//! its task runs), and waits on it right before running the command. Slots go to the
//! registered tickets with the oldest message first (`created_at`, then message id), not
//! to whichever task happens to reach the wait first, so with `concurrency = 1` runs
//! happen one at a time in arrival order.
//!
//! **Invariants:** at most `concurrency` tickets hold a slot; a ticket dropped before or
//! after it got its slot gives everything back (no leaked slot, no lost wake-up).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookd_core::Timestamp;
use tokio::sync::oneshot;

/// Where a run stands in line: its message's creation time, its message id, then a
/// sequence number that keeps two runs of one message apart.
pub(crate) type TicketKey = (Timestamp, String, u64);

/// The run slots of one command.
#[derive(Debug)]
pub(crate) struct CommandGate {
    concurrency: usize,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    running: usize,
    next_sequence: u64,
    waiting: BTreeMap<TicketKey, oneshot::Sender<()>>,
}

impl CommandGate {
    pub(crate) fn new(concurrency: usize) -> Arc<Self> {
        Arc::new(Self {
            concurrency: concurrency.max(1),
            state: Mutex::new(GateState::default()),
        })
    }

    /// Puts a run of the message created at `created_at` with id `msg_id` in line.
    pub(crate) fn ticket(self: &Arc<Self>, created_at: Timestamp, msg_id: &str) -> Ticket {
        let (sender, receiver) = oneshot::channel();
        let key = {
            let mut state = self.lock();
            state.next_sequence += 1;
            let key = (created_at, msg_id.to_owned(), state.next_sequence);
            state.waiting.insert(key.clone(), sender);
            self.hand_out(&mut state);
            key
        };
        Ticket {
            gate: self.clone(),
            key,
            granted: receiver,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives free slots to the oldest waiting tickets.
    fn hand_out(&self, state: &mut GateState) {
        while state.running < self.concurrency {
            let Some((_, sender)) = state.waiting.pop_first() else {
                return;
            };
            // The receiver lives in the ticket, which removes its entry under this lock
            // before dropping, so the send cannot fail; count the slot either way, since
            // the ticket's drop gives it back.
            let _ = sender.send(());
            state.running += 1;
        }
    }
}

/// A place in one command's line; dropping it leaves the line or frees the slot.
#[derive(Debug)]
pub(crate) struct Ticket {
    gate: Arc<CommandGate>,
    key: TicketKey,
    granted: oneshot::Receiver<()>,
}

impl Ticket {
    /// Waits for this ticket's slot. Cancel-safe: waiting again after a timeout resumes.
    pub(crate) async fn wait(&mut self) {
        // The sender is only dropped by the gate after sending, or with the ticket itself.
        let _ = (&mut self.granted).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        if state.waiting.remove(&self.key).is_none() {
            // Not waiting any more, so it held a slot (granted, whether or not it ran).
            state.running = state.running.saturating_sub(1);
        }
        self.gate.hand_out(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn at(second: i64) -> Timestamp {
        Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap()
    }

    async fn granted(ticket: &mut Ticket) -> bool {
        tokio::time::timeout(Duration::from_millis(20), ticket.wait())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn one_slot_goes_to_the_oldest_message_first() {
        let gate = CommandGate::new(1);
        let mut first = gate.ticket(at(5), "msg_b");
        // Registered later but older: it must run right after the current holder.
        let mut newer = gate.ticket(at(9), "msg_c");
        let mut older = gate.ticket(at(6), "msg_a");
        assert!(granted(&mut first).await);
        assert!(!granted(&mut older).await);
        assert!(!granted(&mut newer).await);
        drop(first);
        assert!(granted(&mut older).await);
        assert!(!granted(&mut newer).await);
        drop(older);
        assert!(granted(&mut newer).await);
    }

    #[tokio::test]
    async fn a_ticket_dropped_while_waiting_frees_nothing_it_did_not_hold() {
        let gate = CommandGate::new(2);
        let mut one = gate.ticket(at(1), "msg_1");
        let mut two = gate.ticket(at(2), "msg_2");
        let three = gate.ticket(at(3), "msg_3");
        let mut four = gate.ticket(at(4), "msg_4");
        assert!(granted(&mut one).await && granted(&mut two).await);
        drop(three);
        assert!(!granted(&mut four).await);
        drop(one);
        assert!(granted(&mut four).await);
        assert_eq!(gate.lock().running, 2);
        drop(two);
        drop(four);
        assert_eq!(gate.lock().running, 0);
    }
}
