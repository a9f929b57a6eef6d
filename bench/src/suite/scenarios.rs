//! The scenarios, in the order the suite runs them. Each one measures its
//! floor right next to it, prints its ratio, and appends to [`Results`].

use std::path::{Path, PathBuf};

use serde_json::json;

use super::cache::{self, Fixture, FixtureParams};
use super::child::{self, DiskStats, Measured};
use super::floors;
use super::kes;
use super::keyrotate::{static_env, Keyrotate};
use super::results::{KmsLatency, Results, RssFlatness, ScalingDrives, ScalingObjects, Scenario};
use super::Sizes;

/// Thread counts tried for the read pool.
const READ_THREADS: [usize; 5] = [1, 2, 4, 8, 16];
/// RSS(largest) / RSS(smallest) allowed for `run`.
const RSS_TARGET: f64 = 1.2;

/// Everything a scenario needs.
pub struct Suite {
    pub kr: Keyrotate,
    pub cache: PathBuf,
    pub sizes: Sizes,
    pub seed: u64,
    /// The `encrypt_bench` binary.
    pub encrypt_bin: PathBuf,
    pub results: Results,
    /// Seconds spent building fixtures in this run (cold cache cost).
    pub fixture_build_s: f64,
}

/// The main fixture's figures, reused by the scaling tables.
#[derive(Debug, Clone, Copy)]
pub struct MainRun {
    pub objects: u64,
    pub run_s: f64,
    pub floor_s: f64,
    pub peak_rss_mib: f64,
    pub plan_s: f64,
}

/// A rewrite floor measured at the best thread count.
struct RewriteFloor {
    threads: usize,
    sweep: Vec<(usize, f64)>,
    seconds: f64,
    disk: DiskStats,
    rewrites: usize,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Suite {
    fn fixture(&mut self, objects: u64, drives: usize) -> Result<Fixture, String> {
        let f = cache::get(
            &self.cache,
            FixtureParams {
                objects,
                drives,
                seed: self.seed,
            },
        )?;
        self.fixture_build_s += f.built_s.unwrap_or(0.0);
        Ok(f)
    }

    fn push(&mut self, s: Scenario) {
        println!("{}", s.line());
        self.results.scenarios.push(s);
    }

    /// Every `xl.meta` of the fixture, interleaved across drives.
    fn files(fixture: &Fixture) -> Result<Vec<PathBuf>, String> {
        let all = floors::interleave(&cache::xl_metas(fixture));
        let want = fixture.params.objects as usize * fixture.params.drives;
        if all.len() != want {
            return Err(format!(
                "{}: {} xl.meta files, expected {want}",
                fixture.dir.display(),
                all.len()
            ));
        }
        Ok(all)
    }

    /// The rewrite floor: thread count picked on a sample, then every file.
    fn rewrite_floor(&self, fixture: &Fixture) -> Result<RewriteFloor, String> {
        let all = Self::files(fixture)?;
        let sample = &all[..self.sizes.sweep_rewrites.min(all.len())];
        let candidates = floors::candidate_threads(fixture.params.drives);
        // Rewrites in place: a crash midway leaves temp files, so the fixture
        // is not trusted until the floor finished.
        fixture.mark_dirty().map_err(io("fixture marker"))?;
        let cap = std::time::Duration::from_secs_f64(self.sizes.sweep_cap_s);
        let (threads, sweep) =
            floors::best_rewrite_threads(sample, &candidates, cap).map_err(io("rewrite floor"))?;
        let d0 = DiskStats::read(&self.kr.dev);
        let seconds = floors::rewrite(&all, threads).map_err(io("rewrite floor"))?;
        fixture.mark_complete().map_err(io("fixture marker"))?;
        Ok(RewriteFloor {
            threads,
            sweep,
            seconds,
            disk: DiskStats::read(&self.kr.dev).since(d0),
            rewrites: all.len(),
        })
    }

    /// `plan` vs `find | xargs cat` and vs the std::fs read pool; `rotate`
    /// vs the rewrite floor; all on the main fixture. Returns its figures
    /// for the scaling tables.
    pub fn main_scenarios(&mut self) -> Result<MainRun, String> {
        let fx = self.fixture(self.sizes.main_objects, 4)?;
        let plan_s = self.plan_scenarios(&fx)?;
        let (run, floor) = self.rotate_scenario(&fx)?;
        Ok(MainRun {
            objects: fx.params.objects,
            run_s: run.wall_s,
            floor_s: floor.seconds,
            peak_rss_mib: run.peak_rss_mib,
            plan_s,
        })
    }

    /// The `rotate` scenario alone on the main fixture (`--only rotate`).
    pub fn rotate_only(&mut self) -> Result<(), String> {
        let fx = self.fixture(self.sizes.main_objects, 4)?;
        self.rotate_scenario(&fx).map(|_| ())
    }

    /// The `plan` scenarios alone on the main fixture (`--only plan`).
    pub fn plan_only(&mut self) -> Result<(), String> {
        let fx = self.fixture(self.sizes.main_objects, 4)?;
        self.plan_scenarios(&fx).map(|_| ())
    }

    /// `plan_vs_cat` and `plan_vs_stdfs`; returns plan's wall seconds.
    fn plan_scenarios(&mut self, fx: &Fixture) -> Result<f64, String> {
        let n = fx.params.objects as f64;
        let drives = fx.drives();
        let files = fx.params.objects as usize * fx.params.drives;
        // Warm the page cache once, untimed: every read side runs warm.
        floors::find_cat(&drives).map_err(io("find | xargs cat"))?;

        let cat_s = floors::find_cat(&drives).map_err(io("find | xargs cat"))?;
        let ((pool_threads, pool_s), pool_table) =
            floors::best_read_pool(&drives, &READ_THREADS, files).map_err(io("read pool"))?;
        let plan = self.kr.plan(fx)?;
        let plan_rate = n / plan.wall_s;
        let params = json!({"objects": fx.params.objects, "drives": fx.params.drives,
            "plan_concurrency": 16, "cache": "warm"});
        let mut s = Scenario::new(
            "plan_vs_cat",
            "objects/s",
            plan_rate,
            "find | xargs cat",
            n / cat_s,
            Some(1.0),
            params.clone(),
            format!(
                "keyrotate plan (decode + decide every version, 16 threads) vs `find DRIVES -name xl.meta | xargs cat > /dev/null` ({cat_s:.2}s) reading the same {files} files; both with a warm page cache (an untimed find|cat ran first)"
            ),
        );
        self.measured(&mut s, &plan);
        self.profile_if_missed(&s, || plan.profile("keyrotate plan"));
        self.push(s);
        let mut s = Scenario::new(
            "plan_vs_stdfs",
            "objects/s",
            plan_rate,
            "std::fs read pool",
            n / pool_s,
            None,
            json!({"objects": fx.params.objects, "drives": fx.params.drives,
                "pool_threads": pool_threads,
                "pool_sweep_s": pool_table.iter().map(|(t, s)| json!({"threads": t, "s": s})).collect::<Vec<_>>()}),
            format!(
                "floor: a std::fs thread pool walking the bucket directories and reading every xl.meta, best of {READ_THREADS:?} threads ({pool_threads} threads, {pool_s:.2}s); warm cache"
            ),
        );
        self.measured(&mut s, &plan);
        self.push(s);
        Ok(plan.wall_s)
    }

    /// `rotate` vs the rewrite floor, measured right before it on the same
    /// files; returns both measurements.
    fn rotate_scenario(&mut self, fx: &Fixture) -> Result<(Measured, RewriteFloor), String> {
        let n = fx.params.objects as f64;
        let floor = self.rewrite_floor(fx)?;
        let (run, summary) = self.kr.rotate(fx, &static_env(), None)?;
        let mut s = Scenario::new(
            "rotate",
            "objects/s",
            n / run.wall_s,
            "xl.meta rewrite floor",
            n / floor.seconds,
            Some(0.8),
            json!({"objects": fx.params.objects, "drives": fx.params.drives,
                "kms": "static key", "kms_concurrency": 64,
                "floor_threads": floor.threads,
                "floor_sweep_files_per_s": floor.sweep.iter().map(|(t, r)| json!({"threads": t, "files_per_s": r})).collect::<Vec<_>>(),
                "sweep_sample_files": self.sizes.sweep_rewrites}),
            format!(
                "keyrotate run (SSE-KMS → SSE-KMS, static key; journal, io_uring reads, per-drive batched writes: staged files exchanged with their targets, two syncfs per batch) vs rewriting every one of the {} xl.meta files (read, temp file, fsync, rename, directory fsync) with {} threads, the best of {:?} on a {}-file sample. Objects are inline (0–{} B). The cached fixture is re-rotated in place each run.",
                floor.rewrites,
                floor.threads,
                floors::candidate_threads(4),
                self.sizes.sweep_rewrites,
                cache::MAX_OBJECT_BYTES
            ),
        );
        self.measured(&mut s, &run);
        self.profile_if_missed(&s, || {
            format!(
                "{}; kms calls {}; floor: {:.2}s wall for {} rewrites, device {} writes, {} flushes ({:.2} per rewrite; run: {:.2} flushes per xl.meta)",
                run.profile("keyrotate run"),
                summary["kmsCalls"],
                floor.seconds,
                floor.rewrites,
                floor.disk.writes,
                floor.disk.flushes,
                floor.disk.flushes as f64 / floor.rewrites.max(1) as f64,
                run.disk.flushes as f64 / floor.rewrites.max(1) as f64,
            )
        });
        self.push(s);
        Ok((run, floor))
    }

    fn measured(&self, s: &mut Scenario, m: &Measured) {
        s.peak_rss_mib = Some(m.peak_rss_mib);
        s.wall_s = m.wall_s;
        s.cpu_s = Some(m.cpu_s());
    }

    fn profile_if_missed(&mut self, s: &Scenario, text: impl FnOnce() -> String) {
        if s.target_met == Some(false) {
            self.results.profile.insert(s.name.clone(), text());
        }
    }

    /// `run` and `plan` at each object count (4 drives); RSS flatness.
    ///
    /// With `ram` (a tmpfs directory), the fixtures are built there for the
    /// run and removed after it: on this disk every rotation is bound by
    /// fsync at a flat rate (the `rotate` and drive-scaling rows show it),
    /// which would hide how the engine's own cost — CPU and memory — grows
    /// with the object count, and 200k objects at that rate would not fit
    /// the time budget. They are not kept: they would pin gigabytes of RAM.
    /// Without it they come from the disk cache, and `main` (the main
    /// fixture's point) is reused at its object count.
    pub fn scaling_objects(
        &mut self,
        main: Option<MainRun>,
        ram: Option<&Path>,
    ) -> Result<(), String> {
        for &objects in &self.sizes.scaling_objects.clone() {
            let (run_s, peak_rss_mib, plan_s) = match (main, ram) {
                (Some(m), None) if m.objects == objects => (m.run_s, m.peak_rss_mib, m.plan_s),
                _ => {
                    let fx = match ram {
                        Some(dir) => {
                            let params = FixtureParams {
                                objects,
                                drives: 4,
                                seed: self.seed,
                            };
                            let fx = cache::get(dir, params)?;
                            self.fixture_build_s += fx.built_s.unwrap_or(0.0);
                            fx
                        }
                        None => self.fixture(objects, 4)?,
                    };
                    let plan = self.kr.plan(&fx)?;
                    let (run, _) = self.kr.rotate(&fx, &static_env(), None)?;
                    if ram.is_some() {
                        std::fs::remove_dir_all(&fx.dir).map_err(io("scaling fixture"))?;
                    }
                    (run.wall_s, run.peak_rss_mib, plan.wall_s)
                }
            };
            let row = ScalingObjects {
                objects,
                run_s,
                objects_per_s: objects as f64 / run_s,
                peak_rss_mib,
                plan_s,
            };
            println!(
                "scaling objects {objects:>7}: run {:.2}s ({:.0} objects/s), peak RSS {:.1} MiB, plan {:.2}s",
                row.run_s, row.objects_per_s, row.peak_rss_mib, row.plan_s
            );
            self.results.scaling_objects.push(row);
        }
        let fs = match ram {
            Some(d) => super::machine::mount_of(d.parent().unwrap_or(d)).1,
            None => self.results.machine.fs.clone(),
        };
        if let Some(r) = self
            .results
            .scenarios
            .iter_mut()
            .find(|s| s.name == "rotate")
        {
            r.params["scaling_objects_fs"] = fs.into();
        }
        let rows = &self.results.scaling_objects;
        if let (Some(a), Some(b)) = (rows.first(), rows.last()) {
            let ratio = b.peak_rss_mib / a.peak_rss_mib.max(1e-9);
            let flat = RssFlatness {
                rss_small_mib: a.peak_rss_mib,
                rss_large_mib: b.peak_rss_mib,
                ratio,
                target: RSS_TARGET,
                met: ratio <= RSS_TARGET,
            };
            println!(
                "rss_flatness: {:.1} MiB at {} objects → {:.1} MiB at {}: ratio {ratio:.2} (target <= {RSS_TARGET}: {})",
                a.peak_rss_mib,
                a.objects,
                b.peak_rss_mib,
                b.objects,
                if flat.met { "met" } else { "MISSED" }
            );
            if !flat.met {
                let per_object_kib = (b.peak_rss_mib - a.peak_rss_mib) * 1024.0
                    / (b.objects.saturating_sub(a.objects)).max(1) as f64;
                let points: Vec<String> = rows
                    .iter()
                    .map(|r| format!("{} objects: {:.1} MiB", r.objects, r.peak_rss_mib))
                    .collect();
                self.results.profile.insert(
                    "rss_flatness".into(),
                    format!(
                        "peak RSS of keyrotate run (wait4 ru_maxrss, default --kms-concurrency 64) grows with the object count: {}; {per_object_kib:.2} KiB per extra object between the smallest and the largest run — memory held per object processed (not per object in flight), which a bounded pipeline should not have",
                        points.join(", ")
                    ),
                );
            }
            self.results.rss_flatness = Some(flat);
        }
        Ok(())
    }

    /// `run` and its rewrite floor at each drive count (same objects);
    /// `main` is the 4-drive point already measured on the main fixture.
    pub fn scaling_drives(&mut self, main: Option<MainRun>) -> Result<(), String> {
        for &drives in &self.sizes.scaling_drives.clone() {
            let objects = self.sizes.drives_objects;
            let (run_s, floor_s) = match main {
                Some(m) if drives == 4 && objects == m.objects => (m.run_s, m.floor_s),
                _ => {
                    let fx = self.fixture(objects, drives)?;
                    let floor = self.rewrite_floor(&fx)?;
                    let (run, _) = self.kr.rotate(&fx, &static_env(), None)?;
                    (run.wall_s, floor.seconds)
                }
            };
            let row = ScalingDrives {
                drives: drives as u32,
                objects,
                run_s,
                objects_per_s: objects as f64 / run_s,
                floor_objects_per_s: objects as f64 / floor_s,
            };
            println!(
                "scaling drives {drives:>2}: run {run_s:.2}s ({:.0} objects/s), floor {:.0} objects/s: ratio {:.2}x",
                row.objects_per_s,
                row.floor_objects_per_s,
                floor_s / run_s
            );
            self.results.scaling_drives.push(row);
        }
        Ok(())
    }

    /// KMS-bound rotation through the KES fixture, on a fixture in `kms_cache`
    /// (tmpfs when available, so neither the disk nor its fsyncs limit it).
    ///
    /// First a calibration run with the static key (no KMS latency) gives
    /// `R`, the objects/s this machine rotates when the KMS costs nothing.
    /// The concurrency is then `C = R × 1 ms` (at least 1), which puts the
    /// ideal at 1 ms, `C/(2 × 1 ms)`, at half of `R`: the KMS latency, not
    /// the CPU or the disk, is what limits that point. Each latency point
    /// rotates enough of the fixture (by prefix, 1000 objects a directory)
    /// to run about `kms_point_s` seconds at its expected rate.
    pub fn kms(&mut self, work: &Path, kms_cache: &Path) -> Result<(), String> {
        let fx = cache::get(
            kms_cache,
            FixtureParams {
                objects: self.sizes.kms_objects,
                drives: 4,
                seed: self.seed,
            },
        )?;
        self.fixture_build_s += fx.built_s.unwrap_or(0.0);
        let fs = super::machine::mount_of(kms_cache).1;
        let dirs_total = fx.params.objects.div_ceil(1000);
        let calib_dirs = dirs_total.div_ceil(4);
        let (cal, _) = self
            .kr
            .rotate_part(&fx, &static_env(), None, Some(calib_dirs))?;
        let cal_objects = (calib_dirs * 1000).min(fx.params.objects) as f64;
        let r = cal_objects / cal.wall_s;
        let c = ((r * 0.001).floor() as usize).max(1);
        println!(
            "kms calibration: static key, no latency, {fs} fixture: {r:.0} objects/s (R) → KMS concurrency C = {c}"
        );
        let kes = kes::start(&work.join("kes"))?;
        for &latency_ms in &self.sizes.kms_latencies_ms.clone() {
            let expected = (c as f64 / (2.0 * latency_ms / 1000.0)).min(r);
            let dirs =
                ((expected * self.sizes.kms_point_s / 1000.0).ceil() as u64).clamp(1, dirs_total);
            let n = (dirs * 1000).min(fx.params.objects) as f64;
            kes.set_latency(latency_ms);
            let rtt_ms = kes.round_trip_ms(((200.0 / latency_ms) as usize).clamp(20, 500))?;
            let (r0, c0) = (kes.fixture.requests(), kes.fixture.connections());
            let cpu0 = child::self_cpu_s();
            let (run, summary) = self.kr.rotate_part(&fx, &kes.env, Some(c), Some(dirs))?;
            let fixture_cpu = child::self_cpu_s() - cpu0;
            let requests = kes.fixture.requests() - r0;
            let conns = kes.fixture.connections() - c0;
            let rps = requests as f64 / run.wall_s;
            let ideal = kes::ideal_requests_per_s(c, latency_ms);
            let calls = &summary["kmsCalls"];
            let per_object = requests as f64 / n;
            let name = format!("kms_{latency_ms}ms");
            let target = (latency_ms == 1.0).then_some(0.7);
            let mut s = Scenario::new(
                &name,
                "requests/s",
                rps,
                "ideal C/L",
                ideal,
                target,
                json!({"latency_ms": latency_ms, "concurrency": c, "objects": n,
                    "drives": fx.params.drives, "fixture_fs": fs, "requests": requests,
                    "connections": conns, "kms_calls": calls.clone(),
                    "serial_round_trip_ms": rtt_ms, "ideal_at_round_trip_per_s": c as f64 / (rtt_ms / 1000.0),
                    "calibration_objects_per_s": r}),
                format!(
                    "keyrotate run --kms-concurrency {c} against the in-process KES protocol fixture (HTTPS, mTLS, {latency_ms} ms added to every request), fixture on {fs}. Each worker rotates one object at a time with a decrypt then a generate, so the ideal is C/L = {ideal:.0} requests/s = C/(2L) = {:.0} objects/s; measured {rps:.0} requests/s ({requests} requests, {per_object:.2} per object, {conns} TLS connections) and {:.0} objects/s over the whole process wall time (start-up, listing and commit included). C = {c} was chosen from the calibration run (static key, no latency: R = {r:.0} objects/s) so that the 1 ms ideal is R/2: KMS-bound by construction; at 0.2 ms the ideal is above R, so that point is CPU-bound and has no target. A serial client measured {rtt_ms:.3} ms per request at this setting (timer granularity, TLS and HTTP included): C over that round trip is {:.0} requests/s, the ratio against it {:.2}.",
                    ideal / 2.0,
                    n / run.wall_s,
                    c as f64 / (rtt_ms / 1000.0),
                    rps / (c as f64 / (rtt_ms / 1000.0)),
                ),
            );
            self.measured(&mut s, &run);
            self.profile_if_missed(&s, || {
                format!(
                    "{}; KES fixture (in the bench process) used {fixture_cpu:.2} CPU-s; calibration without KMS latency: {}",
                    run.profile("keyrotate run"),
                    cal.profile("keyrotate run")
                )
            });
            self.results.kms_latency.push(KmsLatency {
                latency_ms,
                concurrency: c as u32,
                requests_per_s: rps,
                ideal_per_s: ideal,
                ratio: s.ratio,
                objects_per_s: n / run.wall_s,
            });
            self.push(s);
        }
        Ok(())
    }

    /// Plaintext encryption vs its I/O floor: `encrypt_bench --json`.
    pub fn encrypt(&mut self, work: &Path) -> Result<(), String> {
        let dir = work.join("encrypt");
        std::fs::create_dir_all(&dir).map_err(io("encrypt dir"))?;
        let mib = self.sizes.encrypt_mib;
        let mut cmd = std::process::Command::new(&self.encrypt_bin);
        cmd.arg(&dir).arg(mib.to_string()).arg("--json");
        let m = child::run(&mut cmd, &self.kr.dev).map_err(io("encrypt_bench"))?;
        let _ = std::fs::remove_dir_all(&dir);
        if !m.ok {
            return Err(format!("encrypt_bench failed: {}", m.stderr_text()));
        }
        let text = String::from_utf8_lossy(&m.stdout);
        let v: serde_json::Value = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or("encrypt_bench printed no JSON")?;
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let mut s = Scenario::new(
            "encrypt",
            "MB/s",
            f("encrypt_mb_s"),
            "read+write I/O floor",
            f("floor_mb_s"),
            Some(0.7),
            json!({"plaintext_mib": mib, "objects": v["objects"], "drives": 4, "parity": 2,
                "jobs": v["jobs"], "object_sizes": "4–64 MiB"}),
            format!(
                "encrypt_bench: plaintext objects (erasure 2+2) encrypted to SSE-KMS in process (read shards, DARE, erasure-code, write, commit) vs reading the same data shards and writing the same number of bytes fsynced, drives in parallel; {:.0} MiB of plaintext (sized for the time budget), fixture rebuilt each run",
                f("plaintext_bytes") / (1u64 << 20) as f64
            ),
        );
        s.peak_rss_mib = v["peak_rss_mib"].as_f64();
        s.wall_s = f("encrypt_s");
        s.cpu_s = v["encrypt_cpu_s"].as_f64();
        let cores = self.results.machine.cores.max(1);
        self.profile_if_missed(&s, || {
            format!(
                "encrypt: wall {:.2}s, CPU {:.2}s ({:.0}% of the machine's {} cores), commit {:.2}s summed over {} workers; floor: wall {:.2}s, CPU {:.2}s; whole encrypt_bench process (fixture build included): {}",
                f("encrypt_s"),
                f("encrypt_cpu_s"),
                100.0 * f("encrypt_cpu_s") / f("encrypt_s").max(1e-9) / cores as f64,
                cores,
                f("commit_s"),
                v["jobs"],
                f("floor_s"),
                f("floor_cpu_s"),
                m.profile("encrypt_bench")
            )
        });
        self.push(s);
        Ok(())
    }
}
