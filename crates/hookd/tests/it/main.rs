//! End-to-end tests: a real hookd (in-process or as a child process) on 127.0.0.1, real
//! HTTP receivers, and third-party verifiers. One test binary, as STYLE.md asks.

mod bad_input;
mod cluster;
mod commands;
mod crash;
mod delivery;
mod multinode;
mod peers;
mod postgres;
mod provider_peers;
mod schemes;
mod send_command;
mod support;
mod tls;
mod verify_command;
