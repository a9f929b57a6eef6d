//! KMS answers from the network: `selector ‖ status (2 bytes) ‖ body` fed
//! to the KES (JSON) or MinIO KMS (framed protobuf) generate/decrypt
//! decoders. Never panics; only a success status yields a key; a decoded
//! key re-encodes to a body that decodes to the same key (and a KES
//! generate answer also reads as a decrypt answer with the same
//! plaintext); the error text is short, printable and never empty.

#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use kms_client::fuzzing::{
    error_message, kes_decrypt, kes_generate, minkms_decrypt, minkms_generate,
};
use kms_client::minkms::{CMD_KEY_DECRYPT, CMD_KEY_GENERATE};
use kms_client::KeyId;
use libfuzzer_sys::fuzz_target;

/// One MinIO KMS answer frame holding length-delimited `fields`.
fn frame(command: u16, fields: &[(u8, &[u8])]) -> Vec<u8> {
    let mut m = Vec::new();
    for (n, v) in fields {
        m.push(n << 3 | 2);
        let mut len = v.len() as u64;
        while len >= 0x80 {
            m.push(len as u8 | 0x80);
            len >>= 7;
        }
        m.push(len as u8);
        m.extend_from_slice(v);
    }
    let mut out = command.to_be_bytes().to_vec();
    out.extend_from_slice(&(m.len() as u32).to_be_bytes());
    out.extend_from_slice(&m);
    out
}

fuzz_target!(|data: &[u8]| {
    let [sel, s0, s1, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_le_bytes([*s0, *s1]) % 500;
    let key = KeyId::new("my-key");
    let text = error_message(body);
    assert!(!text.is_empty() && text.chars().count() <= 200);
    assert!(!text.chars().any(char::is_control));
    match sel % 4 {
        0 => {
            let Ok(dk) = kes_generate(&key, status, body) else {
                return;
            };
            assert!((200..300).contains(&status));
            assert_eq!(dk.key_id, key);
            assert!(!dk.ciphertext.is_empty());
            let pt = kes_decrypt(&key, status, body).expect("generate answer reads as decrypt");
            assert_eq!(pt.expose(), dk.plaintext.expose());
            let again = format!(
                r#"{{"plaintext":"{}","ciphertext":"{}"}}"#,
                B64.encode(dk.plaintext.expose()),
                B64.encode(&dk.ciphertext)
            );
            let back = kes_generate(&key, 200, again.as_bytes()).expect("re-encoded answer");
            assert_eq!(back.plaintext.expose(), dk.plaintext.expose());
            assert_eq!(back.ciphertext, dk.ciphertext);
        }
        1 => {
            let Ok(pt) = kes_decrypt(&key, status, body) else {
                return;
            };
            assert!((200..300).contains(&status));
            let again = format!(r#"{{"plaintext":"{}"}}"#, B64.encode(pt.expose()));
            let back = kes_decrypt(&key, 200, again.as_bytes()).expect("re-encoded answer");
            assert_eq!(back.expose(), pt.expose());
        }
        2 => {
            let Ok(dk) = minkms_generate(&key, status, body) else {
                return;
            };
            assert_eq!(status, 200);
            assert!(!dk.ciphertext.is_empty());
            let again = frame(
                CMD_KEY_GENERATE,
                &[(2, dk.plaintext.expose()), (3, &dk.ciphertext)],
            );
            let back = minkms_generate(&key, 200, &again).expect("re-encoded answer");
            assert_eq!(back.plaintext.expose(), dk.plaintext.expose());
            assert_eq!(back.ciphertext, dk.ciphertext);
        }
        _ => {
            let Ok(pt) = minkms_decrypt(&key, status, body) else {
                return;
            };
            assert_eq!(status, 200);
            let again = frame(CMD_KEY_DECRYPT, &[(1, pt.expose())]);
            let back = minkms_decrypt(&key, 200, &again).expect("re-encoded answer");
            assert_eq!(back.expose(), pt.expose());
        }
    }
});
