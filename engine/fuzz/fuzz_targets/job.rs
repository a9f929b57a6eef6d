//! Parse and validate arbitrary text as a job file: never panics; a job
//! that validates re-validates to the same `Job`, an invalid one lists at
//! least one problem and the same problems every time, every problem
//! formats, and a valid job decides on a few versions without panicking.

#![no_main]

use engine::job::decide::{decide, Capabilities};
use engine::job::timestamp::Timestamp;
use engine::job::{parse_job, validate, Invalid, VersionFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_job(text) {
        Ok(job) => {
            assert_eq!(parse_job(text).expect("re-validates"), job);
            assert!(validate(text).is_empty());
            let t0 = Timestamp::from_unix_secs(1_800_000_000);
            for secs in [0, 1_700_000_000, 1_900_000_000] {
                let mut v = VersionFacts::object(Timestamp::from_unix_secs(secs));
                v.meta_usr.insert("X-Amz-Tagging".into(), "a=b&c=".into());
                v.meta_usr
                    .insert("content-type".into(), "text/plain".into());
                for caps in [
                    Capabilities::default(),
                    Capabilities {
                        encrypt_compressed: true,
                    },
                ] {
                    let _ = decide(&job, &v, t0, caps);
                }
            }
        }
        Err(Invalid(errors)) => {
            assert!(!errors.is_empty(), "an invalid job names its problems");
            assert_eq!(validate(text), errors);
            for e in &errors {
                let _ = e.to_string();
            }
        }
    }
});
