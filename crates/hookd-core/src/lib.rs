//! hookd's domain: the words of DESIGN.md as types, and every decision that needs no IO.
//!
//! **Architecture invariant:** nothing in this crate performs IO or reads a clock or a
//! random source. Time and randomness are parameters, so every decision here is a pure
//! function that tests can drive with fixed inputs.

pub mod app_token;
pub mod bin;
pub mod command;
pub mod filter;
pub mod ids;
pub mod inbound;
pub mod model;
pub mod network;
pub mod operational;
pub mod retry;
pub mod signature;
pub mod source;
pub mod throttle;

/// Every timestamp in hookd is UTC with millisecond precision or better.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
