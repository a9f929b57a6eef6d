//! The integration points for plaintext encryption and internal config:
//! their plans take the journaled commit path (staged data dirs moved in,
//! xl.meta swapped on every drive, old data dirs removed), counters land in
//! the right fields, and the internal hook runs once per job.

use std::path::PathBuf;
use std::sync::Arc;

use engine::drives::topology::{discover_paths, MissingPolicy};
use engine::job::decide::Capabilities;
use engine::job::timestamp::Timestamp;
use engine::run::object::{Breaker, EncryptPlan, InternalWork, ObjectCtx};
use engine::run::pipeline::{self, sets_of, Options};
use engine::run::plan::{CommitPlan, DriveChange, StagedDataDir};
use engine::run::state::{job_sha256, JobDir};
use engine::run::summary::JobState;
use kms_client::config::KmsConfig;
use xxhash_rust::xxh64::xxh64;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[test]
fn encrypt_and_internal_plans_commit_through_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 3, "plain=1", &[]);
    let drives = drives(&root, 4);
    // An "internal" file on every drive.
    let internal_rel = PathBuf::from(".minio.sys/config/test");
    for d in &drives {
        std::fs::create_dir_all(d.join(&internal_rel)).unwrap();
        std::fs::write(d.join(&internal_rel).join("xl.meta"), b"old config").unwrap();
    }
    let topo = discover_paths(std::slice::from_ref(&drives), MissingPolicy::Reject).unwrap();
    let sets = sets_of(&topo).unwrap();
    let kms = KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY1.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap();
    let job_text = b"keyrotate:\n  apiVersion: v1\n  bucket: fixture\n";
    let job = engine::job::parse_job(std::str::from_utf8(job_text).unwrap()).unwrap();
    let drives_for_internal = drives.clone();
    let internal_calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let calls = internal_calls.clone();
    let ctx = || ObjectCtx {
        job: job.clone(),
        t0: Timestamp::from_unix_secs(1_800_000_000),
        caps: Capabilities::default(),
        kms: Some(kms.clone()),
        target: kms.default_key().clone(),
        job_context: None,
        encrypt: Some(Arc::new(|req: &engine::run::object::EncryptRequest<'_>| {
            // Stage a data dir per drive; the new xl.meta is the old one with
            // a marker byte appended (opaque to the executor).
            let mut staged = Vec::new();
            let mut new = Vec::new();
            for (d, root) in req.drives.iter().enumerate() {
                let at = PathBuf::from(".minio.sys/tmp")
                    .join(format!("stage-{}", req.object.replace('/', "_")));
                std::fs::create_dir_all(root.join(&at)).unwrap();
                std::fs::write(root.join(&at).join("part.1"), format!("shard {d}")).unwrap();
                staged.push(Some(StagedDataDir {
                    staged_at: at,
                    name: "new-data-dir".into(),
                }));
                let mut x = req.xlmeta[d].clone();
                x.push(b'!');
                new.push(x);
            }
            Ok(EncryptPlan {
                sizes: None,
                new_xlmeta: new,
                staged,
                remove_data_dirs: Vec::new(),
            })
        })),
        internal: Some({
            let drives = drives_for_internal.clone();
            let rel = internal_rel.clone();
            let calls = calls.clone();
            Arc::new(move |_kms: &dyn kms_client::Kms| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                InternalWork {
                    plans: vec![CommitPlan {
                        drives: drives.clone(),
                        object_dir: rel.clone(),
                        per_drive: drives
                            .iter()
                            .map(|_| DriveChange {
                                expect_old: xxh64(b"old config", 0),
                                new_xlmeta: b"new config".to_vec(),
                                staged_data_dir: None,
                            })
                            .collect(),
                        remove_data_dirs: Vec::new(),
                        versions: Vec::new(),
                    }],
                    skipped: 2,
                    failed: Vec::new(),
                }
            })
        }),
        breaker: Breaker::default(),
    };
    let state = tmp.path().join("state");
    let sha = job_sha256(job_text);
    let mut reported = Vec::new();
    let end = {
        let mut dir = JobDir::open(&state, job_text, "deployment").unwrap();
        pipeline::run(
            &mut dir,
            &sha,
            &sets,
            ctx(),
            &Options::default(),
            &mut |_, objects| reported.push(objects),
        )
        .unwrap()
    };
    assert_eq!(end.state, JobState::Completed);
    // Progress counts finished objects, never backwards, up to all of them.
    assert!(reported.windows(2).all(|w| w[0] <= w[1]), "{reported:?}");
    assert_eq!(reported.last(), Some(&3), "{reported:?}");
    let s = &end.summary;
    assert_eq!(s.objects_encrypted, 3);
    assert_eq!(s.objects, 3);
    assert_eq!(
        (s.internal.rotated, s.internal.skipped, s.internal.failed),
        (1, 2, 0)
    );
    s.check_invariants().unwrap();
    for d in &drives {
        assert_eq!(
            std::fs::read(d.join(&internal_rel).join("xl.meta")).unwrap(),
            b"new config"
        );
        for i in 0..3 {
            let obj = d.join("fixture").join(format!("dir000/obj-{i:07}"));
            assert!(std::fs::read(obj.join("xl.meta")).unwrap().ends_with(b"!"));
            assert!(obj.join("new-data-dir/part.1").exists());
        }
    }
    assert_eq!(internal_calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}
