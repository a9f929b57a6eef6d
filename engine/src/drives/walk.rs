//! Listing the objects of a bucket/prefix in MinIO's order (ONDISK §1.2):
//! per drive a recursive walk on that drive's worker, then a k-way merge over
//! the drives of a set (an object is listed once even though every drive of
//! its set holds it).
//!
//! An object is a directory holding `xl.meta` (or a legacy `xl.json`); its key
//! is the directory path below the bucket, with a trailing `__XLDIR__` turned
//! back into `/` (directory objects). Children are found by content, never by
//! name, so a key may be both an object and a prefix (`a/b`, `a/b/c`). Keys
//! are ordered by their bytes, which is the order MinIO's walk produces when
//! it sorts each directory with sub-directories as `name/`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

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

/// Lists the object keys of `bucket` below `prefix` on one drive root (plain
/// syscalls; call through [`walk_drive`] to run it on the drive's worker).
pub fn walk_dir(root: &Path, bucket: &str, prefix: &str) -> std::io::Result<Vec<String>> {
    let bucket_dir = root.join(bucket);
    let mut keys = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(bucket_dir, String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // no such bucket on this drive, or removed while walking
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.display()),
                ))
            }
        };
        let mut is_object = false;
        for entry in entries {
            let entry = entry
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
            let name = entry.file_name();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                let Some(name) = name.to_str() else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: directory name is not UTF-8: {name:?}", dir.display()),
                    ));
                };
                let child = if rel.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel}/{name}")
                };
                // Only descend where keys below can still match the prefix.
                let relevant = prefix.starts_with(&child)
                    || child.starts_with(prefix)
                    || decode_dir_object(&child).starts_with(prefix);
                if relevant {
                    stack.push((entry.path(), child));
                }
            } else if name == "xl.meta" || name == "xl.json" {
                is_object = true;
            }
        }
        if is_object && !rel.is_empty() {
            let key = decode_dir_object(&rel);
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// [`walk_dir`] on the drive's worker thread.
pub fn walk_drive(io: &DriveIo, bucket: &str, prefix: &str) -> Result<Vec<String>, DriveIoError> {
    let (b, p) = (bucket.to_owned(), prefix.to_owned());
    let rel = PathBuf::from(bucket).join(prefix);
    io.run_blocking(move |root| walk_dir(root, &b, &p))?
        .map_err(|source| DriveIoError {
            drive: io.root().to_owned(),
            op: "list",
            path: rel,
            source,
        })
}

/// Merges sorted per-drive listings into one sorted list without repeats.
pub fn merge_sorted(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    let mut heap = BinaryHeap::new();
    for (i, it) in iters.iter_mut().enumerate() {
        if let Some(k) = it.next() {
            heap.push(Reverse((k, i)));
        }
    }
    let mut out: Vec<String> = Vec::new();
    while let Some(Reverse((key, i))) = heap.pop() {
        if let Some(next) = iters[i].next() {
            heap.push(Reverse((next, i)));
        }
        if out.last() != Some(&key) {
            out.push(key);
        }
    }
    out
}

/// Lists a bucket/prefix over the drives of one set, all drives walking in parallel.
pub fn list_set(
    drives: &[DriveIo],
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, DriveIoError> {
    let lists = std::thread::scope(|s| {
        let handles: Vec<_> = drives
            .iter()
            .map(|io| s.spawn(move || walk_drive(io, bucket, prefix)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(merge_sorted(lists))
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
            walk_drive(&ios[0], "bkt", "").unwrap(),
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
}
