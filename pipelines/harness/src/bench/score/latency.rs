//! Timing calls one by one, bounded by a count and by time, and summing them up.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How many calls to make and for how long.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Budget {
    /// Untimed calls first (sessions allocate and pick kernels on their first runs).
    pub warmup: usize,
    /// Timed calls at most.
    pub iters: usize,
    /// Seconds of timed calls at most, per batch size and side; at least one call is timed.
    pub max_seconds: f64,
}

impl Budget {
    /// Calls `f` `warmup` times, then times each call until `iters` calls or `max_seconds`;
    /// returns the milliseconds of each timed call.
    pub fn time<E>(&self, mut f: impl FnMut() -> Result<(), E>) -> Result<Vec<f64>, E> {
        for _ in 0..self.warmup {
            f()?;
        }
        let limit = Duration::from_secs_f64(self.max_seconds.max(0.0));
        let start = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < self.iters.max(1) && (samples.is_empty() || start.elapsed() < limit) {
            let t0 = Instant::now();
            f()?;
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(samples)
    }
}

/// Per-call latency and throughput of one side at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Timed calls.
    pub calls: usize,
    /// Items scored per second over the timed calls.
    pub rows_per_s: f64,
    /// Mean milliseconds per call.
    pub mean_ms: f64,
    /// Median milliseconds per call.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank) of milliseconds per call.
    pub p99_ms: f64,
}

impl Latency {
    /// The summary of `samples` (milliseconds per call of `batch` items); `None` when empty.
    pub fn of(batch: usize, samples: &[f64]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let total_ms: f64 = sorted.iter().sum();
        let rank =
            |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(Latency {
            calls: sorted.len(),
            rows_per_s: if total_ms > 0.0 {
                (batch * sorted.len()) as f64 / (total_ms / 1000.0)
            } else {
                f64::INFINITY
            },
            mean_ms: total_ms / sorted.len() as f64,
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let l = Latency::of(10, &samples).unwrap();
        assert_eq!((l.calls, l.p50_ms, l.p99_ms), (200, 100.0, 198.0));
        assert!((l.mean_ms - 100.5).abs() < 1e-9);
        assert!((l.rows_per_s - 10.0 * 200.0 / 20.1).abs() < 1e-9);
        let one = Latency::of(4, &[2.0]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms, one.rows_per_s), (2.0, 2.0, 2000.0));
        assert_eq!(Latency::of(4, &[]), None);
    }

    #[test]
    fn budget_bounds_calls_by_count_and_time() {
        let mut n = 0;
        let b = Budget { warmup: 2, iters: 5, max_seconds: 60.0 };
        let count = || -> Result<(), ()> {
            n += 1;
            Ok(())
        };
        assert_eq!(b.time(count).unwrap().len(), 5);
        assert_eq!(n, 7);
        let b = Budget { warmup: 0, iters: 1000, max_seconds: 0.0 };
        assert_eq!(b.time(|| -> Result<(), ()> { Ok(()) }).unwrap().len(), 1);
        let b = Budget { warmup: 1, iters: 3, max_seconds: 1.0 };
        assert_eq!(b.time(|| Err("no")), Err("no"));
    }
}
