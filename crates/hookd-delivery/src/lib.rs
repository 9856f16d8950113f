//! The delivery engine's IO shell: a worker that claims due deliveries from the store,
//! signs them, POSTs them through the SSRF-guarded HTTP client, and records each attempt
//! with the next step that `hookd_core::retry` decided; and the retention job that
//! expires old payloads, attempt content and idempotency keys on the same nodes.
//! Endpoints whose URL is `command://NAME` run a configured local command instead
//! (`command`).
//!
//! **Architecture invariant:** every decision (retry timing, signatures, which addresses
//! are allowed, throttling) is a pure function from `hookd-core`; this crate
//! only does the IO around them. An endpoint's failure is a value (`Outcome`), never an
//! `Err`; `Err` means hookd itself failed (the database went away).

mod command;
mod command_gate;
mod connector;
mod events;
mod fanout;
mod guard;
pub mod metrics;
mod recorder;
mod replay;
mod retention;
mod sender;
mod slots;
mod target;
mod worker;

pub use command::{CommandRunner, CommandSpec};
pub use replay::{ReplayError, ReplayRequest, ReplayResponse, Replayer};
pub use retention::{RetentionConfig, RetentionJob};
pub use sender::{HttpSender, NoResponseReason, SendResult, SenderBuildError, SenderConfig};
pub use worker::{Reservation, Worker, WorkerConfig};
