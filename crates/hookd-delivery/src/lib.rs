//! The delivery engine's IO shell: a worker that claims due deliveries from the store,
//! signs them, POSTs them through the SSRF-guarded HTTP client, and records each attempt
//! with the next step that `hookd_core::retry` decided. Endpoints whose URL is
//! `command://NAME` run a configured local command instead (`command`).
//!
//! **Architecture invariant:** every decision (retry timing, signatures, which addresses
//! are allowed, throttling) is a pure function from `hookd-core` or `throttle`; this crate
//! only does the IO around them. An endpoint's failure is a value (`Outcome`), never an
//! `Err`; `Err` means hookd itself failed (the database went away).

mod command;
mod command_gate;
mod guard;
mod sender;
mod slots;
mod throttle;
mod worker;

pub use command::{CommandRunner, CommandSpec};
pub use sender::{HttpSender, SendResult, SenderConfig};
pub use throttle::Throttle;
pub use worker::{Worker, WorkerConfig};
