//! End-to-end tests: a real hookd (in-process or as a child process) on 127.0.0.1, real
//! HTTP receivers, and third-party verifiers. One test binary, as STYLE.md asks.

mod bad_input;
mod bins;
mod browser;
mod burst;
mod cluster;
mod commands;
mod crash;
mod delivery;
mod destinations;
mod examples;
mod limits;
mod listen;
mod multinode;
mod observability;
mod operational;
mod pages;
mod peers;
mod postgres;
mod precheck;
mod provider_peers;
mod provider_routes;
mod retention;
mod schemes;
mod send_command;
mod sources;
mod streams;
mod support;
mod tls;
mod verify_command;
