//! Pre-flight: keyrotate must not write while a MinIO server (or anything
//! else) uses the drives: MinIO caches metadata and writes concurrently, so
//! a rotation under a live server can lose either side's update.
//!
//! Two checks over `/proc`, for every process but this one:
//!
//! * **open files and working directory**: a process with a file descriptor
//!   on a path under a drive (`/proc/PID/fd/*`), or its working directory
//!   under one (`/proc/PID/cwd`), uses the drive, whatever its name — a
//!   server binary renamed `minio.RELEASE.2025-04-22T22-12-26Z` holds
//!   `.minio.sys/format.json` open;
//! * **the name check**: a process whose command looks like a MinIO server
//!   (`minio … server …`) and whose arguments or working directory name a
//!   drive (or a path above or below one), even between its file opens.
//!
//! Processes running keyrotate's own executable are left to the drive lock,
//! which names them (a second `run`, or a `plan`/`verify`, holds its lock
//! file in the drive's `.minio.sys/tmp`); this process, and so its threads
//! and drive workers, is never flagged. Processes of other users whose
//! `/proc` entries cannot be read are not seen: run as root or as the
//! server's user.

use std::path::{Path, PathBuf};

/// A process that uses the drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProcess {
    pub pid: u32,
    pub cmdline: String,
    pub drive: PathBuf,
    /// How it uses the drive (for the refusal).
    pub how: String,
}

fn related(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Whether an argument may name `drive` (MinIO ellipsis arguments are
/// compared by the part before the first `{`).
fn arg_names(arg: &str, drive: &Path) -> bool {
    let stem = arg.split('{').next().unwrap_or(arg);
    if stem.is_empty() || !stem.starts_with('/') {
        return false;
    }
    let stem_path = Path::new(stem);
    if arg.contains('{') {
        // `/mnt/disk{1...4}`: the stem is a prefix of the drive's path text.
        return drive.to_string_lossy().starts_with(stem) || related(stem_path, drive);
    }
    let p = std::fs::canonicalize(stem_path).unwrap_or_else(|_| stem_path.to_owned());
    related(&p, drive)
}

/// The drive `path` lies in (at or under its root).
fn drive_of<'d>(path: &Path, drives: &'d [PathBuf]) -> Option<&'d PathBuf> {
    drives.iter().find(|d| path.starts_with(d))
}

/// How process `proc_dir` uses one of `drives` through an open file or its
/// working directory, if it does.
fn open_under(proc_dir: &Path, drives: &[PathBuf]) -> Option<(PathBuf, String)> {
    if let Ok(cwd) = std::fs::read_link(proc_dir.join("cwd")) {
        if let Some(d) = drive_of(&cwd, drives) {
            return Some((
                d.clone(),
                format!("its working directory {}", cwd.display()),
            ));
        }
    }
    for fd in std::fs::read_dir(proc_dir.join("fd")).ok()?.flatten() {
        // Sockets, pipes and anonymous inodes read as `type:[inode]`.
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if let Some(d) = drive_of(&target, drives) {
            return Some((d.clone(), format!("{} open", target.display())));
        }
    }
    None
}

/// Processes (other than this one and other keyrotate processes) that use
/// any of `drives`: an open file or working directory under a drive, or a
/// MinIO server command naming one.
pub fn servers_using(drives: &[PathBuf]) -> Vec<ServerProcess> {
    let drives: Vec<PathBuf> = drives
        .iter()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let me = std::process::id();
    let my_exe = std::fs::read_link("/proc/self/exe").ok();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        if my_exe.is_some() && std::fs::read_link(proc_dir.join("exe")).ok() == my_exe {
            continue;
        }
        let args: Vec<String> = std::fs::read(proc_dir.join("cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let cmdline = if args.is_empty() {
            // Kernel threads and zombies: the short name.
            std::fs::read_to_string(proc_dir.join("comm"))
                .map(|c| format!("[{}]", c.trim()))
                .unwrap_or_default()
        } else {
            args.join(" ")
        };
        if let Some((drive, how)) = open_under(&proc_dir, &drives) {
            found.push(ServerProcess {
                pid,
                cmdline,
                drive,
                how,
            });
            continue;
        }
        let Some(exe) = args.first() else { continue };
        let name = Path::new(exe)
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !name.contains("minio") || !args.iter().any(|a| a == "server") {
            continue;
        }
        let cwd = std::fs::read_link(proc_dir.join("cwd")).ok();
        for drive in &drives {
            let by_arg = args.iter().skip(1).any(|a| arg_names(a, drive));
            let by_cwd = cwd.as_deref().is_some_and(|c| related(c, drive));
            if by_arg || by_cwd {
                found.push(ServerProcess {
                    pid,
                    cmdline,
                    drive: drive.clone(),
                    how: "a MinIO server command naming it".into(),
                });
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_that_name_a_drive() {
        let d = Path::new("/mnt/disk3");
        assert!(arg_names("/mnt/disk{1...4}", d));
        assert!(arg_names("/mnt/disk3", d));
        assert!(arg_names("/mnt", d));
        assert!(!arg_names("/srv/other", d));
        assert!(!arg_names("server", d));
        assert!(!arg_names(":9000", d));
    }

    /// A process named `minio` with `server DRIVE` is found; the check
    /// ignores other programs naming the same path.
    #[test]
    fn finds_a_fake_server() {
        let dir = tempfile::tempdir().unwrap();
        let drive = dir.path().join("drive1");
        std::fs::create_dir_all(&drive).unwrap();
        // A shell copied as `minio`: argv is `minio -c 'sleep 30; true' server DRIVE`.
        let fake = dir.path().join("minio");
        std::fs::copy("/bin/sh", &fake).unwrap();
        let mut child = std::process::Command::new(&fake)
            .arg("-c")
            .arg("sleep 30; true")
            .arg("server")
            .arg(&drive)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let found = servers_using(std::slice::from_ref(&drive));
        let other = servers_using(&[dir.path().join("elsewhere")]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(other.is_empty());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, child.id());
    }
}
