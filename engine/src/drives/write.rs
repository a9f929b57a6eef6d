//! A drive's crash-safe writes: the writer thread behind
//! [`DriveIo::atomic_write_batch`](super::io::DriveIo::atomic_write_batch).
//!
//! Every file keyrotate changes on a drive is written here, a batch at a
//! time, with plain syscalls: each step blocks in the filesystem (inode and
//! block allocation, directory locks), so io_uring would only hand it to
//! its own worker threads; the drive's ring thread stays free for reads.
//!
//! The durability argument is at [`Writer::write_batch`]. What makes a batch
//! cheap is that it reuses inodes: a new `xl.meta` is staged in a spare file
//! of the staging folder and *exchanged* with its target
//! (`renameat2(RENAME_EXCHANGE)`), so the old `xl.meta` comes back as the
//! next batch's spare instead of being freed. Renaming over the target
//! would free one inode and one block per file and allocate them again for
//! the next; on a filesystem mounted with `discard` each free also waits for
//! the device to discard the block.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

use super::io::{DriveIoError, STAGING_DIR};
use crate::crashpoint::{crash_point, is_armed};

/// One file of a batch: absolute target, the same relative (for errors), bytes.
pub(super) type BatchItem = (CString, PathBuf, Vec<u8>);

/// A request to a drive's writer thread.
pub(super) enum WriteJob {
    /// Write these files crash-safely; answer when every one is durable.
    Batch {
        batch: Vec<BatchItem>,
        reply: mpsc::Sender<Result<(), DriveIoError>>,
    },
    /// Remove the staging folders and their spare files.
    Release { reply: mpsc::Sender<()> },
}

/// Lanes a batch fans out to on its drive: staging and renaming wait on the
/// filesystem, so several in flight hide that latency. Each lane stages into
/// its own folder: files made in one shared folder serialize on its lock.
const LANES: usize = 8;

/// The writer thread of the drive at `root`: runs jobs until every
/// [`DriveIo`](super::io::DriveIo) handle is gone, then releases its staging.
pub(super) fn run_writer(root: PathBuf, rx: mpsc::Receiver<WriteJob>) {
    let mut writer: Option<Writer> = None;
    while let Ok(job) = rx.recv() {
        match job {
            WriteJob::Batch { batch, reply } => {
                let res = match writer.as_mut() {
                    Some(w) => w.write_batch(batch),
                    None => match Writer::open(&root) {
                        Ok(w) => writer.insert(w).write_batch(batch),
                        Err(e) => Err(e),
                    },
                };
                let _ = reply.send(res);
            }
            WriteJob::Release { reply } => {
                if let Some(w) = writer.take() {
                    w.release();
                }
                let _ = reply.send(());
            }
        }
    }
    if let Some(w) = writer.take() {
        w.release();
    }
}

/// The writer's state between batches: the open drive root (for `syncfs`)
/// and the staging lanes with their spare inodes.
struct Writer {
    root: PathBuf,
    /// Kept open from before the first staged file: `syncfs(2)` on it
    /// reports every writeback error of the filesystem since the previous
    /// call (Linux 5.8+).
    root_dir: File,
    /// `keyrotate-<uuid>`: this writer's staging folders are `<prefix>-<lane>`.
    prefix: String,
    lanes: Vec<Lane>,
    /// Cleared when the filesystem refuses `RENAME_EXCHANGE`: from then on
    /// files are renamed over their targets.
    exchange: AtomicBool,
}

/// One staging folder and the spare files in it.
struct Lane {
    /// The folder, relative to the drive root.
    rel: PathBuf,
    dir: OwnedFd,
    /// Names of files that may be overwritten and staged again: old files
    /// swapped out by a batch whose second sync succeeded, and staged files
    /// a failed batch never swapped in. Nothing else links to them.
    spare: Vec<u32>,
    /// The next name never used in this folder.
    next: u32,
}

/// A staged file waiting for its swap.
struct Staged {
    name: u32,
    target: CString,
    rel: PathBuf,
    /// Exchange with the target (its old inode becomes a spare) instead of
    /// renaming over it: the target is a regular file with no other link.
    swap: bool,
}

/// Why a file could not be staged.
enum StageError {
    /// The target could not be examined.
    Target(std::io::Error),
    /// No file could be made in the lane's folder.
    Create(std::io::Error),
    /// The staged file (by name) could not be written.
    Write(u32, std::io::Error),
}

/// Files of a batch swapped in so far, over all lanes: the crash point
/// `write.half_swapped` fires once half of them are in.
struct SwapCount {
    done: AtomicUsize,
    half: usize,
}

impl SwapCount {
    fn one_more(&self) {
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 == self.half {
            crash_point("write.half_swapped");
        }
    }
}

/// One lane's outcome of the renames.
#[derive(Default)]
struct Renamed {
    /// Names now holding a target's old file.
    swapped: Vec<u32>,
    /// Targets replaced (for the parent fsyncs before Linux 5.8).
    targets: Vec<PathBuf>,
    /// Names still holding a staged file that did not go in.
    unused: Vec<u32>,
    error: Option<DriveIoError>,
}

impl Writer {
    fn open(root: &Path) -> Result<Self, DriveIoError> {
        let root_dir = File::open(root).map_err(|source| DriveIoError {
            drive: root.to_owned(),
            op: "open",
            path: PathBuf::new(),
            source,
        })?;
        Ok(Writer {
            root: root.to_owned(),
            root_dir,
            prefix: format!("keyrotate-{}", uuid::Uuid::new_v4()),
            lanes: Vec::new(),
            exchange: AtomicBool::new(true),
        })
    }

    fn error(&self, op: &'static str, path: &Path, source: std::io::Error) -> DriveIoError {
        error(&self.root, op, path, source)
    }

    /// Creates lanes up to `n`.
    fn add_lanes(&mut self, n: usize) -> Result<(), DriveIoError> {
        while self.lanes.len() < n {
            let rel = Path::new(STAGING_DIR).join(format!("{}-{}", self.prefix, self.lanes.len()));
            let abs = self.root.join(&rel);
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(&abs)
                .map_err(|e| self.error("mkdir", &rel, e))?;
            let dir = rustix::fs::open(
                &abs,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.error("open", &rel, e.into()))?;
            self.lanes.push(Lane {
                rel,
                dir,
                spare: Vec::new(),
                next: 0,
            });
        }
        Ok(())
    }

    /// Writes a batch crash-safely with two filesystem syncs in all.
    ///
    /// Durability argument, in order:
    /// 1. Every new file is written into a file of the staging folder that
    ///    nothing else links to (invisible to MinIO, which empties that
    ///    folder when it starts): a spare, or a new file. It gets the mode,
    ///    owner and group of the file it replaces.
    /// 2. `syncfs` of the drive's filesystem: when it returns without
    ///    error, the data and inode of every staged file are on stable
    ///    storage (it writes back every dirty inode of the filesystem, waits
    ///    for it, commits the filesystem journal and flushes the device
    ///    cache), so no swap below can make a file visible whose bytes a
    ///    power loss could lose. One sync for the batch instead of one fsync
    ///    per file.
    /// 3. Each staged file is exchanged with its target, atomically: the
    ///    target path names the new file, the staging name the old one.
    ///    (Renamed over it when the target is missing, not a regular file,
    ///    has other links, or the filesystem has no exchange.)
    /// 4. `syncfs` again makes every swap durable; only then does the batch
    ///    report success, and only then does the caller journal it as done.
    ///    Only then, too, do the old files become spares: a spare is
    ///    overwritten by the next batch, which must never write into a file
    ///    that a target path could still name after a power loss.
    ///
    /// Before Linux 5.8 `syncfs` does not report writeback errors, so there
    /// each staged file is also fsynced in step 1 and each target directory
    /// in step 4 ([`syncfs_reports_errors`]).
    ///
    /// A crash before 3 leaves only staging garbage; during 3 or 4 some
    /// targets are new and some old, each file whole — the journaled intent
    /// lets a resume finish the rest. Files are committed independently: on
    /// error, the files already swapped stay new. The crash points
    /// `write.staged`, `write.after_first_sync`, `write.half_swapped` and
    /// `write.after_second_sync` ([`crate::crashpoint`]) stop a test run
    /// between these steps.
    fn write_batch(&mut self, batch: Vec<BatchItem>) -> Result<(), DriveIoError> {
        if batch.is_empty() {
            return Ok(());
        }
        let lanes = LANES.min(batch.len());
        self.add_lanes(lanes)?;
        let mut shares: Vec<Vec<BatchItem>> = (0..lanes).map(|_| Vec::new()).collect();
        for (i, item) in batch.into_iter().enumerate() {
            shares[i % lanes].push(item);
        }
        let root = self.root.as_path();
        let exchange = &self.exchange;
        let active = &mut self.lanes[..lanes];
        // 1. stage
        let staged: Vec<(Vec<Staged>, Option<DriveIoError>)> =
            on_lanes(active, shares, |lane, items| {
                lane.stage_all(root, items, exchange)
            });
        let mut failure = None;
        let mut per_lane = Vec::with_capacity(lanes);
        for (s, e) in staged {
            per_lane.push(s);
            if failure.is_none() {
                failure = e;
            }
        }
        // 2. staged files durable
        if failure.is_none() {
            crash_point("write.staged");
            failure = self.sync(Path::new(STAGING_DIR)).err();
        }
        if let Some(e) = failure {
            for (lane, staged) in self.lanes.iter_mut().zip(per_lane) {
                lane.spare.extend(staged.iter().map(|s| s.name));
            }
            return Err(e);
        }
        crash_point("write.after_first_sync");
        // 3. swaps
        let exchange = &self.exchange;
        // Counted only for a test that crashes half-way: no shared counter
        // on the hot path.
        let swaps = is_armed("write.half_swapped").then(|| SwapCount {
            done: AtomicUsize::new(0),
            half: (per_lane.iter().map(Vec::len).sum::<usize>() / 2).max(1),
        });
        let renamed: Vec<Renamed> = on_lanes(&mut self.lanes[..lanes], per_lane, |lane, staged| {
            lane.swap_all(root, staged, exchange, swaps.as_ref())
        });
        // 4. swaps durable
        let mut first_err = None;
        if let Err(e) = self.sync(Path::new(".")) {
            first_err = Some(e);
        }
        if first_err.is_none() && !syncfs_reports_errors() {
            let targets: Vec<&PathBuf> = renamed.iter().flat_map(|r| &r.targets).collect();
            first_err = fsync_parents(root, &targets).err();
        }
        if first_err.is_none() {
            crash_point("write.after_second_sync");
        }
        let durable = first_err.is_none();
        for (lane, r) in self.lanes.iter_mut().zip(renamed) {
            if let Some(e) = r.error {
                first_err.get_or_insert(e);
            }
            lane.spare.extend(r.unused);
            if durable {
                lane.spare.extend(r.swapped);
            } else {
                // Whether a swap reached the disk is unknown: a target may
                // still name the old file, so it must never be written.
                for name in r.swapped {
                    let _ = rustix::fs::unlinkat(&lane.dir, name.to_string(), AtFlags::empty());
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn sync(&self, what: &Path) -> Result<(), DriveIoError> {
        #[cfg(test)]
        if fault::sync_fails(&self.root) {
            let eio = std::io::Error::from_raw_os_error(libc::EIO);
            return Err(self.error("syncfs", what, eio));
        }
        rustix::fs::syncfs(&self.root_dir).map_err(|e| self.error("syncfs", what, e.into()))
    }

    /// Removes the spare files and the staging folders; best effort: MinIO
    /// empties its staging area at start, and a resume removes what a
    /// killed run left.
    fn release(self) {
        for lane in self.lanes {
            for name in &lane.spare {
                let _ = rustix::fs::unlinkat(&lane.dir, name.to_string(), AtFlags::empty());
            }
            drop(lane.dir);
            let abs = self.root.join(&lane.rel);
            if std::fs::remove_dir(&abs).is_err() {
                let _ = std::fs::remove_dir_all(&abs);
            }
        }
    }
}

/// Runs `f` on every lane with its share, each lane on its own thread.
fn on_lanes<T: Send, R: Send>(
    lanes: &mut [Lane],
    shares: Vec<T>,
    f: impl Fn(&mut Lane, T) -> R + Sync,
) -> Vec<R> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = lanes
            .iter_mut()
            .zip(shares)
            .map(|(lane, share)| s.spawn(move || f(lane, share)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

impl Lane {
    fn name_rel(&self, name: u32) -> PathBuf {
        self.rel.join(name.to_string())
    }

    /// Stages every item; returns what was staged and the first error.
    fn stage_all(
        &mut self,
        root: &Path,
        items: Vec<BatchItem>,
        exchange: &AtomicBool,
    ) -> (Vec<Staged>, Option<DriveIoError>) {
        let mut staged = Vec::with_capacity(items.len());
        let mut first = None;
        for (target, rel, data) in items {
            match self.stage(&target, &data, exchange) {
                Ok((name, swap)) => staged.push(Staged {
                    name,
                    target,
                    rel,
                    swap,
                }),
                Err(StageError::Target(e)) => {
                    first.get_or_insert_with(|| error(root, "stat", &rel, e));
                }
                Err(StageError::Create(e)) => {
                    first.get_or_insert_with(|| error(root, "create", &self.rel, e));
                }
                Err(StageError::Write(name, e)) => {
                    first.get_or_insert_with(|| error(root, "write", &self.name_rel(name), e));
                }
            }
        }
        (staged, first)
    }

    /// Writes `data` into a spare or new file with the mode, owner and group
    /// of `target` when it exists; returns the file's name and whether it
    /// may be swapped with the target. The mode is set explicitly after the
    /// owner: the umask applies at creation, and a change of owner clears
    /// the set-user-ID and set-group-ID bits.
    fn stage(
        &mut self,
        target: &CString,
        data: &[u8],
        exchange: &AtomicBool,
    ) -> Result<(u32, bool), StageError> {
        let old = match std::fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(
            target.as_bytes(),
        ))) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StageError::Target(e)),
        };
        let mode = old.as_ref().map_or(0o666, |m| m.mode() & 0o7777);
        // A spare takes the owner and mode of the file it replaces: with no
        // file to replace there is none to copy, so a new file is made.
        let (name, file, reused) = self
            .take_file(mode, old.is_some())
            .map_err(StageError::Create)?;
        let written = write_staged(&file, reused.as_ref(), old.as_ref(), mode, data);
        if let Err(e) = written {
            drop(file);
            let _ = rustix::fs::unlinkat(&self.dir, name.to_string(), AtFlags::empty());
            return Err(StageError::Write(name, e));
        }
        let swap = exchange.load(Ordering::Relaxed)
            && old
                .as_ref()
                .is_some_and(|m| m.file_type().is_file() && m.nlink() == 1);
        Ok((name, swap))
    }

    /// A file to stage into: when `reuse`, a spare that is still a regular
    /// file linked only from here (anything else is dropped from the
    /// folder); else, or with no spare left, a new file. Returns its name,
    /// the open file, and the spare's metadata.
    fn take_file(
        &mut self,
        mode: u32,
        reuse: bool,
    ) -> std::io::Result<(u32, File, Option<rustix::fs::Stat>)> {
        while let Some(name) = reuse.then(|| self.spare.pop()).flatten() {
            let opened = rustix::fs::openat(
                &self.dir,
                name.to_string(),
                OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            if let Ok(fd) = opened {
                if let Ok(st) = rustix::fs::fstat(&fd) {
                    if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
                        && st.st_nlink == 1
                    {
                        return Ok((name, File::from(fd), Some(st)));
                    }
                }
            }
            let _ = rustix::fs::unlinkat(&self.dir, name.to_string(), AtFlags::empty());
        }
        let name = self.next;
        self.next += 1;
        let fd = rustix::fs::openat(
            &self.dir,
            name.to_string(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        Ok((name, File::from(fd), None))
    }

    /// Swaps (or renames) every staged file into place.
    fn swap_all(
        &mut self,
        root: &Path,
        staged: Vec<Staged>,
        exchange: &AtomicBool,
        swaps: Option<&SwapCount>,
    ) -> Renamed {
        let mut out = Renamed::default();
        for s in staged {
            let name = s.name.to_string();
            if s.swap && exchange.load(Ordering::Relaxed) {
                match rustix::fs::renameat_with(
                    &self.dir,
                    &name,
                    CWD,
                    s.target.as_c_str(),
                    RenameFlags::EXCHANGE,
                ) {
                    Ok(()) => {
                        out.swapped.push(s.name);
                        out.targets.push(s.rel);
                        if let Some(c) = swaps {
                            c.one_more();
                        }
                        continue;
                    }
                    // No exchange on this filesystem: rename from now on.
                    Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                        exchange.store(false, Ordering::Relaxed);
                    }
                    // The target went away since it was staged: created anew below.
                    Err(Errno::NOENT) => {}
                    Err(e) => {
                        out.error
                            .get_or_insert_with(|| error(root, "rename", &s.rel, e.into()));
                        out.unused.push(s.name);
                        continue;
                    }
                }
            }
            match rustix::fs::renameat(&self.dir, &name, CWD, s.target.as_c_str()) {
                Ok(()) => {
                    out.targets.push(s.rel);
                    if let Some(c) = swaps {
                        c.one_more();
                    }
                }
                Err(e) => {
                    out.error
                        .get_or_insert_with(|| error(root, "rename", &s.rel, e.into()));
                    out.unused.push(s.name);
                }
            }
        }
        out
    }
}

/// Fills a staged file: the bytes at offset 0, the length cut to them (a
/// spare holds an older, maybe longer file), owner and mode of the target.
fn write_staged(
    file: &File,
    spare: Option<&rustix::fs::Stat>,
    old: Option<&std::fs::Metadata>,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    file.write_all_at(data, 0)?;
    if spare.is_some_and(|st| st.st_size as u64 != data.len() as u64) {
        file.set_len(data.len() as u64)?;
    }
    if let Some(m) = old {
        let owner_differs = spare.is_none_or(|st| st.st_uid != m.uid() || st.st_gid != m.gid());
        if owner_differs {
            std::os::unix::fs::fchown(file, Some(m.uid()), Some(m.gid()))?;
        }
        let mode_differs = spare.is_none_or(|st| st.st_mode & 0o7777 != mode);
        if owner_differs || mode_differs {
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
    }
    // Without error-reporting syncfs, each file's own fsync is the check.
    if !syncfs_reports_errors() {
        file.sync_all()?;
    }
    Ok(())
}

fn error(root: &Path, op: &'static str, path: &Path, source: std::io::Error) -> DriveIoError {
    DriveIoError {
        drive: root.to_owned(),
        op,
        path: path.to_owned(),
        source,
    }
}

/// Whether `syncfs(2)` reports writeback errors: only since Linux 5.8.
/// Before that, a batch also fsyncs every staged file and every target
/// directory itself, so no write error can go unseen.
/// `KEYROTATE_TEST_OLD_KERNEL=1` takes that path on any kernel (tests).
pub(super) fn syncfs_reports_errors() -> bool {
    static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORTS.get_or_init(|| {
        if std::env::var_os("KEYROTATE_TEST_OLD_KERNEL").is_some_and(|v| v == "1") {
            return false;
        }
        let release = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        kernel_at_least(&release, (5, 8))
    })
}

/// `release` (`6.18.44-fc`, `5.8.0`) is at least `major.minor`.
pub(super) fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// fsyncs the distinct parent directories of `rels` (the swaps' entries).
fn fsync_parents(root: &Path, rels: &[&PathBuf]) -> Result<(), DriveIoError> {
    let mut dirs: Vec<&Path> = rels.iter().filter_map(|r| r.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        File::open(root.join(d))
            .and_then(|f| f.sync_all())
            .map_err(|source| error(root, "fsync", d, source))?;
    }
    Ok(())
}

/// Test hook: failing `syncfs` calls of a chosen writer on demand, the
/// writeback error (EIO) a real disk reports late.
#[cfg(test)]
pub(crate) mod fault {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Per drive root: `syncfs` calls left before the failing one.
    static SYNC: Mutex<Vec<(PathBuf, u32)>> = Mutex::new(Vec::new());

    /// Makes the `n`-th `syncfs` from now (1: the next) of the writer of
    /// the drive at `root` fail with EIO; once.
    pub fn fail_sync(root: &Path, n: u32) {
        assert!(n > 0);
        SYNC.lock().unwrap().push((root.to_owned(), n));
    }

    /// Counts a `syncfs` of the writer at `root`: whether it must fail.
    pub(super) fn sync_fails(root: &Path) -> bool {
        let mut armed = SYNC.lock().unwrap_or_else(|p| p.into_inner());
        let Some(at) = armed.iter().position(|(r, _)| r == root) else {
            return false;
        };
        armed[at].1 -= 1;
        if armed[at].1 > 0 {
            return false;
        }
        armed.remove(at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_comparison() {
        assert!(kernel_at_least("6.18.44-fc-v669", (5, 8)));
        assert!(kernel_at_least("5.8.0", (5, 8)));
        assert!(kernel_at_least("5.10.0-28-amd64", (5, 8)));
        assert!(!kernel_at_least("5.4.0-150-generic", (5, 8)));
        assert!(!kernel_at_least("4.18.0-553.el8_10.x86_64", (5, 8)));
        assert!(!kernel_at_least("garbage", (5, 8)));
    }
}

#[cfg(test)]
mod reuse_tests {
    use std::collections::BTreeSet;
    use std::fs::File;
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use crate::drives::io::{DriveIo, STAGING_DIR};

    fn files_in_staging(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(root.join(STAGING_DIR)) else {
            return out;
        };
        for d in dirs.flatten() {
            if d.path().is_dir() {
                out.extend(
                    std::fs::read_dir(d.path())
                        .unwrap()
                        .flatten()
                        .map(|e| e.path()),
                );
            } else {
                out.push(d.path());
            }
        }
        out
    }

    fn setup(n: usize, len: usize) -> (tempfile::TempDir, DriveIo, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let io = DriveIo::spawn(dir.path()).unwrap();
        let rels: Vec<PathBuf> = (0..n)
            .map(|i| PathBuf::from(format!("bkt/o{i}/xl.meta")))
            .collect();
        for (i, r) in rels.iter().enumerate() {
            std::fs::create_dir_all(dir.path().join(r).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(r), vec![b'a' + i as u8; len]).unwrap();
        }
        (dir, io, rels)
    }

    #[test]
    fn old_files_come_back_as_the_next_batch_s_files() {
        let (dir, io, rels) = setup(20, 9000);
        let first: Vec<_> = rels[..10]
            .iter()
            .map(|r| std::fs::metadata(dir.path().join(r)).unwrap().ino())
            .collect();
        let batch = |rs: &[PathBuf], byte: u8, len: usize| {
            rs.iter()
                .map(|r| (r.clone(), vec![byte; len]))
                .collect::<Vec<_>>()
        };
        io.atomic_write_batch(batch(&rels[..10], b'X', 100))
            .unwrap();
        // The swapped-out old files wait in staging, whole and unchanged.
        let spares = files_in_staging(dir.path());
        assert_eq!(spares.len(), 10);
        let mut spare_inodes: Vec<u64> = spares
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().ino())
            .collect();
        spare_inodes.sort_unstable();
        let mut want = first.clone();
        want.sort_unstable();
        assert_eq!(spare_inodes, want, "the spares are the replaced files");
        // The next batch is written into them: shorter than what they held,
        // and the targets read exactly the new bytes.
        io.atomic_write_batch(batch(&rels[10..], b'Y', 3000))
            .unwrap();
        let mut second: Vec<u64> = rels[10..]
            .iter()
            .map(|r| std::fs::metadata(dir.path().join(r)).unwrap().ino())
            .collect();
        second.sort_unstable();
        assert_eq!(second, want, "the new files reuse the old inodes");
        for r in &rels[..10] {
            assert_eq!(std::fs::read(dir.path().join(r)).unwrap(), vec![b'X'; 100]);
        }
        for r in &rels[10..] {
            assert_eq!(std::fs::read(dir.path().join(r)).unwrap(), vec![b'Y'; 3000]);
        }
        io.release_staging();
        assert!(files_in_staging(dir.path()).is_empty());
    }

    fn inode(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().ino()
    }

    fn batch_of(rels: &[PathBuf], bytes: &[u8]) -> Vec<(PathBuf, Vec<u8>)> {
        rels.iter().map(|r| (r.clone(), bytes.to_vec())).collect()
    }

    /// The error of a failed sync names the drive, the operation and the
    /// disk's error.
    fn assert_sync_error(err: &crate::drives::io::DriveIoError, root: &Path) {
        assert_eq!(err.drive, root);
        assert_eq!(err.op, "syncfs");
        assert_eq!(err.source.raw_os_error(), Some(libc::EIO));
        let text = err.to_string();
        assert!(
            text.contains(&root.display().to_string()) && text.contains("syncfs"),
            "{text}"
        );
    }

    /// The first sync fails: no target changes, and the staged files go
    /// back to the spares — the next batch is written into them, and a
    /// release removes them.
    #[test]
    fn a_failed_first_sync_changes_no_target_and_keeps_the_staged_files() {
        let (dir, io, rels) = setup(6, 700);
        let before: Vec<(u64, Vec<u8>)> = rels
            .iter()
            .map(|r| {
                let p = dir.path().join(r);
                (inode(&p), std::fs::read(&p).unwrap())
            })
            .collect();
        super::fault::fail_sync(dir.path(), 1);
        let err = io.atomic_write_batch(batch_of(&rels, b"new")).unwrap_err();
        assert_sync_error(&err, dir.path());
        for (r, (ino, bytes)) in rels.iter().zip(&before) {
            let p = dir.path().join(r);
            assert_eq!(
                (inode(&p), std::fs::read(&p).unwrap()),
                (*ino, bytes.clone())
            );
        }
        let staged: BTreeSet<u64> = files_in_staging(dir.path())
            .iter()
            .map(|p| inode(p))
            .collect();
        assert_eq!(staged.len(), rels.len(), "one staged file per target");
        io.atomic_write_batch(batch_of(&rels, b"again")).unwrap();
        let now: BTreeSet<u64> = rels.iter().map(|r| inode(&dir.path().join(r))).collect();
        assert_eq!(now, staged, "the next batch reuses the staged files");
        for r in &rels {
            assert_eq!(std::fs::read(dir.path().join(r)).unwrap(), b"again");
        }
        io.release_staging();
        assert!(files_in_staging(dir.path()).is_empty());
    }

    /// The second sync fails: the targets already swapped hold the new
    /// bytes, and the old files they held are unlinked, never written
    /// again — after a power loss a target could still name one of them.
    #[test]
    fn a_failed_second_sync_keeps_the_swaps_and_drops_the_old_files() {
        let (dir, io, rels) = setup(6, 700);
        let (first, second) = rels.split_at(3);
        // Held open, an unlinked old file keeps its inode number: no new
        // file can get it by chance.
        let held: Vec<File> = first
            .iter()
            .map(|r| File::open(dir.path().join(r)).unwrap())
            .collect();
        let old: BTreeSet<u64> = held.iter().map(|f| f.metadata().unwrap().ino()).collect();
        super::fault::fail_sync(dir.path(), 2);
        let err = io.atomic_write_batch(batch_of(first, b"new")).unwrap_err();
        assert_sync_error(&err, dir.path());
        for r in first {
            assert_eq!(std::fs::read(dir.path().join(r)).unwrap(), b"new");
        }
        for f in &held {
            assert_eq!(f.metadata().unwrap().nlink(), 0, "old file unlinked");
        }
        assert!(files_in_staging(dir.path()).is_empty(), "no spare kept");
        io.atomic_write_batch(batch_of(second, b"later")).unwrap();
        let now: BTreeSet<u64> = second.iter().map(|r| inode(&dir.path().join(r))).collect();
        assert!(now.is_disjoint(&old), "{now:?} reuses one of {old:?}");
        for (i, f) in held.iter().enumerate() {
            let mut bytes = Vec::new();
            (&*f).read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes, vec![b'a' + i as u8; 700], "old file untouched");
        }
        for r in second {
            assert_eq!(std::fs::read(dir.path().join(r)).unwrap(), b"later");
        }
        io.release_staging();
        assert!(files_in_staging(dir.path()).is_empty());
    }

    #[test]
    fn a_target_with_another_link_is_replaced_not_swapped() {
        let (dir, io, rels) = setup(2, 50);
        let target = dir.path().join(&rels[0]);
        let other = dir.path().join("elsewhere");
        std::fs::hard_link(&target, &other).unwrap();
        io.atomic_write_batch(vec![(rels[0].clone(), b"new".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // Its old inode never became a spare, so a later batch cannot
        // write into the file still linked elsewhere.
        io.atomic_write_batch(vec![(rels[1].clone(), b"later".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), vec![b'a'; 50]);
        assert_eq!(std::fs::metadata(&other).unwrap().nlink(), 1);
        io.release_staging();
    }

    #[test]
    fn a_spare_linked_elsewhere_is_never_written() {
        let (dir, io, rels) = setup(2, 50);
        io.atomic_write_batch(vec![(rels[0].clone(), b"new".to_vec())])
            .unwrap();
        let spares = files_in_staging(dir.path());
        assert_eq!(spares.len(), 1);
        // Someone links the spare (the old file) somewhere else…
        let keep = dir.path().join("kept");
        std::fs::hard_link(&spares[0], &keep).unwrap();
        // …so the next batch must use a fresh file.
        io.atomic_write_batch(vec![(rels[1].clone(), b"second".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(&keep).unwrap(), vec![b'a'; 50]);
        assert_eq!(std::fs::read(dir.path().join(&rels[1])).unwrap(), b"second");
        // A spare replaced by a symlink is not followed either.
        let spares = files_in_staging(dir.path());
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        for s in &spares {
            std::fs::remove_file(s).unwrap();
            std::os::unix::fs::symlink(&victim, s).unwrap();
        }
        io.atomic_write_batch(vec![(rels[0].clone(), b"third".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(std::fs::read(dir.path().join(&rels[0])).unwrap(), b"third");
        io.release_staging();
        assert!(files_in_staging(dir.path()).is_empty());
    }

    #[test]
    fn a_new_file_is_never_made_from_a_spare() {
        let (dir, io, rels) = setup(2, 10);
        let first = dir.path().join(&rels[0]);
        std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o600)).unwrap();
        let old_inode = std::fs::metadata(&first).unwrap().ino();
        io.atomic_write_batch(vec![(rels[0].clone(), b"x".to_vec())])
            .unwrap();
        // No file to replace, no owner or mode to copy: a fresh file, not
        // the spare (which holds another file's mode).
        let fresh = PathBuf::from("bkt/o0/fresh");
        io.atomic_write_batch(vec![(fresh.clone(), b"f".to_vec())])
            .unwrap();
        let m = std::fs::metadata(dir.path().join(&fresh)).unwrap();
        assert_ne!(m.ino(), old_inode);
        assert_ne!(m.permissions().mode() & 0o7777, 0o600);
        // The spare waits for the next file that replaces one.
        io.atomic_write_batch(vec![(rels[1].clone(), b"y".to_vec())])
            .unwrap();
        let m = std::fs::metadata(dir.path().join(&rels[1])).unwrap();
        assert_eq!(m.ino(), old_inode);
        assert_eq!(std::fs::read(dir.path().join(&rels[1])).unwrap(), b"y");
        io.release_staging();
    }

    #[test]
    fn a_symlink_or_missing_target_is_replaced() {
        let (dir, io, rels) = setup(1, 10);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = PathBuf::from("bkt/o0/link");
        std::os::unix::fs::symlink(&victim, dir.path().join(&link)).unwrap();
        let fresh = PathBuf::from("bkt/o0/fresh");
        io.atomic_write_batch(vec![
            (link.clone(), b"l".to_vec()),
            (fresh.clone(), b"f".to_vec()),
        ])
        .unwrap();
        let m = std::fs::symlink_metadata(dir.path().join(&link)).unwrap();
        assert!(m.file_type().is_file(), "the symlink itself is replaced");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(dir.path().join(&fresh)).unwrap(), b"f");
        // Nothing came back from those two: no spares.
        assert!(files_in_staging(dir.path()).iter().all(|p| !p.is_symlink()));
        io.release_staging();
        let _ = rels;
    }
}
