//! The `hookd` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: the request and delivery paths allocate
/// many small short-lived buffers across threads, where glibc malloc spent about an
/// eighth of hookd's CPU in the send benchmark (see BENCHMARKS.md). The `override`
/// feature also routes C's `malloc` to it, so SQLite's allocations take the same path;
/// `no_thp` keeps it off transparent huge pages, which otherwise raised the resident
/// memory of an idle live-stream subscriber from 13 to 22 KiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match hookd::cli::main() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hookd: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
