//! The static key (`MINIO_KMS_SECRET_KEY`, `KEYROTATE_OLD_KMS_SECRET_KEYS`)
//! and the data-key ciphertexts it decrypts (stored in object metadata).
//!
//! First byte 0 mod 3: the rest is key text; parsing never panics, a parsed
//! key keeps its name, re-parses with surrounding whitespace, and decrypts
//! what it generates. 1: the rest is a stored ciphertext; decrypting it
//! under a fixed key fails cleanly. 2: the rest supplies the random bytes of
//! a generate; the ciphertext decrypts back, and with one byte changed or
//! cut short never decrypts to a different key.

#![no_main]

use kms_client::{Context, OldStaticKeys, ReplayRandom, StaticKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut ctx = Context::new();
    ctx.insert("bucket", "bucket/object");
    match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let _ = OldStaticKeys::default().add_list(&text);
            let Ok(key) = StaticKey::parse(&text) else {
                return;
            };
            let name = text.trim().split_once(':').expect("parsed text has ':'").0;
            assert_eq!(key.name().as_str(), name);
            let again = StaticKey::parse(&format!(" \n{text}\n ")).expect("whitespace");
            assert_eq!(again.name(), key.name());
            let dk = key
                .generate(&ctx, &ReplayRandom::new(vec![4u8; 60]))
                .expect("generate");
            let pt = again
                .decrypt(&dk.ciphertext, &ctx)
                .expect("same secret decrypts");
            assert_eq!(pt.expose(), dk.plaintext.expose());
        }
        1 => {
            let key = StaticKey::new("my-key", [1; 32]).expect("key");
            assert!(key.decrypt(rest, &ctx).is_err(), "garbage decrypted");
            let _ = key.decrypt_raw(rest, b"");
        }
        _ => {
            let Some((pick, random)) = rest.split_first_chunk::<4>() else {
                return;
            };
            if random.len() < 60 {
                return;
            }
            let key = StaticKey::new("my-key", [1; 32]).expect("key");
            let dk = key
                .generate(&ctx, &ReplayRandom::new(random.to_vec()))
                .expect("generate");
            let pt = key.decrypt(&dk.ciphertext, &ctx).expect("round trip");
            assert_eq!(pt.expose(), dk.plaintext.expose());
            let at = u32::from_le_bytes(*pick) as usize % dk.ciphertext.len();
            let mut flipped = dk.ciphertext.clone();
            flipped[at] ^= mode | 1;
            if let Ok(got) = key.decrypt(&flipped, &ctx) {
                assert_eq!(
                    got.expose(),
                    dk.plaintext.expose(),
                    "changed byte decrypted"
                );
            }
            if let Ok(got) = key.decrypt(&dk.ciphertext[..at], &ctx) {
                assert_eq!(got.expose(), dk.plaintext.expose(), "truncation decrypted");
            }
            let mut other = Context::new();
            other.insert("bucket", "bucket/other");
            assert!(
                key.decrypt(&dk.ciphertext, &other).is_err(),
                "wrong context"
            );
        }
    }
});
