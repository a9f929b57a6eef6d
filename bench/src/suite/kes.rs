//! KMS-bound rotation: the in-process KES protocol fixture
//! (`kms_client::testing`, not a KES) with injected latency, and
//! `keyrotate run` talking to it over HTTPS with mTLS.
//!
//! The fixture knows the key the fixtures are sealed with (same name, same
//! secret, same ciphertext construction), so a cached fixture rotates
//! through it unchanged.
//!
//! What "ideal" means: the run's workers each rotate one object at a time,
//! and an SSE-KMS rotation is a decrypt of the old data key followed by a
//! generate of the new one — two requests in series. With `C` workers and
//! every request costing exactly the latency `L`, at most `C` requests are
//! in flight, so the ideal is `C / L` requests/s, i.e. `C / (2L)`
//! objects/s. Comparing requests/s with `C / (2L)` would credit a perfect
//! client with 2×; the ratio here is requests/s ÷ `C / L` (equal to
//! objects/s ÷ `C / (2L)` when each object costs exactly two requests,
//! which the run's own KMS call counters confirm).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use kms_client::testing::{Fixture as KesFixture, FixtureConfig};

use super::keyrotate::KmsEnv;

/// A running KES fixture and the variables that point `keyrotate` at it.
pub struct Kes {
    pub fixture: KesFixture,
    pub env: KmsEnv,
}

/// Starts the fixture with the fixtures' static key; writes the CA and the
/// client certificate and key into `dir`.
pub fn start(dir: &Path) -> Result<Kes, String> {
    let text = engine::fixture::DEFAULT_KMS_SECRET_KEY;
    let (name, b64) = text.split_once(':').ok_or("fixture key: no ':'")?;
    let secret: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("fixture key: {e}"))?
        .try_into()
        .map_err(|_| "fixture key: not 32 bytes".to_owned())?;
    let fixture = KesFixture::start(FixtureConfig {
        keys: vec![(name.to_owned(), secret)],
        // Both cores: the fixture must not be what limits the client.
        worker_threads: 2,
        ..FixtureConfig::default()
    })
    .map_err(|e| format!("KES fixture: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |file: &str, text: &str| -> Result<String, String> {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p.display().to_string())
    };
    let env = vec![
        ("MINIO_KMS_KES_ENDPOINT".into(), fixture.endpoint()),
        ("MINIO_KMS_KES_KEY_NAME".into(), name.to_owned()),
        (
            "MINIO_KMS_KES_CERT_FILE".into(),
            write("client.crt", fixture.client_cert_pem())?,
        ),
        (
            "MINIO_KMS_KES_KEY_FILE".into(),
            write("client.key", fixture.client_key_pem())?,
        ),
        (
            "MINIO_KMS_KES_CAPATH".into(),
            write("ca.pem", fixture.ca_pem())?,
        ),
    ];
    Ok(Kes { fixture, env })
}

impl Kes {
    pub fn set_latency(&self, ms: f64) {
        self.fixture
            .set_latency(Duration::from_secs_f64(ms / 1000.0));
    }

    /// The mean round trip of one request at the current latency: `n`
    /// generate requests one after the other through the same client the
    /// engine uses (configured from the same variables). The injected
    /// latency is a timer sleep, and timers are not exact: this is what one
    /// request really costs a serial client.
    pub fn round_trip_ms(&self, n: usize) -> Result<f64, String> {
        let env = self.env.clone();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let kms = kms_client::KmsConfig::from_lookup(&lookup, None)
            .and_then(|c| c.build())
            .map_err(|e| format!("KES client: {e}"))?;
        let key = kms.default_key().clone();
        let context: kms_client::Context = [("fixture", "fixture/probe")].into_iter().collect();
        // One untimed request: the TLS handshake is not a request's cost.
        kms.generate_key(&key, &context)
            .map_err(|e| format!("KES probe: {e}"))?;
        let t = std::time::Instant::now();
        for _ in 0..n {
            kms.generate_key(&key, &context)
                .map_err(|e| format!("KES probe: {e}"))?;
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64)
    }
}

/// Ideal requests/s of `concurrency` serial clients at `latency_ms` each.
pub fn ideal_requests_per_s(concurrency: usize, latency_ms: f64) -> f64 {
    concurrency as f64 / (latency_ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_counts_requests_not_objects() {
        // 8 workers at 1 ms: 8000 requests/s, 4000 objects/s.
        assert_eq!(ideal_requests_per_s(8, 1.0), 8000.0);
        assert_eq!(ideal_requests_per_s(1, 5.0), 200.0);
    }
}
