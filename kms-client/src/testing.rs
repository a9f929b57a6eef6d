//! An in-process HTTPS server speaking the KES and MinIO KMS key APIs, for
//! tests and benchmarks (feature `kes-fixture`).
//!
//! This is a **protocol fixture, not a KES** (nor a MinIO KMS): it implements
//! only the documented generate/decrypt endpoints (CRYPTO.md §6.1, §6.4) with
//! the static-key construction (the ciphertext format current KES servers
//! write), authorizes clients by certificate identity the way KES does, and
//! can inject latency, HTTP errors, connection resets and malformed bodies.
//!
//! Certificates are generated at start with `rcgen`: a test CA, a server
//! certificate for `127.0.0.1`/`localhost`, and a CA-signed client certificate
//! whose identity is allowed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::TcpListener;

use crate::identity::certificate_identity;
use crate::minkms::{decode_frames, protobuf_fields, CMD_KEY_DECRYPT, CMD_KEY_GENERATE};
use crate::static_key::{OsRandom, StaticKey};
use crate::{b64, KmsError};

/// A fault the fixture injects into the next request(s), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and `{"message": …}`.
    Status(u16, String),
    /// Drop the connection without an answer.
    Reset,
    /// Answer 200 with a body that is not the expected JSON.
    Malformed,
    /// Wait this long before answering normally.
    Delay(Duration),
}

/// Fixture settings.
#[derive(Clone, Debug, Default)]
pub struct FixtureConfig {
    /// Keys the fixture knows: name → 32 secret bytes.
    pub keys: Vec<(String, [u8; 32])>,
    /// Extra identities (hex SHA-256 of SPKI, or `h1:…`) allowed besides the
    /// fixture's own client certificate. API-key clients are allowed by
    /// listing their identity here.
    pub allowed_identities: Vec<String>,
    /// Latency added to every request.
    pub latency: Duration,
    /// Runtime worker threads (default 1).
    pub worker_threads: usize,
    /// Serve HTTP/1.1 only (no `h2` in ALPN).
    pub http1_only: bool,
}

struct State {
    keys: BTreeMap<String, StaticKey>,
    allowed: BTreeSet<String>,
    latency: Mutex<Duration>,
    faults: Mutex<VecDeque<Fault>>,
    requests: AtomicU64,
    /// When each request arrived (for rate measurements).
    arrivals: Mutex<Vec<Instant>>,
    connections: AtomicU64,
}

/// A running fixture; stops when dropped.
pub struct Fixture {
    addr: SocketAddr,
    state: Arc<State>,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    client_identity: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn fixture_err(e: impl std::fmt::Display) -> KmsError {
    KmsError::Config(format!("test fixture: {e}"))
}

impl Fixture {
    /// Generates certificates, binds `127.0.0.1:0` and starts serving.
    pub fn start(config: FixtureConfig) -> Result<Self, KmsError> {
        // Certificates: CA, server (127.0.0.1, localhost), client.
        let ca_key = rcgen::KeyPair::generate().map_err(fixture_err)?;
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fixture_err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keyrotate test CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(fixture_err)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let server_key = rcgen::KeyPair::generate().map_err(fixture_err)?;
        let server_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .map_err(fixture_err)?;
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(fixture_err)?;

        let client_key = rcgen::KeyPair::generate().map_err(fixture_err)?;
        let mut client_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fixture_err)?;
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keyrotate test client");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .map_err(fixture_err)?;
        let client_identity = certificate_identity(client_cert.der())
            .ok_or_else(|| fixture_err("client identity"))?;

        let mut allowed: BTreeSet<String> = config.allowed_identities.iter().cloned().collect();
        allowed.insert(client_identity.clone());
        let keys = config
            .keys
            .iter()
            .map(|(name, secret)| Ok((name.clone(), StaticKey::new(name.clone(), *secret)?)))
            .collect::<Result<BTreeMap<_, _>, KmsError>>()?;
        let state = Arc::new(State {
            keys,
            allowed,
            latency: Mutex::new(config.latency),
            faults: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            arrivals: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        });

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(fixture_err)?
            .with_client_cert_verifier(Arc::new(AnyClientCert { provider }))
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .map_err(fixture_err)?;
        tls.alpn_protocols = if config.http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("kms-fixture")
            .enable_all()
            .build()
            .map_err(fixture_err)?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(fixture_err)?;
        let addr = listener.local_addr().map_err(fixture_err)?;
        let serve_state = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let state = serve_state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    state.connections.fetch_add(1, Ordering::Relaxed);
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(certificate_identity)
                        .unwrap_or_default();
                    let service = hyper::service::service_fn(move |req| {
                        handle(state.clone(), identity.clone(), req)
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            state,
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            client_identity,
            runtime: Some(runtime),
        })
    }

    /// `https://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The test CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A CA-signed client certificate (PEM) whose identity is allowed.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The client certificate's private key (PEM).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// The client certificate's KES identity.
    pub fn client_identity(&self) -> &str {
        &self.client_identity
    }

    /// Queues faults for the next requests (one fault per request, in order).
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        if let Ok(mut q) = self.state.faults.lock() {
            q.extend(faults);
        }
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        self.state.faults.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Sets the latency added to every request.
    pub fn set_latency(&self, latency: Duration) {
        if let Ok(mut l) = self.state.latency.lock() {
            *l = latency;
        }
    }

    /// Requests received so far (including faulted ones).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// When each request so far arrived, in arrival order: a client's
    /// request rate measured at the server's side.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.state
            .arrivals
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }
}

/// Accepts any client certificate (checking its handshake signature), as KES
/// does: authorization is by identity, per request.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn json_error(status: StatusCode, message: &str) -> Reply {
    reply(
        status,
        "application/json",
        serde_json::json!({ "message": message }).to_string(),
    )
}

/// Error returned to hyper to abort the connection (a "reset").
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for ResetConnection {}

/// Sleeps `d` with sub-millisecond precision: tokio's timer wheel rounds
/// every sleep up to the next whole millisecond (a 0.2 ms latency would cost
/// 1–2 ms), so the wait runs on a blocking-pool thread with the OS sleep.
async fn precise_sleep(d: std::time::Duration) {
    if tokio::task::spawn_blocking(move || std::thread::sleep(d))
        .await
        .is_err()
    {
        tokio::time::sleep(d).await;
    }
}

async fn handle(
    state: Arc<State>,
    identity: String,
    request: Request<Incoming>,
) -> Result<Reply, ResetConnection> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut a) = state.arrivals.lock() {
        a.push(Instant::now());
    }
    let latency = state.latency.lock().map(|l| *l).unwrap_or_default();
    let fault = state.faults.lock().ok().and_then(|mut q| q.pop_front());
    if !latency.is_zero() {
        precise_sleep(latency).await;
    }
    let path = request.uri().path().to_string();
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(ResetConnection),
    };
    match fault {
        Some(Fault::Status(code, message)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(json_error(status, &message));
        }
        Some(Fault::Reset) => return Err(ResetConnection),
        Some(Fault::Malformed) => {
            return Ok(reply(
                StatusCode::OK,
                "application/json",
                "{\"plaintext\": 42, oops",
            ))
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    if !state.allowed.contains(&identity) {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "not authorized: insufficient permissions",
        ));
    }
    // KES's context is opaque bytes: used as the AAD directly.
    if path.starts_with("/v1/kms/") {
        return Ok(minkms(&state, &body));
    }
    let (op, name) = match path.strip_prefix("/v1/key/generate/") {
        Some(name) => ("generate", name),
        None => match path.strip_prefix("/v1/key/decrypt/") {
            Some(name) => ("decrypt", name),
            None => return Ok(json_error(StatusCode::NOT_FOUND, "not found")),
        },
    };
    let Some(key) = state.keys.get(name) else {
        return Ok(json_error(StatusCode::NOT_FOUND, "key does not exist"));
    };
    Ok(kes(key, op, &body))
}

#[derive(serde::Deserialize)]
struct KesBody {
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

fn kes(key: &StaticKey, op: &str, body: &[u8]) -> Reply {
    let parsed: KesBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "invalid request body"),
    };
    let Some(aad) = parsed
        .context
        .as_deref()
        .map(b64::decode_std)
        .unwrap_or(Some(Vec::new()))
    else {
        return json_error(StatusCode::BAD_REQUEST, "invalid request body");
    };
    match op {
        "generate" => match key.generate_raw(&aad, &OsRandom) {
            Ok((plaintext, ciphertext)) => reply(
                StatusCode::OK,
                "application/json",
                format!(
                    "{{\"plaintext\":\"{}\",\"ciphertext\":\"{}\"}}\n",
                    b64::encode_std(plaintext.expose()),
                    b64::encode_std(&ciphertext)
                ),
            ),
            Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        },
        _ => {
            let Some(ct) = parsed.ciphertext.as_deref().and_then(b64::decode_std) else {
                return json_error(StatusCode::BAD_REQUEST, "invalid request body");
            };
            match key.decrypt_raw(&ct, &aad) {
                Ok(plaintext) => reply(
                    StatusCode::OK,
                    "application/json",
                    format!("{{\"plaintext\":\"{}\"}}\n", b64::encode_std(&plaintext)),
                ),
                Err(_) => json_error(
                    StatusCode::BAD_REQUEST,
                    "decryption failed: ciphertext is not authentic",
                ),
            }
        }
    }
}

fn minkms(state: &State, body: &[u8]) -> Reply {
    let octet = "application/octet-stream";
    let Some(frames) = decode_frames(body) else {
        return reply(StatusCode::BAD_REQUEST, "text/plain", "invalid frame");
    };
    let mut out = Vec::new();
    for (command, message) in frames {
        let Some(fields) = protobuf_fields(message) else {
            return reply(StatusCode::BAD_REQUEST, "text/plain", "invalid protobuf");
        };
        let get = |n: u32| {
            fields
                .iter()
                .rev()
                .find(|(f, _)| *f == n)
                .map(|(_, v)| *v)
                .unwrap_or_default()
        };
        let name = String::from_utf8_lossy(get(1)).into_owned();
        let Some(key) = state.keys.get(&name) else {
            return reply(StatusCode::NOT_FOUND, "text/plain", "key does not exist");
        };
        let mut response = Vec::new();
        match command {
            CMD_KEY_GENERATE => {
                let Ok((plaintext, ciphertext)) = key.generate_raw(get(3), &OsRandom) else {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "internal error",
                    );
                };
                response.extend_from_slice(&[0x08, 0x01]); // version 1
                push_bytes(&mut response, 2, plaintext.expose());
                push_bytes(&mut response, 3, &ciphertext);
            }
            CMD_KEY_DECRYPT => match key.decrypt_raw(get(3), get(4)) {
                Ok(plaintext) => push_bytes(&mut response, 1, &plaintext),
                Err(_) => {
                    return reply(StatusCode::BAD_REQUEST, "text/plain", "invalid ciphertext")
                }
            },
            _ => return reply(StatusCode::BAD_REQUEST, "text/plain", "unsupported command"),
        }
        out.extend_from_slice(&command.to_be_bytes());
        out.extend_from_slice(&(response.len() as u32).to_be_bytes());
        out.extend_from_slice(&response);
    }
    reply(StatusCode::OK, octet, out)
}

fn push_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}
