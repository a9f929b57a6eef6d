//! `keyrotate completions SHELL` and `keyrotate manpages --out DIR`: shell
//! completion scripts and man pages generated from the command line's own
//! clap definitions, so they never drift from `--help`. `make deb` runs both
//! with the release binary to fill the package.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{CliError, CmdResult};

/// Print the shell completion script for SHELL (bash, zsh, fish, elvish,
/// powershell). For bash: `keyrotate completions bash > /etc/bash_completion.d/keyrotate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> CmdResult {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "keyrotate", &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::new(1, anyhow::Error::new(e).context("writing the completions")))?;
    Ok(ExitCode::SUCCESS)
}

/// Write the man pages (keyrotate.1 and keyrotate-COMMAND.1 per command)
/// into a directory; used when building the package.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

pub fn manpages(args: ManArgs) -> CmdResult {
    let written = write_manpages(&args.out).map_err(|e| {
        CliError::new(
            1,
            anyhow::Error::new(e).context(format!("writing man pages to {}", args.out.display())),
        )
    })?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders the top page and one page per visible command (clap_mangen
/// names them `keyrotate-COMMAND.1`, the name `man keyrotate-run` looks up);
/// returns the files written, sorted.
pub fn write_manpages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(super::Cli::command(), dir)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    written.retain(|p| p.extension().is_some_and(|x| x == "1"));
    written.sort();
    Ok(written)
}
