//! `…dare.json`: DARE 2.0 single-part streams (byte-exact from the recorded
//! random value, via buffers and streaming), multipart part keys and MinIO's
//! part nonces, and the size arithmetic.

use std::io::{Read, Write};
use std::path::Path;

use engine::sse::dare::{self, decrypted_size, encrypted_size, DareReader, DareWriter};
use engine::sse::{CipherSuite, DareError, ObjectKey, SecretKey};
use serde_json::Value;

use super::sse_support::{arr, load, s, sha256_hex, u};

/// `b[i] = byte(i*31+7) XOR s`, with `s` read from the rule text.
fn plaintext(c: &Value) -> Vec<u8> {
    let rule = s(c, "plaintext_rule");
    let x = rule
        .rsplit("XOR 0x")
        .next()
        .and_then(|t| u8::from_str_radix(t.trim(), 16).ok())
        .expect("XOR constant in rule");
    let n = usize::try_from(u(c, "plaintext_size")).unwrap();
    (0..n)
        .map(|i| (i.wrapping_mul(31).wrapping_add(7) as u8) ^ x)
        .collect()
}

fn headers(ct: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = ct;
    while !rest.is_empty() {
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])) + 1;
        out.push(hex::encode(&rest[..16]));
        rest = &rest[16 + len + 16..];
    }
    out
}

fn check_stream(c: &Value, key: &SecretKey, random: [u8; 12], pt: &[u8], label: &str) {
    assert_eq!(
        sha256_hex(pt),
        s(c, "plaintext_sha256"),
        "{label}: plaintext rule"
    );
    let ct = dare::encrypt(key, CipherSuite::Aes256Gcm, random, pt).unwrap();
    assert_eq!(ct.len() as u64, u(c, "ciphertext_size"), "{label}");
    assert_eq!(
        encrypted_size(pt.len() as u64),
        Some(u(c, "ciphertext_size"))
    );
    assert_eq!(sha256_hex(&ct), s(c, "ciphertext_sha256"), "{label}");
    if let Some(hex_ct) = c.get("ciphertext_hex").and_then(Value::as_str) {
        assert_eq!(hex::encode(&ct), hex_ct, "{label}");
    }
    let want: Vec<String> = c["package_headers_hex"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(headers(&ct), want, "{label}: package headers");

    // Streaming writer (odd write sizes) and reader agree with the buffer API.
    let mut w = DareWriter::new(Vec::new(), key, CipherSuite::Aes256Gcm, random);
    for chunk in pt.chunks(10_007) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.finish().unwrap(), ct, "{label}: writer");
    let mut inplace = pt.to_vec();
    dare::encrypt_in_place(key, CipherSuite::Aes256Gcm, random, &mut inplace).unwrap();
    assert_eq!(inplace, ct, "{label}: encrypt_in_place");
    let mut streamed = Vec::new();
    dare::encrypt_stream(
        key,
        CipherSuite::Aes256Gcm,
        random,
        &mut &pt[..],
        &mut streamed,
    )
    .unwrap();
    assert_eq!(streamed, ct, "{label}: encrypt_stream");
    if pt.is_empty() {
        return;
    }
    assert_eq!(dare::decrypt(key, &ct).unwrap(), pt, "{label}: decrypt");
    dare::decrypt_in_place(key, &mut inplace).unwrap();
    assert_eq!(inplace, pt, "{label}: decrypt_in_place");
    let mut back = Vec::new();
    DareReader::new(&ct[..], key)
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, pt, "{label}: reader");
}

pub fn check(path: &Path) {
    let v = load(path);
    let singles = v["single_part"].as_array().expect("single_part");
    assert!(!singles.is_empty());
    for c in singles {
        let key = SecretKey::new(arr(c, "key_hex"));
        let random: [u8; 12] = arr(c, "random_consumed_hex");
        let pt = plaintext(c);
        let label = format!("single part of {} bytes", pt.len());
        check_stream(c, &key, random, &pt, &label);
        assert_eq!(u(c, "sio_encrypted_size"), u(c, "ciphertext_size"));
        let full = dare::encrypt(&key, CipherSuite::Aes256Gcm, random, &pt).unwrap();
        match c["decrypt_ok"].as_bool().unwrap() {
            true => assert_eq!(dare::decrypt(&key, &full).unwrap(), pt),
            false => {
                // sio: unexpected EOF (the empty stream).
                assert!(s(c, "decrypt_error").contains("unexpected EOF"));
                assert!(
                    matches!(dare::decrypt(&key, &full), Err(DareError::UnexpectedEof)),
                    "{label}"
                );
            }
        }
    }

    for c in v["multipart_parts"].as_array().expect("multipart_parts") {
        let oek = ObjectKey::new(arr(c, "object_key_hex"));
        let part = u32::try_from(u(c, "part_id")).unwrap();
        let key = oek.part_key(part);
        assert_eq!(
            hex::encode(key.expose()),
            s(c, "part_key_hex"),
            "part {part}"
        );
        // MinIO's PutObjectPart: R = SHA-256(uploadID ‖ decimal(part))[..12].
        let random = dare::multipart_random(s(c, "upload_id"), part);
        assert_eq!(hex::encode(random), s(c, "nonce_hex"));
        let pt = plaintext(c);
        check_stream(c, &key, random, &pt, &format!("part {part}"));
    }

    for c in v["size_math"].as_array().expect("size_math") {
        assert_eq!(s(c, "err"), "<nil>");
        let (p, e) = (u(c, "plaintext"), u(c, "encrypted"));
        assert_eq!(encrypted_size(p), Some(e), "EncryptedSize({p})");
        assert_eq!(
            decrypted_size(e).unwrap(),
            u(c, "decrypted_back"),
            "DecryptedSize({e})"
        );
    }
}
