//! Smoke test of the end-to-end suite: `e2e --quick` on tiny fixtures must
//! produce a results file with every scenario of the schema the report
//! generator reads. Needs a release `keyrotate`
//! (`cargo build --release --bin keyrotate`), so it is ignored by default:
//! `cargo test -p bench --test e2e_quick -- --ignored`.

use std::path::PathBuf;

#[test]
#[ignore = "needs target/release/keyrotate; about a minute"]
fn quick_suite_writes_every_scenario() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let keyrotate = root.join("target/release/keyrotate");
    assert!(keyrotate.is_file(), "build target/release/keyrotate first");
    let dir = tempfile::tempdir_in(root.join("target")).unwrap();
    let out = dir.path().join("e2e.json");
    // Every run of the suite here: tiny sizes, this test's own directories.
    let e2e = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_e2e"))
            .arg("--quick")
            .args(extra)
            .arg("--keyrotate")
            .arg(&keyrotate)
            .arg("--encrypt-bench")
            .arg(env!("CARGO_BIN_EXE_encrypt_bench"))
            .arg("--cache")
            .arg(dir.path().join("cache"))
            .arg("--kms-cache")
            .arg(dir.path().join("kms-cache"))
            .arg("--work")
            .arg(dir.path().join("work"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = e2e(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["schema"], 1);
    let names: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for want in [
        "rotate",
        "plan_vs_cat",
        "plan_vs_stdfs",
        "encrypt",
        "kms_1ms",
        "kms_0.2ms",
        "kms_5ms",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for s in v["scenarios"].as_array().unwrap() {
        let ratio = s["ratio"].as_f64().unwrap();
        assert!(ratio.is_finite() && ratio > 0.0, "{s}");
        assert_eq!(
            s["target_met"].is_null(),
            s["target_ratio"].is_null(),
            "{s}"
        );
    }
    assert_eq!(v["scaling_objects"].as_array().unwrap().len(), 3);
    assert_eq!(v["scaling_drives"].as_array().unwrap().len(), 2);
    assert_eq!(v["kms_latency"].as_array().unwrap().len(), 3);
    assert!(v["rss_flatness"]["ratio"].as_f64().unwrap() > 0.0);
    assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
    // A second run reuses every cached fixture (and re-rotates them).
    let again = e2e(&["--only", "main,kms"]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("built in"));
    assert!(String::from_utf8_lossy(&again.stdout).contains("rotate "));
}
