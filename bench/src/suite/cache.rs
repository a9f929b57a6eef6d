//! Fixtures cached between runs, keyed by their parameters, seed and a
//! version string.
//!
//! A fixture lives in `CACHE/<key>/` with the deployment in `deploy/` and a
//! marker file `complete` written last: a directory without the marker (a
//! build or a rotation interrupted) is deleted and rebuilt.
//!
//! Rotation modifies a fixture, and copying a pristine one before every
//! destructive run would cost about as much as building it (one file and
//! one directory per object and drive). Instead the cached fixture is
//! **re-rotated in place**: an SSE-KMS version rotated to the same KMS key
//! is still an SSE-KMS version under that key, so the next run has the
//! same work to do (every version decrypted, resealed, its `xl.meta`
//! rewritten) — each run checks that it rotated every object. The floors
//! rewrite the same bytes in place. While a destructive run is in flight
//! the marker is removed, so a crash leaves a fixture that is rebuilt
//! rather than trusted.
//!
//! Objects are small and inline (0–3 KiB of data, all in `xl.meta`): a
//! metadata rotation never touches part files, so their data would only
//! cost disk space and build time (see the notes in the results).

use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::fixture::{build_with_sizes, FixtureKms, FixtureSpec, Mix, SizeClass};

/// Bump when a fixture's layout or content rules change.
pub const FIXTURE_VERSION: &str = "bench-fixture-v1";
/// The marker file, written last.
const MARKER: &str = "complete";
/// Largest inline data size of a fixture object.
pub const MAX_OBJECT_BYTES: u64 = 3 * 1024;

/// What a fixture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureParams {
    pub objects: u64,
    pub drives: usize,
    pub seed: u64,
}

impl FixtureParams {
    /// The cache directory name: parameters, seed and version.
    pub fn key(&self) -> String {
        format!(
            "{FIXTURE_VERSION}-{}-sse-kms-o{}-d{}-p{}-inline{}-seed{}",
            env!("CARGO_PKG_VERSION"),
            self.objects,
            self.drives,
            self.parity(),
            MAX_OBJECT_BYTES,
            self.seed
        )
    }

    /// Parity of the erasure set: MinIO's default for the drive count.
    pub fn parity(&self) -> usize {
        match self.drives {
            0..=1 => 0,
            2..=3 => 1,
            4..=5 => 2,
            6..=7 => 3,
            _ => 4,
        }
    }
}

/// A cached fixture, ready to use.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub params: FixtureParams,
    pub dir: PathBuf,
    /// Seconds it took to build, when it was built in this run.
    pub built_s: Option<f64>,
}

impl Fixture {
    pub fn deploy(&self) -> PathBuf {
        self.dir.join("deploy")
    }

    /// Drive directories, in set order.
    pub fn drives(&self) -> Vec<PathBuf> {
        (1..=self.params.drives)
            .map(|i| self.deploy().join(format!("drive{i}")))
            .collect()
    }

    /// The `--drives` argument in MinIO's ellipsis syntax.
    pub fn drive_spec(&self) -> String {
        format!(
            "{}/drive{{1...{}}}",
            self.deploy().display(),
            self.params.drives
        )
    }

    /// Removes the marker before a destructive run.
    pub fn mark_dirty(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(MARKER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Restores the marker after a destructive run that succeeded.
    pub fn mark_complete(&self) -> std::io::Result<()> {
        let text = serde_json::json!({
            "version": FIXTURE_VERSION,
            "objects": self.params.objects,
            "drives": self.params.drives,
            "seed": self.params.seed,
        });
        let tmp = self.dir.join("complete.tmp");
        std::fs::write(&tmp, text.to_string())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(MARKER))
    }
}

/// Deterministic sizes in `0..=MAX_OBJECT_BYTES` (the builder cycles them).
fn sizes(seed: u64) -> Vec<u64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..1009)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % (MAX_OBJECT_BYTES + 1)
        })
        .collect()
}

/// The fixture of `params` from the cache, built when missing or incomplete.
pub fn get(cache: &Path, params: FixtureParams) -> Result<Fixture, String> {
    let dir = cache.join(params.key());
    let fixture = Fixture {
        params,
        dir: dir.clone(),
        built_s: None,
    };
    if dir.join(MARKER).is_file() {
        return Ok(fixture);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let spec = FixtureSpec {
        drives: params.drives,
        parity: params.parity(),
        objects: params.objects,
        mix: Mix {
            plain: 0,
            sse_s3: 0,
            sse_kms: 1,
            sse_c: 0,
        },
        sizes: SizeClass::Small,
        seed: params.seed,
        ..FixtureSpec::default()
    };
    let t = Instant::now();
    build_with_sizes(
        &fixture.deploy(),
        &spec,
        FixtureKms::Default,
        &sizes(params.seed),
    )
    .map_err(|e| format!("building fixture {}: {e}", params.key()))?;
    // One sync for the whole build, so the first measurement does not pay
    // for the builder's dirty pages.
    std::process::Command::new("sync")
        .status()
        .map_err(|e| format!("sync: {e}"))?;
    let built_s = t.elapsed().as_secs_f64();
    fixture
        .mark_complete()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!(
        "fixture {}: built in {built_s:.1}s ({:.0} objects/s)",
        params.key(),
        params.objects as f64 / built_s
    );
    Ok(Fixture {
        built_s: Some(built_s),
        ..fixture
    })
}

/// Every `xl.meta` of the fixture's bucket, drive by drive.
pub fn xl_metas(fixture: &Fixture) -> Vec<Vec<PathBuf>> {
    fixture
        .drives()
        .iter()
        .map(|d| {
            let mut out = Vec::new();
            let mut stack = vec![d.join("fixture")];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let p = e.path();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(p);
                    } else if p.file_name().is_some_and(|n| n == "xl.meta") {
                        out.push(p);
                    }
                }
            }
            out.sort();
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_every_parameter() {
        let p = FixtureParams {
            objects: 10_000,
            drives: 8,
            seed: 3,
        };
        let k = p.key();
        for part in ["o10000", "d8", "p4", "seed3", FIXTURE_VERSION] {
            assert!(k.contains(part), "{k} lacks {part}");
        }
        assert_ne!(k, FixtureParams { seed: 4, ..p }.key());
        assert!(sizes(1).iter().all(|&s| s <= MAX_OBJECT_BYTES));
        assert_eq!(sizes(1), sizes(1));
    }
}
