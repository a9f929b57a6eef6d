//! MinIO's endpoint arguments with ellipsis ranges: `/mnt/disk{1...4}`,
//! `/mnt/d{01...16}/x`, `/data{a...f}` (hex), several ranges per argument and
//! several arguments.
//!
//! As in `minio server`: when every argument has a range, each argument is one
//! pool; when none has, all arguments together form one pool; mixing is an
//! error. Only local paths are accepted (keyrotate runs on the node itself).

use std::path::PathBuf;

/// A malformed endpoint argument.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// No argument at all.
    #[error("no drive paths given")]
    Empty,
    /// `{` without a matching `...}` or an unparsable bound.
    #[error("{arg:?}: invalid ellipsis range {range:?}: {reason}")]
    BadRange {
        arg: String,
        range: String,
        reason: &'static str,
    },
    /// Some arguments use ranges and others do not.
    #[error("cannot mix arguments with and without ellipsis ranges ({0:?})")]
    Mixed(String),
    /// `http://host/path` endpoints name other nodes.
    #[error("{0:?}: remote endpoints are not supported; give this node's local drive paths")]
    Remote(String),
    /// The same path appears twice.
    #[error("drive path {0:?} given more than once")]
    Duplicate(PathBuf),
}

/// Expands every argument and groups the paths into pools.
pub fn parse_pools<S: AsRef<str>>(args: &[S]) -> Result<Vec<Vec<PathBuf>>, EndpointError> {
    if args.is_empty() {
        return Err(EndpointError::Empty);
    }
    let with_range = args.iter().filter(|a| a.as_ref().contains("...")).count();
    if with_range != 0 && with_range != args.len() {
        let odd = args
            .iter()
            .find(|a| !a.as_ref().contains("..."))
            .map(|a| a.as_ref().to_owned());
        return Err(EndpointError::Mixed(odd.unwrap_or_default()));
    }
    let mut pools = Vec::new();
    if with_range == 0 {
        let mut pool = Vec::new();
        for a in args {
            pool.extend(expand(a.as_ref())?);
        }
        pools.push(pool);
    } else {
        for a in args {
            pools.push(expand(a.as_ref())?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for p in pools.iter().flatten() {
        if !seen.insert(p.clone()) {
            return Err(EndpointError::Duplicate(p.clone()));
        }
    }
    Ok(pools)
}

/// Expands the ranges of one argument, leftmost range varying slowest.
pub fn expand(arg: &str) -> Result<Vec<PathBuf>, EndpointError> {
    if arg.contains("://") {
        return Err(EndpointError::Remote(arg.to_owned()));
    }
    let mut out = vec![String::new()];
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let bad = |reason| EndpointError::BadRange {
            arg: arg.to_owned(),
            range: rest[open..].to_owned(),
            reason,
        };
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| bad("no closing brace"))?
            + open;
        let values = range_values(&rest[open + 1..close]).map_err(bad)?;
        let prefix = &rest[..open];
        out = out
            .iter()
            .flat_map(|head| values.iter().map(move |v| format!("{head}{prefix}{v}")))
            .collect();
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(EndpointError::BadRange {
            arg: arg.to_owned(),
            range: rest.to_owned(),
            reason: "closing brace without opening brace",
        });
    }
    Ok(out
        .into_iter()
        .map(|s| PathBuf::from(format!("{s}{rest}")))
        .collect())
}

/// The values of `a...b`: decimal, or lowercase hex when a bound has a letter;
/// zero-padded to the width of `b` when `a` starts with `0` and is wider than one digit.
fn range_values(inner: &str) -> Result<Vec<String>, &'static str> {
    let (a, b) = inner.split_once("...").ok_or("expected {start...end}")?;
    if a.is_empty() || b.is_empty() {
        return Err("empty bound");
    }
    let hex = a.chars().chain(b.chars()).any(|c| c.is_ascii_alphabetic());
    let radix = if hex { 16 } else { 10 };
    let valid = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    if !valid(a) || !valid(b) {
        return Err("bounds must be decimal or lowercase hex");
    }
    let start = u64::from_str_radix(a, radix).map_err(|_| "bound out of range")?;
    let end = u64::from_str_radix(b, radix).map_err(|_| "bound out of range")?;
    if start > end {
        return Err("start is greater than end");
    }
    if end - start >= 1 << 16 {
        return Err("range too large");
    }
    let width = if a.len() > 1 && a.starts_with('0') {
        b.len()
    } else {
        0
    };
    Ok((start..=end)
        .map(|v| {
            if hex {
                format!("{v:0width$x}")
            } else {
                format!("{v:0width$}")
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<PathBuf>) -> Vec<String> {
        v.into_iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn expands_ranges() {
        assert_eq!(
            strs(expand("/mnt/disk{1...4}").unwrap()),
            ["/mnt/disk1", "/mnt/disk2", "/mnt/disk3", "/mnt/disk4"]
        );
        let padded = strs(expand("/mnt/d{01...16}/x").unwrap());
        assert_eq!(padded.len(), 16);
        assert_eq!(padded[0], "/mnt/d01/x");
        assert_eq!(padded[15], "/mnt/d16/x");
        assert_eq!(
            strs(expand("/h{1...2}/d{a...b}").unwrap()),
            ["/h1/da", "/h1/db", "/h2/da", "/h2/db"]
        );
        assert_eq!(strs(expand("/plain").unwrap()), ["/plain"]);
    }

    #[test]
    fn pools_and_errors() {
        let pools = parse_pools(&["/a{1...4}", "/b{1...4}"]).unwrap();
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[1].len(), 4);
        let one = parse_pools(&["/a", "/b"]).unwrap();
        assert_eq!(one, vec![vec![PathBuf::from("/a"), PathBuf::from("/b")]]);
        assert!(matches!(
            parse_pools(&["/a{1...2}", "/b"]),
            Err(EndpointError::Mixed(_))
        ));
        assert!(matches!(
            parse_pools(&["/a{1...2}", "/a{2...3}"]),
            Err(EndpointError::Duplicate(_))
        ));
        assert!(matches!(
            expand("/a{4...1}"),
            Err(EndpointError::BadRange { .. })
        ));
        assert!(matches!(
            expand("/a{1..4}"),
            Err(EndpointError::BadRange { .. })
        ));
        assert!(matches!(
            expand("/a{1...4"),
            Err(EndpointError::BadRange { .. })
        ));
        assert!(matches!(
            expand("/a{X...Z}"),
            Err(EndpointError::BadRange { .. })
        ));
        assert!(matches!(
            expand("http://h/a{1...4}"),
            Err(EndpointError::Remote(_))
        ));
        assert_eq!(parse_pools::<&str>(&[]), Err(EndpointError::Empty));
    }
}
