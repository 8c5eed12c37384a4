//! Property tests of the netFound tokenizer.
