//! The HTTPS transport shared by the KES and MinIO KMS clients: hyper on
//! rustls (ring), a pooled keep-alive client (HTTP/2 multiplexing when the
//! server offers it, else HTTP/1.1 connections), per-attempt timeouts, and
//! retries with jitter for transient failures only.
//!
//! The client runs on its own small tokio runtime so the blocking [`crate::Kms`]
//! calls work from any plain thread; the async entry points run on whichever
//! runtime polls them.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::identity::ApiKey;
use crate::KmsError;

/// Largest response body accepted (KMS answers are a few hundred bytes).
const MAX_RESPONSE: usize = 1 << 20;

/// How a remote KMS client behaves: timeouts, retries, concurrency.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Time allowed for one attempt (connect + request + response).
    pub request_timeout: Duration,
    /// Time allowed to open a TCP connection.
    pub connect_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Requests a batch call keeps in flight.
    pub max_in_flight: usize,
    /// Offer HTTP/2 (one multiplexed connection per server) as well as HTTP/1.1.
    pub http2: bool,
    /// Worker threads of the client's own runtime.
    pub worker_threads: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            max_in_flight: 128,
            http2: true,
            worker_threads: 2,
        }
    }
}

/// Retries of transient failures (5xx, 429, timeouts, connection errors).
/// Permanent errors are never retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total tries per request, counting the first (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles per retry up to `max_delay`,
    /// each wait drawn uniformly from `[d, 2d)` (jitter).
    pub base_delay: Duration,
    /// Upper bound of `d`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let d = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        d + d.mul_f64(fastrand::f64())
    }
}

/// How the client authenticates (mTLS in both cases).
pub enum ClientAuth {
    /// An API key: a self-signed certificate derived from it.
    ApiKey(ApiKey),
    /// PEM certificate (chain) and private key files.
    CertFiles {
        /// Certificate file.
        cert: PathBuf,
        /// Private key file.
        key: PathBuf,
        /// Whether a key password was configured (encrypted keys are not supported).
        password_set: bool,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::ApiKey(key) => f.debug_tuple("ApiKey").field(key).finish(),
            ClientAuth::CertFiles {
                cert,
                key,
                password_set,
            } => f
                .debug_struct("CertFiles")
                .field("cert", cert)
                .field("key", key)
                .field("password_set", password_set)
                .finish(),
        }
    }
}

impl ClientAuth {
    fn load(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), KmsError> {
        match self {
            ClientAuth::ApiKey(key) => {
                let (cert, key) = key.client_certificate()?;
                Ok((vec![cert], key))
            }
            ClientAuth::CertFiles {
                cert,
                key,
                password_set,
            } => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        KmsError::Config(format!("client certificate {}: {e}", cert.display()))
                    })?;
                if chain.is_empty() {
                    return Err(KmsError::Config(format!(
                        "client certificate {}: no certificate found",
                        cert.display()
                    )));
                }
                let pem =
                    Zeroizing::new(std::fs::read(key).map_err(|e| {
                        KmsError::Config(format!("client key {}: {e}", key.display()))
                    })?);
                if pem.windows(9).any(|w| w == b"ENCRYPTED") {
                    let hint = if *password_set {
                        ""
                    } else {
                        " and no password is set"
                    };
                    return Err(KmsError::Config(format!(
                        "client key {}: the key is encrypted{hint}; keyrotate does not decrypt PEM keys: provide an unencrypted key file",
                        key.display()
                    )));
                }
                let private = PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| KmsError::Config(format!("client key {}: {e}", key.display())))?;
                Ok((chain, private))
            }
        }
    }
}

/// Loads CA certificates from a PEM file or a directory of PEM files; with
/// no path, the system bundle.
fn load_roots(ca_path: Option<&Path>) -> Result<rustls::RootCertStore, KmsError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut files = Vec::new();
    match ca_path {
        Some(path) if path.is_dir() => {
            let entries = std::fs::read_dir(path)
                .map_err(|e| KmsError::Config(format!("CA directory {}: {e}", path.display())))?;
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    files.push(entry.path());
                }
            }
        }
        Some(path) => files.push(path.to_path_buf()),
        None => {
            for candidate in [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ] {
                if Path::new(candidate).exists() {
                    files.push(PathBuf::from(candidate));
                    break;
                }
            }
        }
    }
    for file in &files {
        let Ok(certs) = CertificateDer::pem_file_iter(file) else {
            continue;
        };
        for cert in certs.flatten() {
            // Skip certificates rustls cannot use rather than failing on one bad file.
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        let where_ = ca_path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the system bundle".into());
        return Err(KmsError::Config(format!(
            "no usable CA certificate in {where_}"
        )));
    }
    Ok(roots)
}

/// Builds the rustls client configuration.
pub(crate) fn tls_config(
    auth: &ClientAuth,
    ca_path: Option<&Path>,
) -> Result<rustls::ClientConfig, KmsError> {
    let roots = load_roots(ca_path)?;
    let (chain, key) = auth.load()?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| KmsError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| KmsError::Tls(format!("client certificate or key unusable: {e}")))
}

/// One attempt's outcome before protocol mapping: status and body.
pub(crate) struct Response {
    pub status: StatusCode,
    pub body: Zeroizing<Vec<u8>>,
}

/// The pooled HTTPS client with its endpoints and runtime.
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoints: Vec<String>,
    next: AtomicUsize,
    pub(crate) options: ClientOptions,
    runtime: Option<tokio::runtime::Runtime>,
    /// Whether a request has completed, so the pool holds a connection.
    warm: AtomicBool,
}

impl Transport {
    pub(crate) fn new(
        endpoints: &[String],
        tls: rustls::ClientConfig,
        options: ClientOptions,
    ) -> Result<Self, KmsError> {
        if endpoints.is_empty() {
            return Err(KmsError::Config("no KMS endpoint".into()));
        }
        let endpoints = endpoints
            .iter()
            .map(|e| normalize_endpoint(e))
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads.max(1))
            .thread_name("kms-client")
            .enable_all()
            .build()
            .map_err(|e| KmsError::Config(format!("starting the KMS client runtime: {e}")))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(options.connect_timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if options.http2 {
            builder.enable_all_versions().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(options.max_in_flight.max(1))
            .build(connector);
        Ok(Self {
            client,
            endpoints,
            next: AtomicUsize::new(0),
            options,
            runtime: Some(runtime),
            warm: AtomicBool::new(false),
        })
    }

    /// Runs a future on the client's runtime from a plain (non-async) thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        // Only `drop` takes the runtime out.
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(future)
    }

    /// Whether the pool is still cold: a batch then sends its first request
    /// alone, so that when the server speaks HTTP/2 the rest multiplex over
    /// that connection instead of racing to open one connection each (the
    /// pool only learns the protocol from ALPN once a handshake is done).
    pub(crate) fn is_cold(&self) -> bool {
        !self.warm.load(Ordering::Relaxed)
    }

    /// Runs `call` for every request with up to `max_in_flight` in flight,
    /// results in request order. On a cold pool the first request goes
    /// alone (see [`Transport::is_cold`]).
    pub(crate) fn run_batch<'r, R, T, Fut>(
        &self,
        requests: &'r [R],
        call: impl Fn(&'r R) -> Fut,
    ) -> Vec<T>
    where
        Fut: Future<Output = T>,
    {
        use futures_util::stream::{self, StreamExt};
        let limit = self.options.max_in_flight.max(1);
        self.block_on(async {
            let mut out = Vec::with_capacity(requests.len());
            let mut rest = requests;
            if let (true, Some((first, tail))) = (self.is_cold(), requests.split_first()) {
                out.push(call(first).await);
                rest = tail;
            }
            out.extend(
                stream::iter(rest)
                    .map(&call)
                    .buffered(limit)
                    .collect::<Vec<_>>()
                    .await,
            );
            out
        })
    }

    /// `POST`s a body with retries (both KMS APIs only use POST).
    pub(crate) async fn post<T>(
        &self,
        path: &str,
        content_type: &'static str,
        body: impl Into<Bytes>,
        map: impl Fn(Response) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.call(Method::POST, path, content_type, body.into(), map)
            .await
    }

    /// Sends one request with retries; `map` turns a response into a result
    /// (its transient errors are retried like transport failures).
    pub(crate) async fn call<T>(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Bytes,
        map: impl Fn(Response) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let attempts = self.options.retry.attempts.max(1);
        let mut endpoint = self.next.fetch_add(1, Ordering::Relaxed);
        let mut retry = 0;
        loop {
            let base = &self.endpoints[endpoint % self.endpoints.len()];
            let result = match self
                .send(method.clone(), base, path, content_type, body.clone())
                .await
            {
                Ok(response) => map(response),
                Err(e) => Err(e),
            };
            if result.is_ok() {
                self.warm.store(true, Ordering::Relaxed);
            }
            match result {
                Err(e) if e.is_transient() && retry + 1 < attempts => {
                    retry += 1;
                    tracing::debug!(error = %e, retry, "transient KMS failure, retrying");
                    tokio::time::sleep(self.options.retry.delay(retry)).await;
                    // Fail over to the next server, if there is one.
                    endpoint = endpoint.wrapping_add(1);
                }
                other => return other,
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        base: &str,
        path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Response, KmsError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(
                hyper::header::ACCEPT,
                "application/json, application/octet-stream",
            )
            .body(Full::new(body))
            .map_err(|e| KmsError::Config(format!("building a request to {base}: {e}")))?;
        let attempt = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| classify_client_error(base, &e))?;
            let status = response.status();
            let collected = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| KmsError::Transient(format!("{base}: reading the response: {e}")))?;
            Ok(Response {
                status,
                body: Zeroizing::new(collected.to_bytes().to_vec()),
            })
        };
        match tokio::time::timeout(self.options.request_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(KmsError::Transient(format!(
                "{base}: no answer within {:?}",
                self.options.request_timeout
            ))),
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // Dropping a runtime inside async code panics; shutting it down in
        // the background is allowed everywhere.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `https://host:port` without a trailing slash; a bare `host:port` gets `https://`.
fn normalize_endpoint(endpoint: &str) -> Result<String, KmsError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let with_scheme = if let Some(rest) = endpoint.strip_prefix("http://") {
        // MinIO's KMS clients always use TLS.
        format!("https://{rest}")
    } else if endpoint.starts_with("https://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    with_scheme
        .parse::<hyper::Uri>()
        .map_err(|e| KmsError::Config(format!("invalid KMS endpoint {endpoint:?}: {e}")))?;
    Ok(with_scheme)
}

/// Transport failures are transient except TLS failures a retry cannot fix.
fn classify_client_error(base: &str, error: &hyper_util::client::legacy::Error) -> KmsError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|i| i.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            use rustls::{AlertDescription as A, Error as E};
            return match tls {
                E::AlertReceived(
                    A::BadCertificate
                    | A::CertificateRequired
                    | A::UnknownCA
                    | A::AccessDenied
                    | A::CertificateUnknown,
                ) => KmsError::NotAuthorized(format!(
                    "{base}: the server refused the client certificate ({tls})"
                )),
                E::InvalidCertificate(_) | E::NoCertificatesPresented | E::UnsupportedNameType => {
                    KmsError::Tls(format!("{base}: server certificate not trusted: {tls}"))
                }
                other => KmsError::Transient(format!("{base}: TLS: {other}")),
            };
        }
        source = e.source();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    // hyper-util may carry the TLS error as text only (its connect error
    // boxes the source); rustls' messages are stable enough to match.
    if text.contains("invalid peer certificate") || text.contains("peer sent no certificates") {
        return KmsError::Tls(format!("{base}: server certificate not trusted: {text}"));
    }
    for alert in [
        "BadCertificate",
        "CertificateRequired",
        "UnknownCA",
        "AccessDenied",
        "CertificateUnknown",
    ] {
        if text.contains("received fatal alert") && text.contains(alert) {
            return KmsError::NotAuthorized(format!(
                "{base}: the server refused the client certificate ({text})"
            ));
        }
    }
    KmsError::Transient(format!("{base}: {text}"))
}

/// The server's error text: `{"message":…}` (or older `{"error":…}`), else the
/// body itself; printable and at most 200 characters.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        error: Option<String>,
    }
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(m), ..
        })
        | Ok(ErrorBody { error: Some(m), .. }) => m,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let clean: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if clean.is_empty() {
        "(no message)".into()
    } else {
        clean
    }
}

/// Maps a non-success status the way MinIO's KMS clients do: 429, 408 and
/// 5xx are transient; 404 naming a key is "key not found"; 401/403 "not
/// authorized"; 400 matching `is_decrypt_failure` "decryption failed";
/// anything else a permanent rejection.
pub(crate) fn map_status(
    service: &str,
    key: &crate::KeyId,
    status: StatusCode,
    message: String,
    is_decrypt_failure: fn(&str) -> bool,
) -> KmsError {
    match status {
        s if s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::REQUEST_TIMEOUT
            || s.is_server_error() =>
        {
            KmsError::Transient(format!("{service}: HTTP {}: {message}", s.as_u16()))
        }
        StatusCode::NOT_FOUND if message.contains("key") => KmsError::KeyNotFound(key.to_string()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            KmsError::NotAuthorized(format!("{service}: {message}"))
        }
        StatusCode::BAD_REQUEST if is_decrypt_failure(&message) => KmsError::DecryptionFailed {
            key: key.to_string(),
        },
        s => KmsError::Rejected {
            status: s.as_u16(),
            message: format!("{service}: {message}"),
        },
    }
}
