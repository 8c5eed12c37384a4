//! Per-window, per-variate normalisation and its inverse.
//!
//! As in iTransformer's `forecast` (from the Non-stationary Transformer):
//! `mean` over the window, `std = sqrt(population variance + eps)`, then
//! `(x - mean) / std`. Missing values (`NaN`, or flagged) are left out of
//! both statistics and become 0 (the mean) after normalisation. A variate
//! with no observed value in the window gets mean 0 and std `sqrt(eps)`.

use crate::TokenizerError;

/// The statistics of one window, one entry per variate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NormStats {
    /// Mean over the observed values of the window.
    pub mean: Vec<f32>,
    /// `sqrt(variance + eps)` over the observed values (population variance).
    pub std: Vec<f32>,
}

/// Normalise one variate's window in place. `observed[i]` false (or a
/// non-finite value) means missing: excluded from the stats, written as 0.
/// Returns `(mean, std)`; `observed` is cleared where the value was not finite.
pub fn normalise_variate(values: &mut [f64], observed: &mut [bool], eps: f64) -> (f64, f64) {
    let mut n = 0u32;
    let mut sum = 0.0;
    for (v, o) in values.iter().zip(observed.iter_mut()) {
        *o = *o && v.is_finite();
        if *o {
            n += 1;
            sum += v;
        }
    }
    let mean = if n == 0 { 0.0 } else { sum / f64::from(n) };
    let mut ss = 0.0;
    for (v, o) in values.iter().zip(observed.iter()) {
        if *o {
            ss += (v - mean) * (v - mean);
        }
    }
    let var = if n == 0 { 0.0 } else { ss / f64::from(n) };
    let std = (var + eps).sqrt();
    for (v, o) in values.iter_mut().zip(observed.iter()) {
        *v = if *o { (*v - mean) / std } else { 0.0 };
    }
    (mean, std)
}

/// Undo the normalisation of a window or forecast: `values` holds
/// `stats.mean.len()` variates of equal length, variate-major
/// (`values[v * h + t]`); each becomes `x * std[v] + mean[v]`.
pub fn denormalise(values: &[f32], stats: &NormStats) -> Result<Vec<f32>, TokenizerError> {
    let n = stats.mean.len();
    if n == 0 || stats.std.len() != n || !values.len().is_multiple_of(n) {
        return Err(TokenizerError::VariateShape {
            expected: n,
            got: if n == 0 { values.len() } else { values.len() % n },
        });
    }
    let h = values.len() / n;
    let mut out = Vec::with_capacity(values.len());
    for v in 0..n {
        let (m, s) = (stats.mean[v], stats.std[v]);
        out.extend(values[v * h..(v + 1) * h].iter().map(|x| x * s + m));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_one_two_three() {
        // mean 2, population variance ((1)^2 + 0 + 1^2) / 3 = 2/3.
        let mut v = [1.0, 2.0, 3.0];
        let mut o = [true; 3];
        let (m, s) = normalise_variate(&mut v, &mut o, 1e-12);
        assert_eq!(m, 2.0);
        assert!((s - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
        let k = (1.5f64).sqrt(); // 1 / sqrt(2/3)
        assert!((v[0] + k).abs() < 1e-9 && v[1].abs() < 1e-12 && (v[2] - k).abs() < 1e-9);
        // With the reference eps the std is sqrt(2/3 + 1e-5).
        let mut v = [1.0, 2.0, 3.0];
        let (_, s) = normalise_variate(&mut v, &mut [true; 3], 1e-5);
        assert!((s - (2.0f64 / 3.0 + 1e-5).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn golden_missing_and_flat() {
        // 4 is missing: stats over 2, 6 only (mean 4, var 4, std 2).
        let mut v = [2.0, f64::NAN, 6.0];
        let mut o = [true, true, true];
        let (m, s) = normalise_variate(&mut v, &mut o, 1e-12);
        assert_eq!((m, (s * 1e6).round() / 1e6), (4.0, 2.0));
        assert_eq!(o, [true, false, true]);
        assert!((v[0] + 1.0).abs() < 1e-9 && v[1] == 0.0 && (v[2] - 1.0).abs() < 1e-9);
        // A flat variate: std = sqrt(eps), values all 0.
        let mut v = [5.0; 4];
        let (m, s) = normalise_variate(&mut v, &mut [true; 4], 1e-4);
        assert_eq!((m, s), (5.0, 0.01));
        assert_eq!(v, [0.0; 4]);
        // Nothing observed.
        let mut v = [1.0, 2.0];
        let (m, _) = normalise_variate(&mut v, &mut [false; 2], 1e-4);
        assert_eq!((m, v), (0.0, [0.0, 0.0]));
    }

    #[test]
    fn denormalise_shapes() {
        let stats = NormStats { mean: vec![1.0, 10.0], std: vec![2.0, 0.5] };
        assert_eq!(denormalise(&[0.0, 1.0, 2.0, -2.0], &stats).unwrap(), vec![1.0, 3.0, 11.0, 9.0]);
        assert!(denormalise(&[0.0; 3], &stats).is_err());
        assert!(denormalise(&[0.0; 3], &NormStats::default()).is_err());
    }
}
