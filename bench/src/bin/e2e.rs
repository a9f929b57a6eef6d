//! The end-to-end benchmark suite: `keyrotate run` and `plan`, plaintext
//! encryption and KMS-bound rotation, each next to a floor measured in the
//! same run on the same files, plus scaling in objects and drives; writes
//! `target/bench-results/e2e.json` (schema: `bench::suite::results`) and
//! prints every ratio as it is measured. See `bench::suite` for the parts.
//!
//! Usage: `e2e [--out FILE] [--cache DIR] [--work DIR] [--keyrotate PATH]
//! [--quick] [--objects N] [--only SECTION,…]` — needs release builds of `keyrotate` and
//! `encrypt_bench` (`cargo build --release --bin keyrotate -p bench`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use bench::suite::keyrotate::Keyrotate;
use bench::suite::results::Results;
use bench::suite::scenarios::Suite;
use bench::suite::{child, machine, Sizes};
use clap::Parser;

/// The sections, in the order they run.
const SECTIONS: [&str; 5] = [
    "main",
    "kms",
    "encrypt",
    "scaling-drives",
    "scaling-objects",
];

/// `--only rotate` / `--only plan`: one half of the main section alone
/// (`rotate`: its floor and `keyrotate run`; `plan`: `plan` vs its floors).
const HALVES: [&str; 2] = ["rotate", "plan"];

/// keyrotate's end-to-end benchmarks against floors measured in the same run.
#[derive(Debug, Parser)]
struct Args {
    /// Results file (JSON, schema 1).
    #[arg(long, default_value = "target/bench-results/e2e.json")]
    out: PathBuf,
    /// Fixture cache (fixtures are reused across runs by parameters + seed).
    #[arg(long, default_value = "target/bench-cache")]
    cache: PathBuf,
    /// Scratch space: job file, state directories, the encryption fixture.
    #[arg(long, default_value = "target/bench-work")]
    work: PathBuf,
    /// The keyrotate binary (a release build).
    #[arg(long, default_value = "target/release/keyrotate")]
    keyrotate: PathBuf,
    /// The encrypt_bench binary (default: next to this one).
    #[arg(long)]
    encrypt_bench: Option<PathBuf>,
    /// Where the KMS scenario's fixture is cached: tmpfs, so the disk does
    /// not limit a KMS-bound run (default /dev/shm/keyrotate-bench-cache,
    /// or the --cache directory without /dev/shm).
    #[arg(long)]
    kms_cache: Option<PathBuf>,
    /// Run the object scaling on the disk cache instead of tmpfs.
    #[arg(long)]
    scaling_on_disk: bool,
    /// Tiny sizes for a smoke test (well under a minute).
    #[arg(long)]
    quick: bool,
    /// Objects of the main fixture (rotate, plan, KMS) instead of the default.
    #[arg(long)]
    objects: Option<u64>,
    /// Fixture seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only these sections (main, kms, encrypt, scaling-drives,
    /// scaling-objects), comma-separated; `rotate` and `plan` are the two
    /// halves of `main` alone (the rotate scenario with its floor; plan).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() {
    let args = Args::parse();
    if let Some(bad) = args
        .only
        .iter()
        .find(|s| !SECTIONS.contains(&s.as_str()) && !HALVES.contains(&s.as_str()))
    {
        eprintln!("e2e: unknown section {bad:?}; sections: {SECTIONS:?} or {HALVES:?}");
        std::process::exit(2);
    }
    match run(args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("e2e: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let encrypt_bin = match args.encrypt_bench.clone() {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| format!("current_exe: {e}"))?
            .with_file_name("encrypt_bench"),
    };
    for bin in [&args.keyrotate, &encrypt_bin] {
        if !bin.is_file() {
            return Err(format!(
                "{} not found: build with `cargo build --release --bin keyrotate -p bench`",
                bin.display()
            ));
        }
    }
    for d in [&args.cache, &args.work] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let _lock = lock(&args.cache)?;
    if let Some(p) = args.out.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(n) = args.objects {
        sizes.main_objects = n;
    }
    let machine = machine::describe(&args.cache);
    let dev = child::device_name(&machine::mount_of(&args.cache).0);
    println!(
        "machine: {} ({} cores, {:.1} GiB), kernel {}, {} on {dev}, load {:?}, io_uring {}",
        machine.cpu_model,
        machine.cores,
        machine.mem_gib,
        machine.kernel,
        machine.fs,
        machine.load_avg_start,
        machine.io_uring
    );
    let mut suite = Suite {
        kr: Keyrotate {
            bin: args.keyrotate.clone(),
            work: args.work.clone(),
            dev,
        },
        cache: args.cache.clone(),
        sizes,
        seed: args.seed,
        encrypt_bin,
        results: Results {
            schema: 1,
            started: machine::rfc3339(started),
            finished: String::new(),
            wall_s: 0.0,
            machine,
            scenarios: Vec::new(),
            scaling_objects: Vec::new(),
            scaling_drives: Vec::new(),
            kms_latency: Vec::new(),
            rss_flatness: None,
            profile: BTreeMap::new(),
        },
        fixture_build_s: 0.0,
    };
    let kms_cache = args.kms_cache.clone().unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm.join("keyrotate-bench-cache")
        } else {
            args.cache.clone()
        }
    });
    // The object scaling runs in RAM when it fits with room to spare
    // (about 6 KiB per object and drive at the largest count).
    let largest = suite
        .sizes
        .scaling_objects
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    let ram = (!args.scaling_on_disk
        && machine::mem_available_gib() > 3.0 * largest as f64 * 4.0 * 6.0 / (1 << 20) as f64)
        .then(|| kms_cache.with_file_name("keyrotate-bench-scaling"))
        .filter(|d| {
            d.parent()
                .is_some_and(|p| machine::mount_of(p).1 == "tmpfs")
        });
    let on = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let mut main = None;
    let mut section = |name: &str, suite: &mut Suite| -> Result<(), String> {
        if !on(name) {
            return Ok(());
        }
        let t = Instant::now();
        match name {
            "main" => main = Some(suite.main_scenarios()?),
            "rotate" => suite.rotate_only()?,
            "plan" => suite.plan_only()?,
            "kms" => suite.kms(&args.work, &kms_cache)?,
            "encrypt" => suite.encrypt(&args.work)?,
            "scaling-drives" => suite.scaling_drives(main)?,
            _ => suite.scaling_objects(main, ram.as_deref())?,
        }
        eprintln!("section {name}: {:.1}s", t.elapsed().as_secs_f64());
        // Written after every section: a failure later keeps what was measured.
        suite.results.finished = machine::rfc3339(SystemTime::now());
        suite.results.wall_s = t0.elapsed().as_secs_f64();
        write(&args.out, &suite.results)
    };
    for name in SECTIONS {
        if name == "main" && !on("main") {
            // A half of `main` alone runs where main would.
            for half in HALVES.into_iter().filter(|h| on(h)) {
                section(half, &mut suite)?;
            }
            continue;
        }
        section(name, &mut suite)?;
    }
    println!(
        "suite: {:.1}s wall ({:.1}s building fixtures), load average now {:?}; results in {}",
        t0.elapsed().as_secs_f64(),
        suite.fixture_build_s,
        machine::load_avg(),
        args.out.display()
    );
    Ok(())
}

fn write(out: &std::path::Path, results: &Results) -> Result<(), String> {
    let text = serde_json::to_string_pretty(results).map_err(|e| format!("results: {e}"))?;
    let tmp = out.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))
}

/// One suite at a time per cache: two would rewrite the same fixtures.
fn lock(cache: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let path = cache.join(".lock");
    let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; released when it closes.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "{}: another e2e run holds this cache",
            path.display()
        ));
    }
    Ok(f)
}
