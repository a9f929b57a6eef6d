//! Injectable randomness: the OS CSPRNG in production, recorded bytes when a
//! test replays one of MinIO's known-answer vectors.

use super::SseError;

/// A source of random bytes for object keys, IVs and DARE nonces.
///
/// Every function that needs randomness takes `&mut dyn RandomSource`, so a
/// vector test can feed back exactly the bytes MinIO consumed.
pub trait RandomSource {
    /// Fills `buf` completely.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SseError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SseError> {
        getrandom::getrandom(buf).map_err(|e| SseError::Random(e.to_string()))
    }
}

/// Replays a fixed byte string, in order; running out is an error (a vector
/// test then knows the code drew more randomness than MinIO did).
#[derive(Debug, Clone)]
pub struct ReplayRandom {
    bytes: Vec<u8>,
    pos: usize,
}

impl ReplayRandom {
    /// Replays `bytes` from the start.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            pos: 0,
        }
    }

    /// How many bytes have not been consumed yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

impl RandomSource for ReplayRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SseError> {
        let end = self.pos + buf.len();
        let src = self.bytes.get(self.pos..end).ok_or_else(|| {
            SseError::Random(format!(
                "replay source exhausted: {} bytes wanted, {} left",
                buf.len(),
                self.remaining()
            ))
        })?;
        buf.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }
}

/// Draws an array of `N` random bytes.
pub(crate) fn array<const N: usize>(rng: &mut dyn RandomSource) -> Result<[u8; N], SseError> {
    let mut out = [0u8; N];
    rng.fill(&mut out)?;
    Ok(out)
}
