//! The end-of-job webhook (JOB.md §12): one POST of the [`Summary`] as JSON.
//!
//! Any 2xx is success (MinIO accepts only 200). Failures are retried with the
//! job's retry policy; a notification that still fails is reported by the
//! caller and never changes the job's state or exit code. The token is sent
//! unchanged as `Authorization` and appears nowhere else.

use std::fmt;
use std::time::Duration;

use super::summary::Summary;

/// MinIO's webhook timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The `Authorization` header value: redacted in `Debug`, zeroized on drop.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How often and how patiently to try (JOB.md §10: `attempts` tries in all,
/// waiting a uniformly random time in `[delay, 2·delay)` between them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub delay: Duration,
}

impl RetryPolicy {
    /// The wait before try number `try_index + 1`, jittered in `[delay, 2·delay)`.
    pub fn backoff(&self, jitter: f64) -> Duration {
        self.delay.mul_f64(1.0 + jitter.clamp(0.0, 0.999_999))
    }
}

/// Why the notification could not be delivered (after every try).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook {endpoint}: answered HTTP {status} after {tries} tries")]
    Status {
        endpoint: String,
        status: u16,
        tries: u32,
    },
    #[error("webhook {endpoint}: {reason} after {tries} tries")]
    Transport {
        endpoint: String,
        reason: String,
        tries: u32,
    },
}

/// Sends `summary` to `endpoint`; returns the HTTP status of the accepted try.
pub fn send(
    endpoint: &str,
    token: Option<&Token>,
    summary: &Summary,
    retry: RetryPolicy,
) -> Result<u16, NotifyError> {
    let body = serde_json::to_string(summary).unwrap_or_else(|_| String::from("{}"));
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let attempts = retry.attempts.max(1);
    let mut last = None;
    for attempt in 1..=attempts {
        let mut request = agent.post(endpoint).set("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.set("Authorization", &token.0);
        }
        match request.send_string(&body) {
            Ok(response) if (200..300).contains(&response.status()) => return Ok(response.status()),
            Ok(response) => {
                last = Some(NotifyError::Status {
                    endpoint: endpoint.to_owned(),
                    status: response.status(),
                    tries: attempt,
                })
            }
            Err(ureq::Error::Status(status, _)) => {
                last = Some(NotifyError::Status {
                    endpoint: endpoint.to_owned(),
                    status,
                    tries: attempt,
                })
            }
            Err(ureq::Error::Transport(t)) => {
                last = Some(NotifyError::Transport {
                    endpoint: endpoint.to_owned(),
                    reason: t.kind().to_string(),
                    tries: attempt,
                })
            }
        }
        if attempt < attempts {
            std::thread::sleep(retry.backoff(rand::random::<f64>()));
        }
    }
    Err(last.unwrap_or(NotifyError::Transport {
        endpoint: endpoint.to_owned(),
        reason: "no attempt made".into(),
        tries: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A loopback HTTP server answering each request with the next status
    /// from `statuses`, and handing every request (head, body) to the test.
    fn server(statuses: Vec<u16>) -> (String, mpsc::Receiver<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for status in statuses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                tx.send((head, String::from_utf8(body).unwrap())).unwrap();
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
            }
        });
        (url, rx)
    }

    fn summary() -> Summary {
        Summary {
            job_id: "keyrotate-abc".into(),
            objects: 7,
            status: "completed".into(),
            ..Default::default()
        }
    }

    #[test]
    fn retries_5xx_then_accepts_any_2xx_with_token_and_payload() {
        let (url, rx) = server(vec![503, 500, 204]);
        let retry = RetryPolicy {
            attempts: 3,
            delay: Duration::from_millis(1),
        };
        let token = Token::new("Bearer s3cr3t");
        assert_eq!(send(&url, Some(&token), &summary(), retry).unwrap(), 204);
        let requests: Vec<_> = rx.try_iter().collect();
        assert_eq!(requests.len(), 3);
        for (head, body) in &requests {
            assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
            let lower = head.to_ascii_lowercase();
            assert!(lower.contains("content-type: application/json"), "{head}");
            assert!(head.contains("Bearer s3cr3t"), "token sent unchanged");
            assert!(
                body.starts_with("{\"jobID\":\"keyrotate-abc\",\"jobType\""),
                "{body}"
            );
            assert!(
                !body.contains("s3cr3t"),
                "the token never goes into the body"
            );
        }
    }

    #[test]
    fn gives_up_after_the_policy_and_names_the_status() {
        let (url, rx) = server(vec![500, 502]);
        let retry = RetryPolicy {
            attempts: 2,
            delay: Duration::from_millis(1),
        };
        let err = send(&url, None, &summary(), retry).unwrap_err();
        assert!(
            matches!(
                err,
                NotifyError::Status {
                    status: 502,
                    tries: 2,
                    ..
                }
            ),
            "{err}"
        );
        let (head, _) = rx.recv().unwrap();
        assert!(!head.to_ascii_lowercase().contains("authorization"));
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Token::new("Bearer s3cr3t")),
            "Token(<redacted>)"
        );
    }

    #[test]
    fn backoff_stays_in_delay_to_twice_delay() {
        let retry = RetryPolicy {
            attempts: 3,
            delay: Duration::from_millis(25),
        };
        assert_eq!(retry.backoff(0.0), Duration::from_millis(25));
        assert!(retry.backoff(1.0) < Duration::from_millis(50));
    }
}
