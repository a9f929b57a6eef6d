//! The job file as keyrotate stores it: the notify token replaced, so the
//! state directory and anything printed from it carry no secret.

use super::yaml::{self, Kind, Node};

/// What replaces the token's value.
pub const REDACTED: &str = "<redacted>";

/// `text` with the value of `keyrotate.flags.notify.token` replaced by
/// `'<redacted>'`; unchanged when there is no token. When the token cannot be
/// located exactly (a multi-line scalar), the whole text is replaced by a
/// comment: keyrotate keeps no copy rather than a copy with the secret.
pub fn redact_secrets(text: &str) -> String {
    let Some(token) = token_node(text) else {
        return text.to_owned();
    };
    if let Some(redacted) = replace_scalar(text, &token) {
        let relocated = token_node(&redacted);
        let is_placeholder = relocated
            .as_ref()
            .is_some_and(|n| matches!(&n.kind, Kind::Scalar(s, _) if s == REDACTED));
        if is_placeholder {
            return redacted;
        }
    }
    "# keyrotate keeps no copy of this job file: its notify token could not be redacted\n".into()
}

/// The token's value node, if the text is YAML and has one.
fn token_node(text: &str) -> Option<Node> {
    let (root, _) = yaml::parse(text).ok()?;
    let mut node = root?;
    for name in ["keyrotate", "flags", "notify", "token"] {
        let Kind::Map(entries) = node.kind else {
            return None;
        };
        node = entries.into_iter().find(|(k, _)| k.name == name)?.1;
    }
    Some(node)
}

/// Replaces a one-line scalar (plain, single- or double-quoted) in place.
fn replace_scalar(text: &str, node: &Node) -> Option<String> {
    let Kind::Scalar(value, _) = &node.kind else {
        return None;
    };
    let line_start = if node.pos.line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(node.pos.line - 2)?.0 + 1
    };
    let line = text[line_start..].split('\n').next()?;
    let start = line
        .char_indices()
        .nth(node.pos.column - 1)
        .map(|(i, _)| i)?;
    let rest = &line[start..];
    let len = match rest.chars().next()? {
        '"' => closing(rest, '"', true)?,
        '\'' => closing(rest, '\'', false)?,
        _ if rest.starts_with(value.as_str()) => value.len(),
        _ => return None,
    };
    let at = line_start + start;
    Some(format!("{}'{REDACTED}'{}", &text[..at], &text[at + len..]))
}

/// Length of a quoted scalar on its line, quotes included.
fn closing(rest: &str, quote: char, backslash_escapes: bool) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if backslash_escapes && c == '\\' {
            chars.next();
        } else if c == quote {
            // '' inside single quotes is an escaped quote.
            if !backslash_escapes && rest[i + 1..].starts_with('\'') {
                chars.next();
                continue;
            }
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "keyrotate:\n  apiVersion: v1\n  bucket: photos\n  flags:\n    notify:\n      endpoint: https://h/x\n";

    #[test]
    fn every_scalar_style_of_the_token_is_replaced() {
        for token in [
            "token: s3cr3t",
            "token: \"s3\\\"cr3t\"",
            "token: 's3''cr3t' # why",
        ] {
            let text = format!("{HEAD}      {token}\n  prefix: p\n");
            let out = redact_secrets(&text);
            assert!(!out.contains("s3"), "{out}");
            assert!(!out.contains("cr3t"), "{out}");
            assert!(out.contains("endpoint: https://h/x"), "{out}");
            assert!(out.contains("prefix: p"), "{out}");
            let job = crate::job::parse_job(&out).unwrap_or_else(|e| panic!("{out}: {e:?}"));
            let kept = job.notify.token.unwrap();
            assert_eq!(kept.expose(), REDACTED);
        }
        let flow = "keyrotate: {apiVersion: v1, bucket: photos, flags: {notify: {endpoint: 'https://h', token: abc123}}}\n";
        let out = redact_secrets(flow);
        assert!(!out.contains("abc123"), "{out}");
        assert!(crate::job::parse_job(&out).is_ok(), "{out}");
    }

    #[test]
    fn a_token_that_cannot_be_located_leaves_no_copy() {
        let text = format!("{HEAD}      token: |\n        s3cr3t\n");
        let out = redact_secrets(&text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.starts_with('#'), "{out}");
    }

    #[test]
    fn a_job_without_token_is_kept_as_is() {
        assert_eq!(redact_secrets(HEAD), HEAD);
    }
}
