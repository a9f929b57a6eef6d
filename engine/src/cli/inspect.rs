//! `keyrotate inspect`: decode xl.meta files and print every version.

use std::process::ExitCode;

use super::CmdResult;

/// Decode xl.meta files and print every version.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// xl.meta files to decode.
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: Args) -> CmdResult {
    Ok(ExitCode::SUCCESS)
}
