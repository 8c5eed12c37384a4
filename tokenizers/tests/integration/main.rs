//! Integration tests of vigil-tokenizers, one module per area.

mod flow_window_data;
mod netfound_golden;
mod netfound_props;
mod support;
