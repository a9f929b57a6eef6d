//! `bench_report`: writes BENCHMARKS.md and its SVG plots from one
//! `make bench` run and prints each scenario's ratio to its floor.

use std::path::PathBuf;
use std::process::ExitCode;

use bench::report::{render, Options};
use clap::Parser;

/// Renders the benchmark report from the results of one run.
#[derive(Parser)]
struct Args {
    /// End-to-end results written by `e2e --out`.
    #[arg(long, default_value = "target/bench-results/e2e.json")]
    e2e: PathBuf,
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// The Markdown report to write.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Directory for the SVG plots (linked relatively from the report).
    #[arg(long, default_value = "bench/plots")]
    plots: PathBuf,
    /// The criterion options used in this run, quoted in the report.
    #[arg(long, allow_hyphen_values = true)]
    criterion_args: Option<String>,
    /// How long the criterion step took, in seconds, quoted in the report.
    #[arg(long)]
    criterion_seconds: Option<f64>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let opts = Options {
        e2e: a.e2e,
        criterion: a.criterion,
        out: a.out,
        plots: a.plots,
        criterion_args: a.criterion_args,
        criterion_seconds: a.criterion_seconds,
    };
    match render(&opts) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("bench_report: warning: {w}");
            }
            println!("{}", r.summary);
            println!(
                "wrote {} and {} plot(s) in {}",
                opts.out.display(),
                r.plots.len(),
                opts.plots.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_report: {e}");
            ExitCode::FAILURE
        }
    }
}
