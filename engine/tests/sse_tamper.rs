//! Fault injection on everything `engine::sse` decrypts: every flipped bit of
//! a sealed key, every header/tag byte and sampled payload bytes of a DARE
//! stream, the final flag, truncation, extension, reordering, dropped and
//! duplicated packages, sealed ETags and config blobs. Each must fail with a
//! typed error, and no path may hand out unauthenticated plaintext. Also:
//! nothing secret is printable.

use std::io::Read;

use engine::sse::config::{encrypt_config, siogo_decrypt, ConfigBlob, ConfigCryptoError};
use engine::sse::dare::{self, DareError, DareReader, MAX_PACKAGE};
use engine::sse::etag::{seal_etag, unseal_etag};
use engine::sse::rotate::encrypt_plaintext;
use engine::sse::{
    CipherSuite, Domain, Iv, ObjectKey, ReplayRandom, SealAlgorithm, SealedKey, SecretKey, SseError,
};
use kms_client::{DataKey, KeyId, PlaintextKey};

const KEY: [u8; 32] = [0xA5; 32];

/// A 3-package stream: 64 KiB + 64 KiB + 100 bytes.
fn stream(suite: CipherSuite) -> (Vec<u8>, Vec<u8>) {
    stream_of(suite, 2 * 65536 + 100)
}

fn stream_of(suite: CipherSuite, n: usize) -> (Vec<u8>, Vec<u8>) {
    let pt: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    let ct = dare::encrypt(&SecretKey::new(KEY), suite, [0x31; 12], &pt).unwrap();
    (pt, ct)
}

/// Decrypts with all three APIs; they must agree on success or failure, and
/// the buffer API's error is returned.
fn decrypt_all(ct: &[u8], pt: &[u8]) -> Result<(), DareError> {
    let key = SecretKey::new(KEY);
    let buf = dare::decrypt(&key, ct);
    let mut out = Vec::new();
    let streamed = dare::decrypt_stream(&key, ct, &mut out);
    let mut read = Vec::new();
    let reader = DareReader::new(ct, &key).read_to_end(&mut read);
    assert_eq!(buf.is_ok(), streamed.is_ok(), "buffer vs stream");
    assert_eq!(buf.is_ok(), reader.is_ok(), "buffer vs reader");
    let mut inplace = ct.to_vec();
    let in_place = dare::decrypt_in_place(&key, &mut inplace);
    assert_eq!(buf.is_ok(), in_place.is_ok(), "buffer vs in place");
    assert!(
        in_place.is_ok() || inplace.is_empty(),
        "in-place left bytes after an error"
    );
    // Whatever a streaming API emitted before failing is an authenticated prefix.
    assert!(
        pt.starts_with(&out) && pt.starts_with(&read),
        "unauthenticated bytes emitted"
    );
    if let Err(e) = reader {
        assert!(
            !matches!(dare::error_from_io(e), DareError::Io(_)),
            "reader error lost its type"
        );
    }
    match buf {
        Ok(got) => {
            assert_eq!(got, pt);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[test]
fn every_header_and_tag_byte_of_every_package_is_authenticated() {
    for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
        // Two packages (64 KiB non-final + 100 bytes final) keep this fast
        // in debug builds; the 3-package stream is covered below.
        let (pt, ct) = stream_of(suite, 65536 + 100);
        decrypt_all(&ct, &pt).unwrap();
        let starts = [0, MAX_PACKAGE];
        let ends = [MAX_PACKAGE, ct.len()];
        for (p, (&start, &end)) in starts.iter().zip(&ends).enumerate() {
            let mut positions: Vec<usize> = (start..start + 16).chain(end - 16..end).collect();
            positions.extend([start + 16, start + 17, (start + end) / 2, end - 17]);
            for pos in positions {
                // Every bit of a header; one bit of tag and payload bytes.
                let bits = if pos < start + 16 { 0..8 } else { 0..1 };
                for bit in bits {
                    let mut bad = ct.clone();
                    bad[pos] ^= 1 << bit;
                    // All three APIs for one bit per byte; the buffer API for the rest.
                    let res = if bit == 0 {
                        decrypt_all(&bad, &pt)
                    } else {
                        dare::decrypt(&SecretKey::new(KEY), &bad).map(drop)
                    };
                    let err = res.expect_err(&format!(
                        "package {p} byte {} bit {bit} accepted",
                        pos - start
                    ));
                    assert!(!matches!(err, DareError::Io(_)), "{err:?}");
                    // The version byte and unknown cipher ids have their own errors.
                    if pos == start && p == 0 {
                        assert!(matches!(err, DareError::UnsupportedVersion(_)), "{err:?}");
                    }
                    if pos == start + 1 && bit > 0 {
                        assert!(matches!(err, DareError::UnsupportedCipher(_)), "{err:?}");
                    }
                    if pos >= end - 16 {
                        assert!(matches!(err, DareError::TagMismatch), "{err:?}");
                    }
                    if p > 0 && (start + 5..start + 16).contains(&pos) {
                        assert!(matches!(err, DareError::NonceMismatch), "{err:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn final_flag_truncation_extension_and_reordering() {
    let (pt, ct) = stream(CipherSuite::Aes256Gcm);
    let p0 = &ct[..MAX_PACKAGE];
    let p1 = &ct[MAX_PACKAGE..2 * MAX_PACKAGE];
    let p2 = &ct[2 * MAX_PACKAGE..];

    // Final flag set on a middle package / cleared on the last one.
    let mut bad = ct.clone();
    bad[MAX_PACKAGE + 4] |= 0x80;
    // The final bit is part of the AEAD nonce: the header passes, the tag does not.
    assert!(matches!(
        decrypt_all(&bad, &pt),
        Err(DareError::TagMismatch)
    ));
    let mut bad = ct.clone();
    bad[2 * MAX_PACKAGE + 4] &= 0x7f;
    assert!(matches!(
        decrypt_all(&bad, &pt),
        Err(DareError::InvalidPayloadSize)
    ));

    // Truncation anywhere, including exactly at package boundaries.
    for cut in [
        0,
        1,
        15,
        16,
        17,
        MAX_PACKAGE - 1,
        MAX_PACKAGE,
        MAX_PACKAGE + 16,
        2 * MAX_PACKAGE,
        ct.len() - 16,
        ct.len() - 1,
    ] {
        assert!(
            matches!(decrypt_all(&ct[..cut], &pt), Err(DareError::UnexpectedEof)),
            "cut at {cut}"
        );
    }
    // Anything after the final package.
    for extra in [&[0u8][..], p2, &ct[..16]] {
        let bad = [&ct[..], extra].concat();
        assert!(matches!(
            decrypt_all(&bad, &pt),
            Err(DareError::UnexpectedData)
        ));
    }
    // Reordered, dropped, duplicated packages.
    for (name, bad) in [
        ("swap 0/1", [p1, p0, p2].concat()),
        ("drop 1", [p0, p2].concat()),
        ("dup 0", [p0, p0, p1, p2].concat()),
        ("final first", [p2, p0, p1].concat()),
    ] {
        let err = decrypt_all(&bad, &pt).expect_err(name);
        assert!(
            matches!(err, DareError::TagMismatch | DareError::UnexpectedData),
            "{name}: {err:?}"
        );
    }
    // A package from another stream (other random value) is refused.
    let other = dare::encrypt(
        &SecretKey::new(KEY),
        CipherSuite::Aes256Gcm,
        [0x32; 12],
        &pt,
    )
    .unwrap();
    let mixed = [p0, &other[MAX_PACKAGE..2 * MAX_PACKAGE], p2].concat();
    assert!(matches!(
        decrypt_all(&mixed, &pt),
        Err(DareError::NonceMismatch)
    ));
    // Mixed cipher suites within one stream.
    let chacha = dare::encrypt(
        &SecretKey::new(KEY),
        CipherSuite::ChaCha20Poly1305,
        [0x31; 12],
        &pt,
    )
    .unwrap();
    let mixed = [p0, &chacha[MAX_PACKAGE..2 * MAX_PACKAGE], p2].concat();
    assert!(matches!(
        decrypt_all(&mixed, &pt),
        Err(DareError::UnsupportedCipher(1))
    ));
    // Wrong key.
    assert!(matches!(
        dare::decrypt(&SecretKey::new([1; 32]), &ct),
        Err(DareError::TagMismatch)
    ));
}

#[test]
fn every_bit_of_a_sealed_key_and_its_iv_is_bound() {
    let dek = PlaintextKey::new([0x5a; 32]);
    let oek = ObjectKey::new([0x11; 32]);
    let iv = Iv::new([0x22; 32]);
    let sealed = oek
        .seal(
            &dek,
            iv,
            Domain::SseKms,
            "bucket",
            "object",
            &mut ReplayRandom::new([3u8; 12]),
        )
        .unwrap();
    assert_eq!(
        sealed
            .unseal(&dek, Domain::SseKms, "bucket", "object")
            .unwrap(),
        oek
    );
    for pos in 0..64 {
        for bit in 0..8 {
            let mut bytes = *sealed.sealed_bytes();
            bytes[pos] ^= 1 << bit;
            let bad = SealedKey::from_parts(iv, SealAlgorithm::DareV2HmacSha256, bytes);
            assert!(
                matches!(
                    bad.unseal(&dek, Domain::SseKms, "bucket", "object"),
                    Err(SseError::UnsealFailed)
                ),
                "byte {pos} bit {bit}"
            );
        }
    }
    for pos in 0..32 {
        let mut ivb = *iv.as_bytes();
        ivb[pos] ^= 0x80;
        let bad = SealedKey::from_parts(
            Iv::new(ivb),
            SealAlgorithm::DareV2HmacSha256,
            *sealed.sealed_bytes(),
        );
        assert!(matches!(
            bad.unseal(&dek, Domain::SseKms, "bucket", "object"),
            Err(SseError::UnsealFailed)
        ));
    }
    // Legacy algorithm on a v2 sealed key: a different KEK, so it fails too.
    let legacy = SealedKey::from_parts(iv, SealAlgorithm::DareSha256, *sealed.sealed_bytes());
    assert!(legacy
        .unseal(&dek, Domain::SseKms, "bucket", "object")
        .is_err());
}

#[test]
fn sealed_etags_and_checksums_reject_tampering() {
    let oek = ObjectKey::new([0x11; 32]);
    let md5 = [0x9e; 16];
    let sealed = seal_etag(&oek, &md5, &mut ReplayRandom::new([5u8; 12])).unwrap();
    assert_eq!(sealed.len(), 48);
    assert_eq!(unseal_etag(&oek, &sealed).unwrap(), md5);
    for pos in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[pos] ^= 0x01;
        assert!(
            matches!(unseal_etag(&oek, &bad), Err(SseError::Dare(_))),
            "byte {pos}"
        );
    }
    assert!(unseal_etag(&ObjectKey::new([0x12; 32]), &sealed).is_err());

    // The checksum blob written for a newly encrypted object.
    let dek = DataKey {
        key_id: KeyId::new("k"),
        plaintext: PlaintextKey::new([7; 32]),
        ciphertext: vec![1, 2, 3],
    };
    let mut rng = ReplayRandom::new(vec![9u8; 32 + 32 + 12 + 12]);
    let enc = encrypt_plaintext("b", "o", &dek, None, false, Some(b"crc-blob"), &mut rng).unwrap();
    let blob = &enc.changes.sys_set["x-minio-internal-crc"];
    assert_eq!(
        dare::decrypt(&enc.oek.checksum_key(), blob).unwrap(),
        b"crc-blob"
    );
    let mut bad = blob.clone();
    bad[20] ^= 1;
    assert!(dare::decrypt(&enc.oek.checksum_key(), &bad).is_err());
}

#[test]
fn config_blobs_reject_tampering() {
    let dek = DataKey {
        key_id: KeyId::new("my-key"),
        plaintext: PlaintextKey::new([7; 32]),
        ciphertext: vec![1; 76],
    };
    let pt: Vec<u8> = (0..40_000).map(|i| i as u8).collect(); // 3 fragments
    let blob = encrypt_config(&dek, &pt, &mut ReplayRandom::new([4u8; 8])).unwrap();
    let parsed = ConfigBlob::parse(&blob).unwrap();
    assert_eq!(parsed.decrypt(&dek.plaintext).unwrap().expose(), pt);
    let stream_start = blob.len() - parsed.stream.len();
    for pos in (stream_start..blob.len())
        .step_by(997)
        .chain([blob.len() - 1, stream_start])
    {
        let mut bad = blob.clone();
        bad[pos] ^= 0x40;
        let err = ConfigBlob::parse(&bad)
            .unwrap()
            .decrypt(&dek.plaintext)
            .expect_err("tampered stream accepted");
        assert!(matches!(
            err,
            SseError::Config(ConfigCryptoError::StreamCorrupt)
        ));
    }
    for cut in [
        stream_start,
        stream_start + 10,
        blob.len() - 1,
        blob.len() - 16_400,
    ] {
        assert!(
            ConfigBlob::parse(&blob[..cut])
                .unwrap()
                .decrypt(&dek.plaintext)
                .is_err(),
            "cut {cut}"
        );
    }
    // Fragment order and extension.
    let s = parsed.stream;
    let f = 16384 + 16;
    let swapped = [&s[f..2 * f], &s[..f], &s[2 * f..]].concat();
    let key = SecretKey::new([7; 32]);
    assert!(siogo_decrypt(
        &key,
        CipherSuite::Aes256Gcm,
        &parsed.header.nonce,
        &[],
        &swapped
    )
    .is_err());
    let extended = [s, &[0u8; 16][..]].concat();
    assert!(siogo_decrypt(
        &key,
        CipherSuite::Aes256Gcm,
        &parsed.header.nonce,
        &[],
        &extended
    )
    .is_err());
    // Header damage is a format error, not a panic.
    assert!(matches!(
        ConfigBlob::parse(&blob[..3]),
        Err(ConfigCryptoError::NotKmsFormat(_))
    ));
    let mut bad = blob.clone();
    bad[0] = 2;
    assert!(matches!(
        ConfigBlob::parse(&bad),
        Err(ConfigCryptoError::NotKmsFormat(_))
    ));
    let mut bad = blob.clone();
    bad[1] = 0xff;
    assert!(matches!(
        ConfigBlob::parse(&bad),
        Err(ConfigCryptoError::NotKmsFormat(_))
    ));
    let mut bad = blob.clone();
    bad[7] = b'X';
    assert!(matches!(
        ConfigBlob::parse(&bad),
        Err(ConfigCryptoError::NotKmsFormat(_))
    ));
}

#[test]
fn nothing_secret_is_printable() {
    let oek = ObjectKey::new(KEY);
    let sk = SecretKey::new(KEY);
    let pk = PlaintextKey::new(KEY);
    let dek = DataKey {
        key_id: KeyId::new("my-key"),
        plaintext: PlaintextKey::new(KEY),
        ciphertext: vec![0xA5; 4],
    };
    let mut rng = ReplayRandom::new(vec![0xA5; 32 + 32 + 12]);
    let enc = encrypt_plaintext("b", "o", &dek, None, true, None, &mut rng).unwrap();
    let sealed = oek
        .seal(
            &pk,
            Iv::new([0; 32]),
            Domain::SseKms,
            "b",
            "o",
            &mut ReplayRandom::new([0u8; 12]),
        )
        .unwrap();
    let err = sealed
        .unseal(&PlaintextKey::new([1; 32]), Domain::SseKms, "b", "o")
        .unwrap_err();
    let secret_text = engine::sse::keys::SecretBytes::new(vec![0xA5; 8]);
    let printed = [
        format!("{oek:?}"),
        format!("{sk:?}"),
        format!("{pk:?}"),
        format!("{:?}", oek.part_key(1)),
        format!("{:?}", oek.etag_key()),
        format!("{enc:?}"),
        format!("{sealed:?}"),
        format!("{err:?} {err}"),
        format!("{secret_text:?}"),
    ];
    for p in &printed {
        assert!(
            !p.contains("a5a5") && !p.contains("A5A5") && !p.contains("165"),
            "secret leaked: {p}"
        );
    }
    // Derived keys (part and ETag keys) are not printed either, in any form.
    for derived in [oek.part_key(1), oek.etag_key()] {
        let bytes = derived.expose();
        for p in printed.iter().chain([&format!("{derived:?}")]) {
            assert!(!p.contains(&hex::encode(bytes)), "derived key leaked: {p}");
            assert!(
                !p.contains(&format!("{:?}", &bytes[..4])),
                "derived key leaked: {p}"
            );
        }
    }
    // The DEK's plaintext is redacted even when the data key is printed.
    let dk = format!("{dek:?}");
    assert!(
        dk.contains("redacted") && !dk.contains("165, 165, 165, 165, 165"),
        "{dk}"
    );
    // Sealed bytes are not secret but are not dumped either.
    assert!(!printed[6].contains(&hex::encode(sealed.sealed_bytes())));

    // Key material types wipe themselves on drop.
    fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroize_on_drop::<SecretKey>();
    zeroize_on_drop::<ObjectKey>();
    zeroize_on_drop::<PlaintextKey>();
}

#[test]
fn streams_stay_failed() {
    let (_, ct) = stream(CipherSuite::Aes256Gcm);
    let mut bad = ct.clone();
    bad[MAX_PACKAGE + 100] ^= 1;
    let mut r = DareReader::new(&bad[..], &SecretKey::new(KEY));
    let mut buf = vec![0u8; 65536];
    r.read_exact(&mut buf).unwrap();
    let err = r.read(&mut buf).unwrap_err();
    assert!(matches!(dare::error_from_io(err), DareError::TagMismatch));
    // Reading on does not skip the rejected package.
    for _ in 0..3 {
        assert!(matches!(
            dare::error_from_io(r.read(&mut buf).unwrap_err()),
            DareError::Failed
        ));
    }

    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    use std::io::Write as _;
    let mut w = dare::DareWriter::new(
        Broken,
        &SecretKey::new(KEY),
        CipherSuite::Aes256Gcm,
        [0; 12],
    );
    w.write_all(&[0u8; 65536]).unwrap();
    assert!(
        w.write_all(&[0u8; 10]).is_err(),
        "sealing the full package hits the broken sink"
    );
    assert!(w.write_all(&[0u8; 10]).is_err());
    assert!(matches!(w.finish(), Err(DareError::Failed)));
}
