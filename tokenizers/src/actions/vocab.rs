//! [`Vocab`] and [`ActionVocab`]: string → id tables fitted on training data.
//!
//! Reserved ids: **0 = padding**, **1 = out of vocabulary**. Fitted tokens
//! get ids from 2 in order of descending count, ties broken by byte-wise
//! string order, so fitting is deterministic whatever the input order.
//! `max_size` counts the reserved ids: a vocabulary of `max_size` has at most
//! `max_size - 2` tokens and ids `0..max_size`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use vigil_ingest::actions::ActionEvent;

use crate::TokenizerError;

/// The padding id.
pub const PAD_ID: u32 = 0;
/// The out-of-vocabulary id.
pub const OOV_ID: u32 = 1;
/// The first id of a fitted token.
pub const FIRST_TOKEN_ID: u32 = 2;

/// One string → id table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Fits on `items`, keeping the `max_size - 2` most frequent (see the module docs).
    pub fn fit<'a>(
        items: impl IntoIterator<Item = &'a str>,
        max_size: usize,
    ) -> Result<Self, TokenizerError> {
        if max_size < FIRST_TOKEN_ID as usize + 1 || max_size > u32::MAX as usize {
            return Err(TokenizerError::Vocab(format!(
                "max_size {max_size} must be at least 3 (pad, OOV and one token) and fit in u32"
            )));
        }
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for it in items {
            *counts.entry(it).or_default() += 1;
        }
        let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(max_size - FIRST_TOKEN_ID as usize);
        Self::from_tokens(ranked.into_iter().map(|(t, _)| t.to_owned()).collect())
    }

    /// A table whose token `i` has id `i + 2`; duplicates are refused.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self, TokenizerError> {
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let id = u32::try_from(i).ok().and_then(|i| i.checked_add(FIRST_TOKEN_ID));
            let id = id.ok_or_else(|| TokenizerError::Vocab("too many tokens".into()))?;
            if ids.insert(t.clone(), id).is_some() {
                return Err(TokenizerError::Vocab(format!("token `{t}` appears twice")));
            }
        }
        Ok(Vocab { tokens, ids })
    }

    /// The id of `token`, [`OOV_ID`] when unknown.
    pub fn id(&self, token: &str) -> u32 {
        self.ids.get(token).copied().unwrap_or(OOV_ID)
    }

    /// The token of `id`; `None` for the reserved ids and unknown ids.
    pub fn token(&self, id: u32) -> Option<&str> {
        let i = id.checked_sub(FIRST_TOKEN_ID)? as usize;
        self.tokens.get(i).map(String::as_str)
    }

    /// The fitted tokens in id order (the first has id 2).
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The number of ids, reserved ones included (the embedding table size).
    pub fn size(&self) -> usize {
        self.tokens.len() + FIRST_TOKEN_ID as usize
    }
}

/// The action and object vocabularies of an HSTU model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActionVocab {
    /// Action ids.
    pub actions: Vocab,
    /// Object ids.
    pub objects: Vocab,
}

/// The JSON form, saved next to the model.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabFile {
    format: String,
    version: u32,
    pad_id: u32,
    oov_id: u32,
    actions: Vec<String>,
    objects: Vec<String>,
}

const FORMAT: &str = "vigil-hstu-vocab";
const VERSION: u32 = 1;

impl ActionVocab {
    /// Fits both tables on training events, each up to its `max_size` ids.
    pub fn fit<'a>(
        events: impl IntoIterator<Item = &'a ActionEvent> + Clone,
        max_actions: usize,
        max_objects: usize,
    ) -> Result<Self, TokenizerError> {
        let actions =
            Vocab::fit(events.clone().into_iter().map(|e| e.action.as_str()), max_actions)?;
        let objects = Vocab::fit(events.into_iter().map(|e| e.object.as_str()), max_objects)?;
        Ok(ActionVocab { actions, objects })
    }

    /// The JSON text: `{"format":"vigil-hstu-vocab","version":1,"pad_id":0,"oov_id":1,"actions":[…],"objects":[…]}`,
    /// token `i` of each list having id `i + 2`.
    pub fn to_json(&self) -> String {
        let f = VocabFile {
            format: FORMAT.into(),
            version: VERSION,
            pad_id: PAD_ID,
            oov_id: OOV_ID,
            actions: self.actions.tokens.clone(),
            objects: self.objects.tokens.clone(),
        };
        serde_json::to_string_pretty(&f).unwrap_or_default()
    }

    /// Reads [`ActionVocab::to_json`]'s text back, checking format, version and reserved ids.
    pub fn from_json(text: &str) -> Result<Self, TokenizerError> {
        let f: VocabFile =
            serde_json::from_str(text).map_err(|e| TokenizerError::Vocab(e.to_string()))?;
        if f.format != FORMAT || f.version != VERSION {
            return Err(TokenizerError::Vocab(format!(
                "format `{}` version {}, expected `{FORMAT}` version {VERSION}",
                f.format, f.version
            )));
        }
        if f.pad_id != PAD_ID || f.oov_id != OOV_ID {
            return Err(TokenizerError::Vocab(format!(
                "pad/OOV ids {}/{}, expected {PAD_ID}/{OOV_ID}",
                f.pad_id, f.oov_id
            )));
        }
        Ok(ActionVocab {
            actions: Vocab::from_tokens(f.actions)?,
            objects: Vocab::from_tokens(f.objects)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_by_count_then_bytes() {
        let items = ["b", "a", "c", "c", "b", "d", "c"];
        let v = Vocab::fit(items, 4).unwrap();
        // c ×3, b ×2, then a ×1 and d ×1 tie: a wins on byte order.
        assert_eq!(v.tokens(), ["c", "b"]);
        let v = Vocab::fit(items, 5).unwrap();
        assert_eq!(v.tokens(), ["c", "b", "a"]);
        assert_eq!((v.id("c"), v.id("a"), v.id("zzz")), (2, 4, OOV_ID));
        assert_eq!((v.token(0), v.token(1), v.token(3)), (None, None, Some("b")));
        assert_eq!(v.size(), 5);
        let mut rev = items;
        rev.reverse();
        assert_eq!(Vocab::fit(rev, 5).unwrap(), v, "input order does not matter");
        assert!(Vocab::fit(items, 2).is_err());
    }

    #[test]
    fn json_round_trip_and_refusals() {
        let ev = |a: &str, o: &str| ActionEvent {
            entity: "e".into(),
            ts: 0,
            action: a.into(),
            object: o.into(),
        };
        let events = [ev("GET 2xx", "/"), ev("GET 2xx", "/a"), ev("POST 4xx", "/")];
        let v = ActionVocab::fit(&events, 100, 100).unwrap();
        let back = ActionVocab::from_json(&v.to_json()).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.actions.id("GET 2xx"), 2);
        assert!(ActionVocab::from_json("{}").is_err());
        let bad = v.to_json().replace("\"pad_id\": 0", "\"pad_id\": 5");
        assert!(ActionVocab::from_json(&bad).is_err());
        let dup = r#"{"format":"vigil-hstu-vocab","version":1,"pad_id":0,"oov_id":1,"actions":["a","a"],"objects":[]}"#;
        assert!(ActionVocab::from_json(dup).is_err());
    }
}
