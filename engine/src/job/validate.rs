//! Static validation (JOB.md §4, V-1…V-18): from the positioned YAML tree
//! to a [`Job`], collecting **every** problem rather than stopping at the
//! first. Each check reads only the file; pre-flight checks (P-*) need the
//! drives and the KMS and live elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;

use super::duration::{parse_nanos, DurationError};
use super::error::{Invalid, JobError, Rule};
use super::model::{Encryption, Filter, Job, KeyValue, KmsContext, Notify, NotifyToken, Retry};
use super::timestamp::Timestamp;
use super::yaml::{self, join, Key, Kind, Node, Pos, Style};

/// MinIO's limit on a submitted job body, and ours on a job file.
pub const MAX_JOB_FILE_BYTES: usize = 4 << 20;

const ARN_PREFIX: &str = "arn:aws:kms:";

const KEYROTATE_FIELDS: &[&str] = &["apiVersion", "bucket", "prefix", "encryption", "flags"];
const ENCRYPTION_FIELDS: &[&str] = &["type", "key", "context"];
const FLAGS_FIELDS: &[&str] = &["filter", "notify", "retry"];
const FILTER_FIELDS: &[&str] = &[
    "newerThan",
    "olderThan",
    "createdAfter",
    "createdBefore",
    "tags",
    "metadata",
    "kmskey",
    "kmskeyid",
    "plaintextOnly",
    "forceEncryptLocked",
];
const NOTIFY_FIELDS: &[&str] = &["endpoint", "token"];
const RETRY_FIELDS: &[&str] = &["attempts", "delay"];
const KV_FIELDS: &[&str] = &["key", "value"];

/// Parses and validates a job file. `Err` lists every problem, in file order.
pub fn parse_job(text: &str) -> Result<Job, Invalid> {
    let mut cx = Ctx::default();
    let job = cx.job(text);
    let mut errors = cx.errors;
    if errors.is_empty() {
        if let Some(job) = job {
            return Ok(job);
        }
    }
    if errors.is_empty() {
        // Every path that yields no job reports why; this keeps `Err` from
        // ever being empty should one be missed.
        errors.push(JobError::new(
            Rule::V2,
            "",
            "job file must contain exactly one 'keyrotate' job (found: nothing usable)",
            Pos::START,
        ));
    }
    errors.sort_by_key(|e| (e.line, e.column));
    Err(Invalid(errors))
}

/// Strips MinIO's ARN prefix from a key id (CRYPTO.md §3.5: a plain prefix trim).
pub fn strip_arn(key: &str) -> &str {
    key.strip_prefix(ARN_PREFIX).unwrap_or(key)
}

/// Errors collected so far. Every check pushes and carries on.
#[derive(Default)]
struct Ctx {
    errors: Vec<JobError>,
}

/// The fields of one mapping, after the unknown-key check.
struct Fields<'a>(Vec<(&'a Key, &'a Node)>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Node> {
        self.0.iter().find(|(k, _)| k.name == name).map(|(_, v)| *v)
    }
}

impl Ctx {
    fn push(&mut self, e: JobError) {
        self.errors.push(e);
    }

    fn job(&mut self, text: &str) -> Option<Job> {
        if text.len() > MAX_JOB_FILE_BYTES {
            self.push(JobError::new(
                Rule::V1,
                "",
                format!(
                    "invalid YAML: file is {} bytes, the limit is 4 MiB",
                    text.len()
                ),
                Pos::START,
            ));
            return None;
        }
        let root = match yaml::parse(text) {
            Ok((root, errs)) => {
                for e in errs {
                    self.push(JobError::new(
                        Rule::V1,
                        &e.path,
                        format!("invalid YAML: {}", e.detail),
                        e.pos,
                    ));
                }
                root
            }
            Err(errs) => {
                for e in errs {
                    self.push(JobError::new(
                        Rule::V1,
                        &e.path,
                        format!("invalid YAML: {}", e.detail),
                        e.pos,
                    ));
                }
                return None;
            }
        };
        let (entries, root_pos) = match &root {
            Some(Node {
                kind: Kind::Map(entries),
                pos,
            }) => (entries.as_slice(), *pos),
            Some(n) if !n.is_null() => {
                self.v2(&format!("{} instead of a mapping", n.kind_name()), n.pos);
                return None;
            }
            _ => {
                self.v2("nothing", Pos::START);
                return None;
            }
        };
        let job_entry = entries.iter().find(|(k, _)| k.name == "keyrotate");
        if job_entry.is_none() || entries.len() != 1 {
            let found: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
            let pos = entries
                .iter()
                .find(|(k, _)| k.name != "keyrotate")
                .map_or(root_pos, |(k, _)| k.pos);
            let found = if found.is_empty() {
                "nothing".to_owned()
            } else {
                found.join(", ")
            };
            self.v2(&found, pos);
        }
        let (key, body) = job_entry?;
        self.keyrotate(key, body)
    }

    fn v2(&mut self, found: &str, pos: Pos) {
        self.push(JobError::new(
            Rule::V2,
            "",
            format!("job file must contain exactly one 'keyrotate' job (found: {found})"),
            pos,
        ));
    }

    /// Checks a mapping's keys against `allowed` (V-3, with a suggestion).
    /// A null node is an empty mapping; any other non-mapping is a schema error.
    fn fields<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries,
            _ if node.is_null() => return Some(Fields(Vec::new())),
            _ => {
                self.push(JobError::new(
                    Rule::Schema,
                    path,
                    format!("expected a mapping, found {}", node.kind_name()),
                    node.pos,
                ));
                return None;
            }
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if k.name == "<<" {
                continue; // already reported as V-1
            }
            if allowed.contains(&k.name.as_str()) {
                out.push((k, v));
                continue;
            }
            let mut problem = format!("unknown field '{}'", k.name);
            if let Some(best) = suggest(&k.name, allowed) {
                problem.push_str(&format!(", did you mean '{best}'?"));
            }
            self.push(JobError::new(Rule::V3, path, problem, k.pos));
        }
        Some(Fields(out))
    }

    /// A scalar as a string; `None` for null or a non-scalar (reported).
    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            _ if node.is_null() => None,
            Kind::Scalar(s, _) => Some(s.clone()),
            _ => {
                self.push(JobError::new(
                    Rule::Schema,
                    path,
                    format!("expected a string, found {}", node.kind_name()),
                    node.pos,
                ));
                None
            }
        }
    }

    /// `true`/`false` (any case), unquoted; absent or null is `false`.
    fn boolean(&mut self, node: Option<&Node>, path: &str) -> bool {
        let Some(node) = node else { return false };
        if node.is_null() {
            return false;
        }
        if let Kind::Scalar(s, Style::Plain) = &node.kind {
            if s.eq_ignore_ascii_case("true") {
                return true;
            }
            if s.eq_ignore_ascii_case("false") {
                return false;
            }
        }
        let found = match &node.kind {
            Kind::Scalar(s, Style::Plain) => format!("{s:?}"),
            Kind::Scalar(s, Style::Quoted) => format!("the quoted string {s:?}"),
            _ => node.kind_name().to_owned(),
        };
        self.push(JobError::new(
            Rule::Schema,
            path,
            format!("expected true or false, found {found}"),
            node.pos,
        ));
        false
    }

    fn keyrotate(&mut self, job_key: &Key, body: &Node) -> Option<Job> {
        let path = "keyrotate";
        let f = self.fields(body, path, KEYROTATE_FIELDS)?;
        let owner = job_key.pos;

        // V-4
        let api = f.get("apiVersion");
        let api_ok = api
            .and_then(|n| self.string(n, "keyrotate.apiVersion"))
            .is_some_and(|v| v == "v1");
        if !api_ok {
            let pos = api.map_or(owner, |n| n.pos);
            self.push(JobError::new(
                Rule::V4,
                "keyrotate.apiVersion",
                "must be \"v1\"",
                pos,
            ));
        }

        let bucket = self.bucket(f.get("bucket"), owner);
        let prefixes = self.prefixes(f.get("prefix"));
        let encryption = match f.get("encryption") {
            Some(n) => self.encryption(n),
            None => Some(Encryption::default()),
        };
        let (filter, notify, retry) = match f.get("flags") {
            Some(n) => self.flags(n)?,
            None => (
                Some(Filter::default()),
                Some(Notify::default()),
                Some(Retry::default()),
            ),
        };
        Some(Job {
            bucket: bucket?,
            prefixes: prefixes?,
            encryption: encryption?,
            filter: filter?,
            notify: notify?,
            retry: retry?,
        })
    }

    /// V-5.
    fn bucket(&mut self, node: Option<&Node>, owner: Pos) -> Option<String> {
        let path = "keyrotate.bucket";
        let value = node.and_then(|n| self.string(n, path)).unwrap_or_default();
        let pos = node.map_or(owner, |n| n.pos);
        if value.is_empty() {
            self.push(
                JobError::new(Rule::V5, path, "required", pos)
                    .hint("set the name of the bucket to process"),
            );
            return None;
        }
        if !is_valid_bucket_name(&value) {
            self.push(
                JobError::new(Rule::V5, path, format!("invalid bucket name {value:?}"), pos).hint(
                    "a bucket name has 3 to 63 lowercase letters, digits, '.' and '-', starts and ends \
                     with a letter or digit, and is not an IP address",
                ),
            );
            return None;
        }
        Some(value)
    }

    /// V-6, for a string or a list of strings.
    fn prefixes(&mut self, node: Option<&Node>) -> Option<Vec<String>> {
        let Some(node) = node else {
            return Some(vec![String::new()]);
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut one = |cx: &mut Ctx, n: &Node, path: &str| {
            if n.is_null() {
                out.push(String::new());
                return;
            }
            match cx.string(n, path) {
                Some(p) if is_valid_prefix(&p) => out.push(p),
                Some(_) => {
                    cx.push(
                        JobError::new(Rule::V6, path, "invalid object prefix", n.pos)
                            .hint("a prefix is plain text at the start of object names: no '//', no '.' or '..' segment, no NUL, at most 1024 bytes"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        };
        match &node.kind {
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    one(self, item, &format!("keyrotate.prefix[{i}]"));
                }
            }
            _ => one(self, node, "keyrotate.prefix"),
        }
        ok.then(|| normalize_prefixes(out))
    }

    fn encryption(&mut self, node: &Node) -> Option<Encryption> {
        let path = "keyrotate.encryption";
        let f = self.fields(node, path, ENCRYPTION_FIELDS)?;
        let mut ok = true;
        // V-7
        if let Some(n) = f.get("type") {
            if let Some(t) = self.string(n, "keyrotate.encryption.type") {
                if t != "sse-kms" {
                    self.push(JobError::new(
                        Rule::V7,
                        "keyrotate.encryption.type",
                        "only \"sse-kms\" is supported; this job always produces SSE-KMS (to re-wrap SSE-S3 in place, rotate the KMS master key instead)",
                        n.pos,
                    ));
                    ok = false;
                }
            }
        }
        // V-8
        let mut key = None;
        if let Some(n) = f.get("key") {
            if let Some(k) = self.string(n, "keyrotate.encryption.key") {
                if k.trim() != k {
                    self.push(JobError::new(
                        Rule::V8,
                        "keyrotate.encryption.key",
                        "KMS key id contains unsupported characters",
                        n.pos,
                    ));
                    ok = false;
                } else {
                    let k = strip_arn(&k);
                    if !k.is_empty() {
                        key = Some(k.to_owned());
                    }
                }
            }
        }
        // V-9
        let mut context = None;
        if let Some(n) = f.get("context") {
            if let Some(c) = self.string(n, "keyrotate.encryption.context") {
                if !c.is_empty() {
                    match parse_context(&c) {
                        Ok(ctx) => context = Some(ctx),
                        Err(detail) => {
                            self.push(JobError::new(
                                Rule::V9,
                                "keyrotate.encryption.context",
                                format!("must be base64 of a JSON object of strings: {detail}"),
                                n.pos,
                            ));
                            ok = false;
                        }
                    }
                }
            }
        }
        ok.then_some(Encryption { key, context })
    }

    #[allow(clippy::type_complexity)]
    fn flags(&mut self, node: &Node) -> Option<(Option<Filter>, Option<Notify>, Option<Retry>)> {
        let f = self.fields(node, "keyrotate.flags", FLAGS_FIELDS)?;
        let filter = match f.get("filter") {
            Some(n) => self.filter(n),
            None => Some(Filter::default()),
        };
        let notify = match f.get("notify") {
            Some(n) => self.notify(n),
            None => Some(Notify::default()),
        };
        let retry = match f.get("retry") {
            Some(n) => self.retry(n),
            None => Some(Retry::default()),
        };
        Some((filter, notify, retry))
    }

    /// A duration field; `Ok(None)` when absent, null or zero; `Err` when
    /// reported. Negative values are returned as such for the caller's rule.
    fn duration(&mut self, node: Option<&Node>, path: &str) -> Result<Option<i128>, ()> {
        let Some(node) = node else { return Ok(None) };
        if node.is_null() {
            return Ok(None);
        }
        let text = self.string(node, path).ok_or(())?;
        match parse_nanos(&text) {
            Ok(0) => Ok(None),
            Ok(ns) => Ok(Some(ns)),
            Err(why) => {
                let mut e = JobError::new(
                    Rule::V10,
                    path,
                    format!("invalid duration {text:?}: {why}"),
                    node.pos,
                );
                if matches!(why, DurationError::Syntax) && text.eq_ignore_ascii_case("date") {
                    e = e
                        .hint("this looks like a date; newerThan/olderThan take an age such as 7d");
                }
                self.push(e);
                Err(())
            }
        }
    }

    /// A filter duration: V-10 also for negative values.
    fn filter_duration(&mut self, node: Option<&Node>, path: &str) -> Result<Option<Duration>, ()> {
        match self.duration(node, path)? {
            None => Ok(None),
            Some(ns) if ns < 0 => {
                let text = node.and_then(|n| match &n.kind {
                    Kind::Scalar(s, _) => Some(s.clone()),
                    _ => None,
                });
                let pos = node.map_or(Pos::START, |n| n.pos);
                self.push(JobError::new(
                    Rule::V10,
                    path,
                    format!(
                        "invalid duration {:?}: negative durations are not allowed",
                        text.unwrap_or_default()
                    ),
                    pos,
                ));
                Err(())
            }
            Some(ns) => Ok(Some(Duration::from_nanos(ns as u64))),
        }
    }

    /// V-13.
    fn timestamp(&mut self, node: Option<&Node>, path: &str) -> Result<Option<Timestamp>, ()> {
        let Some(node) = node else { return Ok(None) };
        if node.is_null() {
            return Ok(None);
        }
        let text = self.string(node, path).ok_or(())?;
        match Timestamp::parse(&text) {
            Some(t) => Ok(Some(t)),
            None => {
                let mut problem = format!(
                    "invalid date {text:?}: use YYYY-MM-DD or RFC 3339 (e.g. 2024-05-01T00:00:00Z)"
                );
                if text == "date" {
                    problem.push_str(" — replace the template placeholder");
                }
                self.push(JobError::new(Rule::V13, path, problem, node.pos));
                Err(())
            }
        }
    }

    fn filter(&mut self, node: &Node) -> Option<Filter> {
        let path = "keyrotate.flags.filter";
        let f = self.fields(node, path, FILTER_FIELDS)?;
        let newer_node = f.get("newerThan");
        let older_node = f.get("olderThan");
        let newer = self.filter_duration(newer_node, "keyrotate.flags.filter.newerThan");
        let older = self.filter_duration(older_node, "keyrotate.flags.filter.olderThan");
        let after_node = f.get("createdAfter");
        let after = self.timestamp(after_node, "keyrotate.flags.filter.createdAfter");
        let before = self.timestamp(
            f.get("createdBefore"),
            "keyrotate.flags.filter.createdBefore",
        );
        let mut ok = newer.is_ok() && older.is_ok() && after.is_ok() && before.is_ok();

        // V-11
        if let (Ok(Some(n)), Ok(Some(o))) = (&newer, &older) {
            if n <= o {
                let pos = newer_node.map_or(node.pos, |x| x.pos);
                self.push(
                    JobError::new(Rule::V11, path, "newerThan must be greater than olderThan (no object can match)", pos)
                        .hint("newerThan is the upper age limit and olderThan the lower one: e.g. newerThan: 30d with olderThan: 7d selects versions 7 to 30 days old; or keep only one of them"),
                );
                ok = false;
            }
        }
        // V-12
        if let (Ok(Some(a)), Ok(Some(b))) = (&after, &before) {
            if a > b {
                let pos = after_node.map_or(node.pos, |x| x.pos);
                self.push(
                    JobError::new(Rule::V12, path, "createdAfter is after createdBefore (no object can match)", pos)
                        .hint("createdAfter is the earliest and createdBefore the latest modification time to select"),
                );
                ok = false;
            }
        }

        let tags = self.key_values(f.get("tags"), "keyrotate.flags.filter.tags", false);
        let metadata = self.key_values(f.get("metadata"), "keyrotate.flags.filter.metadata", true);

        // `kmskeyid` is the anchor struct's spelling (AB-4); both at once is ambiguous.
        let kms_node = match (f.get("kmskey"), f.get("kmskeyid")) {
            (Some(a), Some(b)) => {
                // Point at whichever spelling comes second.
                let second = if a.pos <= b.pos { b } else { a };
                self.push(JobError::new(
                    Rule::V1,
                    path,
                    "invalid YAML: duplicate key: 'kmskey' and its alias 'kmskeyid' are both set",
                    second.pos,
                ));
                ok = false;
                None
            }
            (a, b) => a
                .or(b)
                .map(|n| (n, if a.is_some() { "kmskey" } else { "kmskeyid" })),
        };
        let mut kms_key = None;
        if let Some((n, name)) = kms_node {
            if let Some(k) = self.string(n, &join(path, name)) {
                let k = strip_arn(&k);
                if !k.is_empty() {
                    kms_key = Some((k.to_owned(), n.pos));
                }
            }
        }
        let plaintext_only = self.boolean(
            f.get("plaintextOnly"),
            "keyrotate.flags.filter.plaintextOnly",
        );
        let force_encrypt_locked = self.boolean(
            f.get("forceEncryptLocked"),
            "keyrotate.flags.filter.forceEncryptLocked",
        );
        // V-16
        if let (true, Some((_, pos))) = (plaintext_only, &kms_key) {
            self.push(
                JobError::new(
                    Rule::V16,
                    path,
                    "kmskey selects SSE-KMS objects but plaintextOnly excludes them (no object can match)",
                    *pos,
                )
                .hint("remove kmskey to encrypt plaintext objects, or set plaintextOnly: false to rotate objects under that key"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Filter {
            newer_than: newer.ok()?,
            older_than: older.ok()?,
            created_after: after.ok()?,
            created_before: before.ok()?,
            tags: tags?,
            metadata: metadata?,
            kms_key: kms_key.map(|(k, _)| k),
            plaintext_only,
            force_encrypt_locked,
        })
    }

    /// `tags` / `metadata` lists (V-14, and V-15 for metadata).
    fn key_values(
        &mut self,
        node: Option<&Node>,
        path: &str,
        metadata: bool,
    ) -> Option<Vec<KeyValue>> {
        let Some(node) = node else {
            return Some(Vec::new());
        };
        if node.is_null() {
            return Some(Vec::new());
        }
        let Kind::Seq(items) = &node.kind else {
            self.push(JobError::new(
                Rule::Schema,
                path,
                format!(
                    "expected a list of {{key, value}} items, found {}",
                    node.kind_name()
                ),
                node.pos,
            ));
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let Some(f) = self.fields(item, &ipath, KV_FIELDS) else {
                ok = false;
                continue;
            };
            let kpath = format!("{ipath}.key");
            let key_node = f.get("key");
            let key = key_node
                .and_then(|n| self.string(n, &kpath))
                .unwrap_or_default();
            let value = f
                .get("value")
                .and_then(|n| self.string(n, &format!("{ipath}.value")))
                .unwrap_or_default();
            let kpos = key_node.map_or(item.pos, |n| n.pos);
            if key.is_empty() {
                self.push(JobError::new(Rule::V14, &kpath, "key can't be empty", kpos));
                ok = false;
            } else if metadata && key.to_ascii_lowercase().starts_with("x-minio-") {
                self.push(JobError::new(
                    Rule::V15,
                    &kpath,
                    "internal metadata cannot be matched",
                    kpos,
                ));
                ok = false;
            }
            out.push(KeyValue { key, value });
        }
        ok.then_some(out)
    }

    fn notify(&mut self, node: &Node) -> Option<Notify> {
        let f = self.fields(node, "keyrotate.flags.notify", NOTIFY_FIELDS)?;
        let path = "keyrotate.flags.notify.endpoint";
        let mut ok = true;
        let mut endpoint = None;
        if let Some(n) = f.get("endpoint") {
            if let Some(e) = self.string(n, path) {
                if !e.is_empty() {
                    if is_http_url(&e) {
                        endpoint = Some(e);
                    } else {
                        self.push(JobError::new(
                            Rule::V18,
                            path,
                            "must be an http or https URL",
                            n.pos,
                        ));
                        ok = false;
                    }
                }
            }
        }
        let token = f
            .get("token")
            .and_then(|n| self.string(n, "keyrotate.flags.notify.token"))
            .filter(|t| !t.is_empty())
            .map(NotifyToken::new);
        ok.then_some(Notify { endpoint, token })
    }

    fn retry(&mut self, node: &Node) -> Option<Retry> {
        let path = "keyrotate.flags.retry";
        let f = self.fields(node, path, RETRY_FIELDS)?;
        let mut ok = true;
        let mut retry = Retry::default();
        if let Some(n) = f.get("attempts") {
            match self.attempts(n) {
                Ok(Some(a)) if a < 0 => {
                    self.push(JobError::new(
                        Rule::V17,
                        path,
                        "attempts and delay must not be negative",
                        n.pos,
                    ));
                    ok = false;
                }
                Ok(Some(0) | None) => {}
                Ok(Some(a)) => match u32::try_from(a) {
                    Ok(a) => retry.attempts = a,
                    Err(_) => {
                        self.push(JobError::new(
                            Rule::Schema,
                            "keyrotate.flags.retry.attempts",
                            format!("{a} is too large"),
                            n.pos,
                        ));
                        ok = false;
                    }
                },
                Err(()) => ok = false,
            }
        }
        let delay_node = f.get("delay");
        match self.duration(delay_node, "keyrotate.flags.retry.delay") {
            Ok(Some(ns)) if ns < 0 => {
                let pos = delay_node.map_or(node.pos, |n| n.pos);
                self.push(JobError::new(
                    Rule::V17,
                    path,
                    "attempts and delay must not be negative",
                    pos,
                ));
                ok = false;
            }
            Ok(Some(ns)) => retry.delay = Duration::from_nanos(ns as u64),
            Ok(None) => {}
            Err(()) => ok = false,
        }
        ok.then_some(retry)
    }

    /// An unquoted integer (JOB.md §2: quoted numbers and floats are rejected).
    fn attempts(&mut self, n: &Node) -> Result<Option<i64>, ()> {
        let path = "keyrotate.flags.retry.attempts";
        if n.is_null() {
            return Ok(None);
        }
        let problem = match &n.kind {
            Kind::Scalar(s, Style::Plain) => match s.parse::<i64>() {
                Ok(v) => return Ok(Some(v)),
                Err(_) if s.parse::<f64>().is_ok() => format!("must be a whole number, found {s}"),
                Err(_) => format!("must be a whole number, found {s:?}"),
            },
            Kind::Scalar(s, Style::Quoted) => {
                format!("must be an unquoted whole number, found the string {s:?}")
            }
            _ => format!("must be a whole number, found {}", n.kind_name()),
        };
        self.push(JobError::new(Rule::Schema, path, problem, n.pos));
        Err(())
    }
}

/// The closest allowed name within edit distance 2 (ignoring case).
fn suggest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(&lower, &a.to_lowercase()), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// S3 strict bucket naming, as MinIO checks it at job submission.
pub fn is_valid_bucket_name(b: &str) -> bool {
    let bytes = b.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return false;
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !bytes.iter().all(|&c| edge_ok(c) || c == b'.' || c == b'-') {
        return false;
    }
    if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
        return false;
    }
    if b.contains("..") || b.contains(".-") || b.contains("-.") {
        return false;
    }
    // Shaped like an IPv4 address: four dot-separated digit runs.
    let parts: Vec<&str> = b.split('.').collect();
    let ip_like = parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    !ip_like
}

/// V-6: a prefix MinIO's listing would accept.
pub fn is_valid_prefix(p: &str) -> bool {
    p.len() <= 1024
        && !p.contains('\0')
        && !p.contains("//")
        && !p.split('/').any(|c| c == "." || c == "..")
}

/// Dedupes, drops entries covered by a shorter one, sorts (JOB.md §2).
fn normalize_prefixes(mut v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        return vec![String::new()];
    }
    v.sort();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    for p in v {
        // Sorted order puts any covering prefix before what it covers.
        if !out.iter().any(|q| p.starts_with(q.as_str())) {
            out.push(p);
        }
    }
    out
}

/// V-9: base64 (standard, padded) of a JSON object of strings, or the raw
/// JSON object itself. The error is the `<detail>` of the message.
fn parse_context(c: &str) -> Result<KmsContext, String> {
    let json: Vec<u8> = if c.starts_with('{') {
        c.as_bytes().to_vec()
    } else {
        match base64::engine::general_purpose::STANDARD.decode(c) {
            Ok(b) => b,
            Err(e) => {
                if c.starts_with('<') && c.ends_with('>') {
                    return Err(format!(
                        "{c:?} is a template placeholder — put base64 of a JSON object here, e.g. \
                         eyJwcm9qZWN0IjoiYWxwaGEifQ== for {{\"project\":\"alpha\"}}, or delete the line"
                    ));
                }
                return Err(format!("not base64 ({e})"));
            }
        }
    };
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("not JSON ({e})"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("the JSON is not an object".into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) => {
                out.insert(k, s);
            }
            other => return Err(format!("the value of {k:?} is {other}, not a string")),
        }
    }
    Ok(KmsContext(out))
}

/// V-18: an absolute http(s) URL with a host.
fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["my-bucket", "abc", "a.b-c", "123", &"a".repeat(63)] {
            assert!(is_valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "BUCKET",
            "my_bucket",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "a-.b",
            "192.168.1.1",
            &"a".repeat(64),
            ".ab",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn prefixes_normalize() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_prefixes(v(&["b/", "a/x", "a/", "b/"])),
            v(&["a/", "b/"])
        );
        assert_eq!(normalize_prefixes(v(&["z", "", "a"])), v(&[""]));
        assert_eq!(normalize_prefixes(vec![]), v(&[""]));
        assert!(is_valid_prefix("a/b.c/..d"));
        for bad in ["a//b", "./a", "a/../b", "a/..", "a\0b"] {
            assert!(!is_valid_prefix(bad), "{bad:?}");
        }
        assert!(!is_valid_prefix(&"a".repeat(1025)));
    }

    #[test]
    fn contexts() {
        assert_eq!(
            parse_context("eyJhIjoiYiJ9")
                .unwrap()
                .0
                .get("a")
                .map(String::as_str),
            Some("b")
        );
        assert!(parse_context(r#"{"a":"b","c":"d"}"#).is_ok());
        assert!(parse_context(r#"{"a":1}"#)
            .unwrap_err()
            .contains("not a string"));
        assert!(parse_context("WzFd").unwrap_err().contains("not an object"));
        assert!(parse_context("!!").unwrap_err().starts_with("not base64"));
        assert!(parse_context("<ctx>").unwrap_err().contains("placeholder"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("kmskye", FILTER_FIELDS), Some("kmskey"));
        assert_eq!(
            suggest("PlaintextOnly", FILTER_FIELDS),
            Some("plaintextOnly")
        );
        assert_eq!(suggest("zzz", FILTER_FIELDS), None);
    }
}
