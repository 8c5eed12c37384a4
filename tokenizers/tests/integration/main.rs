//! Integration tests of vigil-tokenizers, one module per area.

mod netfound_golden;
mod netfound_props;
mod support;
