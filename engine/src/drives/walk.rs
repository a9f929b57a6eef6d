//! Listing the objects of a bucket/prefix in MinIO's order (ONDISK §1.2):
//! per drive a lazy, ordered walk on a thread of its own, then a streaming
//! k-way merge over the drives of a set (an object is listed once even though
//! every drive of its set holds it). Memory is bounded by directory sizes,
//! not by the number of objects.
//!
//! An object is a directory holding `xl.meta` (or a legacy `xl.json`); its key
//! is the directory path below the bucket, with a trailing `__XLDIR__` turned
//! back into `/` (directory objects). Children are found by content, never by
//! name, so a key may be both an object and a prefix (`a/b`, `a/b/c`). Keys
//! are ordered by their bytes, which is the order MinIO's walk produces when
//! it sorts each directory with sub-directories as `name/`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};

use super::io::{DriveIo, DriveIoError};

/// Suffix MinIO gives the directory of a key ending in `/`.
pub const DIR_OBJECT_SUFFIX: &str = "__XLDIR__";

/// The on-disk (encoded) name of an object key: `a/b/` → `a/b__XLDIR__`.
pub fn encode_dir_object(key: &str) -> String {
    match key.strip_suffix('/') {
        Some(stem) if !stem.is_empty() => format!("{stem}{DIR_OBJECT_SUFFIX}"),
        _ => key.to_owned(),
    }
}

/// The object key of an on-disk name: `a/b__XLDIR__` → `a/b/`.
pub fn decode_dir_object(name: &str) -> String {
    match name.strip_suffix(DIR_OBJECT_SUFFIX) {
        Some(stem) if !stem.is_empty() => format!("{stem}/"),
        _ => name.to_owned(),
    }
}

/// A directory still to be read, or a key ready to be listed, ordered by the
/// smallest key it can produce. A directory `rel` yields its own key
/// `decode(rel)` (when it holds `xl.meta`) and keys below `rel/`, all of
/// which sort at or after `decode(rel)`; so popping the minimum of a heap of
/// these lists keys in byte order while only one directory level per open
/// directory is in memory.
enum Pending {
    /// `(decode(rel), rel, parent)`: a directory not yet read, and its
    /// parent's descriptor (opened relative to it: a one-component lookup).
    /// Sorts after a `Key` with the same text so that an equal key already
    /// found goes first.
    Dir(String, String, Option<Arc<OwnedFd>>),
    Key(String),
}

impl Pending {
    fn bound(&self) -> &str {
        match self {
            Pending::Dir(bound, ..) | Pending::Key(bound) => bound,
        }
    }
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for HeapItem {}

impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Min-heap on the bound; keys before directories on a tie.
        let rank = |p: &Pending| matches!(p, Pending::Dir(..)) as u8;
        other
            .0
            .bound()
            .cmp(self.0.bound())
            .then_with(|| rank(&other.0).cmp(&rank(&self.0)))
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct HeapItem(Pending);

/// The object keys of `bucket` below `prefix` on one drive root, in byte
/// order, read lazily: memory holds the entries of the directories on the
/// current path, not the listing (a bucket of millions of objects lists in
/// the memory of its largest directory, as MinIO's own walk does).
pub struct DriveWalk {
    bucket_dir: PathBuf,
    prefix: String,
    heap: BinaryHeap<HeapItem>,
    failed: bool,
    /// Where directory entries are read to (reused for every directory).
    buf: Vec<MaybeUninit<u8>>,
}

/// Directory read buffer: a few hundred entries per `getdents64`.
const DIR_BUF: usize = 32 * 1024;

impl DriveWalk {
    pub fn new(root: &Path, bucket: &str, prefix: &str) -> Self {
        let mut heap = BinaryHeap::new();
        heap.push(HeapItem(Pending::Dir(String::new(), String::new(), None)));
        DriveWalk {
            bucket_dir: root.join(bucket),
            prefix: prefix.to_owned(),
            heap,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// Reads one directory: queues its own key and its relevant children.
    /// Directories are opened relative to their parent and read with
    /// `getdents64` into one reused buffer: per directory an open, its
    /// reads and a close, nothing allocated but the names kept.
    fn expand(&mut self, rel: &str, parent: Option<&OwnedFd>) -> std::io::Result<()> {
        let context = |e: std::io::Error| {
            let dir = self.bucket_dir.join(rel);
            std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let opened = match parent {
            Some(p) => {
                let name = rel.rsplit('/').next().unwrap_or(rel);
                rustix::fs::openat(p, name, flags, Mode::empty())
            }
            None if rel.is_empty() => rustix::fs::open(&self.bucket_dir, flags, Mode::empty()),
            None => rustix::fs::open(self.bucket_dir.join(rel), flags, Mode::empty()),
        };
        let fd = match opened {
            Ok(fd) => Arc::new(fd),
            // no such bucket on this drive, or removed while walking
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(context(e.into())),
        };
        if self.buf.len() < DIR_BUF {
            self.buf.resize(DIR_BUF, MaybeUninit::uninit());
        }
        let mut is_object = false;
        let mut dir = RawDir::new(&*fd, &mut self.buf);
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(|e| context(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Directory => true,
                // The filesystem does not say: ask (a symlink is not followed).
                FileType::Unknown => {
                    rustix::fs::statat(&*fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                        .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                        .map_err(|e| context(e.into()))?
                }
                _ => false,
            };
            if !is_dir {
                if name == b"xl.meta" || name == b"xl.json" {
                    is_object = true;
                }
                continue;
            }
            let Ok(name) = std::str::from_utf8(name) else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}: directory name is not UTF-8: {:?}",
                        self.bucket_dir.join(rel).display(),
                        String::from_utf8_lossy(name)
                    ),
                ));
            };
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            // Only descend where keys below can still match the prefix.
            let decoded = decode_dir_object(&child);
            let relevant = self.prefix.starts_with(&child)
                || child.starts_with(&self.prefix)
                || decoded.starts_with(&self.prefix);
            if relevant {
                self.heap
                    .push(HeapItem(Pending::Dir(decoded, child, Some(fd.clone()))));
            }
        }
        if is_object && !rel.is_empty() {
            let key = decode_dir_object(rel);
            if key.starts_with(&self.prefix) {
                self.heap.push(HeapItem(Pending::Key(key)));
            }
        }
        Ok(())
    }
}

impl Iterator for DriveWalk {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while let Some(HeapItem(item)) = self.heap.pop() {
            match item {
                // One directory per key on a drive (the name encoding is
                // one-to-one), so no key comes twice.
                Pending::Key(key) => return Some(Ok(key)),
                Pending::Dir(_, rel, parent) => {
                    if let Err(e) = self.expand(&rel, parent.as_deref()) {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        None
    }
}

/// Lists the object keys of `bucket` below `prefix` on one drive root (plain
/// syscalls), all at once: for small listings such as `.minio.sys`.
pub fn walk_dir(root: &Path, bucket: &str, prefix: &str) -> std::io::Result<Vec<String>> {
    DriveWalk::new(root, bucket, prefix).collect()
}

/// A k-way merge of sorted key streams into one sorted stream without
/// repeats (every drive of a set lists the same objects). Stops at the
/// first error.
pub struct MergeSorted<I, E> {
    sources: Vec<I>,
    heap: BinaryHeap<Reverse<(String, usize)>>,
    started: bool,
    last: Option<String>,
    error: Option<E>,
}

impl<I: Iterator<Item = Result<String, E>>, E> MergeSorted<I, E> {
    pub fn new(sources: Vec<I>) -> Self {
        MergeSorted {
            sources,
            heap: BinaryHeap::new(),
            started: false,
            last: None,
            error: None,
        }
    }

    fn pull(&mut self, i: usize) {
        match self.sources.get_mut(i).and_then(Iterator::next) {
            Some(Ok(key)) => self.heap.push(Reverse((key, i))),
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }
}

impl<I: Iterator<Item = Result<String, E>>, E> Iterator for MergeSorted<I, E> {
    type Item = Result<String, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.pull(i);
            }
        }
        loop {
            if let Some(e) = self.error.take() {
                self.heap.clear();
                self.sources.clear();
                return Some(Err(e));
            }
            let Reverse((key, i)) = self.heap.pop()?;
            self.pull(i);
            if self.last.as_deref() != Some(key.as_str()) {
                self.last = Some(key.clone());
                return Some(Ok(key));
            }
        }
    }
}

/// Merges sorted per-drive listings into one sorted list without repeats.
pub fn merge_sorted(lists: Vec<Vec<String>>) -> Vec<String> {
    let sources = lists
        .into_iter()
        .map(|l| l.into_iter().map(Ok::<_, std::convert::Infallible>))
        .collect();
    MergeSorted::new(sources).filter_map(Result::ok).collect()
}

/// Keys handed from a drive's walker thread to the merge, in batches.
const WALK_BATCH: usize = 512;
/// Batches a walker may run ahead of the merge (bounds memory per drive).
const WALK_AHEAD: usize = 4;

/// The keys one drive's walker thread sends, batch by batch.
struct DriveStream {
    rx: crossbeam_channel::Receiver<Result<Vec<String>, DriveIoError>>,
    batch: std::vec::IntoIter<String>,
}

impl Iterator for DriveStream {
    type Item = Result<String, DriveIoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(key) = self.batch.next() {
                return Some(Ok(key));
            }
            match self.rx.recv().ok()? {
                Ok(batch) => self.batch = batch.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The listing of a bucket/prefix over the drives of one set, streamed: one
/// walker thread per drive (directory reads have no io_uring operation, and
/// a walk on the drive's worker would hold up its ring), merged in order.
/// Dropping it stops the walkers.
pub struct SetListing {
    merge: MergeSorted<DriveStream, DriveIoError>,
    walkers: Vec<std::thread::JoinHandle<()>>,
}

impl Iterator for SetListing {
    type Item = Result<String, DriveIoError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.merge.next()
    }
}

impl Drop for SetListing {
    fn drop(&mut self) {
        // Dropping the receivers makes every walker's next send fail.
        self.merge = MergeSorted::new(Vec::new());
        for w in self.walkers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Streams the keys of `bucket` below `prefix` over the drives of one set.
pub fn stream_set(drives: &[DriveIo], bucket: &str, prefix: &str) -> SetListing {
    let roots: Vec<&Path> = drives.iter().map(DriveIo::root).collect();
    stream_roots(&roots, bucket, prefix)
}

/// [`stream_set`] over drive roots (no workers needed: walks use plain
/// syscalls on threads of their own).
pub fn stream_roots(roots: &[&Path], bucket: &str, prefix: &str) -> SetListing {
    let mut sources = Vec::new();
    let mut walkers = Vec::new();
    for root in roots {
        let (tx, rx) = crossbeam_channel::bounded(WALK_AHEAD);
        let root = root.to_path_buf();
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        walkers.push(std::thread::spawn(move || {
            let rel = PathBuf::from(&bucket).join(&prefix);
            let mut batch = Vec::with_capacity(WALK_BATCH);
            for key in DriveWalk::new(&root, &bucket, &prefix) {
                match key {
                    Ok(key) => batch.push(key),
                    Err(source) => {
                        let _ = tx.send(Err(DriveIoError {
                            drive: root.clone(),
                            op: "list",
                            path: rel,
                            source,
                        }));
                        return;
                    }
                }
                if batch.len() == WALK_BATCH && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(Ok(batch));
            }
        }));
        sources.push(DriveStream {
            rx,
            batch: Vec::new().into_iter(),
        });
    }
    SetListing {
        merge: MergeSorted::new(sources),
        walkers,
    }
}

/// Lists a bucket/prefix over the drives of one set, all drives walking in
/// parallel, collected (tests and small listings; the pipeline streams).
pub fn list_set(
    drives: &[DriveIo],
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, DriveIoError> {
    stream_set(drives, bucket, prefix).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_object(root: &Path, bucket: &str, encoded: &str) {
        let dir = root.join(bucket).join(encoded);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xl.meta"), b"XL2 ").unwrap();
    }

    #[test]
    fn order_dir_objects_and_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let (d1, d2) = (dir.path().join("d1"), dir.path().join("d2"));
        for key in [
            "a-b",
            "a/b",
            "a/b/c",
            "photos/2024/",
            "photos/2024/x.jpg",
            "z",
        ] {
            touch_object(&d1, "bkt", &encode_dir_object(key));
        }
        for key in ["a/b", "a.txt", "photos/2024/x.jpg", "m/n"] {
            touch_object(&d2, "bkt", &encode_dir_object(key));
        }
        // a dataDir with part files is not an object
        std::fs::create_dir_all(d1.join("bkt/z/8d3c2f9e-0000-4000-8000-000000000000")).unwrap();
        std::fs::write(
            d1.join("bkt/z/8d3c2f9e-0000-4000-8000-000000000000/part.1"),
            b"x",
        )
        .unwrap();
        // an empty prefix directory lists nothing
        std::fs::create_dir_all(d2.join("bkt/empty/dir")).unwrap();
        let ios = [DriveIo::spawn(&d1).unwrap(), DriveIo::spawn(&d2).unwrap()];
        assert_eq!(
            walk_dir(&d1, "bkt", "").unwrap(),
            [
                "a-b",
                "a/b",
                "a/b/c",
                "photos/2024/",
                "photos/2024/x.jpg",
                "z"
            ]
        );
        assert_eq!(
            list_set(&ios, "bkt", "").unwrap(),
            [
                "a-b",
                "a.txt",
                "a/b",
                "a/b/c",
                "m/n",
                "photos/2024/",
                "photos/2024/x.jpg",
                "z"
            ]
        );
        assert_eq!(list_set(&ios, "bkt", "a/").unwrap(), ["a/b", "a/b/c"]);
        assert_eq!(
            list_set(&ios, "bkt", "photos/2024/").unwrap(),
            ["photos/2024/", "photos/2024/x.jpg"]
        );
        assert_eq!(
            list_set(&ios, "bkt", "a").unwrap(),
            ["a-b", "a.txt", "a/b", "a/b/c"]
        );
        assert!(list_set(&ios, "nobucket", "").unwrap().is_empty());
        assert_eq!(encode_dir_object("photos/2024/"), "photos/2024__XLDIR__");
        assert_eq!(decode_dir_object("photos/2024__XLDIR__"), "photos/2024/");
    }

    /// The lazy walk lists exactly the sorted, de-duplicated keys below the
    /// prefix, whatever the mix of names that sort around `/`.
    #[test]
    fn streaming_walk_matches_a_sorted_listing() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let parts = ["a", "a-b", "a.b", "a0", "b", "ab", "a~", "x"];
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let drives: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("d{i}"))).collect();
            let mut all = std::collections::BTreeSet::new();
            for _ in 0..40 {
                let depth = rng.gen_range(1..4);
                let mut key: Vec<&str> = Vec::new();
                for _ in 0..depth {
                    key.push(parts[rng.gen_range(0..parts.len())]);
                }
                let mut key = key.join("/");
                if rng.gen_bool(0.2) {
                    key.push('/');
                }
                // Every drive of a set holds every object; some copies missing.
                for d in &drives {
                    if rng.gen_bool(0.8) {
                        touch_object(d, "bkt", &encode_dir_object(&key));
                    }
                }
                all.insert(key);
            }
            let held: std::collections::BTreeSet<String> = all
                .iter()
                .filter(|k| {
                    drives.iter().any(|d| {
                        d.join("bkt")
                            .join(encode_dir_object(k))
                            .join("xl.meta")
                            .exists()
                    })
                })
                .cloned()
                .collect();
            let ios: Vec<DriveIo> = drives.iter().map(|d| DriveIo::spawn(d).unwrap()).collect();
            for prefix in ["", "a", "a/", "a-", "a/b", "x/a/"] {
                let want: Vec<String> = held
                    .iter()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect();
                assert_eq!(
                    list_set(&ios, "bkt", prefix).unwrap(),
                    want,
                    "round {round} prefix {prefix:?}"
                );
            }
            // Each drive alone lists its own copies in order.
            let one: Vec<String> = walk_dir(&drives[0], "bkt", "").unwrap();
            let mut sorted = one.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(one, sorted);
        }
    }

    #[test]
    fn a_dropped_listing_stops_its_walkers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        for i in 0..5000 {
            touch_object(&d, "bkt", &format!("k{i:05}"));
        }
        let ios = [DriveIo::spawn(&d).unwrap()];
        let mut listing = stream_set(&ios, "bkt", "");
        assert_eq!(listing.next().unwrap().unwrap(), "k00000");
        drop(listing); // joins the walker: must not hang on a full channel
    }
}
