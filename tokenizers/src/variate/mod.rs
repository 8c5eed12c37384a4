//! iTransformer's input: each variate's lookback window is one token.
//!
//! ```text
//!  vigil-ingest Resampler ─► ResampledStep { ts, values[N], missing[N] }
//!        │ VariateTokenizer::push_step (holds the last L steps)
//!        ▼
//!  VariateWindow { window_end, N × L normalised, mean[N], std[N], observed?, time features? }
//!        │ to_record_batch                      │ denormalise(forecast, &stats)
//!        ▼                                      ▼
//!  RecordBatch (variate_schema)           forecasts in the original units
//! ```
//!
//! iTransformer ([thuml/iTransformer]) embeds each variate's whole lookback
//! series as one token, and (with `use_norm`) normalises every input window
//! per variate: `mean` and `std = sqrt(var + 1e-5)` over the lookback, then
//! de-normalises the forecast with the same numbers. Here:
//!
//! - [`VariateTokenizer`] is the streaming form: push one regular step at a
//!   time, get a [`VariateWindow`] once `lookback` steps are held and then
//!   every `stride` steps. A window never contains a step later than its
//!   `window_end`.
//! - [`windows`] does a whole series set; [`to_record_batch`] and
//!   [`variate_schema`] give the Arrow form; [`denormalise`] maps model
//!   output back to the original units.
//!
//! **Missing values** (a `NaN`, or a step the resampler flagged): left out of
//! the window's mean and std, written as 0 (the mean) in the normalised
//! values, and marked `false` in [`VariateWindow::observed`], which is `None`
//! (Arrow null) when the whole window was observed. A variate with no observed
//! value in a window gets mean 0 and std `sqrt(eps)`.
//!
//! **Differences from the reference, on purpose:**
//! - No dataset-wide `StandardScaler` fitted on a training split first
//!   (`data_loader.py`): a stream has no split, and the per-window
//!   normalisation the model applies already removes level and scale. Feed
//!   raw values to both training and serving.
//! - Windows only: the `label_len`/`pred_len` target slice is the training
//!   side's business.
//! - Time features are computed in UTC from the step start, for hourly
//!   frequency only (the `h` set); the reference uses the naive local time of
//!   its CSV.
//! - Statistics are computed in f64 and stored as f32.
//!
//! [thuml/iTransformer]: https://github.com/thuml/iTransformer

mod config;
mod normalise;
mod schema;
mod time_features;
mod window;

pub use config::VariateConfig;
pub use normalise::{NormStats, denormalise, normalise_variate};
pub use schema::{columns, to_record_batch, variate_schema};
pub use time_features::{TIME_FEATURE_NAMES, TIME_FEATURES, time_features};
pub use window::{VariateStats, VariateTokenizer, VariateWindow, windows};
