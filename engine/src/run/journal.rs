//! The job journal: an append-only log of checksummed records in the state
//! directory, the single source of truth for resume.
//!
//! Layout of one frame on disk:
//!
//! ```text
//! magic (4) | payload length le32 (4) | xxh64(payload) le64 (8) | payload
//! ```
//!
//! with magic `KRJ1` for a record (msgpack payload) and `KRJE` for the end
//! mark of a batch (payload: le64 offset where the batch starts | le64
//! xxh64 of the batch's bytes from there up to the mark).
//!
//! Writers batch records and call [`Journal::commit`] once per batch (group
//! commit): the batch's records, then its end mark, then one `fdatasync`
//! makes the whole window durable. Nothing is done on behalf of a record
//! before its commit returned.
//!
//! A crash can leave the last batch torn, with holes even, since unsynced
//! pages reach the disk in any order, its end mark included. Replay
//! ([`Journal::open_with`]) therefore applies whole batches only, each when
//! its end mark is intact and names the batch's exact start and bytes;
//! everything after the last such batch is a torn tail, dropped (it lies
//! past the last `fdatasync`, so no drive was written on its behalf). A
//! damaged frame followed by another whole batch is not a torn tail: that
//! batch was written only after the damaged one was durable, so committed
//! history is damaged and opening fails with [`JournalError::Corrupt`].
//!
//! Journals of earlier builds (`KRJC` commit marks appended lazily at the
//! head of the next batch, which left the last batch unvouched) are
//! replayed by their own rules once, then closed by an end mark covering
//! all of them, so from then on the file follows the rules above.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use xxhash_rust::xxh64::{xxh64, Xxh64};

use crate::crashpoint::crash_point;

const MAGIC: &[u8; 4] = b"KRJ1";
const MAGIC_END: &[u8; 4] = b"KRJE";
/// The commit mark of journals written by earlier builds.
const MAGIC_LEGACY_COMMIT: &[u8; 4] = b"KRJC";
const HEADER_LEN: usize = 16;
/// Upper bound on one record: an intent carries one xl.meta per drive of a
/// set, and xl.meta itself is capped far below this by MinIO.
const MAX_RECORD: usize = 256 << 20;

/// Errors of the journal, always naming the journal file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("journal {path}: record at offset {offset} does not decode: {reason}")]
    Decode {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("journal {path}: record of {len} bytes exceeds the {MAX_RECORD}-byte limit")]
    TooLarge { path: PathBuf, len: usize },
    /// A whole batch follows a damaged frame: not a torn tail but
    /// corruption of committed history, which resume must not guess about.
    #[error("journal {path}: damaged record at offset {offset} is followed by intact records; the state directory is corrupt")]
    Corrupt { path: PathBuf, offset: u64 },
}

/// An open journal positioned for appending.
pub struct Journal<R> {
    path: PathBuf,
    out: BufWriter<File>,
    pending: usize,
    /// Where the batch being appended starts.
    batch_start: u64,
    /// xxh64 of the batch's bytes so far (its end mark carries it).
    batch_hash: Xxh64,
    /// Length of the log including buffered bytes.
    len: u64,
    _record: std::marker::PhantomData<fn(R)>,
}

/// What [`Journal::open`] found on disk (tests: the records collected).
#[cfg(test)]
pub struct Replay<R> {
    /// Every record of a whole batch, in append order.
    pub records: Vec<R>,
    /// Bytes dropped from the tail (a torn batch from a crash), 0 if none.
    pub truncated_bytes: u64,
}

/// What [`Journal::open_with`] found on disk (the records went to its callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records replayed.
    pub records: u64,
    /// Bytes dropped from the tail (a torn batch from a crash), 0 if none.
    pub truncated_bytes: u64,
}

/// The frames a replay found: the records of whole batches and where the
/// intact log ends.
struct Scan<'a> {
    /// Payloads to replay, with their offsets.
    records: Vec<(usize, &'a [u8])>,
    /// Length of the log to keep.
    keep: usize,
    /// An earlier build's journal: close it with an end mark at `keep`.
    legacy: bool,
}

impl<R: Serialize + DeserializeOwned> Journal<R> {
    /// [`open_with`](Self::open_with), collecting the records (tests).
    #[cfg(test)]
    pub fn open(path: impl Into<PathBuf>) -> Result<(Self, Replay<R>), JournalError> {
        let mut records = Vec::new();
        let (journal, stats) = Self::open_with(path, |r| records.push(r))?;
        Ok((
            journal,
            Replay {
                records,
                truncated_bytes: stats.truncated_bytes,
            },
        ))
    }

    /// Opens (creating if needed) the journal at `path`, replays the records
    /// of its whole batches and truncates a torn tail. Each record goes to
    /// `on_record` as it is decoded: a resume of a job of millions of
    /// objects reads its journal through a memory map, one batch at a time,
    /// and never holds it in memory.
    pub fn open_with(
        path: impl Into<PathBuf>,
        mut on_record: impl FnMut(R),
    ) -> Result<(Self, ReplayStats), JournalError> {
        let path = path.into();
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // Owner only: the journal names every object of the job.
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        let map = if file_len == 0 {
            None
        } else {
            // SAFETY: the job directory's lock file (held by our caller,
            // `JobDir`) keeps every other keyrotate process from writing this
            // journal, and nothing here writes it while the map is alive; a
            // foreign writer truncating it under us is the only way to fault.
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?)
        };
        let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
        if let Some(m) = &map {
            // One pass from start to end: let the kernel read ahead.
            let _ = m.advise(memmap2::Advice::Sequential);
        }

        let mut records = 0u64;
        let mut decode = |offset: usize, payload: &[u8]| -> Result<(), JournalError> {
            let record = rmp_serde::from_slice(payload).map_err(|e| JournalError::Decode {
                path: path.clone(),
                offset: offset as u64,
                reason: e.to_string(),
            })?;
            on_record(record);
            records += 1;
            Ok(())
        };
        let scan = scan(bytes, &mut decode).map_err(|e| match e {
            ScanError::Corrupt(offset) => JournalError::Corrupt {
                path: path.clone(),
                offset: offset as u64,
            },
            ScanError::Record(e) => e,
        })?;
        for (offset, payload) in scan.records {
            decode(offset, payload)?;
        }
        let keep = scan.keep;
        let legacy_hash = scan.legacy.then(|| xxh64(&bytes[..keep], 0));
        let truncated_bytes = (bytes.len() - keep) as u64;
        drop(map);
        if truncated_bytes > 0 {
            file.set_len(keep as u64).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
        }
        file.seek(SeekFrom::Start(keep as u64)).map_err(io_err)?;
        if keep == 0 {
            // A new journal: make its directory entry durable too.
            sync_parent_dir(&path).map_err(io_err)?;
        }
        let mut journal = Journal {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            pending: 0,
            batch_start: keep as u64,
            batch_hash: Xxh64::new(0),
            len: keep as u64,
            _record: std::marker::PhantomData,
        };
        if let Some(hash) = legacy_hash {
            // Everything replayed is one batch from offset 0 on.
            journal.batch_start = 0;
            journal.write_end_mark(hash)?;
            journal.flush()?;
            journal.sync()?;
        }
        Ok((
            journal,
            ReplayStats {
                records,
                truncated_bytes,
            },
        ))
    }

    /// Buffers one record; it is durable only after the next [`commit`](Self::commit).
    pub fn append(&mut self, record: &R) -> Result<(), JournalError> {
        let payload = rmp_serde::to_vec_named(record).map_err(|e| JournalError::Decode {
            path: self.path.clone(),
            offset: 0,
            reason: format!("encoding: {e}"),
        })?;
        if payload.len() > MAX_RECORD {
            return Err(JournalError::TooLarge {
                path: self.path.clone(),
                len: payload.len(),
            });
        }
        let header = header(MAGIC, &payload);
        self.batch_hash.update(&header);
        self.batch_hash.update(&payload);
        self.write_frame(&header, &payload)?;
        self.pending += 1;
        Ok(())
    }

    fn write_frame(
        &mut self,
        header: &[u8; HEADER_LEN],
        payload: &[u8],
    ) -> Result<(), JournalError> {
        self.write_all(header)?;
        self.write_all(payload)?;
        self.len += (HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Appends the end mark of the batch from `batch_start`, whose bytes hash to `hash`.
    fn write_end_mark(&mut self, hash: u64) -> Result<(), JournalError> {
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&self.batch_start.to_le_bytes());
        payload[8..].copy_from_slice(&hash.to_le_bytes());
        self.write_frame(&header(MAGIC_END, &payload), &payload)?;
        self.batch_start = self.len;
        self.batch_hash = Xxh64::new(0);
        Ok(())
    }

    /// Makes every appended record durable: the batch's end mark, one
    /// write and one `fdatasync`.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending == 0 {
            return Ok(());
        }
        let hash = self.batch_hash.digest();
        self.write_end_mark(hash)?;
        crash_point("journal.before_write");
        self.flush()?;
        crash_point("journal.before_sync");
        self.sync()?;
        crash_point("journal.after_sync");
        self.pending = 0;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        self.out.flush().map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        self.out
            .get_ref()
            .sync_data()
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Records buffered but not yet committed.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        self.out
            .write_all(bytes)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

fn header(magic: &[u8; 4], payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(magic);
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&xxh64(payload, 0).to_le_bytes());
    header
}

/// Replays one record: its offset and payload.
type ApplyRecord<'f> = dyn FnMut(usize, &[u8]) -> Result<(), JournalError> + 'f;

enum ScanError {
    /// Committed history is damaged at this offset.
    Corrupt(usize),
    Record(JournalError),
}

/// Walks the frames of `bytes`, handing each whole batch's records to
/// `apply` as soon as its end mark is read (memory holds one batch of
/// payload slices); the records of the batch it stopped in are left to the
/// caller only for a journal of an earlier build (see the module docs).
fn scan<'a>(bytes: &'a [u8], apply: &mut ApplyRecord<'_>) -> Result<Scan<'a>, ScanError> {
    let mut batch: Vec<(usize, &[u8])> = Vec::new();
    let mut batch_start = 0usize;
    let mut offset = 0usize;
    let mut legacy = false;
    let mut marked = false;
    while let Some((magic, payload, next)) = next_record(bytes, offset) {
        if magic == MAGIC {
            batch.push((offset, payload));
        } else if magic == MAGIC_LEGACY_COMMIT {
            legacy = true;
        } else if end_mark_of(bytes, offset, payload) == Some(batch_start) {
            for (at, payload) in batch.drain(..) {
                apply(at, payload).map_err(ScanError::Record)?;
            }
            batch_start = next;
            marked = true;
        } else {
            break;
        }
        offset = next;
    }
    if legacy && !marked {
        // An earlier build's journal: every intact record counts, and a
        // commit mark past the damage means committed history is damaged.
        if legacy_committed_after(bytes, offset) > offset as u64 {
            return Err(ScanError::Corrupt(offset));
        }
        return Ok(Scan {
            records: batch,
            keep: offset,
            legacy: offset > 0,
        });
    }
    if whole_batch_after(bytes, offset) {
        return Err(ScanError::Corrupt(offset));
    }
    Ok(Scan {
        records: Vec::new(),
        keep: batch_start,
        legacy: false,
    })
}

/// The intact frame at `offset`: its magic, payload and the offset after
/// it, or `None` at the end or at a torn/corrupt frame.
fn next_record(bytes: &[u8], offset: usize) -> Option<(&[u8; 4], &[u8], usize)> {
    let header = bytes.get(offset..offset.checked_add(HEADER_LEN)?)?;
    let magic = [MAGIC, MAGIC_END, MAGIC_LEGACY_COMMIT]
        .into_iter()
        .find(|m| header[..4] == m[..])?;
    let len = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let start = offset + HEADER_LEN;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (len <= MAX_RECORD && xxh64(payload, 0) == sum).then_some((magic, payload, start + len))
}

/// The start of the batch an intact end mark at `offset` closes, when the
/// batch's bytes (from its start up to the mark) hash as the mark says.
fn end_mark_of(bytes: &[u8], offset: usize, payload: &[u8]) -> Option<usize> {
    let start = usize::try_from(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?)).ok()?;
    let hash = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    (payload.len() == 16 && xxh64(bytes.get(start..offset)?, 0) == hash).then_some(start)
}

/// Whether a whole batch (an intact end mark whose batch starts after
/// `offset`, with the bytes it names) lies after the damaged frame at `offset`.
fn whole_batch_after(bytes: &[u8], offset: usize) -> bool {
    marks_after(bytes, offset, MAGIC_END)
        .any(|(at, payload)| end_mark_of(bytes, at, payload).is_some_and(|start| start > offset))
}

/// The largest durable length vouched for by an intact commit mark of an
/// earlier build anywhere after the damaged record at `offset` (0 if none).
fn legacy_committed_after(bytes: &[u8], offset: usize) -> u64 {
    marks_after(bytes, offset, MAGIC_LEGACY_COMMIT)
        .filter_map(|(_, payload)| payload.try_into().ok().map(u64::from_le_bytes))
        .max()
        .unwrap_or(0)
}

/// Every intact frame with `magic` that starts after `offset` (whatever
/// frames it lies between): its offset and payload.
fn marks_after<'a>(
    bytes: &'a [u8],
    offset: usize,
    magic: &'a [u8; 4],
) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
    (offset + 1..bytes.len().saturating_sub(HEADER_LEN - 1))
        .filter(move |&at| bytes[at..].starts_with(magic))
        .filter_map(move |at| {
            next_record(bytes, at)
                .filter(|(m, _, _)| *m == magic)
                .map(|(_, payload, _)| (at, payload))
        })
}

/// fsyncs the directory holding `path`, so a created or renamed entry survives a crash.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        n: u64,
        blob: Vec<u8>,
    }

    fn rec(n: u64) -> Rec {
        Rec {
            n,
            blob: vec![n as u8; (n as usize * 37) % 300],
        }
    }

    /// A journal of records `0..`, one commit per batch of `batches[i]`
    /// records; returns its directory (kept alive) and path.
    fn journal_of(batches: &[u64]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = Journal::<Rec>::open(&path).unwrap();
        let mut n = 0;
        for &size in batches {
            for _ in 0..size {
                j.append(&rec(n)).unwrap();
                n += 1;
            }
            j.commit().unwrap();
        }
        (dir, path)
    }

    /// The offset after each frame.
    fn frame_ends(bytes: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut off = 0;
        while let Some((_, _, next)) = next_record(bytes, off) {
            ends.push(next);
            off = next;
        }
        ends
    }

    #[test]
    fn replays_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        {
            let (mut j, replay) = Journal::<Rec>::open(&path).unwrap();
            assert!(replay.records.is_empty());
            for n in 0..100 {
                j.append(&rec(n)).unwrap();
            }
            j.commit().unwrap();
        }
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, (0..100).map(rec).collect::<Vec<_>>());
        assert_eq!(replay.truncated_bytes, 0);
    }

    /// A crash can cut the file anywhere: every prefix must replay to the
    /// records of the batches whose end mark is whole in it — never part of
    /// a batch — and the rest must be dropped.
    #[test]
    fn every_torn_tail_drops_its_whole_batch() {
        let (_dir, path) = journal_of(&[1, 2, 3]);
        let full = std::fs::read(&path).unwrap();
        let ends = frame_ends(&full);
        // Frames: r0 E | r1 r2 E | r3 r4 r5 E
        let batch_ends = [(0, 0), (ends[1], 1), (ends[4], 3), (ends[8], 6)];
        assert_eq!(ends[8], full.len());
        for cut in 0..=full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (end, count) = *batch_ends.iter().rev().find(|(e, _)| *e <= cut).unwrap();
            let (_, replay) = Journal::<Rec>::open(&path).unwrap();
            assert_eq!(
                replay.records,
                (0..count).map(rec).collect::<Vec<_>>(),
                "cut at {cut}"
            );
            assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, end);
            assert_eq!(replay.truncated_bytes as usize, cut - end);
        }
    }

    #[test]
    fn a_flipped_byte_in_committed_history_is_an_error() {
        let (_dir, path) = journal_of(&[1, 1, 1]);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = frame_ends(&bytes)[1];
        bytes[second + HEADER_LEN + 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let err = Journal::<Rec>::open(&path)
            .err()
            .expect("corruption must be reported");
        assert!(matches!(err, JournalError::Corrupt { offset, .. } if offset == second as u64));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "nothing may be truncated"
        );
    }

    /// Unsynced pages reach the disk in any order: a hole in the last batch
    /// drops the whole batch, even with its later records and its end mark
    /// intact.
    #[test]
    fn a_hole_in_the_unsynced_batch_is_a_torn_tail() {
        let (_dir, path) = journal_of(&[1, 3]);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = frame_ends(&bytes)[1];
        bytes[second + HEADER_LEN + 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, second);
    }

    /// An end mark vouches only for the exact bytes of its batch: a batch
    /// whose records are intact one by one but not those the mark names
    /// (a record of another batch landed in its place) is torn.
    #[test]
    fn an_end_mark_vouches_only_for_its_own_batch() {
        let (_dir, path) = journal_of(&[1, 1]);
        let bytes = std::fs::read(&path).unwrap();
        let ends = frame_ends(&bytes);
        // r0 E0 | r1 E1 → r0 E0 | r0 E1: every frame intact.
        let mut swapped = bytes[..ends[1]].to_vec();
        swapped.extend_from_slice(&bytes[..ends[0]]);
        swapped.extend_from_slice(&bytes[ends[2]..]);
        std::fs::write(&path, &swapped).unwrap();
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0)]);
    }

    #[test]
    fn appending_after_a_torn_tail_continues_a_clean_log() {
        let (_dir, path) = journal_of(&[1, 2]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).unwrap();
        let (mut j, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0)]);
        assert!(replay.truncated_bytes > 0);
        j.append(&rec(9)).unwrap();
        j.commit().unwrap();
        drop(j);
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0), rec(9)]);
    }

    /// A journal of an earlier build (commit marks at the head of the next
    /// batch) replays every intact record once, then follows the batch
    /// rules: an end mark closes what it replayed.
    #[test]
    fn an_earlier_builds_journal_is_replayed_and_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let frame = |magic: &[u8; 4], payload: &[u8]| {
            let mut f = header(magic, payload).to_vec();
            f.extend_from_slice(payload);
            f
        };
        let r = |n| rmp_serde::to_vec_named(&rec(n)).unwrap();
        let mut bytes = frame(MAGIC, &r(0));
        bytes.extend(frame(
            MAGIC_LEGACY_COMMIT,
            &(bytes.len() as u64).to_le_bytes(),
        ));
        bytes.extend(frame(MAGIC, &r(1)));
        bytes.extend(frame(MAGIC, &r(2)));
        let whole = bytes.len();
        bytes.extend(&frame(MAGIC, &r(3))[..10]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut j, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, (0..3).map(rec).collect::<Vec<_>>());
        assert_eq!(replay.truncated_bytes, 10);
        j.append(&rec(4)).unwrap();
        j.commit().unwrap();
        drop(j);
        let mut now = std::fs::read(&path).unwrap();
        assert_eq!(now[..whole], bytes[..whole]);
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, [0, 1, 2, 4].map(rec));
        // Its committed history stays protected: damage before a later
        // batch is an error.
        now[HEADER_LEN + 1] ^= 0x40;
        std::fs::write(&path, &now).unwrap();
        assert!(matches!(
            Journal::<Rec>::open(&path).err(),
            Some(JournalError::Corrupt { offset: 0, .. })
        ));
    }
}
