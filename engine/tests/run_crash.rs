//! Crash safety: `keyrotate run` killed with SIGKILL at random points (a
//! test hook slows each group commit so kills land between the journal
//! commit and the drive writes), resumed each time. At the end every object
//! agrees across drives and reads back, and the counters equal those of an
//! uninterrupted run on an identical deployment.

use std::process::Stdio;
use std::time::{Duration, Instant};

use engine::run::verify::read_plaintext;
use kms_client::config::KmsConfig;
use rand::Rng;
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[test]
fn kill_nine_at_random_points_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let extra = ["--versions", "2", "--multipart-every", "7", "--seed", "7"];
    fixture(&a, 150, "sse-kms=3,sse-s3=1", &extra);
    fixture(&b, 150, "sse-kms=3,sse-s3=1", &extra);
    let job_a = write_job(&a, "fixture", "");
    let job_b = write_job(&b, "fixture", "");

    // Reference: one uninterrupted run.
    let (code, reference, out) = run(&job_a, &drives(&a, 4), &a.join("state"), KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));

    // Interrupted runs.
    let state = b.join("state");
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let mut rounds = 0;
    let last = loop {
        rounds += 1;
        assert!(rounds < 200, "the run never finished");
        let mut cmd = run_cmd(&job_b, &drives(&b, 4), &state, KEY1);
        cmd.env("KEYROTATE_TEST_COMMIT_DELAY_MS", "15")
            .env("KEYROTATE_TEST_BATCH", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if kills < 20 {
            let wait = Duration::from_millis(rng.gen_range(40..160));
            let start = Instant::now();
            while start.elapsed() < wait {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    };
    assert!(kills >= 20, "only {kills} kills landed during the run");
    for k in COUNTERS {
        assert_eq!(last[k], reference[k], "{k}: {last} vs {reference}");
    }
    assert_eq!(last["skippedByReason"], reference["skippedByReason"]);
    // Staging (spares kept between batches, files of killed runs) is gone.
    assert_eq!(
        staging_left(&drives(&b, 4)),
        0,
        "staging left after {kills} kills"
    );
    // Every object reads back and all drives agree.
    let kms = KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY1.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap();
    let m = manifest(&b);
    let roots = drives(&b, 4);
    for e in m["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
            continue;
        }
        let object = e["object"].as_str().unwrap();
        let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
        let plain = read_plaintext(Some(kms.as_ref()), &roots, "fixture", object, vid).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap()
        );
    }
    let o = std::process::Command::new(bin())
        .args(["verify", "--json", "--drives"])
        .args(&roots)
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["sseS3"].as_u64(), Some(0));
    // The report has exactly one line per version.
    assert_eq!(
        report_lines(&state).len() as u64,
        last["objectsScanned"].as_u64().unwrap()
    );
}

/// SIGTERM and SIGINT are a durable cancel: exit 130, status `canceled`,
/// and the next run resumes to the same end as an uninterrupted one.
#[test]
fn sigterm_cancels_durably_and_resumes() {
    cancel_durably_and_resume(libc::SIGTERM);
}

#[test]
fn sigint_cancels_durably_and_resumes() {
    cancel_durably_and_resume(libc::SIGINT);
}

fn cancel_durably_and_resume(signal: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 40, "sse-kms=1", &[]);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    let child = start_slowed_run(&job, &drives(&root, 4), &state, KEY1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let v = summary_of(child, 130);
    assert_eq!(v["status"], "canceled");
    assert_eq!(
        (v["complete"].as_bool(), v["failed"].as_bool()),
        (Some(false), Some(true))
    );
    let done = v["objects"].as_u64().unwrap();
    assert!(done > 0 && done < 40, "{done}");
    let (code, end, _) = run(&job, &drives(&root, 4), &state, KEY1);
    assert_eq!(code, 0);
    assert_eq!(end["status"], "completed");
    assert_eq!(end["objects"], 40);
    assert_eq!(end["objectsScanned"], 40);
    assert_eq!(end["jobID"], v["jobID"], "a resume keeps the job id");
}
