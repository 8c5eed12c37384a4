//! [`ActionSequenceConfig`]: sequence length, buckets and state bounds.

use super::bucket::DEFAULT_NUM_BUCKETS;
use crate::TokenizerError;

/// Settings of the HSTU sequence builder. `Default` gives the reference values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSequenceConfig {
    /// Longest sequence, the scored event included (HSTU's `max_sequence_length`
    /// is 200 for MovieLens-1M). Shorter sequences are left-padded to it.
    pub max_len: usize,
    /// Number of time buckets (HSTU: 128); buckets are `0..num_buckets`.
    pub num_buckets: u32,
    /// Most entities whose history is kept; the least recently pushed one is
    /// evicted (and counted) beyond that.
    pub max_entities: usize,
}

impl Default for ActionSequenceConfig {
    fn default() -> Self {
        ActionSequenceConfig {
            max_len: 200,
            num_buckets: DEFAULT_NUM_BUCKETS,
            max_entities: 100_000,
        }
    }
}

/// Longest `max_len` accepted.
pub const MAX_SEQUENCE_LEN: usize = 1 << 16;

impl ActionSequenceConfig {
    /// Checks every setting and reports all problems at once.
    pub fn validate(&self) -> Result<(), TokenizerError> {
        let mut problems = Vec::new();
        if self.max_len == 0 || self.max_len > MAX_SEQUENCE_LEN {
            problems.push(format!("max_len {} must be in 1..={MAX_SEQUENCE_LEN}", self.max_len));
        }
        if self.num_buckets == 0 {
            problems.push("num_buckets must be at least 1".to_owned());
        }
        if self.max_entities == 0 {
            problems.push("max_entities must be at least 1".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TokenizerError::ActionConfig(problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_all_problems_are_reported() {
        ActionSequenceConfig::default().validate().unwrap();
        let bad = ActionSequenceConfig { max_len: 0, num_buckets: 0, max_entities: 0 };
        let msg = bad.validate().unwrap_err().to_string();
        assert!(
            msg.contains("max_len") && msg.contains("num_buckets") && msg.contains("max_entities"),
            "{msg}"
        );
    }
}
