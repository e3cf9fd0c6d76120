//! The HTTP API suite of `tests/api`, every module of it, on PostgreSQL: each test
//! gets a database of its own on the test kit's server (`ONBOARD_TEST_POSTGRES_URL`,
//! or a throw-away cluster). Where there is none, the whole binary is skipped (see
//! `helpers::spawn_app_with`).

/// The storage backend every test of this binary runs on.
pub const BACKEND: onboard_testkit::Backend = onboard_testkit::Backend::Postgres;

#[path = "../api/suite.rs"]
mod suite;
use suite::*;
