//! Per-drive I/O workers: one thread per drive owns an `io_uring` ring and
//! runs every read-side operation on that drive (read, stat, and the odd
//! single write, mkdir, rename or unlink), many in flight at once; the
//! drive's crash-safe batch writes have their own thread (below).
//!
//! Callers submit requests and get a [`Ticket`] back, so a caller can queue
//! hundreds of reads on every drive and then collect them; [`DriveIo::read_files`]
//! takes a whole batch of paths in one hand-off and answers once. A
//! whole-file read is one linked chain (open into a fixed file, read, close,
//! submitted together, resolved from the drive root, `O_NOATIME` as MinIO
//! reads); files larger than the first read, and every other request, are a
//! small state machine (open → statx → read/write… → close) advanced by
//! completions.
//! When the kernel has no usable io_uring (old kernel, seccomp, disabled by
//! sysctl), the same worker executes requests with plain syscalls; the choice
//! is made once per process and reported once ([`backend`]).
//!
//! Crash-safe writes ([`DriveIo::atomic_write`], [`DriveIo::atomic_write_batch`])
//! run on a second thread per drive, the writer ([`super::write`]): they
//! stage the new bytes in `.minio.sys/tmp/` on the same drive (MinIO discards
//! that folder at start, so a crash leaves no garbage that MinIO would read)
//! with the owner/group/mode of the file they replace, sync the filesystem
//! once, swap every staged file with its target and sync once more.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;

use io_uring::{opcode, types, IoUring};

use super::write::{self, WriteJob};

/// Which mechanism the workers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One io_uring per drive.
    IoUring,
    /// Blocking syscalls on the drive's worker thread.
    Syscalls,
}

/// Staging folder for crash-safe writes, relative to the drive root.
pub const STAGING_DIR: &str = ".minio.sys/tmp";

const RING_ENTRIES: u32 = 256;
/// Requests in flight per ring; more wait in the channel.
const MAX_IN_FLIGHT: usize = 192;

static BACKEND: OnceLock<Backend> = OnceLock::new();

/// The backend this process uses, probed (and reported) on first use.
pub fn backend() -> Backend {
    *BACKEND.get_or_init(|| match probe_io_uring() {
        Ok(()) => {
            tracing::debug!("drive I/O: using io_uring");
            Backend::IoUring
        }
        Err(e) => {
            tracing::warn!("drive I/O: io_uring unavailable ({e}); using plain syscalls");
            Backend::Syscalls
        }
    })
}

fn probe_io_uring() -> std::io::Result<()> {
    if std::env::var_os("KEYROTATE_NO_IO_URING").is_some() {
        return Err(std::io::Error::other("disabled by KEYROTATE_NO_IO_URING"));
    }
    let ring = IoUring::new(8)?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        opcode::OpenAt::CODE,
        opcode::Statx::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Fsync::CODE,
        opcode::Close::CODE,
        opcode::RenameAt::CODE,
        opcode::MkDirAt::CODE,
        opcode::UnlinkAt::CODE,
    ];
    match needed.iter().find(|c| !probe.is_supported(**c)) {
        Some(code) => Err(std::io::Error::other(format!(
            "kernel lacks io_uring opcode {code}"
        ))),
        None => Ok(()),
    }
}

/// An I/O failure, naming the drive, the operation and the file.
#[derive(Debug, thiserror::Error)]
#[error("drive {drive}: {op} {path}: {source}")]
pub struct DriveIoError {
    pub drive: PathBuf,
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl DriveIoError {
    /// Whether the file or directory did not exist.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::NotFound
    }
}

/// Owner, group and permission bits of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub is_dir: bool,
}

/// One request to a worker. Paths are absolute (already joined to the root).
#[derive(Debug)]
enum Request {
    ReadFile {
        path: CString,
    },
    ReadAt {
        path: CString,
        offset: u64,
        len: usize,
    },
    WriteFile {
        path: CString,
        data: Vec<u8>,
        sync: bool,
    },
    Fsync {
        path: CString,
    },
    Rename {
        from: CString,
        to: CString,
    },
    Mkdir {
        path: CString,
        mode: u32,
    },
    Unlink {
        path: CString,
        dir: bool,
    },
    Stat {
        path: CString,
    },
}

impl Request {
    fn name(&self) -> &'static str {
        match self {
            Request::ReadFile { .. } => "read",
            Request::ReadAt { .. } => "read",
            Request::WriteFile { .. } => "write",
            Request::Fsync { .. } => "fsync",
            Request::Rename { .. } => "rename",
            Request::Mkdir { .. } => "mkdir",
            Request::Unlink { .. } => "unlink",
            Request::Stat { .. } => "stat",
        }
    }
}

#[derive(Debug)]
enum Output {
    Unit,
    Bytes(Vec<u8>),
    Stat(FileStat),
}

type Reply = mpsc::Sender<std::io::Result<Output>>;

/// The answer to a [`Job::ReadBatch`]: the paths (handed back for error
/// messages) and each file's bytes, in request order.
struct BatchDone {
    paths: Vec<CString>,
    results: Vec<std::io::Result<Vec<u8>>>,
}

enum Job {
    Op(Request, Reply),
    /// Many whole-file reads, answered together: one hand-off to the worker
    /// and one wake-up of the caller for the lot.
    ReadBatch(Vec<CString>, mpsc::Sender<BatchDone>),
    /// Runs on the worker thread (directory reads, chmod/chown: no io_uring op).
    Blocking(Box<dyn FnOnce() + Send>),
}

/// A request in flight; `wait` blocks for its result.
#[must_use = "a ticket must be waited on to learn whether the operation succeeded"]
pub struct Ticket<T> {
    rx: mpsc::Receiver<std::io::Result<Output>>,
    convert: fn(Output) -> Option<T>,
    drive: PathBuf,
    op: &'static str,
    path: PathBuf,
}

impl<T> Ticket<T> {
    /// Waits for the operation to finish.
    pub fn wait(self) -> Result<T, DriveIoError> {
        let result = self
            .rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("drive worker stopped")))
            .and_then(|out| {
                (self.convert)(out).ok_or_else(|| std::io::Error::other("unexpected worker output"))
            });
        result.map_err(|source| DriveIoError {
            drive: self.drive,
            op: self.op,
            path: self.path,
            source,
        })
    }
}

/// Whole-file reads in flight as one batch; `wait` blocks for all of them.
#[must_use = "a batch must be waited on to get the files"]
pub struct ReadBatch {
    rx: mpsc::Receiver<BatchDone>,
    drive: PathBuf,
    /// Per requested path: `None` when sent to the worker, else why not.
    rejected: Vec<Option<DriveIoError>>,
}

impl ReadBatch {
    /// Waits for every read; results are in the order of the paths.
    pub fn wait(self) -> Vec<Result<Vec<u8>, DriveIoError>> {
        let (paths, results) = match self.rx.recv() {
            Ok(done) => (done.paths, done.results),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let mut sent = paths.into_iter().zip(results);
        let root = self.drive.as_os_str().as_bytes();
        self.rejected
            .into_iter()
            .map(|rejected| {
                if let Some(e) = rejected {
                    return Err(e);
                }
                let (path, result) = sent.next().unwrap_or_else(|| {
                    let stopped = std::io::Error::other("drive worker stopped");
                    (CString::default(), Err(stopped))
                });
                result.map_err(|source| {
                    // The path relative to the drive, as the caller gave it.
                    let abs = path.as_bytes();
                    let rel = abs
                        .strip_prefix(root)
                        .map_or(abs, |r| r.strip_prefix(b"/").unwrap_or(r));
                    DriveIoError {
                        drive: self.drive.clone(),
                        op: "read",
                        path: PathBuf::from(std::ffi::OsStr::from_bytes(rel)),
                        source,
                    }
                })
            })
            .collect()
    }
}

/// Handle to one drive's worker thread. Cloning shares the worker.
#[derive(Clone)]
pub struct DriveIo {
    root: PathBuf,
    tx: mpsc::Sender<Job>,
    /// The drive's writer thread ([`DriveIo::atomic_write_batch`]).
    writer: mpsc::Sender<WriteJob>,
}

impl std::fmt::Debug for DriveIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DriveIo({})", self.root.display())
    }
}

impl DriveIo {
    /// Starts the worker for the drive rooted at `root` with the process-wide backend.
    pub fn spawn(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        Self::spawn_with(root, backend())
    }

    /// Starts a worker with an explicit backend (tests and benchmarks).
    pub fn spawn_with(root: impl Into<PathBuf>, backend: Backend) -> std::io::Result<Self> {
        let root = root.into();
        let (tx, rx) = mpsc::channel();
        let name = format!("drive-io:{}", root.display());
        // The ring is made on the worker thread: a single-issuer ring belongs
        // to the thread that creates it.
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let root_for_worker = root.clone();
        std::thread::Builder::new()
            .name(name)
            .spawn(move || match backend {
                Backend::IoUring => match UringWorker::new(&root_for_worker) {
                    Ok(worker) => {
                        let _ = ready_tx.send(Ok(()));
                        worker.run(rx)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
                Backend::Syscalls => {
                    let _ = ready_tx.send(Ok(()));
                    run_syscalls(rx)
                }
            })?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("drive worker did not start")))?;
        let (writer, jobs) = mpsc::channel();
        let dir = root.clone();
        std::thread::Builder::new()
            .name(format!("drive-write:{}", root.display()))
            .spawn(move || write::run_writer(dir, jobs))?;
        Ok(Self { root, tx, writer })
    }

    /// The drive root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Absolute path of `rel` on this drive; rejects absolute paths and `..`.
    pub fn resolve(&self, rel: &Path) -> Result<PathBuf, DriveIoError> {
        self.resolve_check(rel)?;
        Ok(self.root.join(rel))
    }

    fn resolve_check(&self, rel: &Path) -> Result<(), DriveIoError> {
        let ok = rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !ok || rel.as_os_str().is_empty() {
            return Err(self.error("resolve", rel, std::io::ErrorKind::InvalidInput.into()));
        }
        Ok(())
    }

    fn error(&self, op: &'static str, path: &Path, source: std::io::Error) -> DriveIoError {
        DriveIoError {
            drive: self.root.clone(),
            op,
            path: path.to_owned(),
            source,
        }
    }

    fn cstr(&self, op: &'static str, rel: &Path) -> Result<CString, DriveIoError> {
        self.resolve_check(rel)?;
        // root + "/" + rel + NUL in one allocation (this runs per file read).
        let (root, rel_bytes) = (self.root.as_os_str().as_bytes(), rel.as_os_str().as_bytes());
        let mut abs = Vec::with_capacity(root.len() + rel_bytes.len() + 2);
        abs.extend_from_slice(root);
        if !root.ends_with(b"/") {
            abs.push(b'/');
        }
        abs.extend_from_slice(rel_bytes);
        CString::new(abs).map_err(|_| self.error(op, rel, std::io::ErrorKind::InvalidInput.into()))
    }

    fn submit<T>(
        &self,
        rel: &Path,
        request: Request,
        convert: fn(Output) -> Option<T>,
    ) -> Ticket<T> {
        let (reply, rx) = mpsc::channel();
        let op = request.name();
        // A send error drops `reply`, so `wait` reports the stopped worker.
        let _ = self.tx.send(Job::Op(request, reply));
        Ticket {
            rx,
            convert,
            drive: self.root.clone(),
            op,
            path: rel.to_owned(),
        }
    }

    fn failed<T>(&self, err: DriveIoError) -> Ticket<T> {
        let (reply, rx) = mpsc::channel();
        let _ = reply.send(Err(err.source));
        Ticket {
            rx,
            convert: |_| None,
            drive: err.drive,
            op: err.op,
            path: err.path,
        }
    }

    fn request<T>(
        &self,
        op: &'static str,
        rel: &Path,
        build: impl FnOnce(CString) -> Request,
        convert: fn(Output) -> Option<T>,
    ) -> Ticket<T> {
        match self.cstr(op, rel) {
            Ok(path) => self.submit(rel, build(path), convert),
            Err(e) => self.failed(e),
        }
    }

    /// Reads a whole file.
    pub fn read_file(&self, rel: impl AsRef<Path>) -> Ticket<Vec<u8>> {
        self.request(
            "read",
            rel.as_ref(),
            |path| Request::ReadFile { path },
            bytes,
        )
    }

    /// Reads many whole files with one request: the worker gets them in one
    /// hand-off, keeps them all in flight and answers once, so a caller
    /// that needs many files (a listing's worth of `xl.meta`) pays one
    /// wake-up per batch instead of one per file.
    pub fn read_files<P: AsRef<Path>>(&self, rels: &[P]) -> ReadBatch {
        let mut paths = Vec::with_capacity(rels.len());
        let rejected = rels
            .iter()
            .map(|rel| match self.cstr("read", rel.as_ref()) {
                Ok(path) => {
                    paths.push(path);
                    None
                }
                Err(e) => Some(e),
            })
            .collect();
        let (reply, rx) = mpsc::channel();
        if paths.is_empty() {
            let _ = reply.send(BatchDone {
                paths,
                results: Vec::new(),
            });
        } else {
            // A send error drops `reply`: `wait` reports the stopped worker.
            let _ = self.tx.send(Job::ReadBatch(paths, reply));
        }
        ReadBatch {
            rx,
            drive: self.root.clone(),
            rejected,
        }
    }

    /// Reads `len` bytes at `offset` (fewer at end of file). The buffer is
    /// made before the read: a `len` above 1 GiB (only corrupt metadata
    /// asks for one; readers take at most a batch of erasure blocks) is
    /// refused instead.
    pub fn read_at(&self, rel: impl AsRef<Path>, offset: u64, len: usize) -> Ticket<Vec<u8>> {
        if len > MAX_READ_AT {
            let e = std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a read of {len} bytes (at most {MAX_READ_AT})"),
            );
            return self.failed(self.error("read", rel.as_ref(), e));
        }
        self.request(
            "read",
            rel.as_ref(),
            |path| Request::ReadAt { path, offset, len },
            bytes,
        )
    }

    /// Creates or truncates a file and writes `data`; `sync` adds an fsync.
    pub fn write_file(&self, rel: impl AsRef<Path>, data: Vec<u8>, sync: bool) -> Ticket<()> {
        let build = |path| Request::WriteFile { path, data, sync };
        self.request("write", rel.as_ref(), build, unit)
    }

    /// fsyncs a file or directory.
    pub fn fsync(&self, rel: impl AsRef<Path>) -> Ticket<()> {
        self.request("fsync", rel.as_ref(), |path| Request::Fsync { path }, unit)
    }

    /// Renames within the drive (atomic replace of a file).
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Ticket<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        match (self.cstr("rename", from), self.cstr("rename", to)) {
            (Ok(f), Ok(t)) => self.submit(from, Request::Rename { from: f, to: t }, unit),
            (Err(e), _) | (_, Err(e)) => self.failed(e),
        }
    }

    /// Creates one directory (its parent must exist).
    pub fn mkdir(&self, rel: impl AsRef<Path>) -> Ticket<()> {
        self.request(
            "mkdir",
            rel.as_ref(),
            |path| Request::Mkdir { path, mode: 0o777 },
            unit,
        )
    }

    /// Removes a file (`dir = false`) or an empty directory.
    pub fn unlink(&self, rel: impl AsRef<Path>, dir: bool) -> Ticket<()> {
        self.request(
            "unlink",
            rel.as_ref(),
            |path| Request::Unlink { path, dir },
            unit,
        )
    }

    /// Size, mode and owner of a file or directory.
    pub fn stat(&self, rel: impl AsRef<Path>) -> Ticket<FileStat> {
        self.request("stat", rel.as_ref(), |path| Request::Stat { path }, stat)
    }

    /// Runs `f` on the worker thread and returns its result.
    pub fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> T + Send + 'static,
    ) -> Result<T, DriveIoError> {
        let (tx, rx) = mpsc::channel();
        let root = self.root.clone();
        let job = Job::Blocking(Box::new(move || {
            let _ = tx.send(f(&root));
        }));
        let _ = self.tx.send(job);
        rx.recv().map_err(|_| {
            self.error(
                "run",
                Path::new(""),
                std::io::Error::other("drive worker stopped"),
            )
        })
    }

    /// Creates `rel` and its missing parents.
    pub fn mkdir_all(&self, rel: impl AsRef<Path>) -> Result<(), DriveIoError> {
        let rel = rel.as_ref();
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            prefix.push(c);
            match self.mkdir(&prefix).wait() {
                Ok(()) => {}
                Err(e) if e.source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Replaces (or creates) `rel` with `data` crash-safely: the reader sees
    /// either the old or the new file, never a mix, even across power loss.
    pub fn atomic_write(&self, rel: impl AsRef<Path>, data: Vec<u8>) -> Result<(), DriveIoError> {
        self.atomic_write_batch(vec![(rel.as_ref().to_owned(), data)])
    }

    /// [`atomic_write`](Self::atomic_write) for many files at the cost of
    /// two filesystem syncs for the whole batch, on the drive's writer
    /// thread (the durability argument is at [`super::write`]). Files are
    /// committed independently: on error, the files already swapped in stay
    /// new. Staging files are kept for the next batch until
    /// [`release_staging`](Self::release_staging).
    pub fn atomic_write_batch(&self, items: Vec<(PathBuf, Vec<u8>)>) -> Result<(), DriveIoError> {
        let batch = items
            .into_iter()
            .map(|(rel, data)| Ok((self.cstr("write", &rel)?, rel, data)))
            .collect::<Result<Vec<_>, DriveIoError>>()?;
        let (reply, rx) = mpsc::channel();
        // A send error drops `reply`: reported as a stopped writer below.
        let _ = self.writer.send(WriteJob::Batch { batch, reply });
        rx.recv().unwrap_or_else(|_| {
            Err(self.error(
                "write",
                Path::new(""),
                std::io::Error::other("drive writer stopped"),
            ))
        })
    }

    /// Removes the writer's staging folders and the spare files it keeps
    /// between batches; waits for it. The next batch starts afresh.
    pub fn release_staging(&self) {
        let (reply, rx) = mpsc::channel();
        if self.writer.send(WriteJob::Release { reply }).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// A file on a drive read at offsets through the drive's worker (a shard
/// stream source for [`crate::erasure::stream::read_part`]).
#[derive(Debug, Clone)]
pub struct DriveFile {
    io: DriveIo,
    rel: PathBuf,
}

impl DriveFile {
    /// `rel` is relative to the drive root.
    pub fn new(io: DriveIo, rel: PathBuf) -> Self {
        Self { io, rel }
    }
}

impl crate::erasure::stream::ShardSource for DriveFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let got = self
            .io
            .read_at(&self.rel, offset, buf.len())
            .wait()
            .map_err(|e| e.source)?;
        if got.len() != buf.len() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&got);
        Ok(())
    }
}

fn unit(o: Output) -> Option<()> {
    matches!(o, Output::Unit).then_some(())
}

fn bytes(o: Output) -> Option<Vec<u8>> {
    match o {
        Output::Bytes(b) => Some(b),
        _ => None,
    }
}

fn stat(o: Output) -> Option<FileStat> {
    match o {
        Output::Stat(s) => Some(s),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Plain-syscall backend

fn run_syscalls(rx: mpsc::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Op(req, reply) => {
                let _ = reply.send(exec_sync(req));
            }
            Job::ReadBatch(paths, reply) => {
                let results = paths.iter().map(|p| std::fs::read(os_path(p))).collect();
                let _ = reply.send(BatchDone { paths, results });
            }
            Job::Blocking(f) => f(),
        }
    }
}

fn os_path(c: &CString) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()))
}

fn exec_sync(req: Request) -> std::io::Result<Output> {
    use std::io::Write;
    match req {
        Request::ReadFile { path } => std::fs::read(os_path(&path)).map(Output::Bytes),
        Request::ReadAt { path, offset, len } => {
            let f = std::fs::File::open(os_path(&path))?;
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                match std::os::unix::fs::FileExt::read_at(
                    &f,
                    &mut buf[filled..],
                    offset + filled as u64,
                )? {
                    0 => break,
                    n => filled += n,
                }
            }
            buf.truncate(filled);
            Ok(Output::Bytes(buf))
        }
        Request::WriteFile { path, data, sync } => {
            let mut f = std::fs::File::create(os_path(&path))?;
            f.write_all(&data)?;
            if sync {
                f.sync_all()?;
            }
            Ok(Output::Unit)
        }
        Request::Fsync { path } => std::fs::File::open(os_path(&path))?
            .sync_all()
            .map(|_| Output::Unit),
        Request::Rename { from, to } => {
            std::fs::rename(os_path(&from), os_path(&to)).map(|_| Output::Unit)
        }
        Request::Mkdir { path, mode } => std::fs::DirBuilder::new()
            .mode(mode)
            .create(os_path(&path))
            .map(|_| Output::Unit),
        Request::Unlink { path, dir } => if dir {
            std::fs::remove_dir(os_path(&path))
        } else {
            std::fs::remove_file(os_path(&path))
        }
        .map(|_| Output::Unit),
        Request::Stat { path } => {
            let m = std::fs::symlink_metadata(os_path(&path))?;
            Ok(Output::Stat(FileStat {
                size: m.len(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                is_dir: m.is_dir(),
            }))
        }
    }
}

// ---------------------------------------------------------------------------
// io_uring backend

/// Where a request's state machine stands; the next completion advances it.
enum Step {
    Open,
    Statx,
    Read,
    Write,
    Fsync,
    Close,
    /// A single-op request (rename, mkdir, unlink, stat by path).
    Single,
    /// A whole-file read submitted as one linked chain — open into the
    /// slot's fixed file, read into the slot's buffer, close — waiting for
    /// its three completions.
    Chain,
}

/// Where a request's answer goes.
enum Sink {
    One(Reply),
    /// Item `index` of the batch `UringWorker::batches[batch]`.
    Batch {
        batch: usize,
        index: usize,
    },
}

struct Task {
    req: Request,
    sink: Sink,
    step: Step,
    fd: i32,
    buf: Vec<u8>,
    /// Bytes read or written so far.
    done: usize,
    /// Error to report once the file is closed.
    error: Option<std::io::Error>,
    /// Whole-file reads: whether the size was asked for (after a full first read).
    statted: bool,
    /// Chain completions still to come, and what the chain's read returned.
    chain_left: u8,
    chain_read: Option<usize>,
    /// Whether the chain opened with `O_NOATIME`.
    noatime: bool,
}

/// One request's place in the worker. The slot number is also the index of
/// its fixed file, and what a slot owns outlives its requests: a chained
/// read allocates nothing but the exact-size copy it returns (no zeroing,
/// no fresh pages to fault in).
struct Slot {
    task: Option<Task>,
    statx: Box<libc::statx>,
    /// Where chained reads land: `FIRST_READ` bytes of capacity, never
    /// initialized by us (only the pages the kernel writes become resident;
    /// only the bytes it wrote are copied out).
    scratch: Vec<u8>,
}

/// A [`Job::ReadBatch`] being worked on.
struct Batch {
    /// Lent to the tasks while their reads are in flight.
    paths: Vec<CString>,
    results: Vec<std::io::Result<Vec<u8>>>,
    left: usize,
    reply: mpsc::Sender<BatchDone>,
}

struct UringWorker {
    ring: IoUring,
    /// The ring has a fixed-file table with an entry per slot, so whole-file
    /// reads go as linked chains.
    chains: bool,
    slots: Vec<Slot>,
    free: Vec<usize>,
    in_flight: usize,
    /// Requests accepted but not started (more than `MAX_IN_FLIGHT` came).
    backlog: VecDeque<(Request, Sink)>,
    batches: Vec<Option<Batch>>,
    free_batches: Vec<usize>,
    /// Completions reaped (kept to reuse the allocation).
    reaped: Vec<(u64, i32)>,
    /// The drive root, and a descriptor of it (opened at the first chained
    /// read) that chained reads resolve their paths from: the lookup walks
    /// the few components below the drive, not the whole absolute path.
    root: Vec<u8>,
    root_fd: Option<std::os::fd::OwnedFd>,
    /// Open without updating access times, as MinIO reads; dropped when the
    /// kernel refuses it (`EPERM`: not the owner and not privileged).
    noatime: bool,
    /// The ring failed ([`UringWorker::abandon_ring`]): requests run as plain
    /// syscalls on this thread from then on.
    broken: bool,
    /// Test hook: the number of ring waits that succeed before one fails
    /// with everything submitted still in the kernel ([`inject_ring_fault`]).
    #[cfg(test)]
    fail_wait_after: Option<usize>,
}

/// Test hook: the next worker started on `root` has its ring fail (as
/// `io_uring_enter` can, e.g. `EBUSY`, `ENOMEM`) at its `waits`+1-th wait,
/// after handing every queued operation to the kernel and letting them
/// complete unreaped.
#[cfg(test)]
fn inject_ring_fault(root: &Path, waits: usize) {
    RING_FAULTS.lock().unwrap().push((root.to_owned(), waits));
}

#[cfg(test)]
static RING_FAULTS: std::sync::Mutex<Vec<(PathBuf, usize)>> = std::sync::Mutex::new(Vec::new());

/// First read of a whole-file read: most xl.meta files fit, saving a statx.
const FIRST_READ: usize = 16 * 1024;

/// Largest single read/write submitted (the kernel caps one op anyway).
const MAX_IO: usize = 1 << 30;

/// Largest [`DriveIo::read_at`].
const MAX_READ_AT: usize = MAX_IO;

/// Completion queue size: three completions per chained read in flight.
const CQ_ENTRIES: u32 = 4 * RING_ENTRIES * 4;

/// The low bits of a submission's user data say which operation of its
/// slot's request completed: a step of the state machine, or one link of a
/// chained read.
const TAG_STEP: u64 = 0;
const TAG_OPEN: u64 = 1;
const TAG_READ: u64 = 2;
const TAG_CLOSE: u64 = 3;

impl UringWorker {
    fn new(root: &Path) -> std::io::Result<Self> {
        // Only this thread submits and reaps: the kernel then runs
        // completion work when we wait, instead of interrupting the thread
        // for each one. Older kernels lack these flags: a plain ring then.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .setup_cqsize(CQ_ENTRIES)
            .build(RING_ENTRIES)
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(CQ_ENTRIES)
                    .build(RING_ENTRIES)
            })?;
        let chains = ring
            .submitter()
            .register_files_sparse(MAX_IN_FLIGHT as u32)
            .is_ok();
        Ok(Self {
            ring,
            chains,
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            backlog: VecDeque::new(),
            batches: Vec::new(),
            free_batches: Vec::new(),
            reaped: Vec::new(),
            root: root.as_os_str().as_bytes().to_vec(),
            root_fd: None,
            noatime: true,
            broken: false,
            #[cfg(test)]
            fail_wait_after: {
                let mut faults = RING_FAULTS.lock().unwrap_or_else(|e| e.into_inner());
                let at = faults.iter().position(|(r, _)| r == root);
                at.map(|i| faults.remove(i).1)
            },
        })
    }

    /// Hands everything queued to the kernel and waits for a completion.
    fn submit_and_wait(&mut self) -> std::io::Result<usize> {
        #[cfg(test)]
        if let Some(left) = self.fail_wait_after.as_mut() {
            if *left == 0 {
                self.fail_wait_after = None;
                // Submitted, completed, not reaped: the kernel owned them.
                self.ring.submit_and_wait(self.in_flight)?;
                return Err(std::io::Error::other("injected ring failure"));
            }
            *left -= 1;
        }
        self.ring.submit_and_wait(1)
    }

    /// The drive root's descriptor, opened on first use (an absent root is
    /// tried again at the next read: it may be created later).
    fn root_fd(&mut self) -> Option<types::Fd> {
        if self.root_fd.is_none() {
            self.root_fd = CString::new(self.root.as_slice()).ok().and_then(|c| {
                let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
                // SAFETY: a NUL-terminated path; the descriptor is owned below.
                let fd = unsafe { libc::open(c.as_ptr(), flags) };
                // SAFETY: `fd` is a fresh descriptor nobody else owns.
                (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
            });
        }
        self.root_fd.as_ref().map(|fd| types::Fd(fd.as_raw_fd()))
    }

    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut open = true;
        loop {
            if self.in_flight == 0 && self.backlog.is_empty() {
                if !open {
                    return;
                }
                match rx.recv() {
                    Ok(job) => self.accept(job),
                    Err(_) => return,
                }
            }
            while open && self.backlog.len() < MAX_IN_FLIGHT {
                match rx.try_recv() {
                    Ok(job) => self.accept(job),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => open = false,
                }
            }
            while self.in_flight < MAX_IN_FLIGHT {
                let Some((req, sink)) = self.backlog.pop_front() else {
                    break;
                };
                self.start(req, sink);
            }
            if self.in_flight == 0 {
                continue;
            }
            // Everything queued goes to the kernel in this one call.
            if let Err(e) = self.submit_and_wait() {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                self.abandon_ring(e);
                continue;
            }
            let mut reaped = std::mem::take(&mut self.reaped);
            reaped.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            for &(user_data, res) in &reaped {
                let slot = (user_data >> 2) as usize;
                match user_data & 3 {
                    TAG_STEP => self.complete(slot, res),
                    tag => self.complete_chain(slot, tag, res),
                }
            }
            reaped.clear();
            self.reaped = reaped;
        }
    }

    /// The ring failed (`io_uring_enter` refused for another reason than a
    /// signal; should not happen). What it was handed may still be in the
    /// kernel, whose completions will never be reaped: an open or read may
    /// yet land in a task's buffer or path, a slot's statx or scratch, or a
    /// fixed file; a queued read or close names a descriptor by number. So
    /// every request in flight is answered with the error now, and what the
    /// kernel may still use is leaked on purpose, never freed or reused
    /// under it: the tasks' paths, data and buffers, their slots, their
    /// descriptors (closing one would let a later open reuse its number)
    /// and the root descriptor. At most `MAX_IN_FLIGHT` requests' memory,
    /// once per worker. The worker then serves everything with plain
    /// syscalls; the ring itself is dropped with the worker (the kernel
    /// keeps what it needs and writes only into the leaked memory).
    fn abandon_ring(&mut self, e: std::io::Error) {
        tracing::warn!(
            "drive {}: io_uring failed ({e}); {} requests in flight fail, the rest run as plain syscalls",
            String::from_utf8_lossy(&self.root),
            self.in_flight
        );
        self.broken = true;
        for mut slot in std::mem::take(&mut self.slots) {
            if let Some(task) = slot.task.take() {
                let Task { req, sink, buf, .. } = task;
                let path = match &req {
                    Request::ReadFile { path } => Some(path.clone()),
                    _ => None,
                };
                self.deliver(
                    sink,
                    path,
                    Err(std::io::Error::new(e.kind(), e.to_string())),
                );
                std::mem::forget((req, buf));
            }
            std::mem::forget(slot);
        }
        std::mem::forget(self.root_fd.take());
        self.free.clear();
        self.in_flight = 0;
    }

    /// A request of a worker whose ring failed, run now with a syscall.
    fn run_now(&mut self, req: Request, sink: Sink) {
        match req {
            Request::ReadFile { path } => {
                let out = std::fs::read(os_path(&path)).map(Output::Bytes);
                self.deliver(sink, Some(path), out);
            }
            req => self.deliver(sink, None, exec_sync(req)),
        }
    }

    fn accept(&mut self, job: Job) {
        match job {
            Job::Op(req, reply) => self.backlog.push_back((req, Sink::One(reply))),
            Job::Blocking(f) => f(),
            Job::ReadBatch(mut paths, reply) => {
                if paths.is_empty() {
                    let results = Vec::new();
                    let _ = reply.send(BatchDone { paths, results });
                    return;
                }
                let batch = match self.free_batches.pop() {
                    Some(b) => b,
                    None => {
                        self.batches.push(None);
                        self.batches.len() - 1
                    }
                };
                for (index, path) in paths.iter_mut().enumerate() {
                    let req = Request::ReadFile {
                        path: std::mem::take(path),
                    };
                    self.backlog.push_back((req, Sink::Batch { batch, index }));
                }
                let left = paths.len();
                let results = paths.iter().map(|_| Ok(Vec::new())).collect();
                self.batches[batch] = Some(Batch {
                    paths,
                    results,
                    left,
                    reply,
                });
            }
        }
    }

    fn start(&mut self, req: Request, sink: Sink) {
        if self.broken {
            return self.run_now(req, sink);
        }
        let step = match req {
            Request::ReadFile { .. } if self.chains => Step::Chain,
            Request::ReadFile { .. }
            | Request::ReadAt { .. }
            | Request::WriteFile { .. }
            | Request::Fsync { .. } => Step::Open,
            _ => Step::Single,
        };
        let task = Task {
            req,
            sink,
            step,
            fd: -1,
            buf: Vec::new(),
            done: 0,
            error: None,
            statted: false,
            chain_left: 0,
            chain_read: None,
            noatime: false,
        };
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    task: None,
                    // SAFETY: statx is plain old data; all-zero is a valid value.
                    statx: Box::new(unsafe { std::mem::zeroed() }),
                    scratch: Vec::new(),
                });
                self.slots.len() - 1
            }
        };
        self.slots[slot].task = Some(task);
        self.in_flight += 1;
        self.push_next(slot);
    }

    /// Queues `entries` (all or none), handing the queue to the kernel
    /// first when it is full.
    ///
    /// # Safety
    /// Every pointer in `entries` must stay valid until their completions
    /// are processed, or for good if the ring fails first (what
    /// [`UringWorker::abandon_ring`] ensures by leaking).
    unsafe fn push(&mut self, entries: &[io_uring::squeue::Entry]) -> std::io::Result<()> {
        loop {
            // SAFETY: the caller keeps the entries' memory valid.
            if unsafe { self.ring.submission().push_multiple(entries) }.is_ok() {
                return Ok(());
            }
            if let Err(e) = self.ring.submit() {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }

    /// Queues a whole-file read as one linked chain: open into the slot's
    /// fixed file → read up to `FIRST_READ` bytes → close. No descriptor
    /// enters the process's table and the three run in one submission.
    fn push_chain(&mut self, slot: usize) {
        let root_fd = self.root_fd();
        let noatime = self.noatime;
        let Some(Slot {
            task: Some(task),
            scratch,
            ..
        }) = self.slots.get_mut(slot)
        else {
            return;
        };
        let Request::ReadFile { path } = &task.req else {
            return self.finish(slot, Err(std::io::Error::other("bad step")));
        };
        // Below the drive root: resolved from the root's descriptor.
        let (dirfd, offset) = match (root_fd, below(&self.root, path.as_bytes())) {
            (Some(fd), Some(offset)) => (fd, offset),
            _ => (types::Fd(libc::AT_FDCWD), 0),
        };
        let Ok(dest) = types::DestinationSlot::try_from_slot_target(slot as u32) else {
            return self.finish(slot, Err(std::io::Error::other("bad slot")));
        };
        if scratch.capacity() < FIRST_READ {
            *scratch = Vec::with_capacity(FIRST_READ);
        }
        task.chain_left = 3;
        task.chain_read = None;
        task.noatime = noatime;
        let flags = libc::O_RDONLY | if noatime { libc::O_NOATIME } else { 0 };
        let base = (slot as u64) << 2;
        let fixed = types::Fixed(slot as u32);
        // SAFETY: `offset` is within the path (at most its length).
        let name = unsafe { path.as_ptr().add(offset) };
        let entries = [
            opcode::OpenAt::new(dirfd, name)
                .flags(flags)
                .file_index(Some(dest))
                .build()
                .flags(io_uring::squeue::Flags::IO_LINK)
                .user_data(base | TAG_OPEN),
            // A short read (the end of a small file) breaks a plain link:
            // a hard link closes the file whatever the read returned.
            opcode::Read::new(fixed, scratch.as_mut_ptr(), FIRST_READ as u32)
                .offset(0)
                .build()
                .flags(io_uring::squeue::Flags::IO_HARDLINK)
                .user_data(base | TAG_READ),
            opcode::Close::new(fixed)
                .build()
                .user_data(base | TAG_CLOSE),
        ];
        // SAFETY: the path (owned by the task) and the buffer (by the slot)
        // are not touched until the chain's last completion; the root
        // descriptor lives as long as the worker. A failed ring leaks all
        // three instead (`abandon_ring`).
        if let Err(e) = unsafe { self.push(&entries) } {
            self.abandon_ring(e);
        }
    }

    /// One completion of a chained read; the last one finishes the request.
    fn complete_chain(&mut self, slot: usize, tag: u64, res: i32) {
        let Some(Slot {
            task: Some(task),
            scratch,
            ..
        }) = self.slots.get_mut(slot)
        else {
            return;
        };
        // A failed open cancels the read and the close: the first real
        // error says what went wrong.
        if res < 0 && (res != -libc::ECANCELED || tag == TAG_OPEN) && task.error.is_none() {
            task.error = Some(std::io::Error::from_raw_os_error(-res));
        }
        if tag == TAG_READ && res >= 0 {
            task.chain_read = Some(res as usize);
        }
        task.chain_left = task.chain_left.saturating_sub(1);
        if task.chain_left > 0 {
            return;
        }
        let out = match (task.error.take(), task.chain_read) {
            (Some(e), _) if task.noatime && e.raw_os_error() == Some(libc::EPERM) => {
                // Not ours to open with O_NOATIME: open normally from now on.
                self.noatime = false;
                return self.push_chain(slot);
            }
            (Some(e), _) => Err(e),
            (None, None) => Err(std::io::Error::other("read canceled")),
            // A short read of a local regular file is its end.
            (None, Some(n)) if n < FIRST_READ && n <= scratch.capacity() => {
                // SAFETY: the read wrote `n` bytes at the start of the
                // buffer (within its capacity).
                let read = unsafe { std::slice::from_raw_parts(scratch.as_ptr(), n) };
                Ok(Output::Bytes(read.to_vec()))
            }
            (None, Some(_)) => {
                // The file fills the buffer: read it again from the start
                // sized by statx (re-read, not continued, so that a file
                // replaced in between is never mixed with its successor).
                task.step = Step::Open;
                task.statted = true;
                return self.push_next(slot);
            }
        };
        self.finish(slot, out)
    }

    /// Queues the SQE for the task's current step.
    fn push_next(&mut self, slot: usize) {
        let Some(Slot {
            task: Some(task),
            statx,
            ..
        }) = self.slots.get_mut(slot)
        else {
            return;
        };
        let cwd = types::Fd(libc::AT_FDCWD);
        let fd = types::Fd(task.fd);
        let entry = match (&task.step, &task.req) {
            (Step::Chain, _) => return self.push_chain(slot),
            (Step::Open, req) => {
                let (path, flags, mode) = match req {
                    Request::ReadFile { path } | Request::ReadAt { path, .. } => {
                        (path, libc::O_RDONLY, 0)
                    }
                    Request::Fsync { path } => (path, libc::O_RDONLY, 0),
                    Request::WriteFile { path, .. } => {
                        (path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o666)
                    }
                    _ => return self.finish(slot, Err(std::io::Error::other("bad step"))),
                };
                opcode::OpenAt::new(cwd, path.as_ptr())
                    .flags(flags | libc::O_CLOEXEC)
                    .mode(mode)
                    .build()
            }
            (Step::Statx, _) => {
                let statx = (&mut **statx as *mut libc::statx).cast::<types::statx>();
                opcode::Statx::new(fd, c"".as_ptr(), statx)
                    .flags(libc::AT_EMPTY_PATH)
                    .mask(libc::STATX_SIZE)
                    .build()
            }
            (Step::Read, req) => {
                let base = match req {
                    Request::ReadAt { offset, .. } => *offset,
                    _ => 0,
                };
                let rest = &mut task.buf[task.done..];
                let len = rest.len().min(MAX_IO) as u32;
                opcode::Read::new(fd, rest.as_mut_ptr(), len)
                    .offset(base + task.done as u64)
                    .build()
            }
            (Step::Write, Request::WriteFile { data, .. }) => {
                let rest = &data[task.done..];
                let len = rest.len().min(MAX_IO) as u32;
                opcode::Write::new(fd, rest.as_ptr(), len)
                    .offset(task.done as u64)
                    .build()
            }
            (Step::Fsync, _) => opcode::Fsync::new(fd).build(),
            (Step::Close, _) => opcode::Close::new(fd).build(),
            (Step::Single, Request::Rename { from, to }) => {
                opcode::RenameAt::new(cwd, from.as_ptr(), cwd, to.as_ptr()).build()
            }
            (Step::Single, Request::Mkdir { path, mode }) => {
                opcode::MkDirAt::new(cwd, path.as_ptr()).mode(*mode).build()
            }
            (Step::Single, Request::Unlink { path, dir }) => {
                opcode::UnlinkAt::new(cwd, path.as_ptr())
                    .flags(if *dir { libc::AT_REMOVEDIR } else { 0 })
                    .build()
            }
            (Step::Single, Request::Stat { path }) => {
                let statx = (&mut **statx as *mut libc::statx).cast::<types::statx>();
                opcode::Statx::new(cwd, path.as_ptr(), statx)
                    .flags(libc::AT_SYMLINK_NOFOLLOW)
                    .mask(libc::STATX_BASIC_STATS)
                    .build()
            }
            _ => return self.finish(slot, Err(std::io::Error::other("bad step"))),
        };
        let entry = entry.user_data(((slot as u64) << 2) | TAG_STEP);
        // SAFETY: every pointer in `entry` points into heap memory owned by
        // the task (paths, buffers, data) or the slot (statx), which stays
        // in place and unmodified until this entry's completion is processed
        // (no step resizes a buffer with an operation in flight), or is
        // leaked if the ring fails first (`abandon_ring`).
        if let Err(e) = unsafe { self.push(std::slice::from_ref(&entry)) } {
            self.abandon_ring(e);
        }
    }

    fn complete(&mut self, slot: usize, res: i32) {
        let Some(Slot {
            task: Some(task),
            statx,
            ..
        }) = self.slots.get_mut(slot)
        else {
            return;
        };
        let err = (res < 0).then(|| std::io::Error::from_raw_os_error(-res));
        match task.step {
            Step::Chain => return self.finish(slot, Err(std::io::Error::other("bad step"))),
            Step::Single => {
                let out = match err {
                    Some(e) => Err(e),
                    None => match &task.req {
                        Request::Stat { .. } => Ok(Output::Stat(to_stat(statx))),
                        _ => Ok(Output::Unit),
                    },
                };
                return self.finish(slot, out);
            }
            Step::Open => {
                if let Some(e) = err {
                    return self.finish(slot, Err(e));
                }
                task.fd = res;
                task.step = match &task.req {
                    // Known to be large (a chained read filled its buffer):
                    // size it first.
                    Request::ReadFile { .. } if task.statted => Step::Statx,
                    Request::ReadFile { .. } => {
                        task.buf = vec![0; FIRST_READ];
                        Step::Read
                    }
                    Request::ReadAt { len, .. } => {
                        task.buf = vec![0; *len];
                        Step::Read
                    }
                    Request::WriteFile { data, sync, .. } => {
                        if data.is_empty() {
                            if *sync {
                                Step::Fsync
                            } else {
                                Step::Close
                            }
                        } else {
                            Step::Write
                        }
                    }
                    _ => Step::Fsync,
                };
                if matches!(task.step, Step::Read) && task.buf.is_empty() {
                    task.step = Step::Close;
                }
            }
            Step::Statx => {
                if let Some(e) = err {
                    task.error = Some(e);
                    task.step = Step::Close;
                } else {
                    let size = usize::try_from(statx.stx_size).unwrap_or(usize::MAX);
                    if size > (1 << 34) {
                        task.error = Some(std::io::Error::other(format!(
                            "file of {size} bytes is too large to read whole"
                        )));
                        task.step = Step::Close;
                    } else if size <= task.done {
                        task.buf.truncate(task.done);
                        task.step = Step::Close;
                    } else {
                        task.buf.resize(size, 0);
                        task.step = Step::Read;
                    }
                }
            }
            Step::Read => match err {
                Some(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Some(e) => {
                    task.error = Some(e);
                    task.step = Step::Close;
                }
                None if res == 0 => {
                    // end of file before the expected size (file shrank, or a short ReadAt)
                    task.buf.truncate(task.done);
                    task.step = Step::Close;
                }
                None => {
                    let requested = task.buf.len() - task.done;
                    task.done += res as usize;
                    let whole_file = matches!(task.req, Request::ReadFile { .. });
                    if whole_file && !task.statted && (res as usize) < requested {
                        // A short read of a local regular file is its end:
                        // small files (most xl.meta) need no statx at all.
                        task.buf.truncate(task.done);
                        task.step = Step::Close;
                    } else if whole_file && !task.statted && task.done >= task.buf.len() {
                        task.statted = true;
                        task.step = Step::Statx;
                    } else if task.done >= task.buf.len() {
                        task.step = Step::Close;
                    }
                }
            },
            Step::Write => match err {
                Some(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Some(e) => {
                    task.error = Some(e);
                    task.step = Step::Close;
                }
                None if res == 0 => {
                    task.error = Some(std::io::ErrorKind::WriteZero.into());
                    task.step = Step::Close;
                }
                None => {
                    task.done += res as usize;
                    if let Request::WriteFile { data, sync, .. } = &task.req {
                        if task.done >= data.len() {
                            task.step = if *sync { Step::Fsync } else { Step::Close };
                        }
                    }
                }
            },
            Step::Fsync => {
                if let Some(e) = err {
                    task.error = Some(e);
                }
                task.step = Step::Close;
            }
            Step::Close => {
                task.fd = -1;
                if let Some(e) = task.error.take().or(err) {
                    return self.finish(slot, Err(e));
                }
                let out = match &task.req {
                    Request::ReadFile { .. } | Request::ReadAt { .. } => {
                        Ok(Output::Bytes(std::mem::take(&mut task.buf)))
                    }
                    _ => Ok(Output::Unit),
                };
                return self.finish(slot, out);
            }
        }
        self.push_next(slot);
    }

    /// Ends the slot's request. Called on its last completion, or before
    /// any of its operations reached the ring: the kernel holds nothing of
    /// it, so its memory and descriptor may go.
    fn finish(&mut self, slot: usize, out: std::io::Result<Output>) {
        let Some(task) = self.slots.get_mut(slot).and_then(|s| s.task.take()) else {
            return;
        };
        if task.fd >= 0 {
            // SAFETY: the fd was opened by this task, no operation in flight
            // names it (see above), and it is closed once.
            unsafe { libc::close(task.fd) };
        }
        self.free.push(slot);
        self.in_flight -= 1;
        let path = match task.req {
            Request::ReadFile { path } => Some(path),
            _ => None,
        };
        self.deliver(task.sink, path, out);
    }

    /// Answers a request; a batch item also hands its path back.
    fn deliver(&mut self, sink: Sink, path: Option<CString>, out: std::io::Result<Output>) {
        let (batch, index) = match sink {
            Sink::One(reply) => {
                let _ = reply.send(out);
                return;
            }
            Sink::Batch { batch, index } => (batch, index),
        };
        let Some(Some(b)) = self.batches.get_mut(batch) else {
            return;
        };
        if let (Some(path), Some(slot)) = (path, b.paths.get_mut(index)) {
            *slot = path;
        }
        if let Some(r) = b.results.get_mut(index) {
            *r = match out {
                Ok(Output::Bytes(bytes)) => Ok(bytes),
                Ok(_) => Err(std::io::Error::other("unexpected worker output")),
                Err(e) => Err(e),
            };
        }
        b.left -= 1;
        if b.left == 0 {
            if let Some(b) = self.batches.get_mut(batch).and_then(Option::take) {
                let _ = b.reply.send(BatchDone {
                    paths: b.paths,
                    results: b.results,
                });
            }
            self.free_batches.push(batch);
        }
    }
}

/// Where the part of `path` below `root` starts, if `path` is below it.
fn below(root: &[u8], path: &[u8]) -> Option<usize> {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    let rest = path.strip_prefix(root)?.strip_prefix(b"/")?;
    (!rest.is_empty()).then(|| path.len() - rest.len())
}

fn to_stat(s: &libc::statx) -> FileStat {
    FileStat {
        size: s.stx_size,
        mode: u32::from(s.stx_mode),
        uid: s.stx_uid,
        gid: s.stx_gid,
        is_dir: u32::from(s.stx_mode) & libc::S_IFMT == libc::S_IFDIR,
    }
}

/// Starts one worker per drive root, keyed by root.
pub fn spawn_all<'a>(
    roots: impl IntoIterator<Item = &'a Path>,
) -> std::io::Result<HashMap<PathBuf, DriveIo>> {
    roots
        .into_iter()
        .map(|r| Ok((r.to_owned(), DriveIo::spawn(r)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn each_backend(f: impl Fn(Backend)) {
        f(Backend::Syscalls);
        if probe_io_uring().is_ok() {
            f(Backend::IoUring);
        }
    }

    #[test]
    fn basic_operations() {
        each_backend(|b| {
            let dir = tempfile::tempdir().unwrap();
            let io = DriveIo::spawn_with(dir.path(), b).unwrap();
            io.mkdir_all("bkt/a/b").unwrap();
            let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
            io.write_file("bkt/a/b/f", data.clone(), true)
                .wait()
                .unwrap();
            io.write_file("bkt/empty", Vec::new(), false)
                .wait()
                .unwrap();
            assert_eq!(io.read_file("bkt/a/b/f").wait().unwrap(), data);
            assert_eq!(io.read_file("bkt/empty").wait().unwrap(), Vec::<u8>::new());
            assert_eq!(
                io.read_at("bkt/a/b/f", 299_990, 100).wait().unwrap(),
                &data[299_990..]
            );
            assert_eq!(io.read_at("bkt/a/b/f", 5, 3).wait().unwrap(), &data[5..8]);
            let st = io.stat("bkt/a/b/f").wait().unwrap();
            assert_eq!((st.size, st.is_dir), (300_000, false));
            assert!(io.stat("bkt/a").wait().unwrap().is_dir);
            io.fsync("bkt/a/b").wait().unwrap();
            io.rename("bkt/a/b/f", "bkt/g").wait().unwrap();
            let err = io.read_file("bkt/a/b/f").wait().unwrap_err();
            assert!(err.is_not_found(), "{err}");
            assert!(err.to_string().contains("bkt/a/b/f"));
            io.unlink("bkt/g", false).wait().unwrap();
            io.unlink("bkt/a/b", true).wait().unwrap();
            assert!(io.mkdir("bkt/a").wait().is_err());
            assert!(io.read_file("../etc/passwd").wait().is_err());
            // many in flight at once
            let tickets: Vec<_> = (0..500)
                .map(|i| io.write_file(format!("bkt/f{i}"), vec![i as u8; i], false))
                .collect();
            tickets.into_iter().for_each(|t| t.wait().unwrap());
            let reads: Vec<_> = (0..500)
                .map(|i| io.read_file(format!("bkt/f{i}")))
                .collect();
            for (i, t) in reads.into_iter().enumerate() {
                assert_eq!(t.wait().unwrap(), vec![i as u8; i], "{b:?}");
            }
        });
    }

    #[test]
    fn whole_file_reads_around_the_first_read_size() {
        each_backend(|b| {
            let dir = tempfile::tempdir().unwrap();
            let io = DriveIo::spawn_with(dir.path(), b).unwrap();
            for len in [
                0,
                1,
                FIRST_READ - 1,
                FIRST_READ,
                FIRST_READ + 1,
                3 * FIRST_READ,
            ] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                std::fs::write(dir.path().join("f"), &data).unwrap();
                assert_eq!(io.read_file("f").wait().unwrap(), data, "{b:?} {len}");
            }
        });
    }

    /// A batch answers every path in order: small and large files (around
    /// the first read size), empty, missing and rejected paths, more paths
    /// than the worker keeps in flight, and batches and single reads mixed.
    #[test]
    fn read_batches() {
        each_backend(|b| {
            let dir = tempfile::tempdir().unwrap();
            let io = DriveIo::spawn_with(dir.path(), b).unwrap();
            let lens = [
                0,
                1,
                700,
                FIRST_READ - 1,
                FIRST_READ,
                FIRST_READ + 1,
                200_000,
            ];
            let mut rels = Vec::new();
            let mut want = Vec::new();
            for i in 0..(3 * MAX_IN_FLIGHT) {
                let rel = format!("d{}/f{i}", i % 7);
                let len = lens[i % lens.len()];
                let data: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
                std::fs::create_dir_all(dir.path().join(format!("d{}", i % 7))).unwrap();
                std::fs::write(dir.path().join(&rel), &data).unwrap();
                rels.push(PathBuf::from(rel));
                want.push(Some(data));
            }
            rels.insert(5, PathBuf::from("d1/missing"));
            want.insert(5, None);
            rels.insert(9, PathBuf::from("../escape"));
            want.insert(9, None);
            let single = io.read_file(&rels[3]);
            let first = io.read_files(&rels);
            let second = io.read_files(&rels[..10]);
            let empty = io.read_files::<PathBuf>(&[]);
            assert_eq!(single.wait().unwrap(), *want[3].as_ref().unwrap());
            let got = first.wait();
            assert_eq!(got.len(), rels.len(), "{b:?}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                match (g, w) {
                    (Ok(g), Some(w)) => assert_eq!(g, w, "{b:?} item {i}"),
                    (Err(e), None) => assert!(
                        e.path == rels[i] && (e.is_not_found() || i == 9),
                        "{b:?} item {i}: {e}"
                    ),
                    (g, _) => panic!("{b:?} item {i}: {g:?}"),
                }
            }
            let got = second.wait();
            assert_eq!(got.len(), 10);
            assert_eq!(got[4].as_ref().unwrap(), want[4].as_ref().unwrap());
            assert!(got[5]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("d1/missing"));
            assert!(empty.wait().is_empty());
            // a directory is not a file
            let got = io.read_files(&["d1"]).wait();
            assert!(got[0].is_err(), "{b:?}");
        });
    }

    /// The ring fails (test hook) while a batch of reads is in the kernel:
    /// those requests get the error, and nothing the kernel still owned
    /// is reused: later requests on the worker answer from the files, not
    /// from the stale completions of the failed ones.
    #[test]
    fn a_failed_ring_answers_what_was_in_flight_and_stays_correct() {
        if probe_io_uring().is_err() {
            eprintln!("skipped: no io_uring");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, Vec<u8>)> = (0..40usize)
            .map(|i| {
                let data: Vec<u8> = (0..(i * 997) % 50_000).map(|j| (i * 7 + j) as u8).collect();
                let name = format!("f{i}");
                std::fs::write(dir.path().join(&name), &data).unwrap();
                (name, data)
            })
            .collect();
        inject_ring_fault(dir.path(), 0);
        let io = DriveIo::spawn_with(dir.path(), Backend::IoUring).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let got = io.read_files(&names).wait();
        assert_eq!(got.len(), files.len());
        for (r, (name, _)) in got.iter().zip(&files) {
            let e = r.as_ref().expect_err("in flight when the ring failed");
            assert!(
                e.to_string().contains("injected ring failure"),
                "{name}: {e}"
            );
            assert_eq!(e.path, Path::new(name), "{e}");
        }
        for round in 0..3 {
            let reads: Vec<_> = files.iter().map(|(n, _)| io.read_file(n)).collect();
            let ats: Vec<_> = files.iter().map(|(n, _)| io.read_at(n, 3, 5000)).collect();
            let stats: Vec<_> = files.iter().map(|(n, _)| io.stat(n)).collect();
            for (((r, a), st), (name, data)) in reads.into_iter().zip(ats).zip(stats).zip(&files) {
                assert_eq!(&r.wait().unwrap(), data, "round {round} {name}");
                let want = data.get(3..data.len().min(5003)).unwrap_or_default();
                assert_eq!(a.wait().unwrap(), want, "round {round} {name} at 3");
                assert_eq!(
                    st.wait().unwrap().size,
                    data.len() as u64,
                    "round {round} {name}"
                );
            }
        }
    }

    /// A length from corrupt metadata is refused before a buffer of that
    /// size is made (the process would abort on the allocation).
    #[test]
    fn read_at_refuses_absurd_lengths() {
        each_backend(|b| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("f"), b"0123456789").unwrap();
            let io = DriveIo::spawn_with(dir.path(), b).unwrap();
            let err = io.read_at("f", 0, 1 << 40).wait().unwrap_err();
            assert_eq!(
                err.source.kind(),
                std::io::ErrorKind::InvalidInput,
                "{b:?} {err}"
            );
            assert_eq!(io.read_at("f", 8, 1 << 20).wait().unwrap(), b"89");
        });
    }

    #[test]
    fn atomic_write_keeps_mode_and_cleans_staging() {
        each_backend(|b| {
            let dir = tempfile::tempdir().unwrap();
            let io = DriveIo::spawn_with(dir.path(), b).unwrap();
            io.mkdir_all("bkt/obj").unwrap();
            let target = dir.path().join("bkt/obj/xl.meta");
            std::fs::write(&target, b"old").unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
            // A foreign owner is kept too (only root may hand files to others).
            // SAFETY: geteuid has no preconditions.
            let root_user = unsafe { libc::geteuid() } == 0;
            if root_user {
                std::os::unix::fs::chown(&target, Some(1234), Some(5678)).unwrap();
            }
            io.atomic_write("bkt/obj/xl.meta", b"new contents".to_vec())
                .unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), b"new contents");
            let meta = std::fs::metadata(&target).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            if root_user {
                assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
            }
            // Bits the umask would strip at creation, and (as root) the
            // set-user-ID bit a change of owner clears, are set again.
            let mode = if root_user { 0o4766 } else { 0o666 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
            io.atomic_write("bkt/obj/xl.meta", b"newer".to_vec())
                .unwrap();
            let meta = std::fs::metadata(&target).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "{b:?}");
            let items: Vec<(PathBuf, Vec<u8>)> = (0..50)
                .map(|i| (PathBuf::from(format!("bkt/obj{i}.meta")), vec![i as u8; 10]))
                .collect();
            io.atomic_write_batch(items).unwrap();
            assert_eq!(
                std::fs::read(dir.path().join("bkt/obj7.meta")).unwrap(),
                vec![7u8; 10]
            );
            io.release_staging();
            let staging = std::fs::read_dir(dir.path().join(STAGING_DIR))
                .unwrap()
                .count();
            assert_eq!(staging, 0, "released staging leaves nothing");
            // a batch with an impossible target fails and leaves no staged
            // file once released
            let bad = vec![(PathBuf::from("nodir/x/y"), b"z".to_vec())];
            assert!(io.atomic_write_batch(bad).is_err());
            io.release_staging();
            assert_eq!(
                std::fs::read_dir(dir.path().join(STAGING_DIR))
                    .unwrap()
                    .count(),
                0
            );
        });
    }
}
