//! The HTTP API end to end: one test binary (so it links once), one real server per
//! test on `127.0.0.1:0`, a fresh SQLite file in a temporary folder, and two
//! enterprises (A and B) with their own keys. Each module covers one concern.
//!
//! `tests/api_postgres` compiles these same modules against PostgreSQL.

/// The storage backend every test of this binary runs on.
pub const BACKEND: onboard_testkit::Backend = onboard_testkit::Backend::Sqlite;

mod helpers;

mod fixtures;
mod ordered;
mod ws;

mod auth;
mod console;
mod console_admin;
mod console_browser;
mod console_screenshots;
mod console_support;
mod delivery;
mod documents;
mod edd;
mod edge;
mod errors;
mod feed;
mod feed_delivery;
mod feed_history;
mod feed_replay;
mod golden;
mod health;
mod hostile;
mod hostile_uploads;
mod hostile_webhooks;
mod idempotency;
mod keys;
mod listing;
mod openapi;
mod paging;
mod tenancy;
mod tokens;
mod users;
mod validation;
mod verification;
mod webhooks;
