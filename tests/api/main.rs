//! Integration tests: one binary, one module per capability.

mod helpers;

mod agents;
mod audit;
mod auth;
mod cli;
mod connectors;
mod fake_providers;
mod fault_proxy;
mod fault_tools;
mod faults;
mod findings;
mod health;
mod hr;
mod instances;
mod job_engine;
mod oauth_peer;
mod offboarding;
mod people;
mod reports;
mod revocation;
mod revocation_faults;
mod schema;
mod scim_conformance;
mod scim_entra;
mod scim_failsafe;
mod scim_fuzz;
mod scim_index;
mod scim_okta;
mod scim_others;
mod scim_protocol;
mod scim_search;
mod secrets;
mod service_process;
mod smtp_peer;
mod validation;
