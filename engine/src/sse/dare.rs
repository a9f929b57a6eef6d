//! DARE, the package format of minio/sio (CRYPTO.md §4.1–4.5): object data,
//! sealed object keys, sealed ETags and checksum blobs are all DARE streams.
//!
//! A stream is a sequence of packages `header(16) ‖ ciphertext(1..=65536) ‖ tag(16)`.
//!
//! | header byte | DARE 2.0 (`0x20`, written) | DARE 1.0 (`0x10`, read only) |
//! |---|---|---|
//! | 0 | version | version |
//! | 1 | cipher suite (0 AES-256-GCM, 1 ChaCha20-Poly1305) | cipher suite |
//! | 2..4 | le16(payload length − 1) | le16(payload length − 1) |
//! | 4..16 | random value R; top bit of byte 4 = final flag | le32(sequence) ‖ 8 random bytes |
//!
//! DARE 2.0 nonce = header[4..16] with its last 4 bytes XORed with le32(seq);
//! DARE 1.0 nonce = header[4..16]; associated data = header[0..4] in both.
//! Every non-final 2.0 package carries exactly 64 KiB.
//!
//! Entry points: [`encrypt`]/[`decrypt`] over buffers, [`DareWriter`] and
//! [`DareReader`] (and [`encrypt_stream`]/[`decrypt_stream`]) over `Write`/`Read`
//! with one package of memory, and the size arithmetic
//! [`encrypted_size`]/[`decrypted_size`]. Packages are sealed and opened in
//! place; no allocation per package.

use std::io::{self, Read, Write};

use super::keys::SecretKey;

/// Bytes of a package header.
pub const HEADER_SIZE: usize = 16;
/// Bytes of an AEAD tag.
pub const TAG_SIZE: usize = 16;
/// Plaintext bytes in every non-final DARE 2.0 package.
pub const MAX_PAYLOAD: usize = 65536;
/// Bytes of a full package.
pub const MAX_PACKAGE: usize = HEADER_SIZE + MAX_PAYLOAD + TAG_SIZE;

const VERSION_10: u8 = 0x10;
const VERSION_20: u8 = 0x20;
const FINAL_FLAG: u8 = 0x80;

/// Why a DARE stream was rejected. Tampering anywhere lands in one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DareError {
    /// The version byte is neither 0x10 nor 0x20 (or not the one allowed here).
    #[error("DARE: unsupported version {0:#04x}")]
    UnsupportedVersion(u8),
    /// The cipher suite byte is unknown, or differs from the first package's.
    #[error("DARE: unsupported or inconsistent cipher suite {0:#04x}")]
    UnsupportedCipher(u8),
    /// The length field is inconsistent with the package, or a non-final
    /// package is not exactly 64 KiB.
    #[error("DARE: invalid payload size")]
    InvalidPayloadSize,
    /// A package's random value differs from the stream's.
    #[error("DARE: package nonce does not match the stream")]
    NonceMismatch,
    /// A DARE 1.0 package has the wrong sequence number.
    #[error("DARE: package out of order")]
    OutOfOrder,
    /// Authentication failed: wrong key, or a modified, reordered or
    /// truncated package.
    #[error("DARE: authentication failed (wrong key or tampered data)")]
    TagMismatch,
    /// Bytes follow the final package.
    #[error("DARE: data after the final package")]
    UnexpectedData,
    /// The stream ended inside a package or before the final package.
    #[error("DARE: unexpected end of stream")]
    UnexpectedEof,
    /// A size that no DARE stream can have.
    #[error("DARE: {0} is not a valid encrypted size")]
    InvalidEncryptedSize(u64),
    /// A stream longer than 2^32 packages (sequence numbers would repeat).
    #[error("DARE: stream too long")]
    TooLong,
    /// The cipher refused to seal (cannot happen for package-sized input).
    #[error("DARE: encryption failed")]
    SealFailed,
    /// The underlying reader or writer failed.
    #[error("DARE: I/O: {0}")]
    Io(#[source] io::Error),
    /// The stream already failed; a reader or writer stays failed.
    #[error("DARE: stream failed earlier")]
    Failed,
}

impl DareError {
    fn into_io(self) -> io::Error {
        match self {
            DareError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }

    fn from_io(e: io::Error) -> DareError {
        if e.get_ref().is_some_and(|inner| inner.is::<DareError>()) {
            match e.into_inner().map(|b| b.downcast::<DareError>()) {
                Some(Ok(d)) => *d,
                Some(Err(other)) => {
                    DareError::Io(io::Error::new(io::ErrorKind::InvalidData, other))
                }
                None => DareError::UnexpectedEof,
            }
        } else {
            DareError::Io(e)
        }
    }
}

/// The AEAD of a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// `0x00`: what MinIO writes on amd64; what keyrotate writes.
    Aes256Gcm,
    /// `0x01`: what MinIO writes on CPUs without AES hardware (incl. ARM64).
    ChaCha20Poly1305,
}

impl CipherSuite {
    /// The header byte.
    pub fn id(self) -> u8 {
        match self {
            CipherSuite::Aes256Gcm => 0,
            CipherSuite::ChaCha20Poly1305 => 1,
        }
    }

    /// Parses a header byte.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(CipherSuite::Aes256Gcm),
            1 => Some(CipherSuite::ChaCha20Poly1305),
            _ => None,
        }
    }
}

/// A keyed AEAD with 12-byte nonces, sealing and opening in place (also used
/// by the sio-go config stream): every DARE package goes through here.
///
/// Backed by `ring`, whose AES-256-GCM uses AES-NI/VAES with CLMUL GHASH
/// assembly (about ten times RustCrypto's `aes-gcm` on the bulk data path)
/// and whose ChaCha20-Poly1305 is SIMD assembly too.
///
/// Key material: the 32 key bytes stay in our zeroizing [`SecretKey`]s;
/// `ring` copies them only into its expanded key schedule (AES round keys,
/// or the ChaCha key words), which it does **not** wipe on drop. That
/// schedule is as secret as the key; it lives on the heap (boxed here) for
/// the lifetime of one stream and is freed, unwiped, afterwards.
pub(crate) struct Aead(Box<ring::aead::LessSafeKey>);

impl Aead {
    pub(crate) fn new(suite: CipherSuite, key: &SecretKey) -> Self {
        let alg = match suite {
            CipherSuite::Aes256Gcm => &ring::aead::AES_256_GCM,
            CipherSuite::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        };
        // Both algorithms take exactly 32 key bytes, so this cannot fail.
        let unbound = ring::aead::UnboundKey::new(alg, key.expose())
            .unwrap_or_else(|_| unreachable!("32-byte key for a 256-bit AEAD"));
        Aead(Box::new(ring::aead::LessSafeKey::new(unbound)))
    }

    pub(crate) fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_SIZE], DareError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf)
            .map_err(|_| DareError::SealFailed)?;
        let mut out = [0u8; TAG_SIZE];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens `buf` in place; on failure `buf` holds no plaintext (ring zeroes
    /// what it decrypted before it reports the tag mismatch).
    pub(crate) fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_SIZE],
    ) -> Result<(), DareError> {
        self.open_shifted(nonce, aad, buf, 0, tag)
    }

    /// Opens the ciphertext at `in_out[src..]`, writing the plaintext to
    /// the start of `in_out`: decryption and the move towards the front
    /// are one pass over the bytes.
    pub(crate) fn open_shifted(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
        src: usize,
        tag: &[u8; TAG_SIZE],
    ) -> Result<(), DareError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        self.0
            .open_in_place_separate_tag(
                nonce,
                ring::aead::Aad::from(aad),
                ring::aead::Tag::from(*tag),
                in_out,
                src..,
            )
            .map(|_| ())
            .map_err(|_| DareError::TagMismatch)
    }
}

/// Encrypted size of `n` plaintext bytes; `None` on overflow.
pub fn encrypted_size(n: u64) -> Option<u64> {
    let full = n / MAX_PAYLOAD as u64;
    let rest = n % MAX_PAYLOAD as u64;
    let tail = if rest == 0 {
        0
    } else {
        rest + (HEADER_SIZE + TAG_SIZE) as u64
    };
    full.checked_mul(MAX_PACKAGE as u64)?.checked_add(tail)
}

/// Plaintext size of a DARE 2.0 stream of `m` bytes.
pub fn decrypted_size(m: u64) -> Result<u64, DareError> {
    let full = m / MAX_PACKAGE as u64;
    let rest = m % MAX_PACKAGE as u64;
    let overhead = (HEADER_SIZE + TAG_SIZE) as u64;
    if rest > 0 && rest <= overhead {
        return Err(DareError::InvalidEncryptedSize(m));
    }
    Ok(full * MAX_PAYLOAD as u64 + rest.saturating_sub(overhead))
}

/// Seals DARE 2.0 packages for one stream.
pub struct Encryptor {
    aead: Aead,
    suite: CipherSuite,
    random: [u8; 12],
    seq: u32,
    finalized: bool,
}

impl Encryptor {
    /// A stream under `key` with the 12-byte random value `random` (draw it
    /// fresh per stream; never reuse one under the same key).
    pub fn new(key: &SecretKey, suite: CipherSuite, random: [u8; 12]) -> Self {
        Self {
            aead: Aead::new(suite, key),
            suite,
            random,
            seq: 0,
            finalized: false,
        }
    }

    /// Starts numbering packages at `seq` instead of 0 (sio's `SequenceNumber`).
    pub fn with_sequence(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// Encrypts `payload` (1..=65536 bytes; exactly 65536 unless `last`) in
    /// place and returns the package header and tag that go around it.
    pub fn seal(
        &mut self,
        payload: &mut [u8],
        last: bool,
    ) -> Result<([u8; HEADER_SIZE], [u8; TAG_SIZE]), DareError> {
        if self.finalized {
            return Err(DareError::InvalidPayloadSize);
        }
        let sealed = self.seal_at(self.seq, payload, last)?;
        self.finalized = last;
        self.seq = self.seq.checked_add(1).ok_or(DareError::TooLong)?;
        Ok(sealed)
    }

    /// Seals consecutive packages laid out in `region`, each a header slot,
    /// its payload and a tag slot (every package but the region's last holds
    /// exactly 64 KiB), filling in the headers and tags. With `last`, the
    /// region's final package ends the stream. Returns the packages sealed.
    ///
    /// This is how bulk data is encrypted without a second buffer: whoever
    /// fills the buffer leaves the 16-byte gaps, so sealing is the only pass.
    pub fn seal_laid_out(&mut self, region: &mut [u8], last: bool) -> Result<usize, DareError> {
        let packages = region.len().div_ceil(MAX_PACKAGE);
        for (i, pkg) in region.chunks_mut(MAX_PACKAGE).enumerate() {
            let (head, payload, tag_out) = package_slots(pkg)?;
            let (header, tag) = self.seal(payload, last && i + 1 == packages)?;
            *head = header;
            *tag_out = tag;
        }
        Ok(packages)
    }

    /// Seals one package as number `seq` of the stream, without touching the
    /// stream state (so packages can be sealed in any order).
    fn seal_at(
        &self,
        seq: u32,
        payload: &mut [u8],
        last: bool,
    ) -> Result<([u8; HEADER_SIZE], [u8; TAG_SIZE]), DareError> {
        if payload.is_empty()
            || payload.len() > MAX_PAYLOAD
            || (!last && payload.len() != MAX_PAYLOAD)
        {
            return Err(DareError::InvalidPayloadSize);
        }
        let mut header = [0u8; HEADER_SIZE];
        header[0] = VERSION_20;
        header[1] = self.suite.id();
        let len_field =
            u16::try_from(payload.len() - 1).map_err(|_| DareError::InvalidPayloadSize)?;
        header[2..4].copy_from_slice(&len_field.to_le_bytes());
        header[4..16].copy_from_slice(&self.random);
        if last {
            header[4] |= FINAL_FLAG;
        } else {
            header[4] &= !FINAL_FLAG;
        }
        let nonce = nonce_v2(&header, seq);
        let aad = [header[0], header[1], header[2], header[3]];
        let tag = self.aead.seal(&nonce, &aad, payload)?;
        Ok((header, tag))
    }
}

/// Splits one laid-out package into its header slot, payload and tag slot.
#[allow(clippy::type_complexity)]
fn package_slots(
    pkg: &mut [u8],
) -> Result<(&mut [u8; HEADER_SIZE], &mut [u8], &mut [u8; TAG_SIZE]), DareError> {
    let (head, rest) = pkg
        .split_first_chunk_mut::<HEADER_SIZE>()
        .ok_or(DareError::InvalidPayloadSize)?;
    let (payload, tag) = rest
        .split_last_chunk_mut::<TAG_SIZE>()
        .ok_or(DareError::InvalidPayloadSize)?;
    Ok((head, payload, tag))
}

fn nonce_v2(header: &[u8; HEADER_SIZE], seq: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&header[4..16]);
    let ctr = u32::from_le_bytes([nonce[8], nonce[9], nonce[10], nonce[11]]) ^ seq;
    nonce[8..12].copy_from_slice(&ctr.to_le_bytes());
    nonce
}

/// Opens the packages of one stream (DARE 2.0, or 1.0 when allowed),
/// enforcing every rule sio enforces.
pub struct Decryptor {
    key: SecretKey,
    aes: Option<Aead>,
    chacha: Option<Aead>,
    allow_v1: bool,
    /// Version, cipher and random value of the first package.
    first: Option<[u8; HEADER_SIZE]>,
    seq: u32,
    finalized: bool,
}

impl Decryptor {
    /// Accepts DARE 2.0 and 1.0 (decided by the first package), as MinIO
    /// does for object data, ETags and checksums.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            key: SecretKey::new(*key.expose()),
            aes: None,
            chacha: None,
            allow_v1: true,
            first: None,
            seq: 0,
            finalized: false,
        }
    }

    /// Accepts DARE 2.0 only (sealed object keys).
    pub fn new_v2_only(key: &SecretKey) -> Self {
        Self {
            allow_v1: false,
            ..Self::new(key)
        }
    }

    /// Expects the first package to carry sequence number `seq` (a reader
    /// that starts inside a stream, e.g. for a range).
    pub fn with_sequence(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// Whether the final package has been opened (always false for DARE 1.0,
    /// which has no final flag).
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// Whether the stream may end here: after a final 2.0 package, or after
    /// any complete 1.0 package.
    pub fn may_end(&self) -> bool {
        match self.first {
            Some(h) if h[0] == VERSION_10 => true,
            Some(_) => self.finalized,
            None => false,
        }
    }

    /// Validates a header and returns the payload length that follows it.
    pub fn check_header(&mut self, header: &[u8; HEADER_SIZE]) -> Result<usize, DareError> {
        if self.finalized {
            return Err(DareError::UnexpectedData);
        }
        let first = *self.first.get_or_insert(*header);
        let version = header[0];
        match version {
            VERSION_20 if first[0] == VERSION_20 => {}
            VERSION_10 if self.allow_v1 && first[0] == VERSION_10 => {}
            v => return Err(DareError::UnsupportedVersion(v)),
        }
        let cipher = header[1];
        if CipherSuite::from_id(cipher).is_none() || (version == VERSION_20 && cipher != first[1]) {
            return Err(DareError::UnsupportedCipher(cipher));
        }
        let len = usize::from(u16::from_le_bytes([header[2], header[3]])) + 1;
        if version == VERSION_20 {
            let last = header[4] & FINAL_FLAG != 0;
            if !last && len != MAX_PAYLOAD {
                return Err(DareError::InvalidPayloadSize);
            }
            let mut reference = [0u8; 12];
            reference.copy_from_slice(&first[4..16]);
            if last {
                reference[0] |= FINAL_FLAG;
            }
            if header[4..16] != reference {
                return Err(DareError::NonceMismatch);
            }
        } else if u32::from_le_bytes([header[4], header[5], header[6], header[7]]) != self.seq {
            return Err(DareError::OutOfOrder);
        }
        Ok(len)
    }

    /// Opens one package in place: `payload` must have the length
    /// [`check_header`](Self::check_header) returned for `header`.
    pub fn open(
        &mut self,
        header: &[u8; HEADER_SIZE],
        payload: &mut [u8],
        tag: &[u8; TAG_SIZE],
    ) -> Result<(), DareError> {
        self.open_shifted(header, payload, 0, tag)
    }

    /// [`open`](Self::open) of the payload at `in_out[src..]`, its
    /// plaintext written to the start of `in_out` in the same pass.
    fn open_shifted(
        &mut self,
        header: &[u8; HEADER_SIZE],
        in_out: &mut [u8],
        src: usize,
        tag: &[u8; TAG_SIZE],
    ) -> Result<(), DareError> {
        let suite =
            CipherSuite::from_id(header[1]).ok_or(DareError::UnsupportedCipher(header[1]))?;
        let slot = match suite {
            CipherSuite::Aes256Gcm => &mut self.aes,
            CipherSuite::ChaCha20Poly1305 => &mut self.chacha,
        };
        let aead = slot.get_or_insert_with(|| Aead::new(suite, &self.key));
        let nonce = if header[0] == VERSION_20 {
            nonce_v2(header, self.seq)
        } else {
            let mut n = [0u8; 12];
            n.copy_from_slice(&header[4..16]);
            n
        };
        let aad = [header[0], header[1], header[2], header[3]];
        aead.open_shifted(&nonce, &aad, in_out, src, tag)?;
        if header[0] == VERSION_20 && header[4] & FINAL_FLAG != 0 {
            self.finalized = true;
        }
        self.seq = self.seq.checked_add(1).ok_or(DareError::TooLong)?;
        Ok(())
    }
}

/// Splits a package's leading header off `buf`.
fn split_header(buf: &[u8]) -> Option<(&[u8; HEADER_SIZE], &[u8])> {
    buf.split_first_chunk::<HEADER_SIZE>()
}

/// The random value MinIO's `PutObjectPart` uses for a part's stream:
/// `SHA-256(uploadID ‖ decimal(part_number))[..12]`. Any random value decrypts;
/// this one only reproduces MinIO's bytes.
pub fn multipart_random(upload_id: &str, part_number: u32) -> [u8; 12] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{upload_id}{part_number}"));
    let mut out = [0u8; 12];
    out.copy_from_slice(digest.get(..12).unwrap_or(&[0u8; 12]));
    out
}

/// Encrypts `plaintext` into a DARE 2.0 stream (empty input → empty output).
pub fn encrypt(
    key: &SecretKey,
    suite: CipherSuite,
    random: [u8; 12],
    plaintext: &[u8],
) -> Result<Vec<u8>, DareError> {
    let size = encrypted_size(plaintext.len() as u64)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or(DareError::TooLong)?;
    let mut out = Vec::with_capacity(size);
    let mut enc = Encryptor::new(key, suite, random);
    let mut chunks = plaintext.chunks(MAX_PAYLOAD).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let start = out.len();
        out.extend_from_slice(&[0u8; HEADER_SIZE]);
        out.extend_from_slice(chunk);
        let payload = out
            .get_mut(start + HEADER_SIZE..)
            .ok_or(DareError::SealFailed)?;
        let (header, tag) = enc.seal(payload, last)?;
        out.get_mut(start..start + HEADER_SIZE)
            .ok_or(DareError::SealFailed)?
            .copy_from_slice(&header);
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Decrypts a whole DARE stream (2.0 or 1.0, detected from the first byte).
/// An empty input is an error, as in MinIO: callers special-case 0-byte objects.
pub fn decrypt(key: &SecretKey, ciphertext: &[u8]) -> Result<Vec<u8>, DareError> {
    let mut dec = Decryptor::new(key);
    let mut out = Vec::with_capacity(ciphertext.len());
    if let Err(e) = decrypt_with(&mut dec, ciphertext, &mut out) {
        // The authenticated prefix may be secret (config, credentials): wipe it.
        zeroize::Zeroize::zeroize(&mut out);
        return Err(e);
    }
    Ok(out)
}

fn decrypt_with(dec: &mut Decryptor, mut rest: &[u8], out: &mut Vec<u8>) -> Result<(), DareError> {
    loop {
        if rest.is_empty() {
            return if dec.may_end() {
                Ok(())
            } else {
                Err(DareError::UnexpectedEof)
            };
        }
        if dec.is_finalized() {
            return Err(DareError::UnexpectedData);
        }
        let (header, body) = split_header(rest).ok_or(DareError::UnexpectedEof)?;
        let len = dec.check_header(header)?;
        let (payload, body) = body.split_at_checked(len).ok_or(DareError::UnexpectedEof)?;
        let (tag, body) = body
            .split_first_chunk::<TAG_SIZE>()
            .ok_or(DareError::UnexpectedEof)?;
        let start = out.len();
        out.extend_from_slice(payload);
        let slot = out.get_mut(start..).ok_or(DareError::UnexpectedEof)?;
        if let Err(e) = dec.open(header, slot, tag) {
            // Never hand out unauthenticated bytes.
            out.truncate(start);
            return Err(e);
        }
        rest = body;
    }
}

/// Encrypts `buf` in place into a DARE 2.0 stream: the vector grows to the
/// encrypted size once and packages are sealed where they land, so no second
/// buffer and no allocation per package.
pub fn encrypt_in_place(
    key: &SecretKey,
    suite: CipherSuite,
    random: [u8; 12],
    buf: &mut Vec<u8>,
) -> Result<(), DareError> {
    let n = buf.len();
    let total = encrypted_size(n as u64)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or(DareError::TooLong)?;
    let packages = n.div_ceil(MAX_PAYLOAD);
    buf.resize(total, 0);
    // Last package first, each moved to its slot and sealed while it is
    // still in cache; nothing is overwritten before it moved (every slot
    // lies at or after its source). The move is still a copy: bulk data
    // should be read into its slots instead (`Encryptor::seal_laid_out`).
    let enc = Encryptor::new(key, suite, random);
    for i in (0..packages).rev() {
        let src = i * MAX_PAYLOAD;
        let len = MAX_PAYLOAD.min(n - src);
        let dst = i * MAX_PACKAGE;
        buf.copy_within(src..src + len, dst + HEADER_SIZE);
        let pkg = buf
            .get_mut(dst..dst + HEADER_SIZE + len + TAG_SIZE)
            .ok_or(DareError::SealFailed)?;
        let (head, payload, tag_out) = package_slots(pkg)?;
        let seq = u32::try_from(i).map_err(|_| DareError::TooLong)?;
        let (header, tag) = enc.seal_at(seq, payload, i + 1 == packages)?;
        *head = header;
        *tag_out = tag;
    }
    Ok(())
}

/// Decrypts a DARE stream in place: `buf` shrinks to the plaintext. On error
/// `buf` is cleared, so no unauthenticated byte is ever left in it.
pub fn decrypt_in_place(key: &SecretKey, buf: &mut Vec<u8>) -> Result<(), DareError> {
    let res = decrypt_in_place_inner(&mut Decryptor::new(key), buf);
    match res {
        Ok(len) => {
            buf.truncate(len);
            Ok(())
        }
        Err(e) => {
            zeroize::Zeroize::zeroize(buf);
            Err(e)
        }
    }
}

fn decrypt_in_place_inner(dec: &mut Decryptor, buf: &mut [u8]) -> Result<usize, DareError> {
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        let rest = buf.get_mut(read..).unwrap_or_default();
        if rest.is_empty() {
            return if dec.may_end() {
                Ok(written)
            } else {
                Err(DareError::UnexpectedEof)
            };
        }
        if dec.is_finalized() {
            return Err(DareError::UnexpectedData);
        }
        let (header, body) = rest
            .split_first_chunk_mut::<HEADER_SIZE>()
            .ok_or(DareError::UnexpectedEof)?;
        let header = *header;
        let len = dec.check_header(&header)?;
        let tag = *body
            .get(len..)
            .and_then(|b| b.first_chunk::<TAG_SIZE>())
            .ok_or(DareError::UnexpectedEof)?;
        // The payload is opened straight into its place in the plaintext
        // (`written ≤ read`): no second pass to close the gaps.
        let payload_end = read + HEADER_SIZE + len;
        let in_out = buf
            .get_mut(written..payload_end)
            .ok_or(DareError::UnexpectedEof)?;
        dec.open_shifted(&header, in_out, read + HEADER_SIZE - written, &tag)?;
        written += len;
        read += HEADER_SIZE + len + TAG_SIZE;
    }
}

/// Opens a 64-byte sealed key (one final DARE 2.0 package around 32 bytes).
pub(crate) fn open_single_package_v2(
    key: &SecretKey,
    sealed: &[u8; 64],
    out: &mut [u8; 32],
) -> Result<(), DareError> {
    open_single(Decryptor::new_v2_only(key), sealed, out)
}

/// Opens a legacy sealed key: one DARE 1.0 or 2.0 package around 32 bytes.
pub(crate) fn open_single_package_any(
    key: &SecretKey,
    sealed: &[u8; 64],
    out: &mut [u8; 32],
) -> Result<(), DareError> {
    open_single(Decryptor::new(key), sealed, out)
}

fn open_single(mut dec: Decryptor, sealed: &[u8; 64], out: &mut [u8; 32]) -> Result<(), DareError> {
    let (header, rest) = sealed
        .split_first_chunk::<HEADER_SIZE>()
        .ok_or(DareError::UnexpectedEof)?;
    if dec.check_header(header)? != 32 {
        return Err(DareError::InvalidPayloadSize);
    }
    let (payload, tag) = rest
        .split_first_chunk::<32>()
        .ok_or(DareError::UnexpectedEof)?;
    let tag: &[u8; TAG_SIZE] = tag.try_into().map_err(|_| DareError::UnexpectedEof)?;
    let mut buf = *payload;
    let res = dec.open(header, &mut buf, tag);
    if res.is_ok() && dec.may_end() {
        *out = buf;
    }
    zeroize::Zeroize::zeroize(&mut buf);
    res.and_then(|()| {
        if dec.may_end() {
            Ok(())
        } else {
            Err(DareError::UnexpectedEof)
        }
    })
}

/// Seals `plaintext` (1..=65536 bytes) as one final DARE 2.0 package into `out`
/// (exactly `plaintext.len() + 32` bytes).
pub(crate) fn seal_single_package(
    key: &SecretKey,
    suite: CipherSuite,
    random: &[u8; 12],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<(), DareError> {
    let (head, rest) = out
        .split_first_chunk_mut::<HEADER_SIZE>()
        .ok_or(DareError::InvalidPayloadSize)?;
    let (payload, tag_out) = rest
        .split_at_mut_checked(plaintext.len())
        .ok_or(DareError::InvalidPayloadSize)?;
    if tag_out.len() != TAG_SIZE {
        return Err(DareError::InvalidPayloadSize);
    }
    payload.copy_from_slice(plaintext);
    let (header, tag) = Encryptor::new(key, suite, *random).seal(payload, true)?;
    *head = header;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let dst = buf.get_mut(n..).unwrap_or_default();
        match r.read(dst) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One package of working memory, on the heap (allocated once per stream).
fn package_buffer() -> Box<[u8; MAX_PACKAGE]> {
    vec![0u8; MAX_PACKAGE]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("length is MAX_PACKAGE"))
}

/// Encrypts everything written to it into a DARE 2.0 stream on `inner`;
/// call [`finish`](Self::finish) to write the final package.
pub struct DareWriter<W: Write> {
    inner: W,
    enc: Encryptor,
    buf: Box<[u8; MAX_PACKAGE]>,
    /// Plaintext bytes buffered in `buf[HEADER_SIZE..]`.
    filled: usize,
    failed: bool,
}

impl<W: Write> DareWriter<W> {
    /// Starts a stream under `key` with the random value `random`.
    pub fn new(inner: W, key: &SecretKey, suite: CipherSuite, random: [u8; 12]) -> Self {
        Self {
            inner,
            enc: Encryptor::new(key, suite, random),
            buf: package_buffer(),
            filled: 0,
            failed: false,
        }
    }

    fn flush_package(&mut self, last: bool) -> Result<(), DareError> {
        if self.failed {
            return Err(DareError::Failed);
        }
        // Poisoned until the package is fully written.
        self.failed = true;
        let n = self.filled;
        let (head, rest) = self
            .buf
            .split_first_chunk_mut::<HEADER_SIZE>()
            .ok_or(DareError::SealFailed)?;
        let (payload, tail) = rest.split_at_mut(n);
        let (header, tag) = self.enc.seal(payload, last)?;
        *head = header;
        tail.get_mut(..TAG_SIZE)
            .ok_or(DareError::SealFailed)?
            .copy_from_slice(&tag);
        let pkg = self
            .buf
            .get(..HEADER_SIZE + n + TAG_SIZE)
            .ok_or(DareError::SealFailed)?;
        self.inner.write_all(pkg).map_err(DareError::Io)?;
        self.filled = 0;
        self.failed = false;
        Ok(())
    }

    /// Seals the buffered rest as the final package and returns the inner
    /// writer (not flushed). An empty stream writes nothing.
    /// Dropping the writer without `finish` leaves the stream without its
    /// final package, which every reader rejects.
    pub fn finish(mut self) -> Result<W, DareError> {
        if self.failed {
            return Err(DareError::Failed);
        }
        if self.filled > 0 {
            self.flush_package(true)?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for DareWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(DareError::Failed.into_io());
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full buffer is sealed as non-final only once more data arrives,
        // so the final package is never empty.
        if self.filled == MAX_PAYLOAD {
            self.flush_package(false).map_err(DareError::into_io)?;
        }
        let room = MAX_PAYLOAD - self.filled;
        let n = room.min(data.len());
        let start = HEADER_SIZE + self.filled;
        let dst = self
            .buf
            .get_mut(start..start + n)
            .ok_or_else(|| DareError::SealFailed.into_io())?;
        dst.copy_from_slice(data.get(..n).unwrap_or_default());
        self.filled += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts all of `src` into a DARE 2.0 stream on `dst`, reading straight
/// into the package buffer; returns the ciphertext bytes written.
pub fn encrypt_stream<R: Read + ?Sized, W: Write + ?Sized>(
    key: &SecretKey,
    suite: CipherSuite,
    random: [u8; 12],
    src: &mut R,
    dst: &mut W,
) -> Result<u64, DareError> {
    let mut enc = Encryptor::new(key, suite, random);
    let mut buf = package_buffer();
    let mut written = 0u64;
    // One byte of look-ahead tells whether a full package is the last one.
    let mut carry: Option<u8> = None;
    loop {
        let (head, rest) = buf
            .split_first_chunk_mut::<HEADER_SIZE>()
            .ok_or(DareError::SealFailed)?;
        let payload_area = rest.get_mut(..MAX_PAYLOAD).ok_or(DareError::SealFailed)?;
        let mut n = 0;
        if let Some(b) = carry.take() {
            if let Some(first) = payload_area.first_mut() {
                *first = b;
            }
            n = 1;
        }
        n +=
            read_full(src, payload_area.get_mut(n..).unwrap_or_default()).map_err(DareError::Io)?;
        if n == 0 {
            return Ok(written);
        }
        let last = if n < MAX_PAYLOAD {
            true
        } else {
            let mut peek = [0u8; 1];
            let got = read_full(src, &mut peek).map_err(DareError::Io)?;
            if got == 1 {
                carry = Some(peek[0]);
            }
            got == 0
        };
        let (payload, tail) = rest.split_at_mut(n);
        let (header, tag) = enc.seal(payload, last)?;
        *head = header;
        tail.get_mut(..TAG_SIZE)
            .ok_or(DareError::SealFailed)?
            .copy_from_slice(&tag);
        let pkg = buf
            .get(..HEADER_SIZE + n + TAG_SIZE)
            .ok_or(DareError::SealFailed)?;
        dst.write_all(pkg).map_err(DareError::Io)?;
        written += pkg.len() as u64;
        if last {
            return Ok(written);
        }
    }
}

/// Decrypts a DARE stream read from `inner` (2.0 or 1.0), one package at a time.
///
/// Only authenticated bytes are returned; any violation surfaces as an
/// `io::Error` of kind `InvalidData` wrapping a [`DareError`] (use
/// [`decrypt_stream`] to get the `DareError` back).
pub struct DareReader<R: Read> {
    inner: R,
    dec: Decryptor,
    buf: Box<[u8; MAX_PACKAGE]>,
    /// Unread plaintext is `buf[pos..end]`.
    pos: usize,
    end: usize,
    done: bool,
    failed: bool,
}

impl<R: Read> DareReader<R> {
    /// Decrypts `inner` under `key`.
    pub fn new(inner: R, key: &SecretKey) -> Self {
        Self {
            inner,
            dec: Decryptor::new(key),
            buf: package_buffer(),
            pos: 0,
            end: 0,
            done: false,
            failed: false,
        }
    }

    /// Reads and opens the next package; `Ok(false)` at a legal end.
    fn next_package(&mut self) -> Result<bool, DareError> {
        let (head, rest) = self
            .buf
            .split_first_chunk_mut::<HEADER_SIZE>()
            .ok_or(DareError::UnexpectedEof)?;
        let got = read_full(&mut self.inner, head).map_err(DareError::Io)?;
        if got == 0 {
            return if self.dec.may_end() {
                Ok(false)
            } else {
                Err(DareError::UnexpectedEof)
            };
        }
        if self.dec.is_finalized() {
            return Err(DareError::UnexpectedData);
        }
        if got < HEADER_SIZE {
            return Err(DareError::UnexpectedEof);
        }
        let len = self.dec.check_header(head)?;
        let body = rest
            .get_mut(..len + TAG_SIZE)
            .ok_or(DareError::InvalidPayloadSize)?;
        if read_full(&mut self.inner, body).map_err(DareError::Io)? < body.len() {
            return Err(DareError::UnexpectedEof);
        }
        let (payload, tag) = body.split_at_mut(len);
        let tag: &[u8; TAG_SIZE] = (&*tag).try_into().map_err(|_| DareError::UnexpectedEof)?;
        self.dec.open(head, payload, tag)?;
        self.pos = HEADER_SIZE;
        self.end = HEADER_SIZE + len;
        Ok(true)
    }
}

impl<R: Read> Read for DareReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.end {
            if self.done {
                return Ok(0);
            }
            if self.failed {
                return Err(DareError::Failed.into_io());
            }
            match self.next_package() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return Ok(0);
                }
                Err(e) => {
                    // Later reads must not resume past a rejected package.
                    self.failed = true;
                    return Err(e.into_io());
                }
            }
        }
        let avail = self.buf.get(self.pos..self.end).unwrap_or_default();
        let n = avail.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(avail.get(..n).unwrap_or_default());
        self.pos += n;
        Ok(n)
    }
}

/// Decrypts all of `src` (a DARE stream) onto `dst`, package by package;
/// returns the plaintext bytes written. Nothing unauthenticated is written.
pub fn decrypt_stream<R: Read, W: Write + ?Sized>(
    key: &SecretKey,
    src: R,
    dst: &mut W,
) -> Result<u64, DareError> {
    let mut reader = DareReader::new(src, key);
    let mut total = 0u64;
    loop {
        if !reader.next_package()? {
            return Ok(total);
        }
        let plain = reader.buf.get(reader.pos..reader.end).unwrap_or_default();
        dst.write_all(plain).map_err(DareError::Io)?;
        total += plain.len() as u64;
        reader.pos = reader.end;
    }
}

/// Converts an `io::Error` produced by [`DareReader`] back into its [`DareError`].
pub fn error_from_io(e: io::Error) -> DareError {
    DareError::from_io(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new([7u8; 32])
    }

    #[test]
    fn sizes_round_trip() {
        for n in [
            0u64,
            1,
            16,
            65535,
            65536,
            65537,
            131072,
            5 << 20,
            6 << 20,
            2531693,
            5 << 30,
        ] {
            let e = encrypted_size(n).unwrap();
            assert_eq!(decrypted_size(e).unwrap(), n);
        }
        assert_eq!(encrypted_size(5 << 30), Some(5371330560));
        for bad in [1u64, 32, 65568 + 1, 65568 + 32] {
            assert!(matches!(
                decrypted_size(bad),
                Err(DareError::InvalidEncryptedSize(_))
            ));
        }
        assert_eq!(encrypted_size(u64::MAX), None);
    }

    #[test]
    fn writer_reader_and_buffers_agree() {
        for n in [1usize, 100, 65535, 65536, 65537, 3 * 65536, 200_001] {
            let pt: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
            let r = [9u8; 12];
            let ct = encrypt(&key(), CipherSuite::Aes256Gcm, r, &pt).unwrap();
            assert_eq!(ct.len() as u64, encrypted_size(n as u64).unwrap());
            let mut w = DareWriter::new(Vec::new(), &key(), CipherSuite::Aes256Gcm, r);
            for chunk in pt.chunks(777) {
                w.write_all(chunk).unwrap();
            }
            assert_eq!(w.finish().unwrap(), ct);
            let mut s = Vec::new();
            encrypt_stream(
                &key(),
                CipherSuite::Aes256Gcm,
                r,
                &mut pt.as_slice(),
                &mut s,
            )
            .unwrap();
            assert_eq!(s, ct);
            assert_eq!(decrypt(&key(), &ct).unwrap(), pt);
            let mut back = Vec::new();
            DareReader::new(ct.as_slice(), &key())
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, pt);
            let mut inplace = pt.clone();
            encrypt_in_place(&key(), CipherSuite::Aes256Gcm, r, &mut inplace).unwrap();
            assert_eq!(inplace, ct);
            decrypt_in_place(&key(), &mut inplace).unwrap();
            assert_eq!(inplace, pt);
            let mut back2 = Vec::new();
            assert_eq!(
                decrypt_stream(&key(), ct.as_slice(), &mut back2).unwrap(),
                n as u64
            );
            assert_eq!(back2, pt);
            // Laid out in slots and sealed in one go, or region by region.
            let mut slots = Vec::new();
            for chunk in pt.chunks(MAX_PAYLOAD) {
                slots.extend_from_slice(&[0; HEADER_SIZE]);
                slots.extend_from_slice(chunk);
                slots.extend_from_slice(&[0; TAG_SIZE]);
            }
            let mut whole = slots.clone();
            let mut enc = Encryptor::new(&key(), CipherSuite::Aes256Gcm, r);
            assert_eq!(
                enc.seal_laid_out(&mut whole, true).unwrap(),
                n.div_ceil(MAX_PAYLOAD)
            );
            assert_eq!(whole, ct);
            let split = (n.div_ceil(MAX_PAYLOAD) / 2) * MAX_PACKAGE;
            let (front, back) = slots.split_at_mut(split);
            let mut enc = Encryptor::new(&key(), CipherSuite::Aes256Gcm, r);
            enc.seal_laid_out(front, false).unwrap();
            enc.seal_laid_out(back, true).unwrap();
            assert_eq!(slots, ct);
        }
    }

    #[test]
    fn a_short_package_before_the_last_is_rejected() {
        let mut enc = Encryptor::new(&key(), CipherSuite::Aes256Gcm, [1; 12]);
        let mut short = vec![0u8; MAX_PACKAGE - 1];
        assert!(matches!(
            enc.seal_laid_out(&mut short, false),
            Err(DareError::InvalidPayloadSize)
        ));
        let mut enc = Encryptor::new(&key(), CipherSuite::Aes256Gcm, [1; 12]);
        let mut tiny = [0u8; HEADER_SIZE + TAG_SIZE];
        assert!(matches!(
            enc.seal_laid_out(&mut tiny, true),
            Err(DareError::InvalidPayloadSize)
        ));
    }

    /// The ring-backed [`Aead`] against RustCrypto's implementations, an
    /// independent reference, on random keys, nonces, AAD and lengths.
    #[test]
    fn ring_matches_rustcrypto_on_random_inputs() {
        use aes_gcm::aead::AeadInPlace;
        use aes_gcm::{Aes256Gcm, KeyInit};
        use chacha20poly1305::ChaCha20Poly1305;
        use rand::{Rng, RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0da4e);
        for round in 0..200 {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            let mut nonce = [0u8; 12];
            rng.fill_bytes(&mut nonce);
            let mut aad = vec![0u8; rng.gen_range(0..=16)];
            rng.fill_bytes(&mut aad);
            let len = match round % 4 {
                0 => MAX_PAYLOAD,
                1 => rng.gen_range(1..=64),
                _ => rng.gen_range(0..=MAX_PAYLOAD),
            };
            let mut plain = vec![0u8; len];
            rng.fill_bytes(&mut plain);
            for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
                let ours = Aead::new(suite, &SecretKey::new(k));
                let mut a = plain.clone();
                let tag = ours.seal(&nonce, &aad, &mut a).unwrap();
                let mut b = plain.clone();
                let n = aes_gcm::Nonce::from_slice(&nonce);
                let reference = match suite {
                    CipherSuite::Aes256Gcm => Aes256Gcm::new_from_slice(&k)
                        .unwrap()
                        .encrypt_in_place_detached(n, &aad, &mut b),
                    CipherSuite::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(&k)
                        .unwrap()
                        .encrypt_in_place_detached(n, &aad, &mut b),
                }
                .unwrap();
                assert_eq!(a, b, "{suite:?} len {len}");
                assert_eq!(tag[..], reference[..], "{suite:?} len {len}");
                ours.open(&nonce, &aad, &mut a, &tag).unwrap();
                assert_eq!(a, plain);
                if len > 0 {
                    let mut bad = b.clone();
                    bad[len / 2] ^= 1;
                    assert!(ours.open(&nonce, &aad, &mut bad, &tag).is_err());
                    assert!(bad.iter().all(|&x| x == 0), "no unauthenticated bytes");
                }
                let mut bad_tag = tag;
                bad_tag[0] ^= 0x80;
                assert!(ours.open(&nonce, &aad, &mut b, &bad_tag).is_err());
            }
        }
    }

    #[test]
    fn empty_stream() {
        assert!(encrypt(&key(), CipherSuite::Aes256Gcm, [0; 12], &[])
            .unwrap()
            .is_empty());
        assert!(
            DareWriter::new(Vec::new(), &key(), CipherSuite::Aes256Gcm, [0; 12])
                .finish()
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            decrypt(&key(), &[]),
            Err(DareError::UnexpectedEof)
        ));
    }
}
