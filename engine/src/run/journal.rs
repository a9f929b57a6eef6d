//! The job journal: an append-only log of checksummed records in the state
//! directory, the single source of truth for resume.
//!
//! Layout of one record on disk:
//!
//! ```text
//! magic (4) | payload length le32 (4) | xxh64(payload) le64 (8) | payload
//! ```
//!
//! with magic `KRJ1` for a record (msgpack payload) and `KRJC` for a commit
//! mark (payload: le64 length of the log known durable when it was written).
//! A commit mark is appended only after an `fdatasync` returned, at the head
//! of the next batch, so it proves that everything before it is durable.
//!
//! A crash can leave a torn tail, with holes even, since unsynced pages reach
//! the disk in any order. [`Journal::open_with`] stops at the first damaged record:
//! if no intact commit mark after it vouches for it, it lies past the last
//! fsync and is dropped (nothing was written to a drive on its behalf: an
//! intent is durable before its writes start); if one does, committed history
//! is damaged and opening fails with [`JournalError::Corrupt`].
//!
//! Writers batch records and call [`Journal::commit`] once per batch (group
//! commit): one `fdatasync` makes a whole window of intents durable.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use xxhash_rust::xxh64::xxh64;

use crate::crashpoint::crash_point;

const MAGIC: &[u8; 4] = b"KRJ1";
const MAGIC_COMMIT: &[u8; 4] = b"KRJC";
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
    /// Intact records follow a damaged one: not a torn tail but corruption of
    /// committed history, which resume must not guess about.
    #[error("journal {path}: damaged record at offset {offset} is followed by intact records; the state directory is corrupt")]
    Corrupt { path: PathBuf, offset: u64 },
}

/// An open journal positioned for appending.
pub struct Journal<R> {
    path: PathBuf,
    out: BufWriter<File>,
    pending: usize,
    /// Bytes of the log made durable by the last commit, not yet vouched for
    /// by a commit mark.
    unmarked_commit: Option<u64>,
    /// Length of the log including buffered bytes.
    len: u64,
    _record: std::marker::PhantomData<fn(R)>,
}

/// What [`Journal::open`] found on disk (tests: the records collected).
#[cfg(test)]
pub struct Replay<R> {
    /// Every intact record, in append order.
    pub records: Vec<R>,
    /// Bytes dropped from the tail (a torn record from a crash), 0 if none.
    pub truncated_bytes: u64,
}

/// What [`Journal::open_with`] found on disk (the records went to its callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    /// Intact records replayed.
    pub records: u64,
    /// Bytes dropped from the tail (a torn record from a crash), 0 if none.
    pub truncated_bytes: u64,
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

    /// Opens (creating if needed) the journal at `path`, replays its intact
    /// records and truncates a torn tail. Each record goes to `on_record` as
    /// it is decoded: a resume of a job of millions of objects reads its
    /// journal through a memory map, one record at a time, and never holds
    /// it in memory.
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
        let mut offset = 0usize;
        while let Some((magic, payload, next)) = next_record(bytes, offset) {
            if magic == MAGIC_COMMIT {
                offset = next;
                continue;
            }
            let record = rmp_serde::from_slice(payload).map_err(|e| JournalError::Decode {
                path: path.clone(),
                offset: offset as u64,
                reason: e.to_string(),
            })?;
            on_record(record);
            records += 1;
            offset = next;
        }
        if committed_length_after(bytes, offset) > offset as u64 {
            return Err(JournalError::Corrupt {
                path,
                offset: offset as u64,
            });
        }
        let truncated_bytes = (bytes.len() - offset) as u64;
        drop(map);
        if truncated_bytes > 0 {
            file.set_len(offset as u64).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
        }
        file.seek(SeekFrom::Start(offset as u64)).map_err(io_err)?;
        if offset == 0 {
            // A new journal: make its directory entry durable too.
            sync_parent_dir(&path).map_err(io_err)?;
        }
        let journal = Journal {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            pending: 0,
            unmarked_commit: None,
            len: offset as u64,
            _record: std::marker::PhantomData,
        };
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
        if let Some(durable) = self.unmarked_commit.take() {
            self.write_framed(MAGIC_COMMIT, &durable.to_le_bytes())?;
        }
        self.write_framed(MAGIC, &payload)?;
        self.pending += 1;
        Ok(())
    }

    fn write_framed(&mut self, magic: &[u8; 4], payload: &[u8]) -> Result<(), JournalError> {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(magic);
        header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[8..16].copy_from_slice(&xxh64(payload, 0).to_le_bytes());
        self.write_all(&header)?;
        self.write_all(payload)?;
        self.len += (HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Makes every appended record durable (one write + `fdatasync`).
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending == 0 {
            return Ok(());
        }
        let path = &self.path;
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        crash_point("journal.before_write");
        self.out.flush().map_err(io_err)?;
        crash_point("journal.before_sync");
        self.out.get_ref().sync_data().map_err(io_err)?;
        crash_point("journal.after_sync");
        self.pending = 0;
        self.unmarked_commit = Some(self.len);
        Ok(())
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

/// The magic and payload of the intact record at `offset` and the offset
/// after it, or `None` at the end or at a torn/corrupt record.
fn next_record(bytes: &[u8], offset: usize) -> Option<(&[u8; 4], &[u8], usize)> {
    let header = bytes.get(offset..offset.checked_add(HEADER_LEN)?)?;
    let magic = if &header[..4] == MAGIC {
        MAGIC
    } else if &header[..4] == MAGIC_COMMIT {
        MAGIC_COMMIT
    } else {
        return None;
    };
    let len = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let start = offset + HEADER_LEN;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (len <= MAX_RECORD && xxh64(payload, 0) == sum).then_some((magic, payload, start + len))
}

/// The largest durable length vouched for by an intact commit mark anywhere
/// after the damaged record at `offset` (0 if none).
fn committed_length_after(bytes: &[u8], offset: usize) -> u64 {
    (offset + 1..bytes.len().saturating_sub(HEADER_LEN - 1))
        .filter(|&at| bytes[at..].starts_with(MAGIC_COMMIT))
        .filter_map(|at| next_record(bytes, at))
        .filter_map(|(_, payload, _)| payload.try_into().ok().map(u64::from_le_bytes))
        .max()
        .unwrap_or(0)
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

    /// A journal of records `0..count`, committed once at the end or after
    /// every record; returns its directory (kept alive) and path.
    fn journal_of(count: u64, commit_each: bool) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = Journal::<Rec>::open(&path).unwrap();
        for n in 0..count {
            j.append(&rec(n)).unwrap();
            if commit_each {
                j.commit().unwrap();
            }
        }
        j.commit().unwrap();
        (dir, path)
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
    /// records that are whole in it, and the tail must be dropped.
    #[test]
    fn every_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        {
            let (mut j, _) = Journal::<Rec>::open(&path).unwrap();
            for n in 0..5 {
                j.append(&rec(n)).unwrap();
            }
            j.commit().unwrap();
        }
        let full = std::fs::read(&path).unwrap();
        let mut boundaries = vec![0];
        let mut off = 0;
        while let Some((_, _, next)) = next_record(&full, off) {
            boundaries.push(next);
            off = next;
        }
        for cut in 0..=full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
            let (_, replay) = Journal::<Rec>::open(&path).unwrap();
            assert_eq!(replay.records.len(), whole, "cut at {cut}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().len() as usize,
                boundaries[whole]
            );
        }
    }

    #[test]
    fn a_flipped_byte_in_committed_history_is_an_error() {
        let (_dir, path) = journal_of(3, true);
        let mut bytes = std::fs::read(&path).unwrap();
        let (_, _, second) = next_record(&bytes, 0).unwrap();
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

    /// Unsynced pages reach the disk in any order: a damaged record followed
    /// by intact ones that no commit mark vouches for is still a torn tail.
    #[test]
    fn a_hole_in_the_unsynced_batch_is_a_torn_tail() {
        let (_dir, path) = journal_of(3, false);
        let mut bytes = std::fs::read(&path).unwrap();
        let (_, _, second) = next_record(&bytes, 0).unwrap();
        bytes[second + HEADER_LEN + 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0)]);
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_a_torn_tail() {
        let (_dir, path) = journal_of(3, false);
        let mut bytes = std::fs::read(&path).unwrap();
        let (_, _, second) = next_record(&bytes, 0).unwrap();
        bytes.truncate(next_record(&bytes, second).unwrap().2);
        bytes[second + HEADER_LEN + 1] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (mut j, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0)]);
        assert!(replay.truncated_bytes > 0);
        // Appending after recovery continues a clean log.
        j.append(&rec(9)).unwrap();
        j.commit().unwrap();
        drop(j);
        let (_, replay) = Journal::<Rec>::open(&path).unwrap();
        assert_eq!(replay.records, vec![rec(0), rec(9)]);
    }
}
