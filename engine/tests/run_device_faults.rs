//! Real device faults under `keyrotate run` (issue 17 item 3): one drive of
//! a 4-drive set (parity 2) runs out of space, turns read-only, fails with
//! EIO or has its directory disappear while a job of each kind — rotation,
//! SSE-S3 conversion, plaintext encryption, internal items — is in the
//! middle of its writes. The kernel does the refusing:
//!
//! - no space: the drive is a size-limited tmpfs, filled (and kept full)
//!   mid-run, or left with room for metadata but not for part files;
//! - read-only: the drive is a loop-mounted ext4 (`errors=remount-ro`)
//!   whose error is triggered mid-run (`/sys/fs/ext4/*/trigger_fs_error`):
//!   the filesystem turns read-only at once, as on a failing disk;
//! - EIO: the same ext4 is shut down mid-run without flushing its journal
//!   (`EXT4_IOC_SHUTDOWN`, `NOLOGFLUSH`): every later operation fails with
//!   EIO and what was not durable is lost, as when a device dies;
//! - gone: the drive's directory is renamed away mid-run.
//!
//! Each test checks:
//!
//! - the run ends with exit 1 (per-version failures) or 4 (aborted,
//!   resumable), never a panic or a success, and an error names the drive,
//!   the object and the cause (the kernel's words for the errno);
//! - nothing is lost: once the fault is removed (filler deleted, ext4
//!   checked and mounted again, directory renamed back) every version reads
//!   back to the digest the fixture's manifest recorded when it was written,
//!   under the old or the new key;
//! - a resume (`--retry-failed`) completes with every version changed and
//!   none failed or skipped over the two runs, internal items read back to
//!   their old plaintext, and `verify --data` finds the drives agreeing and
//!   every version decrypting.
//!
//! The faults need root (mounts); each test skips with a printed reason
//! where the facility is missing. RELIABILITY.md has the matrix of results;
//! `make reliability` runs these with the crash tests.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::internal::{decrypt_item, discover};
use engine::run::verify::read_plaintext;
use kms_client::static_key::{StaticKey, StaticKms};
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// The internal-items job moves to this key (it must be the default key).
const KEY_NEW: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";

/// The faulty drive: drive3 of 4.
const VICTIM: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Rotation,
    Conversion,
    Encryption,
    Internal,
    /// Plaintext encryption where most versions need no write (SSE-KMS
    /// ones are skipped): the fault meets the run while it reads.
    SparseEncryption,
    /// Plaintext encryption of 1–8 MiB objects (part files only).
    LargeEncryption,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    NoSpace,
    /// Space for metadata (256 KiB), none for part files.
    NoSpaceForData,
    ReadOnly,
    Eio,
    Gone,
}

impl Fault {
    /// How the kernel's error reads in a message (`std::io::Error` display).
    fn cause(self) -> &'static str {
        match self {
            Fault::NoSpace | Fault::NoSpaceForData => "No space left on device",
            Fault::ReadOnly => "Read-only file system",
            Fault::Eio => "Input/output error",
            Fault::Gone => "No such file or directory",
        }
    }
}

fn sh(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A mount on a drive directory (with its ext4 image, if any), unmounted
/// when dropped (also on a failed assertion, so no test leaves a mount
/// behind).
struct Mounted {
    at: PathBuf,
    image: Option<PathBuf>,
}

impl Mounted {
    /// The block device the drive is mounted from.
    fn device(&self) -> Option<String> {
        let o = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.at)
            .output()
            .ok()?;
        let dev = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        (!dev.is_empty()).then_some(dev)
    }

    /// Unmounts the image, checks and repairs it (`e2fsck -fy`), mounts it
    /// again.
    fn remount_checked(&mut self) {
        let image = self.image.clone().unwrap();
        sh("umount", &[self.at.as_os_str()]).unwrap();
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&image)
            .output()
            .unwrap();
        // 0: clean, 1: errors corrected.
        assert!(
            matches!(fsck.status.code(), Some(0) | Some(1)),
            "e2fsck: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
        mount_ext4(&image, &self.at).unwrap();
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if sh("umount", &[self.at.as_os_str()]).is_err() {
            let _ = sh("umount", &["-l".as_ref(), self.at.as_os_str()]);
        }
    }
}

fn mount_ext4(image: &Path, at: &Path) -> Result<(), String> {
    sh(
        "mount",
        &[
            "-t".as_ref(),
            "ext4".as_ref(),
            "-o".as_ref(),
            "loop,errors=remount-ro".as_ref(),
            image.as_os_str(),
            at.as_os_str(),
        ],
    )
}

/// Moves a drive's content onto a new filesystem mounted where it was:
/// `mount` mounts it on the (empty) directory.
fn move_onto(
    drive: &Path,
    mount: impl FnOnce(&Path) -> Result<Mounted, String>,
) -> Result<Mounted, String> {
    let orig = drive.with_extension("orig");
    std::fs::rename(drive, &orig).unwrap();
    std::fs::create_dir(drive).unwrap();
    let mounted = match mount(drive) {
        Ok(m) => m,
        Err(e) => {
            std::fs::remove_dir(drive).unwrap();
            std::fs::rename(&orig, drive).unwrap();
            return Err(e);
        }
    };
    let mut src = orig.clone().into_os_string();
    src.push("/.");
    sh("cp", &["-a".as_ref(), src.as_os_str(), drive.as_os_str()]).unwrap();
    // The copy is durable before the run starts, as a drive's content is:
    // a fault that drops what was not synced must find it there.
    sh("sync", &["-f".as_ref(), drive.as_os_str()]).unwrap();
    std::fs::remove_dir_all(&orig).unwrap();
    Ok(mounted)
}

struct Ext4;

impl Ext4 {
    /// A 128 MiB ext4 image beside the drive, loop-mounted on it.
    fn create(drive: &Path) -> Result<Mounted, String> {
        let image = drive.with_extension("img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(128 << 20))
            .unwrap();
        sh(
            "mkfs.ext4",
            &["-q".as_ref(), "-F".as_ref(), image.as_os_str()],
        )
        .map_err(|e| format!("no mkfs.ext4 (apt-get install e2fsprogs): {e}"))?;
        move_onto(drive, |at| {
            mount_ext4(&image, at).map_err(|e| format!("no loop-mounted ext4: {e}"))?;
            Ok(Mounted {
                at: at.to_owned(),
                image: Some(image.clone()),
            })
        })
    }
}

/// The sysfs file that raises an ext4 error on the filesystem of `mount`.
fn trigger_of(mount: &Mounted) -> Option<PathBuf> {
    let dev = mount.device()?;
    let name = Path::new(&dev).file_name()?;
    let path = Path::new("/sys/fs/ext4")
        .join(name)
        .join("trigger_fs_error");
    path.exists().then_some(path)
}

/// `EXT4_IOC_SHUTDOWN` with `EXT4_GOING_FLAGS_NOLOGFLUSH` on the filesystem
/// of `path`, through python3 (the tests hold no `unsafe`).
fn shutdown(path: &Path) -> Result<(), String> {
    let script = "import fcntl, os, struct, sys\n\
                  fd = os.open(sys.argv[1], os.O_RDONLY)\n\
                  fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))\n";
    sh(
        "python3",
        &["-c".as_ref(), script.as_ref(), path.as_os_str()],
    )
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A fault set up on one drive, to be injected mid-run and removed.
struct Injector {
    fault: Fault,
    drive: PathBuf,
    /// Keeps the drive full while set: a thread grabs any freed space.
    filler: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    mount: Option<Mounted>,
}

impl Injector {
    /// Prepares `drive` for `fault` before the run starts; `Err` is the
    /// reason to skip.
    fn prepare(fault: Fault, drive: &Path) -> Result<Self, String> {
        if !is_root() {
            return Err("not root: mounts need root".into());
        }
        if fault == Fault::Eio && !have("python3") {
            return Err("no python3 to issue the shutdown ioctl".into());
        }
        let mount = match fault {
            // The drive's content moves onto a tmpfs of its own, mounted
            // where the drive was: its space can run out alone. Its size
            // leaves the resume room for the largest fixture (up to 48 MiB
            // a drive) and the new data dirs staged before the old go.
            Fault::NoSpace | Fault::NoSpaceForData => Some(move_onto(drive, |at| {
                sh(
                    "mount",
                    &[
                        "-t".as_ref(),
                        "tmpfs".as_ref(),
                        "-o".as_ref(),
                        "size=192m".as_ref(),
                        "tmpfs".as_ref(),
                        at.as_os_str(),
                    ],
                )
                .map_err(|e| format!("no size-limited tmpfs: {e}"))?;
                Ok(Mounted {
                    at: at.to_owned(),
                    image: None,
                })
            })?),
            // The drive's content moves onto an ext4 filesystem of its own
            // in a loop-mounted image, mounted where the drive was.
            Fault::ReadOnly | Fault::Eio => Some(Ext4::create(drive)?),
            Fault::Gone => None,
        };
        if fault == Fault::ReadOnly && mount.as_ref().and_then(trigger_of).is_none() {
            return Err("no /sys/fs/ext4/<device>/trigger_fs_error".into());
        }
        Ok(Injector {
            fault,
            drive: drive.to_owned(),
            filler: None,
            mount,
        })
    }

    fn filler_path(&self) -> PathBuf {
        self.drive.join(".minio.sys/tmp/fault-filler")
    }

    fn inject(&mut self) {
        match self.fault {
            Fault::NoSpaceForData => {
                let mut file = std::fs::File::create(self.filler_path()).unwrap();
                let chunk = vec![0x5au8; 64 * 1024];
                while file.write_all(&chunk).is_ok() {}
                while file.write_all(&chunk[..4096]).is_ok() {}
                let len = file.metadata().unwrap().len();
                file.set_len(len.saturating_sub(256 * 1024)).unwrap();
            }
            Fault::NoSpace => {
                let stop = Arc::new(AtomicBool::new(false));
                let mut file = std::fs::File::create(self.filler_path()).unwrap();
                // Full before the run writes again, and kept full.
                let fill = |file: &mut std::fs::File| {
                    let chunk = vec![0x5au8; 64 * 1024];
                    while file.write_all(&chunk).is_ok() {}
                    while file.write_all(&chunk[..4096]).is_ok() {}
                };
                fill(&mut file);
                let flag = stop.clone();
                let handle = std::thread::spawn(move || {
                    while !flag.load(Ordering::Relaxed) {
                        fill(&mut file);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
                self.filler = Some((stop, handle));
            }
            // What ext4 does on a metadata error under `errors=remount-ro`:
            // the filesystem turns read-only at once, open files and all.
            Fault::ReadOnly => {
                let trigger = self.mount.as_ref().and_then(trigger_of).unwrap();
                std::fs::write(trigger, "keyrotate fault test").unwrap();
            }
            // The filesystem is shut down without flushing its journal (as
            // if the device died): every later operation fails with EIO, and
            // what was not yet durable is lost.
            Fault::Eio => shutdown(&self.drive).unwrap(),
            Fault::Gone => std::fs::rename(&self.drive, self.drive.with_extension("gone")).unwrap(),
        }
    }

    fn remove(&mut self) {
        match self.fault {
            Fault::NoSpace | Fault::NoSpaceForData => {
                if let Some((stop, handle)) = self.filler.take() {
                    stop.store(true, Ordering::Relaxed);
                    handle.join().unwrap();
                }
                std::fs::remove_file(self.filler_path()).unwrap();
            }
            // The run has ended: the filesystem is checked and mounted
            // again, as after a repair (the journal is replayed).
            Fault::ReadOnly | Fault::Eio => self.mount.as_mut().unwrap().remount_checked(),
            Fault::Gone => std::fs::rename(self.drive.with_extension("gone"), &self.drive).unwrap(),
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.filler.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

/// A deployment built for one kind of job, with what is needed to run it
/// and to check it against the fixture's manifest.
struct Case {
    kind: Kind,
    root: PathBuf,
    drives: Vec<PathBuf>,
    job: PathBuf,
    state: PathBuf,
}

impl Case {
    fn new(kind: Kind, dir: &Path) -> Self {
        let root = dir.join("d");
        match kind {
            Kind::Rotation => fixture(&root, 40, "sse-kms=1", &[]),
            Kind::Conversion => fixture(&root, 40, "sse-s3=1", &[]),
            // Part files (up to 3 MiB) as well as inline objects: the
            // rewrite stages new part files.
            Kind::Encryption => fixture(&root, 40, "plain=1", &["--sizes", "mixed"]),
            Kind::Internal => fixture(&root, 4, "sse-kms=1", &["--internal"]),
            Kind::SparseEncryption => fixture(&root, 80, "sse-kms=6,plain=1", &[]),
            Kind::LargeEncryption => fixture(&root, 12, "plain=1", &["--sizes", "large"]),
        }
        let extra = match kind {
            Kind::Encryption | Kind::SparseEncryption | Kind::LargeEncryption => "  encryption:\n    type: sse-kms\n    key: my-minio-key\n  flags:\n    filter:\n      plaintextOnly: true\n",
            _ => "",
        };
        let job = write_job(&root, "fixture", extra);
        Case {
            kind,
            drives: drives(&root, 4),
            state: root.join("state"),
            root,
            job,
        }
    }

    /// The key the job moves data to (and the KMS's default key).
    fn target(&self) -> &'static str {
        if self.kind == Kind::Internal {
            KEY_NEW
        } else {
            KEY1
        }
    }

    /// Old and new keys: every version and item unseals whichever it is under.
    fn kms(&self) -> StaticKms {
        let old = if self.kind == Kind::Internal {
            vec![StaticKey::parse(KEY1).unwrap()]
        } else {
            Vec::new()
        };
        StaticKms::new(StaticKey::parse(self.target()).unwrap(), old)
    }

    fn command(&self) -> Command {
        let mut cmd = run_cmd(&self.job, &self.drives, &self.state, self.target());
        if self.kind == Kind::Internal {
            cmd.args(["--old-kms-secret-key", KEY1]);
        }
        cmd
    }

    /// Every internal item's plaintext, by name.
    fn internal_items(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        let kms = self.kms();
        discover(std::slice::from_ref(&self.drives))
            .unwrap()
            .iter()
            .map(|item| {
                let d = decrypt_item(item, &kms).unwrap();
                (d.name.clone(), d.plaintext.map(|p| p.expose().to_vec()))
            })
            .collect()
    }

    /// The object versions of the fixture (its manifest): (those the job
    /// changes, those it skips as not plaintext).
    fn versions(&self) -> (u64, u64) {
        let m = manifest(&self.root);
        let all: Vec<&serde_json::Value> = m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["bucket"] == "fixture" && e["delete_marker"].as_bool() != Some(true))
            .collect();
        let plain = all.iter().filter(|e| e["sse"] == "").count() as u64;
        match self.kind {
            Kind::SparseEncryption => (plain, all.len() as u64 - plain),
            _ => (all.len() as u64, 0),
        }
    }

    /// Every object version reads back (erasure, unseal under the old or
    /// the new key, DARE) to its manifest digest.
    fn check_versions(&self, when: &str) {
        let kms = self.kms();
        let m = manifest(&self.root);
        let mut seen = 0;
        for e in m["objects"].as_array().unwrap() {
            if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
                continue;
            }
            let object = e["object"].as_str().unwrap();
            let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
            let plain = read_plaintext(Some(&kms), &self.drives, "fixture", object, vid)
                .unwrap_or_else(|err| panic!("{when}: {object}: {err}"));
            assert_eq!(
                hex::encode(Sha256::digest(&plain)),
                e["plaintext_sha256"].as_str().unwrap(),
                "{when}: {object}"
            );
            seen += 1;
        }
        assert!(seen >= 4, "{when}: {seen} versions");
    }

    /// Starts the run slowed down and returns once it is in the middle of
    /// its writes: objects committed one per batch, 25 ms apart, after two
    /// reported; internal items in the 1.5 s pause between their journaled
    /// intents and their drive writes.
    fn start_mid_run(&self) -> std::process::Child {
        let mut cmd = self.command();
        let delay = if self.kind == Kind::Internal {
            "1500"
        } else {
            "25"
        };
        cmd.env("KEYROTATE_TEST_COMMIT_DELAY_MS", delay)
            .env("KEYROTATE_TEST_BATCH", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        if self.kind == Kind::Internal {
            // The pause follows the commit that journals the internal
            // items' intents and closes them with an `Internal` record.
            let start = Instant::now();
            while !journaled(&self.state, b"Internal") {
                assert!(start.elapsed() < Duration::from_secs(30), "never journaled");
                std::thread::sleep(Duration::from_millis(2));
            }
        } else {
            wait_for_reports(&self.state, 2);
        }
        child
    }
}

/// Whether a journal under `state` holds `needle` (records are MessagePack
/// with named fields: a record's variant name is a string). Journals are
/// looked for a few levels down, wherever the state layout puts them.
fn journaled(state: &Path, needle: &[u8]) -> bool {
    let mut dirs = vec![(state.to_owned(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if depth < 4 {
                    dirs.push((p, depth + 1));
                }
            } else if e.file_name() == "journal"
                && std::fs::read(&p).is_ok_and(|j| j.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

/// Waits at most a minute for `child`, reading its output meanwhile (a
/// full pipe must not stall it).
fn finish(child: std::process::Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the run did not stop within a minute of the fault");
        }
    }
}

/// The errors the run reported: `lastError` of an aborted run, the report's
/// failed lines (object named by the line) and the internal items' errors.
fn errors_of(case: &Case, summary: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = summary["lastError"].as_str() {
        out.push(e.to_owned());
    }
    for line in report_lines(&case.state) {
        if let Some(e) = line["error"].as_str() {
            out.push(format!("{}/{}: {e}", line["bucket"], line["object"]));
        }
    }
    if let Some(errors) = summary["internal"]["errors"].as_array() {
        out.extend(errors.iter().map(|e| e.to_string()));
    }
    out
}

fn scenario(kind: Kind, fault: Fault) {
    if !is_root() {
        eprintln!("skipped {kind:?} × {fault:?}: not root: mounts need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let case = Case::new(kind, tmp.path());
    let items_before = (kind == Kind::Internal).then(|| case.internal_items());
    let mut injector = match Injector::prepare(fault, &case.drives[VICTIM]) {
        Ok(i) => i,
        Err(reason) => {
            eprintln!("skipped {kind:?} × {fault:?}: {reason}");
            return;
        }
    };
    // Space for part files runs out before the run starts: the staging of
    // encrypted data outpaces the commits, so a fault injected later may
    // find every part file already written.
    if fault == Fault::NoSpaceForData {
        injector.inject();
    }
    let child = case.start_mid_run();
    if fault != Fault::NoSpaceForData {
        injector.inject();
    }
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{kind:?} × {fault:?}: no JSON summary ({e}), exit {code:?}: {stderr}")
    });
    assert!(
        matches!(code, Some(1) | Some(4)),
        "{kind:?} × {fault:?}: exit {code:?}, want 1 or 4: {summary} {stderr}"
    );
    if code == Some(4) {
        assert_eq!(summary["status"], "aborted", "{summary}");
    }
    // One error names the drive, the object and the cause.
    let errors = errors_of(&case, &summary);
    let object = if kind == Kind::Internal {
        ".minio.sys"
    } else {
        "obj-"
    };
    let named = errors
        .iter()
        .find(|e| e.contains("drive3") && e.contains(object) && e.contains(fault.cause()));
    let Some(named) = named else {
        panic!(
            "{kind:?} × {fault:?}: exit {code:?}, no error names drive3, the object and {:?}: {errors:#?}\n{summary}\n{stderr}",
            fault.cause()
        );
    };
    eprintln!("{kind:?} × {fault:?}: exit {code:?}: {named}");

    // The fault is removed: nothing was lost.
    // (Internal items are checked after the resume: their reader wants
    // every drive to agree, and a stopped plan leaves them disagreeing.)
    injector.remove();
    case.check_versions("after the fault");

    // A resume finishes the job; the drives agree and everything decrypts.
    let out = case.command().arg("--retry-failed").output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{kind:?} × {fault:?} resume: {summary} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["status"], "completed", "{summary}");
    // The job did all its work over the two runs: every version moved,
    // none skipped or failed on the way (the counters add up over a resume).
    let moved: u64 = ["objectsRotated", "objectsConverted", "objectsEncrypted"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    let (changed, not_plaintext) = case.versions();
    assert_eq!(moved, changed, "{kind:?} × {fault:?}: {summary}");
    assert_eq!(summary["objectsFailed"], 0, "{summary}");
    let skipped = if not_plaintext > 0 {
        serde_json::json!({ "notPlaintext": not_plaintext })
    } else {
        serde_json::json!({})
    };
    assert_eq!(summary["skippedByReason"], skipped, "{summary}");
    if kind == Kind::Internal {
        assert_eq!(summary["internal"]["failed"], 0, "{summary}");
        assert_eq!(summary["internal"]["rotated"], 15, "{summary}");
    }
    case.check_versions("after the resume");
    if let Some(before) = &items_before {
        assert_eq!(
            &case.internal_items(),
            before,
            "internal items after the resume"
        );
    }
    let (report, problems) = verify_data(&case.drives, case.target());
    assert!(problems.is_empty(), "{kind:?} × {fault:?}: {report}");
    assert_eq!(staging_left(&case.drives), 0);
    drop(injector);
}

macro_rules! cell {
    ($name:ident, $kind:ident, $fault:ident) => {
        #[test]
        fn $name() {
            scenario(Kind::$kind, Fault::$fault);
        }
    };
}

cell!(no_space_during_rotation, Rotation, NoSpace);
cell!(no_space_during_conversion, Conversion, NoSpace);
cell!(no_space_during_encryption, Encryption, NoSpace);
cell!(no_space_during_internal_items, Internal, NoSpace);
cell!(read_only_during_rotation, Rotation, ReadOnly);
cell!(read_only_during_conversion, Conversion, ReadOnly);
cell!(read_only_during_encryption, Encryption, ReadOnly);
cell!(read_only_during_internal_items, Internal, ReadOnly);
cell!(eio_during_rotation, Rotation, Eio);
cell!(eio_during_conversion, Conversion, Eio);
cell!(eio_during_encryption, Encryption, Eio);
cell!(eio_during_internal_items, Internal, Eio);
cell!(gone_during_rotation, Rotation, Gone);
cell!(gone_during_conversion, Conversion, Gone);
cell!(gone_during_encryption, Encryption, Gone);
cell!(gone_during_internal_items, Internal, Gone);
// The fault meets a run that mostly reads (SSE-KMS versions skipped by a
// plaintext-only job): a read error must not pass for an inconsistent
// object (a final skip).
// Part files of the new data dirs find no space, metadata does.
cell!(
    no_space_for_part_files_during_encryption,
    LargeEncryption,
    NoSpaceForData
);
cell!(eio_during_sparse_encryption, SparseEncryption, Eio);
cell!(gone_during_sparse_encryption, SparseEncryption, Gone);

/// A drive that already fails (EIO) when the run starts: pre-flight refuses
/// (exit 3) naming the drive and the cause, writes nothing, and the job
/// runs once the drive is repaired.
#[test]
fn a_drive_failing_before_the_run_is_refused_by_preflight() {
    if !is_root() {
        eprintln!("skipped preflight × Eio: not root: mounts need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let case = Case::new(Kind::Rotation, tmp.path());
    let mut injector = match Injector::prepare(Fault::Eio, &case.drives[VICTIM]) {
        Ok(i) => i,
        Err(reason) => {
            eprintln!("skipped preflight × Eio: {reason}");
            return;
        }
    };
    let before = snapshot(&[case.drives[0].clone(), case.drives[1].clone()]);
    injector.inject();
    let out = case.command().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("drive3") && stderr.contains(Fault::Eio.cause()),
        "the refusal names the drive and the cause: {stderr}"
    );
    eprintln!("preflight × Eio: exit 3: {}", stderr.trim());
    assert_eq!(
        snapshot(&[case.drives[0].clone(), case.drives[1].clone()]),
        before,
        "nothing written"
    );
    injector.remove();
    let (code, summary, out) = run(&case.job, &case.drives, &case.state, KEY1);
    assert_eq!(
        code,
        0,
        "{summary} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["objectsRotated"], case.versions().0, "{summary}");
    case.check_versions("after the repair");
    let (report, problems) = verify_data(&case.drives, KEY1);
    assert!(problems.is_empty(), "{report}");
}
