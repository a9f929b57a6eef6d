//! Pre-flight: keyrotate must not write while a MinIO server uses the
//! drives (MinIO caches metadata and writes concurrently; a rotation under
//! a live server can lose either side's update).
//!
//! The check scans `/proc/*/cmdline` and `/proc/*/cwd` for any process whose
//! arguments or working directory name one of the drives (or a path above or
//! below one), and whose command looks like a MinIO server.

use std::path::{Path, PathBuf};

/// A process that seems to use the drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProcess {
    pub pid: u32,
    pub cmdline: String,
    pub drive: PathBuf,
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

/// Processes (other than this one) that look like a MinIO server using any
/// of `drives`.
pub fn servers_using(drives: &[PathBuf]) -> Vec<ServerProcess> {
    let drives: Vec<PathBuf> = drives
        .iter()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let me = std::process::id();
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
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(exe) = args.first() else { continue };
        let name = Path::new(exe)
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !name.contains("minio") || !args.iter().any(|a| a == "server") {
            continue;
        }
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        for drive in &drives {
            let by_arg = args.iter().skip(1).any(|a| arg_names(a, drive));
            let by_cwd = cwd.as_deref().is_some_and(|c| related(c, drive));
            if by_arg || by_cwd {
                found.push(ServerProcess {
                    pid,
                    cmdline: args.join(" "),
                    drive: drive.clone(),
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
