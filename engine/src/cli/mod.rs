//! The `keyrotate` command line: one file per command, each a thin layer that
//! parses arguments, calls the library and prints (text or `--json`).
//!
//! Exit codes (JOB.md §13): 0 completed, 1 failed versions, 2 invalid job
//! file or arguments, 3 pre-flight failed, 4 aborted (resumable), 5 paused
//! by a maintenance window or `--limit` (resumable), 130 canceled by signal
//! (resumable).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` for command output: a closed stdout (`keyrotate plan | head`)
/// ends the output quietly instead of panicking; the command still runs to
/// its end and its exit code stays what the work decided.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod common;
mod completions;
mod fixture;
mod generate;
mod inspect;
mod plan;
mod report;
mod run;
mod status;
mod units;
mod validate;
mod verify;
pub(crate) mod window;

/// Exit code of a job file or command line that is invalid.
pub const EXIT_INVALID: u8 = 2;

/// Run MinIO "batch key rotation" jobs directly on a node's erasure-set drives.
///
/// keyrotate reads MinIO's on-disk format (xl.meta, part files) from the
/// drives of a stopped MinIO node, rotates or converts each object's sealed
/// keys with the KMS, and writes the result back crash-safely so a MinIO
/// server reads every object exactly as before.
#[derive(Debug, Parser)]
#[command(
    name = "keyrotate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Inspect(inspect::Args),
    Fixture(fixture::Args),
    Generate(generate::Args),
    Validate(validate::Args),
    Plan(plan::Args),
    Run(run::Args),
    Status(status::Args),
    Verify(verify::Args),
    Report(report::Args),
    Forget(report::ForgetArgs),
    Completions(completions::Args),
    #[command(hide = true)]
    Manpages(completions::ManArgs),
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Fixture(args) => fixture::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Report(args) => report::run(args),
        Command::Forget(args) => report::forget(args),
        Command::Completions(args) => completions::run(args),
        Command::Manpages(args) => completions::manpages(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("keyrotate: error: {err:#}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Writes one line of command output; see `outln!`.
fn write_out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A reader that went away (broken pipe) or a full disk must not panic
    // the command: its effects and exit code do not depend on stdout.
    let _ = out.write_fmt(line).and_then(|()| out.write_all(b"\n"));
}

/// Warnings (e.g. the io_uring fallback) go to stderr, where the operator
/// sees them; stdout stays the command's output (`--json` documents).
/// `KEYROTATE_LOG` takes a `tracing` filter (`debug`, `engine=trace`, ...).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYROTATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Fails only when a subscriber is already set (nothing to do then).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// A command's failure: the message an operator reads and the exit code a
/// script branches on.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    error: anyhow::Error,
}

impl CliError {
    /// Wraps an error with the exit code it maps to.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }

    fn exit_code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            f.write_str(&chain_text(&self.error))
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// An error and its causes joined with `: `, leaving out a cause whose text
/// is already in the message (our errors often name their source, which
/// `{:#}` would print a second time).
fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// What every command returns.
pub type CmdResult = Result<ExitCode, CliError>;
