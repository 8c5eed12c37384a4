//! Vigil's analyst console: an HTTP API (axum) over the event store.
//!
//! The crate is handed what it serves through [`Backend`] (read-only SQL over the store,
//! the alert-state table, the stage counters, the model manifests) by the `vigil`
//! binary, which depends on it, so it never reaches into the runtime.
//!
//! - [`access`]: where it may listen and the bearer token (constant-time check);
//! - [`api`]: the routes (`/api/sql`, `/api/alerts`, `/api/stats`, `/api/models`,
//!   `/metrics`);
//! - `assets`: the web UI's files, embedded;
//! - [`serve`]: binding and serving until shutdown.
#![deny(unsafe_code)]

pub mod access;
pub mod api;
mod assets;
mod backend;
mod error;
mod serve;

pub use access::{Access, AccessError};
pub use api::LiveAlerts;
pub use backend::{Backend, QueryOutput};
pub use error::ApiError;
pub use serve::{ConsoleConfig, StatsSource, metrics_router, router, serve, serve_on};
