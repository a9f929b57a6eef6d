//! Env files such as `/etc/default/minio` (what systemd's `EnvironmentFile=`
//! and MinIO's packaging use): `KEY=VALUE` lines, `#` comments, blank lines,
//! an optional `export ` prefix, and single- or double-quoted values.
//!
//! Parse errors name the file and line, never the value (it may be a key).

use std::collections::BTreeMap;
use std::path::Path;

use crate::KmsError;

/// Variables read from an env file, in a map (later lines win).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: show the names only.
        f.debug_struct("EnvFile")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvFile {
    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self, KmsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KmsError::Config(format!("env file {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|(line, why)| {
            KmsError::Config(format!("env file {}:{line}: {why}", path.display()))
        })
    }

    /// Parses env-file text; on error returns (1-based line, reason).
    pub fn parse(text: &str) -> Result<Self, (usize, &'static str)> {
        let mut vars = BTreeMap::new();
        let mut lines = text.lines().enumerate();
        while let Some((index, raw)) = lines.next() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line
                .strip_prefix("export ")
                .map(str::trim_start)
                .unwrap_or(line);
            let (name, value) = line
                .split_once('=')
                .ok_or((index + 1, "expected KEY=VALUE"))?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((index + 1, "invalid variable name"));
            }
            let value = value.trim_start();
            let value = match value.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    // A quoted value may span lines until its closing quote.
                    let mut body = String::from(&value[1..]);
                    loop {
                        if let Some(end) = closing_quote(&body, quote) {
                            let rest = body[end + 1..].trim();
                            if !rest.is_empty() && !rest.starts_with('#') {
                                return Err((index + 1, "text after the closing quote"));
                            }
                            body.truncate(end);
                            break;
                        }
                        match lines.next() {
                            Some((_, next)) => {
                                body.push('\n');
                                body.push_str(next);
                            }
                            None => return Err((index + 1, "unterminated quoted value")),
                        }
                    }
                    if quote == '"' {
                        unescape_double(&body)
                    } else {
                        body
                    }
                }
                // Unquoted: up to an inline comment (` #`), trimmed.
                _ => match value.find(" #") {
                    Some(i) => value[..i].trim_end().to_string(),
                    None => value.trim_end().to_string(),
                },
            };
            vars.insert(name.to_string(), value);
        }
        Ok(Self { vars })
    }

    /// The value of a variable, if the file sets it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Variable names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if quote == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unescape_double(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other @ ('"' | '\\' | '$' | '`')) => out.push(other),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minio_default_file() {
        let text = "# MinIO defaults\n\
            MINIO_VOLUMES=\"/mnt/disk{1...4}/minio\"\n\
            export MINIO_KMS_SECRET_KEY='my-key:AAAA'\n\
            MINIO_OPTS=--console-address :9001 # inline\n\
            \n\
            EMPTY=\n\
            ESC=\"a\\\"b\\\\c\"\n\
            MULTI=\"line1\nline2\"\n";
        let env = EnvFile::parse(text).unwrap();
        assert_eq!(env.get("MINIO_VOLUMES"), Some("/mnt/disk{1...4}/minio"));
        assert_eq!(env.get("MINIO_KMS_SECRET_KEY"), Some("my-key:AAAA"));
        assert_eq!(env.get("MINIO_OPTS"), Some("--console-address :9001"));
        assert_eq!(env.get("EMPTY"), Some(""));
        assert_eq!(env.get("ESC"), Some("a\"b\\c"));
        assert_eq!(env.get("MULTI"), Some("line1\nline2"));
        assert_eq!(env.get("NOPE"), None);
        assert!(!format!("{env:?}").contains("AAAA"));
    }

    #[test]
    fn rejects_bad_lines() {
        assert_eq!(
            EnvFile::parse("A=1\nnot a pair\n"),
            Err((2, "expected KEY=VALUE"))
        );
        assert_eq!(
            EnvFile::parse("X=\"open\n"),
            Err((1, "unterminated quoted value"))
        );
        assert_eq!(
            EnvFile::parse("BAD-NAME=1"),
            Err((1, "invalid variable name"))
        );
    }
}
