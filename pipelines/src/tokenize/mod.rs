//! Captures and records in, model inputs out: the glue between readers, the flow
//! table and the tokenizers of `vigil-tokenizers`.

mod netfound;
mod stamp;

pub use netfound::{NetfoundRun, netfound_from_capture};
pub use stamp::read_token_stamp;
