//! MinIO's `wildcard.Match` (JOB.md §7): `*` is any byte run, `?` exactly
//! one byte, everything else itself; anchored at both ends.
//!
//! Iterative with a single backtrack point (the last `*`): once a later star
//! matched, earlier stars never need to take more, so this is
//! O(|pattern|·|value|) worst case and linear in practice, where the
//! recursive original was exponential in the number of stars.

/// Whether `value` matches `pattern`, byte-wise.
pub fn matches(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    let (mut pi, mut vi) = (0usize, 0usize);
    // Index just after the last star seen, and the value index it resumes at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&pc) = p.get(pi) {
            if pc == b'*' {
                pi += 1;
                star = Some((pi, vi));
                continue;
            }
            if let Some(&vc) = v.get(vi) {
                if pc == b'?' || pc == vc {
                    pi += 1;
                    vi += 1;
                    continue;
                }
            }
        } else if vi == v.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more byte, or give up.
        match star {
            Some((sp, sv)) if sv < v.len() => {
                star = Some((sp, sv + 1));
                pi = sp;
                vi = sv + 1;
            }
            _ => return false,
        }
    }
}
