//! [`Scorer`]: one model family's path from records to verdicts (tokenize → run →
//! decode), in one place, used by `vigil score` and by the runtime's scoring transforms.
//!
//! One implementation per [`Family`]:
//!
//! | scorer | tokenizer | item | verdict |
//! |---|---|---|---|
//! | [`NetfoundScorer`] | netFound packet tokens ([`NetfoundTokenizer`](vigil_tokenizers::NetfoundTokenizer)) | [`FlowTokens`](vigil_tokenizers::FlowTokens) | class, probabilities, malicious, embedding |
//! | [`FlowScorer`] | flow windows ([`FlowWindowTokenizer`](vigil_tokenizers::flow_window::FlowWindowTokenizer)) | [`FlowWindow`](vigil_tokenizers::flow_window::FlowWindow) | class, probabilities |
//! | [`VariateScorer`] | variate windows ([`VariateTokenizer`](vigil_tokenizers::variate::VariateTokenizer)) | [`VariateItem`] | forecast, residual score |
//! | [`HstuScorer`] | action sequences ([`ActionSequencer`](vigil_tokenizers::actions::ActionSequencer)) | [`SequenceSnapshot`](vigil_tokenizers::actions::SequenceSnapshot) | surprise, rank, most likely token |
//!
//! A scorer reads everything it needs from the manifest once, when it is made (through
//! the typed accessors of [`crate::preprocessing`]), and refuses a model of another
//! family. Its [`Scorer::tokenizer`] is configured as the model was trained, and
//! [`Scorer::check_tokens`] refuses a token file whose [`TokenStamp`] says it was made
//! otherwise.
//!
//! # One session, shared
//!
//! A scorer holds its model as an `Arc<Model>`: there is one ONNX Runtime session per
//! loaded model, shared by every worker that scores with it (the runtime's transform
//! tasks, which run on tokio's blocking pool, and `vigil score`'s loop). ort's `Session`
//! is `Send + Sync`, but its `run` takes `&mut self` (ort 2.0.0-rc.15), so
//! [`Model::run`], which takes `&self`, holds a mutex for each run: runs on one model
//! are serialised, and ONNX Runtime's intra-op threads work in parallel within a run.
//! Scorers are `Send + Sync` and cheap to share.

mod columns;
mod flow;
mod grouping;
mod hstu;
mod netfound;
mod occlusion;
mod variate;

use arrow_array::StructArray;
use arrow_schema::DataType;
use vigil_tokenizers::TokenStamp;

use crate::error::{Error, Result};
use crate::family::Family;
use crate::model::{InputTensor, Model, Outputs};

pub use columns::ClassVerdict;
pub use flow::FlowScorer;
pub use hstu::{
    ActionVerdict, EXPECTED, HstuScorer, expected_column, expected_type, surprise_and_rank,
};
pub use netfound::{NetfoundScorer, NetfoundVerdict};
pub use occlusion::{Occlude, Occlusion, occlude, occlusion_column, occlusion_type};
pub use variate::{VariateItem, VariateScorer, VariateVerdict, residual_score};

/// One model family's tokenize → run → decode.
pub trait Scorer: Send + Sync {
    /// The family's streaming tokenizer (records in, [`Scorer::Item`]s out).
    type Tokenizer;
    /// One model input, as the tokenizer makes it.
    type Item;
    /// One item's decoded verdict.
    type Verdict;

    /// The family this scorer scores.
    const FAMILY: Family;

    /// The model.
    fn model(&self) -> &Model;

    /// Tokenize: a fresh tokenizer with the settings the model was trained with.
    fn tokenizer(&self) -> Result<Self::Tokenizer>;

    /// The graph inputs for a batch of items.
    fn inputs(&self, items: &[Self::Item]) -> Result<Vec<(&str, InputTensor)>>;

    /// Run: the model on a batch of items (on the shared session, see the module docs).
    fn run(&self, items: &[Self::Item]) -> Result<Outputs> {
        let inputs = self.inputs(items)?;
        self.model().run(&inputs)
    }

    /// Decode: one verdict per item from the outputs of [`Scorer::run`] on `items`.
    fn decode(&self, items: &[Self::Item], outputs: &Outputs) -> Result<Vec<Self::Verdict>>;

    /// Run and decode; no items give no verdicts (and no run).
    fn score(&self, items: &[Self::Item]) -> Result<Vec<Self::Verdict>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let outputs = self.run(items)?;
        self.decode(items, &outputs)
    }

    /// The Arrow type of the verdict column (a struct).
    fn verdict_type(&self) -> DataType;

    /// The verdicts as one struct column of [`Scorer::verdict_type`].
    fn verdict_column(&self, verdicts: &[Self::Verdict]) -> Result<StructArray>;

    /// How tokens must have been made for this model: its tokenizer settings and the
    /// fingerprint of its vocabulary or preprocessor, from the manifest.
    fn token_stamp(&self) -> TokenStamp;

    /// Refuses tokens from `input` whose stamp (`None`: the file has none) is not the
    /// model's [`Scorer::token_stamp`], naming both values.
    fn check_tokens(&self, found: Option<&TokenStamp>, input: &str) -> Result<()> {
        check_stamp(&self.token_stamp(), found, self.model().name())
            .map_err(|message| Error::Tokens { input: input.to_string(), message })
    }
}

/// Why tokens stamped `found` are not what `expected` (model `model`'s) says.
fn check_stamp(
    expected: &TokenStamp,
    found: Option<&TokenStamp>,
    model: &str,
) -> std::result::Result<(), String> {
    let command = expected.settings.command();
    let Some(found) = found else {
        return Err(format!(
            "the file does not say how its tokens were made (no `{}` metadata: written before \
             token files recorded it?); re-tokenize it with `{command}` and the settings of \
             model {model}: {}",
            vigil_tokenizers::stamp::TOKENIZER_KEY,
            expected.settings.to_json()
        ));
    };
    if found.settings != expected.settings {
        return Err(format!(
            "tokens made with {}, but model {model} was built for {}; re-tokenize with \
             `{command}` and the model's settings",
            found.settings.to_json(),
            expected.settings.to_json()
        ));
    }
    if found.vocab_sha256 != expected.vocab_sha256 {
        let (what, flag) = expected.settings.fitted().unwrap_or(("vocabulary", "--vocab"));
        let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
        return Err(format!(
            "tokens made with a {what} of sha256 {}, but model {model}'s {what} has sha256 {}; \
             re-tokenize with `{command} {flag}` and the model's {what}",
            show(&found.vocab_sha256),
            show(&expected.vocab_sha256)
        ));
    }
    Ok(())
}

/// Refuses a model whose manifest is not of `family`.
fn ensure_family(model: &Model, family: Family) -> Result<()> {
    let found = &model.manifest().family;
    if *found == family {
        return Ok(());
    }
    let expected = match family {
        Family::Netfound => "netFound (netfound)",
        Family::FlowTransformer => "FlowTransformer (flow_transformer)",
        Family::ITransformer => "iTransformer (itransformer)",
        Family::Hstu => "action-sequence (hstu)",
        Family::Other(_) => "known",
    };
    Err(Error::Family { model: model.name().to_string(), expected, found: found.to_string() })
}

/// The model's tokenizer refused its settings.
fn tokenizer_err(model: &Model) -> impl Fn(vigil_tokenizers::TokenizerError) -> Error + '_ {
    move |source| Error::Tokenizer { model: model.name().to_string(), source }
}

/// Building an Arrow array failed.
fn arrow_err(model: &Model) -> impl Fn(arrow_schema::ArrowError) -> Error + '_ {
    move |source| Error::Arrow { model: model.name().to_string(), source }
}

/// An input array could not be shaped (a bug in a scorer's encoding).
fn shape_err(model: &Model) -> impl Fn(ndarray::ShapeError) -> Error + '_ {
    move |e| Error::Input { model: model.name().to_string(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use vigil_tokenizers::NetfoundConfig;
    use vigil_tokenizers::actions::{ActionSequenceConfig, ActionVocab};

    use super::*;

    #[test]
    fn stamps_are_compared_and_both_values_named() {
        let model = TokenStamp::netfound(&NetfoundConfig::default());
        assert_eq!(check_stamp(&model, Some(&model), "nf"), Ok(()));
        let small = NetfoundConfig {
            max_bursts: 3,
            emit_after_bursts: Some(3),
            payload: false,
            ..Default::default()
        };
        let e = check_stamp(&model, Some(&TokenStamp::netfound(&small)), "nf").unwrap_err();
        assert!(e.contains(r#""max_bursts":3"#) && e.contains(r#""max_bursts":12"#), "{e}");
        assert!(e.contains(r#""payload":false"#) && e.contains(r#""payload":true"#), "{e}");
        let e = check_stamp(&model, None, "nf").unwrap_err();
        assert!(e.contains("re-tokenize") && e.contains("vigil.tokenizer"), "{e}");

        let c = ActionSequenceConfig { max_len: 50, ..Default::default() };
        let vocab = ActionVocab::from_json(
            r#"{"format":"vigil-hstu-vocab","version":1,"pad_id":0,"oov_id":1,"actions":["a"],"objects":["b"]}"#,
        )
        .unwrap();
        let e = check_stamp(
            &TokenStamp::actions(&vocab, &c),
            Some(&TokenStamp::actions(&ActionVocab::default(), &c)),
            "h",
        )
        .unwrap_err();
        assert!(e.contains("vocabulary of sha256") && e.contains("--vocab"), "{e}");
        let other = TokenStamp::actions(&vocab, &c);
        let e = check_stamp(&model, Some(&other), "nf").unwrap_err();
        assert!(e.contains(r#""tokenizer":"actions""#), "{e}");
    }
}
