//! The operator's view of a run (issue 16, items 4, 7, 8 and 9), through the
//! binary: a job on a bucket that does not exist is refused before any
//! write; `status` tells a killed run from a running one and shows why a job
//! stopped; a log gets progress lines; the state directory is private and
//! holds no notify token; old keys can come from a file; and the command
//! line traps a new user falls into (the job after `--drives`, `| head`,
//! doubled causes, a missing `--env-file`, raw byte counts, an empty
//! `newKey`, a tab error on the wrong line).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// Every path under `dir`, itself included.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

fn keyrotate(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).env("MINIO_KMS_SECRET_KEY", KEY1);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn status(state: &Path, json: bool) -> (String, Value) {
    let mut c = keyrotate(&["status", "--state-dir"]);
    c.arg(state);
    if json {
        c.arg("--json");
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (text(&o.stdout), v)
}

// ---- item 4 ----

#[test]
fn a_bucket_that_does_not_exist_is_refused_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    // Internal items under the default key: a run that starts rewrites them.
    fixture(&root, 4, "sse-kms=1", &["--internal"]);
    let set = drives(&root, 4);
    let before = drive_files(&set);
    let job = write_job(&root, "no-such-bucket", "");
    let state = root.join("state");
    let (code, _, out) = run(&job, &set, &state, KEY1);
    let stderr = text(&out.stderr);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NoSuchSourceBucket"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("no-such-bucket"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(drive_files(&set) == before, "the drives changed");
    assert!(
        !state.exists(),
        "a state directory was made for a refused job"
    );
}

// ---- item 7 ----

#[test]
fn a_killed_run_is_interrupted_and_resumable_in_status() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 30, "sse-kms=1", &[]);
    let set = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    // Commits slowed enough (30 × 200 ms) that it is still running when
    // `status` looks, on a loaded machine too.
    let mut child = start_run_slowed_by(&job, &set, &state, KEY1, 200);
    // While it runs, status says so.
    let (running, _) = status(&state, false);
    assert!(running.contains(" running "), "{running}");
    assert!(!running.contains("interrupted"), "{running}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (shown, _) = status(&state, false);
    assert!(shown.contains("interrupted (resumable)"), "{shown}");
    let (_, json) = status(&state, true);
    assert_eq!(json[0]["status"], "interrupted", "{json}");
    assert_eq!(json[0]["resumable"], true, "{json}");

    // The resume finishes it, and status follows.
    let (code, summary, out) = run(&job, &set, &state, KEY1);
    assert_eq!(code, 0, "{}", text(&out.stderr));
    assert_eq!(summary["status"], "completed");
    let (_, json) = status(&state, true);
    assert_eq!(json[0]["status"], "completed", "{json}");
    assert_eq!(json[0]["resumable"], false, "{json}");
}

#[test]
fn a_log_gets_progress_lines_with_counts_rate_and_eta() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &[]);
    let set = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let mut cmd = run_cmd(&job, &set, &root.join("state"), KEY1);
    // stderr is a pipe here, not a terminal; 20 commits of >= 25 ms each.
    cmd.args(["--progress-interval", "0.2s"])
        .env("KEYROTATE_TEST_COMMIT_DELAY_MS", "25")
        .env("KEYROTATE_TEST_BATCH", "1");
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("keyrotate: progress: "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {stderr}");
    for l in &lines {
        assert!(l.contains(" objects"), "{l}");
        assert!(l.contains("/s"), "{l}");
        assert!(l.contains("ETA"), "{l}");
    }
    // Milliseconds are accepted too; nonsense is an argument error.
    let mut cmd = run_cmd(&job, &set, &root.join("state2"), KEY1);
    cmd.args(["--progress-interval", "200ms"]);
    assert_eq!(cmd.output().unwrap().status.code(), Some(0));
    let mut cmd = run_cmd(&job, &set, &root.join("state3"), KEY1);
    cmd.args(["--progress-interval", "soon"]);
    assert_eq!(cmd.output().unwrap().status.code(), Some(2));
}

#[test]
fn status_shows_why_a_job_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 6, "sse-kms=1", &[]);
    let set = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    // One copy of an object no longer reads (its checksum is off): the
    // object fails and the job ends with a last error. (A key that cannot
    // unseal the data no longer gets that far: the key proof refuses it.)
    let copy = set[1].join("fixture/dir000/obj-0000003/xl.meta");
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[24] ^= 0x55;
    std::fs::write(&copy, &bytes).unwrap();
    let (code, summary, out) = run(&job, &set, &state, KEY1);
    assert_ne!(code, 0, "{}", text(&out.stderr));
    let last_error = summary["lastError"].as_str().unwrap();
    assert!(!last_error.is_empty(), "{summary}");
    let (shown, _) = status(&state, false);
    assert!(
        shown.contains(&format!("last error: {last_error}")),
        "{shown}"
    );
}

// ---- item 8 ----

const TOKEN: &str = "Bearer tok-5ecret-b1e8d6";

#[test]
fn the_state_directory_is_private_and_never_holds_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 6, "sse-kms=1", &[]);
    let set = drives(&root, 4);
    // Port 9 (discard) on loopback refuses: the webhook fails fast.
    let job = write_job(
        &root,
        "fixture",
        &format!(
            "  flags:\n    notify:\n      endpoint: http://127.0.0.1:9/hook\n      token: \"{TOKEN}\"\n    retry:\n      attempts: 1\n      delay: 1ms\n"
        ),
    );
    let state = root.join("state");
    let mut outputs = Vec::new();
    let (code, _, out) = run(&job, &set, &state, KEY1);
    assert_eq!(code, 0, "{}", text(&out.stderr));
    outputs.push(out);
    // The completed job again (the stored copy must not break its identity).
    let (code, summary, out) = run(&job, &set, &state, KEY1);
    assert_eq!(code, 0, "{}", text(&out.stderr));
    assert_eq!(summary["status"], "completed");
    outputs.push(out);
    for args in [&["status"][..], &["status", "--json"][..]] {
        let mut c = keyrotate(args);
        outputs.push(c.arg("--state-dir").arg(&state).output().unwrap());
    }
    let mut c = keyrotate(&["plan", "--list"]);
    outputs.push(c.arg(&job).arg("--drives").args(&set).output().unwrap());
    for o in &outputs {
        assert!(!text(&o.stdout).contains(TOKEN), "{}", text(&o.stdout));
        assert!(!text(&o.stderr).contains(TOKEN), "{}", text(&o.stderr));
        assert!(!text(&o.stdout).contains("5ecret"));
        assert!(!text(&o.stderr).contains("5ecret"));
    }
    let paths = tree(&state);
    assert!(paths.len() > 5, "{paths:?}");
    let mut stored_job = None;
    for p in &paths {
        let meta = std::fs::metadata(p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if p == &state {
            continue; // the root: created by us, checked below
        }
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
        } else {
            assert_eq!(mode, 0o600, "{}", p.display());
            let bytes = std::fs::read(p).unwrap();
            assert!(
                !text(&bytes).contains("5ecret"),
                "{} holds the token",
                p.display()
            );
            if p.file_name().unwrap() == "job.yaml" {
                stored_job = Some(text(&bytes));
            }
        }
    }
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // The stored copy is the job with the token replaced.
    let stored = stored_job.expect("job.yaml stored");
    assert!(stored.contains("bucket: fixture"), "{stored}");
    assert!(
        stored.contains("endpoint: http://127.0.0.1:9/hook"),
        "{stored}"
    );
    assert!(stored.contains("token: '<redacted>'"), "{stored}");
}

#[test]
fn old_keys_from_a_file_and_a_warning_for_the_inline_form() {
    const NEW: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 8, "sse-kms=1", &[]);
    let set = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let keys = root.join("old-keys");
    std::fs::write(&keys, format!("# retired in 2026\n\n{KEY1}\n")).unwrap();

    let mut cmd = run_cmd(&job, &set, &root.join("state"), NEW);
    cmd.arg("--old-kms-secret-key-file")
        .arg(&keys)
        .env_remove("KEYROTATE_OLD_KMS_SECRET_KEYS");
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // No warning about the old keys: the key proof's note on the fresh
    // target key is the only one, once.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("target key \"new-minio-key\"")
            && !warnings[0].contains("old-kms-secret-key"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["objectsFailed"], 0, "{summary}");
    assert_eq!(summary["objectsRotated"], summary["objects"], "{summary}");
    assert!(summary["objectsRotated"].as_u64().unwrap() > 0, "{summary}");
    // Afterwards the new key alone reads everything.
    let mut c = Command::new(bin());
    let o = c
        .args(["verify", "--json", "--drives"])
        .args(&set)
        .env("MINIO_KMS_SECRET_KEY", NEW)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));

    // The inline form still works, with a warning naming the file form.
    let job2 = write_job(&root, "fixture", "  prefix: dir000/\n");
    let mut cmd = run_cmd(&job2, &set, &root.join("state2"), KEY1);
    cmd.args(["--old-kms-secret-key", NEW]);
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("--old-kms-secret-key-file"), "{stderr}");
    assert!(!stderr.contains(NEW.split_once(':').unwrap().1), "{stderr}");
}

// ---- item 9 ----

#[test]
fn the_job_after_drives_is_taken_or_the_error_says_where_it_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 4, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    let pattern = format!("{}/drive{{1...4}}", root.display());
    let o = keyrotate(&["plan", "--drives", &pattern])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("versions: 4"),
        "{}",
        text(&o.stdout)
    );

    let o = keyrotate(&["plan", "--drives", &pattern]).output().unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("before --drives"), "{stderr}");
}

#[test]
fn plan_list_into_a_closed_pipe_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 40, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    let mut child = keyrotate(&["plan", "--list"])
        .arg(&job)
        .arg("--drives")
        .args(drives(&root, 4))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before the first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn an_error_names_its_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 2, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    // A state root under a regular file cannot be made.
    let file = root.join("a-file");
    std::fs::write(&file, b"").unwrap();
    let (code, _, out) = run(&job, &drives(&root, 4), &file.join("state"), KEY1);
    let stderr = text(&out.stderr);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    // A drive that does not exist.
    let o = keyrotate(&["plan"])
        .arg(&job)
        .args(["--drives", "/no/such/drive1", "/no/such/drive2"])
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_missing_env_file_is_an_argument_error_not_a_kms_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 2, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    let missing = root.join("no-such-env");
    let mut cmd = run_cmd(&job, &drives(&root, 4), &root.join("state"), KEY1);
    let out = cmd.arg("--env-file").arg(&missing).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--env-file"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(!stderr.contains("KMS"), "{stderr}");
}

#[test]
fn plan_prints_bytes_in_human_units_and_json_keeps_the_exact_count() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    // Plaintext: encrypting rewrites the data, 1..8 MiB per object.
    fixture(&root, 4, "plain=1", &["--sizes", "large"]);
    let job = write_job(&root, "fixture", "");
    let set = drives(&root, 4);
    let o = keyrotate(&["plan", "--json"])
        .arg(&job)
        .arg("--drives")
        .args(&set)
        .output()
        .unwrap();
    let report = json_of_success(&o);
    let exact = report["bytesToRewrite"].as_u64().unwrap();
    assert!(exact > 1 << 20, "{report}");
    let o = keyrotate(&["plan"])
        .arg(&job)
        .arg("--drives")
        .args(&set)
        .output()
        .unwrap();
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("bytes to rewrite: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!line.contains(&exact.to_string()), "{line}");
    let mib = exact as f64 / (1u64 << 20) as f64;
    assert!(
        line.contains(&format!("{mib:.1} MiB")),
        "{line} (exact {exact})"
    );
}

#[test]
fn plan_list_names_the_default_key_as_the_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 6, "sse-kms=1,sse-s3=1", &[]);
    let job = write_job(&root, "fixture", "  encryption: {}\n");
    let o = keyrotate(&["plan", "--list", "--json"])
        .arg(&job)
        .arg("--drives")
        .args(drives(&root, 4))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v.get("action").is_some_and(|a| !a.is_null()))
        .collect();
    assert!(!lines.is_empty(), "{out}");
    // KEY1's name: the key MinIO uses when none is named.
    for l in &lines {
        assert_eq!(l["newKey"], "my-minio-key", "{l}");
    }
}

#[test]
fn a_tab_error_names_the_line_of_the_tab() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.yaml");
    std::fs::write(&job, "keyrotate:\n  apiVersion: v1\n\tbucket: b\n").unwrap();
    let o = keyrotate(&["validate"]).arg(&job).output().unwrap();
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tab"), "{stderr}");
    assert!(stderr.contains("(line 3, column 1)"), "{stderr}");
}

#[test]
fn a_malformed_static_key_says_kms_configuration_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 2, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    let set = drives(&root, 4);
    for (key, extra) in [("no-colon", None), (KEY1, Some("no-colon"))] {
        let mut cmd = run_cmd(&job, &set, &root.join("state"), key);
        if let Some(old) = extra {
            cmd.args(["--old-kms-secret-key", old]);
        }
        let out = cmd.output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("NAME:BASE64"), "{stderr}");
        assert_eq!(stderr.matches("KMS configuration").count(), 1, "{stderr}");
    }
}
