//! A corrupt but self-consistent `xl.meta` (issue 15, defect 5): every drive
//! agrees on an erasure block size (`EcBSize`) or a part size no MinIO can
//! write, CRC and signature valid. Reading it must not allocate what it
//! says: `verify --data`, `plan` and `run` report that object (naming it and
//! the field) and go on with the others, where an allocation failure used
//! to abort the whole process, and every resume with it.
//!
//! Truth: the fixture's manifest (which objects exist, which are plaintext),
//! and MinIO's limits (block size 1 MiB, 10 MiB in old objects; objects up
//! to 5 TiB; parts numbered 1…10000).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use xlmeta::{ObjectV2, XlMeta, XlMetaBuilder};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// Rewrites version 0 of `bucket/object` on every drive through `edit`, as
/// a consistent file (builder: CRC and signature recomputed).
fn corrupt(drives: &[PathBuf], bucket: &str, object: &str, edit: impl Fn(&mut ObjectV2<'_>)) {
    for d in drives {
        let p = d.join(bucket).join(object).join("xl.meta");
        let bytes = std::fs::read(&p).unwrap();
        let x = XlMeta::parse(&bytes).unwrap();
        let mut obj = x.object(0).unwrap();
        edit(&mut obj);
        let inline = x.version_inline_data(0).unwrap().map(<[u8]>::to_vec);
        let mut b = XlMetaBuilder::new();
        b.add_object(&obj, x.meta_version(), inline).unwrap();
        let out = b.build().unwrap();
        XlMeta::parse(&out).unwrap().verify().unwrap();
        std::fs::write(&p, out).unwrap();
    }
}

/// Makes the single part `size` bytes, the object's sizes with it.
fn set_size(o: &mut ObjectV2<'_>, size: i64) {
    o.part_sizes = vec![size];
    o.size = size;
    if let Some(a) = o.part_actual_sizes.as_mut() {
        *a = vec![size];
    }
}

/// (object, sse) of the fixture's objects in the bucket, from its manifest.
fn objects(root: &Path) -> Vec<(String, String)> {
    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["bucket"] == "fixture" && o["delete_marker"] == false)
        .map(|o| {
            (
                o["object"].as_str().unwrap().to_owned(),
                o["sse"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn assert_no_crash(out: &std::process::Output, what: &str) {
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{what} must finish (exit 0/1), got {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A report line of a failed version whose error names `what`.
fn failed_for(line: &Value, what: &str) -> bool {
    line["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("failed"))
        && line["error"].as_str().is_some_and(|e| e.contains(what))
}

#[test]
fn absurd_block_and_part_sizes_fail_their_object_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 12, "plain=1,sse-kms=1", &["--sizes", "mixed"]);
    let drives = drives(&root, 4);
    let all = objects(&root);
    let plain: Vec<&String> = all
        .iter()
        .filter(|o| o.1.is_empty())
        .map(|o| &o.0)
        .collect();
    let kms: Vec<&String> = all
        .iter()
        .filter(|o| !o.1.is_empty())
        .map(|o| &o.0)
        .collect();
    assert!(plain.len() >= 2 && kms.len() >= 2, "{all:?}");
    // A block of 1 TiB in a part of 2 TiB: the first block's shard chunk
    // alone is half a terabyte.
    let block = |o: &mut ObjectV2<'_>| {
        o.ec_block_size = 1 << 40;
        set_size(o, 1 << 41);
    };
    let part = |o: &mut ObjectV2<'_>| set_size(o, 1 << 50);
    let bad = [
        (plain[0], "block"),
        (plain[1], "part"),
        (kms[0], "block"),
        (kms[1], "part"),
    ];
    for (o, what) in bad {
        if what == "block" {
            corrupt(&drives, "fixture", o, block);
        } else {
            corrupt(&drives, "fixture", o, part);
        }
    }
    let names = |text: &str| bad.iter().all(|(o, _)| text.contains(o.as_str()));

    // verify --data: the four are problems, every other version is checked.
    let (code, report, stderr) = verify_cmd(&drives, &["--data"]);
    assert_eq!(code, 1, "problems found, no crash: {report} {stderr}");
    let problems = report["problems"].to_string();
    assert!(names(&problems), "each corrupt object named: {problems}");
    assert_eq!(
        report["dataChecked"].as_u64(),
        Some(all.len() as u64 - 4),
        "{report}"
    );

    // plan: finishes, counting the four as failures.
    let job = write_job(tmp.path(), "fixture", "");
    let out = Command::new(bin())
        .args([
            "plan",
            job.to_str().unwrap(),
            "--list",
            "--json",
            "--drives",
        ])
        .args(&drives)
        .output()
        .unwrap();
    assert_no_crash(&out, "plan");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (o, what) in bad {
        assert!(
            lines
                .iter()
                .any(|l| l["object"] == o.as_str() && failed_for(l, what)),
            "plan lists {o} as failing for its {what} size: {text}"
        );
    }

    // run: the others are done, the four failed with their reason; twice
    // (a resume of the job must not abort either).
    let state = tmp.path().join("state");
    for attempt in 0..2 {
        let (code, summary, out) = run(&job, &drives, &state, KEY1);
        assert_no_crash(&out, "run");
        assert_eq!(code, 1, "attempt {attempt}: {summary}");
        assert_eq!(summary["objectsFailed"].as_u64(), Some(4), "{summary}");
        assert_eq!(
            summary["objectsRotated"].as_u64().unwrap()
                + summary["objectsEncrypted"].as_u64().unwrap(),
            all.len() as u64 - 4,
            "{summary}"
        );
    }
    let report = report_lines(&state);
    for (o, what) in bad {
        let line = report
            .iter()
            .find(|l| l["object"] == o.as_str())
            .unwrap_or_else(|| panic!("{o} reported"));
        assert!(
            failed_for(line, what),
            "{o}: failed for its {what} size: {line}"
        );
    }
}
