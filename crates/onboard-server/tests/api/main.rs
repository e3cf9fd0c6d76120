//! The HTTP API end to end: one test binary (so it links once), one real server per
//! test on `127.0.0.1:0`, a fresh SQLite file in a temporary folder, and two
//! enterprises (A and B) with their own keys. Each module of [`suite`] covers one
//! concern.
//!
//! `tests/api_postgres` compiles the same [`suite`] against PostgreSQL.

/// The storage backend every test of this binary runs on.
pub const BACKEND: onboard_testkit::Backend = onboard_testkit::Backend::Sqlite;

mod suite;
use suite::*;
