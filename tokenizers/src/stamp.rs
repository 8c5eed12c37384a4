//! [`TokenStamp`]: how a token file was made, carried in its Parquet key-value metadata.
//!
//! `vigil tokenize …` writes two keys into every token file:
//!
//! - [`TOKENIZER_KEY`] (`vigil.tokenizer`): [`TokenizerSettings`] as JSON, tagged with the
//!   tokenizer (`{"tokenizer":"netfound","burst_gap_us":10000,…}`). Only the settings that
//!   change the tokens a model reads are in it (not state bounds such as `max_open_flows`,
//!   nor the internal networks, which are a deployment's choice).
//! - [`VOCAB_SHA256_KEY`] (`vigil.vocab_sha256`): the sha256 of the fitted constants the
//!   tokens depend on, for the tokenizers that have them: the HSTU action vocabulary
//!   ([`ActionVocab::to_json`]) and the FlowTransformer preprocessor
//!   ([`Preprocessor::to_json`]).
//!
//! A model's scorer builds the stamp its tokens must carry from its manifest and refuses a
//! token file whose stamp differs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigil_ingest::metrics::{Aggregation, ResampleConfig};

use crate::TokenizerError;
use crate::actions::{ActionSequenceConfig, ActionVocab};
use crate::flow_window::{FlowWindowConfig, GroupBy, Preprocessor};
use crate::netfound::{BurstSplit, NetfoundConfig};
use crate::variate::VariateConfig;

/// Parquet key of the tokenizer settings (JSON of [`TokenizerSettings`]).
pub const TOKENIZER_KEY: &str = "vigil.tokenizer";
/// Parquet key of the sha256 (lower-case hex) of the fitted vocabulary or preprocessor.
pub const VOCAB_SHA256_KEY: &str = "vigil.vocab_sha256";

/// The settings that decide a token file's tokens, one variant per tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tokenizer", rename_all = "snake_case")]
pub enum TokenizerSettings {
    /// `vigil tokenize netfound`.
    Netfound(NetfoundSettings),
    /// `vigil tokenize flow`.
    Flow(FlowSettings),
    /// `vigil tokenize variate`.
    Variate(VariateSettings),
    /// `vigil tokenize actions`.
    Actions(ActionsSettings),
}

/// What decides netFound tokens: the burst rules and the fields tokenized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetfoundSettings {
    /// Burst gap in microseconds.
    pub burst_gap_us: i64,
    /// Burst rule.
    pub burst_split: BurstSplit,
    /// Packets kept per burst.
    pub max_packets_per_burst: usize,
    /// Bursts a flow's row holds at most: `max_bursts`, or `emit_after_bursts` when that
    /// is smaller (an early row holds only the bursts complete by then).
    pub max_bursts: usize,
    /// The 12-byte payload prefix is tokenized.
    pub payload: bool,
    /// The TCP options block is tokenized.
    pub tcp_options: bool,
    /// Each burst starts with CLS.
    pub prepend_cls: bool,
}

impl From<&NetfoundConfig> for NetfoundSettings {
    fn from(c: &NetfoundConfig) -> Self {
        NetfoundSettings {
            burst_gap_us: c.burst_gap_us,
            burst_split: c.burst_split,
            max_packets_per_burst: c.max_packets_per_burst,
            max_bursts: c.emit_after_bursts.map_or(c.max_bursts, |n| n.min(c.max_bursts)),
            payload: c.payload,
            tcp_options: c.tcp_options,
            prepend_cls: c.prepend_cls,
        }
    }
}

/// What decides FlowTransformer windows besides the preprocessor (whose fingerprint is
/// the stamp's `vocab_sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// Flows per window.
    pub window: usize,
    /// Which flows share a window.
    pub group_by: GroupBy,
}

/// What decides iTransformer windows: the grid the metrics were resampled on and the
/// window settings (the stride only picks which windows are written, so it is left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariateSettings {
    /// The variates, in token order.
    pub series: Vec<String>,
    /// Grid step in microseconds.
    pub step_us: i64,
    /// Forward-filled empty steps at most.
    pub max_ffill_steps: u32,
    /// `last` or `mean` of several points in one step.
    pub aggregation: String,
    /// Steps per window.
    pub lookback: usize,
    /// Time features are added.
    pub time_features: bool,
    /// Normalisation epsilon.
    pub epsilon: f64,
}

/// What decides HSTU rows besides the vocabulary (whose fingerprint is the stamp's
/// `vocab_sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSettings {
    /// Row length, the scored event included.
    pub max_len: usize,
    /// Number of time buckets.
    pub num_buckets: u32,
}

impl TokenizerSettings {
    /// The command that makes such tokens.
    pub fn command(&self) -> &'static str {
        match self {
            TokenizerSettings::Netfound(_) => "vigil tokenize netfound",
            TokenizerSettings::Flow(_) => "vigil tokenize flow",
            TokenizerSettings::Variate(_) => "vigil tokenize variate",
            TokenizerSettings::Actions(_) => "vigil tokenize actions",
        }
    }

    /// The fitted constants [`TokenStamp::vocab_sha256`] fingerprints, and the option of
    /// the tokenize command that reuses saved ones; `None` for tokenizers without any.
    pub fn fitted(&self) -> Option<(&'static str, &'static str)> {
        match self {
            TokenizerSettings::Flow(_) => Some(("preprocessor", "--preprocessor")),
            TokenizerSettings::Actions(_) => Some(("vocabulary", "--vocab")),
            TokenizerSettings::Netfound(_) | TokenizerSettings::Variate(_) => None,
        }
    }

    /// The JSON written under [`TOKENIZER_KEY`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("settings serialise")
    }
}

/// How a token file was made: its tokenizer settings and the fingerprint of its fitted
/// vocabulary or preprocessor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenStamp {
    /// The tokenizer settings.
    pub settings: TokenizerSettings,
    /// sha256 of the vocabulary or preprocessor JSON, for the tokenizers that have one.
    pub vocab_sha256: Option<String>,
}

impl TokenStamp {
    /// The stamp of netFound tokens made with `config`.
    pub fn netfound(config: &NetfoundConfig) -> TokenStamp {
        TokenStamp {
            settings: TokenizerSettings::Netfound(NetfoundSettings::from(config)),
            vocab_sha256: None,
        }
    }

    /// The stamp of FlowTransformer windows made with `preprocessor` and `config`.
    pub fn flow(preprocessor: &Preprocessor, config: &FlowWindowConfig) -> TokenStamp {
        TokenStamp {
            settings: TokenizerSettings::Flow(FlowSettings {
                window: config.window,
                group_by: config.group_by,
            }),
            vocab_sha256: Some(sha256_hex(&preprocessor.to_json())),
        }
    }

    /// The stamp of iTransformer windows of `series`, resampled with `resample` and
    /// windowed with `config`.
    pub fn variate(
        series: &[String],
        resample: &ResampleConfig,
        config: &VariateConfig,
    ) -> TokenStamp {
        let aggregation = match resample.aggregation {
            Aggregation::Last => "last",
            Aggregation::Mean => "mean",
        };
        TokenStamp {
            settings: TokenizerSettings::Variate(VariateSettings {
                series: series.to_vec(),
                step_us: resample.step_us,
                max_ffill_steps: resample.max_ffill_steps,
                aggregation: aggregation.into(),
                lookback: config.lookback,
                time_features: config.time_features,
                epsilon: config.epsilon,
            }),
            vocab_sha256: None,
        }
    }

    /// The stamp of HSTU rows made with `vocab` and `config`.
    pub fn actions(vocab: &ActionVocab, config: &ActionSequenceConfig) -> TokenStamp {
        TokenStamp {
            settings: TokenizerSettings::Actions(ActionsSettings {
                max_len: config.max_len,
                num_buckets: config.num_buckets,
            }),
            vocab_sha256: Some(sha256_hex(&vocab.to_json())),
        }
    }

    /// The Parquet key-value pairs to write.
    pub fn to_key_values(&self) -> Vec<(String, String)> {
        let mut kv = vec![(TOKENIZER_KEY.to_string(), self.settings.to_json())];
        if let Some(sha) = &self.vocab_sha256 {
            kv.push((VOCAB_SHA256_KEY.to_string(), sha.clone()));
        }
        kv
    }

    /// The stamp in a file's key-value metadata; `Ok(None)` when it has no
    /// [`TOKENIZER_KEY`] (a file written before token files were stamped).
    pub fn from_key_values<'a>(
        kv: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Option<TokenStamp>, TokenizerError> {
        let (mut settings, mut vocab_sha256) = (None, None);
        for (key, value) in kv {
            match key {
                TOKENIZER_KEY => settings = value,
                VOCAB_SHA256_KEY => vocab_sha256 = value.map(str::to_string),
                _ => {}
            }
        }
        let Some(text) = settings else { return Ok(None) };
        let settings = serde_json::from_str(text).map_err(|e| {
            TokenizerError::Stamp(format!(
                "`{TOKENIZER_KEY}` is not tokenizer settings ({e}): {text}"
            ))
        })?;
        Ok(Some(TokenStamp { settings, vocab_sha256 }))
    }
}

/// Lower-case hex sha256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_round_trip() {
        let c = ActionSequenceConfig { max_len: 50, ..ActionSequenceConfig::default() };
        let stamp = TokenStamp::actions(&ActionVocab::default(), &c);
        let kv = stamp.to_key_values();
        assert_eq!(kv[0].1, r#"{"tokenizer":"actions","max_len":50,"num_buckets":128}"#);
        assert_eq!(kv[1].1.len(), 64);
        let back =
            TokenStamp::from_key_values(kv.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))))
                .unwrap();
        assert_eq!(back, Some(stamp));
        assert_eq!(TokenStamp::from_key_values([("ARROW:schema", Some("x"))]).unwrap(), None);
        let bad = TokenStamp::from_key_values([(TOKENIZER_KEY, Some("{}"))]).unwrap_err();
        assert!(bad.to_string().contains(TOKENIZER_KEY), "{bad}");
    }

    #[test]
    fn netfound_rows_hold_the_smaller_of_max_bursts_and_emit_after() {
        let c = NetfoundConfig { max_bursts: 12, emit_after_bursts: Some(3), ..Default::default() };
        let TokenizerSettings::Netfound(s) = TokenStamp::netfound(&c).settings else {
            panic!("netfound settings")
        };
        assert_eq!(s.max_bursts, 3);
        // Early emission at max_bursts gives the same rows as emission at close.
        let early = TokenStamp::netfound(&NetfoundConfig::default());
        let at_close =
            TokenStamp::netfound(&NetfoundConfig { emit_after_bursts: None, ..Default::default() });
        assert_eq!(early, at_close);
        assert_eq!(
            early.settings.to_json(),
            r#"{"tokenizer":"netfound","burst_gap_us":10000,"burst_split":"per_direction","max_packets_per_burst":6,"max_bursts":12,"payload":true,"tcp_options":false,"prepend_cls":true}"#
        );
    }
}
