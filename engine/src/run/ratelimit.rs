//! `run --kms-rate N`: a cap on KMS requests per second across all workers,
//! so a rotation does not saturate a KMS other clusters share.
//!
//! [`RateLimited`] wraps the run's [`Kms`]: every request takes one token of
//! a [`TokenBucket`] before it is sent (a batch takes one per request).
//! The circuit breaker and the client's retries sit above and below it
//! unchanged. It also counts this process's requests and the time they
//! spanned, for the achieved rate the summary reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kms_client::{
    Context, DataKey, DecryptRequest, GenerateRequest, KeyId, Kms, KmsError, PlaintextKey,
};

/// A token bucket in virtual-time form: each token is due `1/rate` after
/// the previous one; a caller sleeps until its tokens are due. At most
/// `burst` tokens may be taken ahead of the steady rate after an idle
/// spell, so the rate over any window of a second or more stays at `rate`
/// (plus at most `burst` requests).
#[derive(Debug)]
pub struct TokenBucket {
    interval: Duration,
    burst: u32,
    /// When the next token is due.
    next: Mutex<Option<Instant>>,
}

impl TokenBucket {
    /// `rate` tokens per second (at least 1).
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        TokenBucket {
            interval: Duration::from_nanos(1_000_000_000 / rate),
            // A tenth of a second's worth: smooths the workers' start
            // without letting a burst exceed what a second allows.
            burst: u32::try_from((rate / 10).max(1)).unwrap_or(u32::MAX),
            next: Mutex::new(None),
        }
    }

    /// Reserves `n` tokens and returns when they are due (now or later).
    pub fn due(&self, n: u32, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = now.checked_sub(self.interval * self.burst).unwrap_or(now);
        let start = next.map_or(now, |t| t.max(earliest));
        *next = Some(start + self.interval * n);
        start
    }

    /// Blocks until `n` tokens are available.
    pub fn take(&self, n: u32) {
        let now = Instant::now();
        let at = self.due(n, now);
        if at > now {
            std::thread::sleep(at - now);
        }
    }
}

/// What the summary reports of a `--kms-rate` run: the cap, the requests
/// this process sent and their achieved rate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsRate {
    pub limit_per_second: u64,
    pub requests: u64,
    /// Requests per second between this run's first and last request.
    pub achieved_per_second: serde_json::Number,
}

/// A [`Kms`] whose requests are paced by a [`TokenBucket`].
pub struct RateLimited {
    inner: std::sync::Arc<dyn Kms>,
    bucket: TokenBucket,
    limit: u64,
    requests: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RateLimited {
    /// Caps `inner` at `rate` requests per second.
    pub fn new(inner: std::sync::Arc<dyn Kms>, rate: u64) -> Self {
        RateLimited {
            inner,
            bucket: TokenBucket::new(rate),
            limit: rate,
            requests: AtomicU64::new(0),
            first: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    fn pace(&self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n == 0 {
            return;
        }
        self.bucket.take(n);
        let now = Instant::now();
        self.requests.fetch_add(u64::from(n), Ordering::Relaxed);
        self.first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(now);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }

    /// The configured cap, requests per second.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The summary's report of the cap and the rate achieved.
    pub fn report(&self) -> KmsRate {
        let (requests, rate) = self.achieved();
        KmsRate {
            limit_per_second: self.limit,
            requests,
            achieved_per_second: serde_json::Number::from_f64((rate * 10.0).round() / 10.0)
                .unwrap_or_else(|| 0.into()),
        }
    }

    /// Requests sent by this process and their rate per second between the
    /// first and the last (0 with fewer than two requests).
    pub fn achieved(&self) -> (u64, f64) {
        let n = self.requests.load(Ordering::Relaxed);
        let first = *self.first.lock().unwrap_or_else(|p| p.into_inner());
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        let rate = match (first, last) {
            (Some(a), Some(b)) if b > a && n > 1 => (n - 1) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        };
        (n, rate)
    }
}

impl Kms for RateLimited {
    fn default_key(&self) -> &KeyId {
        self.inner.default_key()
    }

    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError> {
        self.pace(1);
        self.inner.generate_key(key, context)
    }

    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        self.pace(1);
        self.inner.decrypt(key, ciphertext, context)
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }

    fn decrypt_batch(
        &self,
        requests: &[DecryptRequest<'_>],
    ) -> Vec<Result<PlaintextKey, KmsError>> {
        self.pace(requests.len());
        self.inner.decrypt_batch(requests)
    }

    fn generate_batch(&self, requests: &[GenerateRequest<'_>]) -> Vec<Result<DataKey, KmsError>> {
        self.pace(requests.len());
        self.inner.generate_batch(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are due one interval apart once the burst allowance is used,
    /// whatever the callers' timing: 1000 tokens at 500/s span ~2 s.
    #[test]
    fn tokens_are_spaced_by_the_rate_after_the_burst() {
        let bucket = TokenBucket::new(500);
        let t0 = Instant::now();
        let mut last = t0;
        for _ in 0..1000 {
            last = bucket.due(1, t0);
        }
        let span = last - t0;
        // 999 intervals of 2 ms (callers all arrive at t0: no idle credit).
        assert_eq!(span, Duration::from_millis(2) * 999);
        // After an idle second, at most `burst` (50) tokens are due at once.
        let later = last + Duration::from_secs(1);
        let immediate = (0..100).filter(|_| bucket.due(1, later) <= later).count();
        assert_eq!(immediate, 51);
    }

    #[test]
    fn a_batch_takes_one_token_per_request() {
        let bucket = TokenBucket::new(100);
        let t0 = Instant::now();
        assert_eq!(bucket.due(10, t0), t0);
        assert_eq!(bucket.due(1, t0), t0 + Duration::from_millis(100));
    }
}
