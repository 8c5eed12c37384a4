//! Packet decoding: link layer → IP layers (outer to inner) → transport.

mod decoder;
mod types;

pub use decoder::{Decoder, DecoderConfig};
pub use types::*;
