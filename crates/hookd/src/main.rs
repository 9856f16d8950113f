//! The `hookd` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match hookd::cli::main() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hookd: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
