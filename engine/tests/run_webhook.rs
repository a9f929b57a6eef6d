//! The end-of-job webhook against a local HTTP server: MinIO's 14 fields
//! first and in order, the token as `Authorization`, a retry after a 5xx.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

fn server(statuses: Vec<u16>) -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            tx.send((head, String::from_utf8(body).unwrap())).unwrap();
        }
    });
    (url, rx)
}

#[test]
fn notifies_once_at_the_end_with_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 5, "sse-kms=1", &[]);
    let (url, rx) = server(vec![503, 200]);
    let job = write_job(
        &root,
        "fixture",
        &format!("  flags:\n    notify:\n      endpoint: {url}\n      token: Bearer s3cr3t\n    retry:\n      attempts: 3\n      delay: 10ms\n"),
    );
    let (code, summary, out) = run(&job, &drives(&root, 4), &root.join("state"), KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let (head1, body1) = rx.recv().unwrap();
    let (head2, body2) = rx.recv().unwrap();
    assert_eq!(body1, body2, "a retry sends the same body");
    for head in [&head1, &head2] {
        assert!(head.starts_with("POST /hook "), "{head}");
        assert!(head.contains("Authorization: Bearer s3cr3t\r\n"), "{head}");
        assert!(head
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
    }
    let keys: Vec<String> = serde_json::from_str::<serde_json::Value>(&body1)
        .map(|_| {
            // Key order from the text itself (serde_json maps sort).
            body1
                .split("\":")
                .filter_map(|c| c.rsplit('"').next().map(str::to_owned))
                .take(16)
                .collect()
        })
        .unwrap();
    assert_eq!(
        &keys[..14],
        [
            "jobID",
            "jobType",
            "startTime",
            "lastUpdate",
            "retryAttempts",
            "attempts",
            "complete",
            "failed",
            "objects",
            "deleteMarkers",
            "objectsFailed",
            "deleteMarkersFailed",
            "bytesTransferred",
            "bytesFailed"
        ]
    );
    assert_eq!(keys[14], "status");
    let v: serde_json::Value = serde_json::from_str(&body1).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["complete"], true);
    assert_eq!(v["objects"], 5);
    assert_eq!(v["jobID"], summary["jobID"]);
    assert!(v["jobID"].as_str().unwrap().starts_with("keyrotate-"));
    assert!(
        !body1.contains("s3cr3t"),
        "the token never appears in the body"
    );
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "sent once"
    );
}

/// A canceled run notifies too (MinIO's cancel kills the request, AB-18),
/// with status `canceled`; a 2xx other than 200 is success (no retry).
#[test]
fn a_canceled_run_notifies_canceled() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 40, "sse-kms=1", &[]);
    let (url, rx) = server(vec![204, 200]);
    let job = write_job(
        &root,
        "fixture",
        &format!("  flags:\n    notify:\n      endpoint: {url}\n    retry:\n      attempts: 3\n      delay: 10ms\n"),
    );
    let state = root.join("state");
    let child = start_slowed_run(&job, &drives(&root, 4), &state, KEY1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    summary_of(child, 130);
    let (head, body) = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("a canceled run notifies");
    assert!(!head.contains("Authorization"), "no token configured");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "canceled");
    assert_eq!(
        (v["complete"].as_bool(), v["failed"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "204 is success: no retry"
    );
}

/// The stored job copy has the token redacted (issue 16 item 8): a resume
/// still sends the real token, which comes from the job file given on the
/// command line.
#[test]
fn a_resumed_run_sends_the_token_of_the_job_file_given() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &[]);
    let (url, rx) = server(vec![200]);
    let job = write_job(
        &root,
        "fixture",
        &format!("  flags:\n    notify:\n      endpoint: {url}\n      token: Bearer r3sum3d\n"),
    );
    let set = drives(&root, 4);
    let state = root.join("state");
    let mut child = start_slowed_run(&job, &set, &state, KEY1);
    child.kill().unwrap(); // SIGKILL: no notification
    child.wait().unwrap();
    let stored = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path().join("job.yaml")).unwrap())
        .next()
        .unwrap();
    assert!(!stored.contains("r3sum3d"), "{stored}");
    let (code, summary, out) = run(&job, &set, &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["status"], "completed");
    let (head, _) = rx.recv().unwrap();
    assert!(head.contains("Authorization: Bearer r3sum3d\r\n"), "{head}");
}
