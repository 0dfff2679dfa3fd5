//! The conformance runner behind `possim certify` and `possim record`.
//!
//! A golden flow ([`scenario::Scenario`], a TOML file under `scenarios/`) says what a POS must do
//! for one business action: the exchanges in order, with matchers for what may vary, what must
//! not happen, the POS's answer and the provider state afterwards. Suites
//! (`conformance/<suite>/suite.toml`) group flows by level.
//!
//! Layout, from pure to I/O:
//! - `matcher`: the matcher language and field-by-field comparison into diffs.
//! - `scenario`: the file formats, loading and validation.
//! - `action`: the action vocabulary handed to POS systems (the vendor contract).
//! - `profile`: per-provider wire conventions (equivalent paths, reads vs writes, volatile fields).
//! - `judge`: traffic, answer and state against a golden flow.
//! - `record`: traffic into a golden flow.
//! - `admin`: the client for a running possim's admin API.
//! - `driver`: `exec`, `http` (and the shared contract of `manual`).
//! - `runner`: the per-scenario loop and the report.
//! - `schema`: JSON Schemas of flows, actions and results (`possim schema`).

pub mod action;
pub mod admin;
pub mod driver;
pub mod judge;
pub mod matcher;
pub mod profile;
pub mod record;
pub mod runner;
pub mod scenario;
pub mod schema;
