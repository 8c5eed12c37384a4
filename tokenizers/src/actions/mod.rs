//! HSTU input representation: user-action sequences with time buckets
//! ([facebookresearch/generative-recommenders]).
//!
//! ```text
//!  vigil-ingest actions::ActionReader ─► ActionEvent ─► ActionSequencer::push ─► SequenceSnapshot ─► to_record_batch
//!                                                         │ (ActionVocab ids, LRU state per entity)
//! ```
//!
//! - [`ActionVocab`] maps actions and objects to ids; it is fitted on training
//!   events ([`ActionVocab::fit`], top-K by count, ties by byte order) and
//!   saved with the model ([`ActionVocab::to_json`]/[`ActionVocab::from_json`]).
//!   Reserved ids: [`PAD_ID`] = 0, [`OOV_ID`] = 1; tokens start at 2.
//! - [`ActionSequencer`] keeps each entity's last `max_len` events (200 by
//!   default) in LRU-bounded state and, per pushed event, returns the
//!   [`SequenceSnapshot`] ending with it: left-padded ids and
//!   [`time_bucket`]s of `ts - event.ts`, plus the real `length`.
//! - [`to_record_batch`] writes snapshots as Arrow with [`actions_schema`]:
//!   `entity utf8, ts timestamp[µs, UTC], action_ids list<u32>,
//!   object_ids list<u32>, time_buckets list<u32>, length u32`.
//!
//! Deliberate differences from the reference HSTU:
//! - The reference feeds item ids, and ratings when used, as one token per
//!   position; we have two aligned id lists (action, object), for the model
//!   to embed and sum.
//! - The reference buckets every pair of timestamps inside attention
//!   (`RelativeBucketedTimeAndPositionBasedBias`, from raw timestamps). A row
//!   here carries one bucket per position, of the gap to the scored position
//!   (`ts - event.ts`), so the scored event itself is bucket 0; the pairwise
//!   buckets need the raw times, which the model side can take from the event
//!   store when it wants them.
//! - Buckets are clamped to `num_buckets - 1`, not `num_buckets` ([`bucket`]).
//! - Padding is on the left (the newest event is always at the last index),
//!   whereas the reference's SASRec-style datasets pad on the right and use
//!   the length to find the last position. Padding positions have id 0 and
//!   bucket 0; `length` tells them apart.
//!
//! [facebookresearch/generative-recommenders]: https://github.com/facebookresearch/generative-recommenders
//!
//! ```
//! use vigil_ingest::actions::ActionEvent;
//! use vigil_tokenizers::actions::{ActionSequenceConfig, ActionSequencer, ActionVocab};
//!
//! let ev = |ts_s: i64, action: &str| ActionEvent {
//!     entity: "10.0.0.1".into(),
//!     ts: ts_s * 1_000_000,
//!     action: action.into(),
//!     object: "/login".into(),
//! };
//! let train = [ev(0, "POST 4xx"), ev(1, "POST 4xx"), ev(2, "POST 2xx")];
//! let vocab = ActionVocab::fit(&train, 1000, 1000)?;
//! let cfg = ActionSequenceConfig { max_len: 4, ..ActionSequenceConfig::default() };
//! let mut seq = ActionSequencer::new(cfg, vocab)?;
//! seq.push(&ev(0, "POST 4xx"));
//! let snap = seq.push(&ev(1000, "GET 2xx"));
//! assert_eq!(snap.length, 2);
//! assert_eq!(snap.action_ids, vec![0, 0, 2, 1]); // pad, pad, "POST 4xx", OOV
//! assert_eq!(snap.time_buckets, vec![0, 0, 22, 0]); // floor(ln(1000) / 0.301) = 22
//! let batch = vigil_tokenizers::actions::to_record_batch(&[snap])?;
//! assert_eq!(batch.num_rows(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bucket;
mod config;
mod schema;
mod sequencer;
mod vocab;

pub use bucket::{BUCKET_DIVISOR, DEFAULT_NUM_BUCKETS, time_bucket};
pub use config::{ActionSequenceConfig, MAX_SEQUENCE_LEN};
pub use schema::{actions_schema, columns, from_record_batch, to_record_batch};
pub use sequencer::{ActionSequencer, ActionSequencerStats, SequenceSnapshot, sequences};
pub use vocab::{ActionVocab, FIRST_TOKEN_ID, OOV_ID, PAD_ID, Vocab};

#[cfg(test)]
mod tests;
