//! Alerting: rules (model rules on each scored row, SQL rules over sliding event-time
//! windows), allow-lists, Suricata-style thresholding, evidence, and hot reload of the
//! rules files. [`AlertEngine`] runs them in an `alerts` stage; the built-in rule set
//! is [`rules::BUILTIN_RULES`] (`vigil rules print`).

pub mod alert;
pub mod allow;
pub mod engine;
pub mod likelihood;
pub mod model_match;
pub mod reload;
pub mod rules;
pub mod sql_alerts;
pub mod sql_rules;
pub mod threshold;
pub mod window;
pub mod window_table;

pub use alert::{ALERT, ALERT_SUMMARY, Alert, ModelRef, Signature, alerts_batch};
pub use engine::{AlertEngine, EngineCounts, EngineLimits};
pub use rules::{AlertRule, ModelInfo, RuleLoader, RuleSet, RuleSource};
