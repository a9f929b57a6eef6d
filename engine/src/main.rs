//! `keyrotate`: the command-line shell over the `engine` library.
//!
//! Parsing and dispatch only; every command lives in `engine::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    engine::cli::main()
}
