//! Child processes measured from outside: wall time and CPU time from
//! `wait4`'s rusage, peak RSS from the child's own `VmHWM` (sampled), and
//! the block device's request and flush counts (/proc/diskstats) over the
//! same interval — where the time goes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Counters of one block device (/proc/diskstats).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskStats {
    pub reads: u64,
    pub writes: u64,
    pub sectors_written: u64,
    /// Flush requests (fsync/fdatasync reaching the device; kernel ≥ 5.5).
    pub flushes: u64,
}

impl DiskStats {
    /// The counters of `dev` (e.g. `vda`) now; zeros when unknown.
    pub fn read(dev: &str) -> Self {
        let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(2) != Some(&dev) {
                continue;
            }
            let n = |i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            return DiskStats {
                reads: n(3),
                writes: n(7),
                sectors_written: n(9),
                flushes: n(18),
            };
        }
        DiskStats::default()
    }

    pub fn since(self, before: DiskStats) -> DiskStats {
        DiskStats {
            reads: self.reads.saturating_sub(before.reads),
            writes: self.writes.saturating_sub(before.writes),
            sectors_written: self.sectors_written.saturating_sub(before.sectors_written),
            flushes: self.flushes.saturating_sub(before.flushes),
        }
    }
}

/// The block device name under a mount's device path (`/dev/vda` → `vda`).
pub fn device_name(mount_dev: &str) -> String {
    mount_dev.rsplit('/').next().unwrap_or("").to_owned()
}

/// What a child process cost.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub wall_s: f64,
    pub peak_rss_mib: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// Voluntary context switches (waits on I/O or locks).
    pub vol_switches: i64,
    /// Involuntary ones (preempted: CPU contention).
    pub invol_switches: i64,
    pub disk: DiskStats,
}

impl Measured {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// One line for the profile: CPU vs wall, switches, device requests.
    pub fn profile(&self, what: &str) -> String {
        format!(
            "{what}: wall {:.2}s, CPU {:.2}s (user {:.2}s, sys {:.2}s; {:.0}% of one core, {:.0}% of the machine), {} voluntary / {} involuntary context switches, device: {} writes, {} flushes, {} reads, {:.0} MiB written",
            self.wall_s,
            self.cpu_s(),
            self.user_s,
            self.sys_s,
            100.0 * self.cpu_s() / self.wall_s.max(1e-9),
            100.0 * self.cpu_s() / self.wall_s.max(1e-9) / cores() as f64,
            self.vol_switches,
            self.invol_switches,
            self.disk.writes,
            self.disk.flushes,
            self.disk.reads,
            self.disk.sectors_written as f64 * 512.0 / (1u64 << 20) as f64,
        )
    }

    /// stderr as text, for error messages.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Runs `cmd` to completion, output captured, and measures it; `dev` is
/// the block device whose counters are sampled around it.
/// The child is reaped with `wait4` (for its own rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run(cmd: &mut Command, dev: &str) -> std::io::Result<Measured> {
    let disk0 = DiskStats::read(dev);
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let hwm = HwmPoller::start(child.id());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let so = child.stdout.take();
    let se = child.stderr.take();
    let t_err = std::thread::spawn(move || {
        if let Some(mut se) = se {
            let _ = se.read_to_end(&mut err);
        }
        err
    });
    if let Some(mut so) = so {
        let _ = so.read_to_end(&mut out);
    }
    let err = t_err.join().unwrap_or_default();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our unwaited child; pointers are to owned locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let wall_s = t.elapsed().as_secs_f64();
    let polled_kib = hwm.stop();
    Ok(Measured {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: out,
        stderr: err,
        wall_s,
        // wait4's ru_maxrss is no good here: a child spawned with vfork
        // inherits this process's high-water RSS at its exec (the kernel
        // keeps the larger of the pre-exec and post-exec peaks), and this
        // process may have built a 200k-object fixture in memory.
        peak_rss_mib: if polled_kib > 0 {
            polled_kib as f64 / 1024.0
        } else {
            ru.ru_maxrss as f64 / 1024.0
        },
        user_s: secs(ru.ru_utime),
        sys_s: secs(ru.ru_stime),
        vol_switches: ru.ru_nvcsw,
        invol_switches: ru.ru_nivcsw,
        disk: DiskStats::read(dev).since(disk0),
    })
}

/// Samples a child's own peak RSS (`VmHWM` of its address space after exec)
/// every 10 ms until stopped; the last sample before the child exits is its
/// peak, short of growth in its final 10 ms.
struct HwmPoller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl HwmPoller {
    fn start(pid: u32) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut peak = 0u64;
            while !flag.load(Ordering::Relaxed) {
                // A zombie (exited, not yet reaped) has no VmHWM line.
                if let Some(kib) = vm_hwm_kib(&path) {
                    peak = peak.max(kib);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        });
        HwmPoller { stop, thread }
    }

    /// The peak seen, in KiB (0 if never sampled).
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// The `VmHWM` (peak resident set, KiB) of a `/proc/<pid>/status` file.
pub fn vm_hwm_kib(status_path: &str) -> Option<u64> {
    std::fs::read_to_string(status_path).ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    })
}

/// CPU seconds (user + system) this process has used so far, all threads.
pub fn self_cpu_s() -> f64 {
    // SAFETY: a zeroed rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid out pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    secs(ru.ru_utime) + secs(ru.ru_stime)
}
