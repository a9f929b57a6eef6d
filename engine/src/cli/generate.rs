//! `keyrotate generate`: print a commented job template (valid once the
//! bucket is filled in).

use std::io::Write;
use std::process::ExitCode;

use super::{CliError, CmdResult};
use crate::job::template::TEMPLATE;

/// Print a commented template job file to standard output.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CmdResult {
    let mut out = std::io::stdout().lock();
    out.write_all(TEMPLATE.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(1, anyhow::Error::new(e).context("writing the template")))?;
    Ok(ExitCode::SUCCESS)
}
