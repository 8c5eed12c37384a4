//! HSTU's timestamp-difference buckets.
//!
//! Reference: facebookresearch/generative-recommenders (commit
//! 2e81fab69a497fb5e24cd23569adf1e78070e4ec),
//! `generative_recommenders/research/modeling/sequential/hstu.py`:
//! `RelativeBucketedTimeAndPositionBasedBias` is built (lines 606-613) with
//! `num_buckets=128` and
//! `bucketization_fn=lambda x: (torch.log(torch.abs(x).clamp(min=1)) / 0.301).long()`,
//! and its `forward` (lines 131-139) clamps the result to `[0, num_buckets]`.
//! The differences are in the dataset's timestamp unit, seconds for the
//! MovieLens/Amazon data it trains on; `torch.log` is the natural log and
//! `.long()` truncates toward zero (the same as floor here, the value being ≥ 0).
//!
//! So `bucket(Δt) = min(floor(ln(max(|Δt|, 1)) / 0.301), 128)` for Δt in
//! seconds. Our timestamps are microseconds; we take whole seconds
//! (`|Δt_us| / 10^6`, truncated) first, so sub-second gaps fall in bucket 0 as
//! they do in the reference's integer-second data.
//!
//! Deliberate difference: we clamp to `num_buckets - 1` (127), so there are
//! exactly `num_buckets` values `0..num_buckets` and a table of 128 rows
//! suffices. The reference's extra value 128 needs |Δt| ≥ e^(128 × 0.301) s ≈
//! 5.5 × 10^16 s, far beyond any real log, so no real input differs.

/// The reference's divisor.
pub const BUCKET_DIVISOR: f64 = 0.301;

/// The reference's number of buckets.
pub const DEFAULT_NUM_BUCKETS: u32 = 128;

/// The bucket of a time difference in microseconds; see the module docs.
/// The result is in `0..num_buckets` (0 when `num_buckets` is 0).
pub fn time_bucket(dt_us: i64, num_buckets: u32) -> u32 {
    let secs = dt_us.unsigned_abs() / 1_000_000;
    let b = ((secs.max(1) as f64).ln() / BUCKET_DIVISOR) as u64;
    b.min(u64::from(num_buckets.saturating_sub(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn golden_values_worked_by_hand() {
        // |Δt| ≤ 1 s: ln(1) = 0 → 0.
        assert_eq!(time_bucket(0, 128), 0);
        assert_eq!(time_bucket(999_999, 128), 0);
        assert_eq!(time_bucket(S, 128), 0);
        // 2 s: ln 2 = 0.6931 / 0.301 = 2.303 → 2.
        assert_eq!(time_bucket(2 * S, 128), 2);
        // 60 s: ln 60 = 4.0943 / 0.301 = 13.60 → 13.
        assert_eq!(time_bucket(60 * S, 128), 13);
        // 1000 s: ln 1000 = 6.9078 / 0.301 = 22.95 → 22.
        assert_eq!(time_bucket(1000 * S, 128), 22);
        assert_eq!(time_bucket(-1000 * S, 128), 22, "sign ignored");
        // 1 day: ln 86400 = 11.3668 / 0.301 = 37.76 → 37.
        assert_eq!(time_bucket(86_400 * S, 128), 37);
        // 1 year (365 d): ln 31536000 = 17.2666 / 0.301 = 57.36 → 57.
        assert_eq!(time_bucket(31_536_000 * S, 128), 57);
        // i64::MIN µs ≈ 9.2e12 s: ln = 29.85 / 0.301 = 99.2 → 99.
        assert_eq!(time_bucket(i64::MIN, 128), 99);
        // Clamped to num_buckets - 1.
        assert_eq!(time_bucket(86_400 * S, 10), 9);
        assert_eq!(time_bucket(86_400 * S, 0), 0);
    }
}
