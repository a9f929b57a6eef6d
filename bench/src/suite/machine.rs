//! The machine description: CPU, memory, kernel, the bench directory's
//! filesystem and free space, rustc, load average, io_uring.

use std::path::Path;

use super::results::Machine;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_avg() -> [f64; 3] {
    let text = read("/proc/loadavg");
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// The mount entry (device, fs type) holding `dir`: the longest mount
/// point of /proc/self/mounts that is a prefix of its canonical path.
pub fn mount_of(dir: &Path) -> (String, String) {
    let canon = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mut best: Option<(usize, String, String)> = None;
    for line in read("/proc/self/mounts").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dev), Some(mnt), Some(fs)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        if canon.starts_with(mnt) && best.as_ref().is_none_or(|b| mnt.len() > b.0) {
            best = Some((mnt.len(), (*dev).to_owned(), (*fs).to_owned()));
        }
    }
    best.map(|b| (b.1, b.2)).unwrap_or_default()
}

fn free_gib(dir: &Path) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0.0;
    };
    // SAFETY: a zeroed statvfs is valid; statvfs writes only into it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string, st a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0.0;
    }
    st.f_bavail as f64 * st.f_frsize as f64 / (1u64 << 30) as f64
}

/// MemAvailable of /proc/meminfo in GiB.
pub fn mem_available_gib() -> f64 {
    read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / (1u64 << 20) as f64
}

/// Describes this machine; `dir` is where the fixtures live.
pub fn describe(dir: &Path) -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let mem_kib: f64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Machine {
        cpu_model,
        cores,
        mem_gib: mem_kib / (1u64 << 20) as f64,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        fs: mount_of(dir).1,
        disk_free_gib: free_gib(dir),
        rustc,
        load_avg_start: load_avg(),
        io_uring: engine::drives::io::backend() == engine::drives::io::Backend::IoUring,
    }
}

/// `SystemTime` as RFC 3339 UTC, seconds precision.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    xlmeta::time::format_rfc3339_nano(secs * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        let at = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_660_245)), "2026-11-26T02:30:45Z");
    }
}
