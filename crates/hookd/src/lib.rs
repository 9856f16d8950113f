//! The one hookd binary as a library: configuration, wiring of store, API and worker, and
//! the subcommands. Integration tests start servers through [`serve::run`].
//!
//! **Invariant:** this is the only crate that names a concrete store backend.

pub mod cli;
pub mod config;
pub mod http_server;
pub mod listen;
pub mod operational;
pub mod send;
pub mod serve;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod verify;
