//! ownerbound: makes AI agents' credentials die with their owner's employment.
//!
//! The binary is a thin wrapper around this library; `docs/architecture.md` maps the
//! pipeline (SCIM/HR events → directory → offboarding → revocation → verification),
//! the modules floor by floor, and where each decision lives.

pub mod access;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod directory;
pub mod discovery;
pub mod domain;
pub mod findings;
pub mod hr;
pub mod inbound;
pub mod inventory;
pub mod jobs;
pub mod key_rotation;
pub mod lifecycle;
pub mod offboarding;
pub mod report;
pub mod scim;
pub mod secret_ref;
pub mod signing;
pub mod startup;
pub mod store;
pub mod tasks;
pub mod telemetry;
