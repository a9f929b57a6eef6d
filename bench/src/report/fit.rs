//! Least-squares fits behind the report's "how cost grows" statements.

/// Fits `y = a + b·x`; returns `(a, b)`. Needs two distinct x values.
pub fn linear(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON * mx.abs().max(1.0) {
        return None;
    }
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// The exponent `k` of `y ∝ x^k`: the slope of `ln y` on `ln x`. Points
/// with a non-positive coordinate are ignored.
pub fn power_exponent(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .map(|p| (p.0.ln(), p.1.ln()))
        .collect();
    linear(&logs).map(|(_, k)| k)
}

/// Names the growth an exponent describes, with a tolerance band around 1
/// wide enough for run-to-run noise on a shared machine.
pub fn growth_word(k: f64) -> &'static str {
    if k < 0.9 {
        "sub-linear (the cost per item falls as the count grows)"
    } else if k <= 1.1 {
        "linear (the cost per item stays about constant)"
    } else {
        "super-linear (the cost per item rises with the count)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits() {
        let (a, b) = linear(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        assert!(linear(&[(1.0, 1.0)]).is_none());
        assert!(linear(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
        // y = 3 x^1.5
        let pts: Vec<_> = [1.0f64, 10.0, 100.0]
            .iter()
            .map(|&x| (x, 3.0 * x.powf(1.5)))
            .collect();
        assert!((power_exponent(&pts).unwrap() - 1.5).abs() < 1e-9);
        assert!(growth_word(1.0).starts_with("linear"));
        assert!(growth_word(1.3).starts_with("super"));
        assert!(growth_word(0.5).starts_with("sub"));
    }
}
