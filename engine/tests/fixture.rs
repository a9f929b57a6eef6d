//! A fixture built by `engine::fixture` reads back: every version's plaintext
//! SHA-256 equals the manifest's, also with drives removed or a shard
//! corrupted; the same seed builds the same deployment.

use engine::fixture::{build, FixtureKms, FixtureSpec, Mix, SizeClass};

#[path = "common/readback.rs"]
mod readback;

fn spec() -> FixtureSpec {
    FixtureSpec {
        drives: 6,
        parity: 2,
        objects: 60,
        mix: Mix {
            plain: 1,
            sse_s3: 1,
            sse_kms: 1,
            sse_c: 1,
        },
        versions: 2,
        multipart_every: Some(3),
        sizes: SizeClass::Mixed,
        locked_every: Some(5),
        tags: true,
        seed: 7,
        ..FixtureSpec::default()
    }
}

#[test]
fn built_fixture_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fx");
    let manifest = build(&out, &spec(), FixtureKms::Default).unwrap();
    assert_eq!(manifest.objects.len(), 1 + 60 * 2 + 6);
    assert!(
        manifest.objects.iter().any(|o| o.inline) && manifest.objects.iter().any(|o| !o.inline)
    );
    assert!(manifest.objects.iter().any(|o| o.parts.len() == 3));
    assert!(manifest.objects.iter().any(|o| o.delete_marker));
    assert!(manifest
        .objects
        .iter()
        .any(|o| o.sse == "SSE-C" && o.parts.len() == 3));
    assert!(manifest
        .objects
        .iter()
        .any(|o| o.sse == "SSE-C" && o.inline));
    let (versions, compared) = readback::verify_deployment(&out, true);
    assert_eq!(versions, 121);
    assert_eq!(compared, 121);
    // rejected: a non-empty output directory
    assert!(build(&out, &spec(), FixtureKms::Default).is_err());
}

#[test]
fn same_seed_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec();
    s.objects = 15;
    s.drives = 4;
    let a = build(&dir.path().join("a"), &s, FixtureKms::Default).unwrap();
    let b = build(&dir.path().join("b"), &s, FixtureKms::Default).unwrap();
    assert_eq!(a, b);
    for o in &a.objects {
        if o.delete_marker {
            continue;
        }
        let rel = format!("drive2/{}/{}/xl.meta", o.bucket, o.object);
        let (x, y) = (
            std::fs::read(dir.path().join("a").join(&rel)),
            std::fs::read(dir.path().join("b").join(&rel)),
        );
        assert_eq!(x.unwrap(), y.unwrap(), "{rel}");
    }
    s.seed += 1;
    let c = build(&dir.path().join("c"), &s, FixtureKms::Default).unwrap();
    assert_ne!(a.objects[1].plaintext_sha256, c.objects[1].plaintext_sha256);
}
