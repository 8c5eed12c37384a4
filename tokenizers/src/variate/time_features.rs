//! iTransformer's `timeF` covariates for hourly data (`utils/timefeatures.py`,
//! `time_features_from_frequency_str("h")`), computed in UTC.

use vigil_ingest::metrics::civil_from_us;

/// Number of time features per step.
pub const TIME_FEATURES: usize = 4;

/// Feature names, in output order.
pub const TIME_FEATURE_NAMES: [&str; TIME_FEATURES] =
    ["hour_of_day", "day_of_week", "day_of_month", "day_of_year"];

/// `[hour/23, weekday/6, (day-1)/30, (yday-1)/365]`, each minus 0.5, for `ts` (µs, UTC).
/// Monday is weekday 0, as in pandas.
pub fn time_features(ts: i64) -> [f32; TIME_FEATURES] {
    let c = civil_from_us(ts);
    let f = |v: u32, d: f32| v as f32 / d - 0.5;
    [f(c.hour, 23.0), f(c.weekday, 6.0), f(c.day - 1, 30.0), f(c.day_of_year - 1, 365.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_etth1_first_row() {
        // 2016-07-01 00:00:00 UTC: Friday (4), day 1, day of year 183.
        let f = time_features(1_467_331_200_000_000);
        let want = [-0.5, 4.0 / 6.0 - 0.5, -0.5, 182.0 / 365.0 - 0.5];
        for (a, b) in f.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{f:?}");
        }
        // 23:00 on 31 December 2016 (a Saturday, day 366): every feature at its top.
        let f = time_features(1_483_225_200_000_000);
        assert_eq!(f[0], 0.5);
        assert!((f[1] - (5.0 / 6.0 - 0.5)).abs() < 1e-6);
        assert_eq!(f[2], 0.5);
        assert!((f[3] - (365.0 / 365.0 - 0.5)).abs() < 1e-6);
    }
}
