//! [`VariateConfig`]: window length, stride, covariates and the epsilon.

use crate::TokenizerError;

/// Settings of the iTransformer window tokenizer. `Default` gives the
/// reference values (lookback 96, stride 1, epsilon 1e-5, no time features).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariateConfig {
    /// Steps per window (`seq_len`); each variate's `lookback` values are one token.
    pub lookback: usize,
    /// Steps between the ends of consecutive windows (the reference slides by 1).
    pub stride: usize,
    /// Add iTransformer's `timeF` covariates (hour-of-day, day-of-week,
    /// day-of-month, day-of-year, each in [-0.5, 0.5]) for every step.
    pub time_features: bool,
    /// Added to the variance before the square root: `std = sqrt(var + eps)`
    /// (the reference's `1e-5`), so a flat variate does not divide by zero.
    pub epsilon: f64,
}

impl Default for VariateConfig {
    fn default() -> Self {
        VariateConfig { lookback: 96, stride: 1, time_features: false, epsilon: 1e-5 }
    }
}

impl VariateConfig {
    /// Check the settings.
    pub fn validate(&self) -> Result<(), TokenizerError> {
        let bad = |m: String| Err(TokenizerError::VariateConfig(m));
        if self.lookback == 0 {
            return bad("lookback must be >= 1".into());
        }
        if self.stride == 0 {
            return bad("stride must be >= 1".into());
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad(format!("epsilon must be finite and > 0, got {}", self.epsilon));
        }
        Ok(())
    }
}
