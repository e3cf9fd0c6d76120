//! The HTTP API suite of `tests/api`, module for module, on PostgreSQL: each test
//! gets a database of its own on the test kit's server (`ONBOARD_TEST_POSTGRES_URL`,
//! or a throw-away cluster). Where there is none, the whole binary is skipped (see
//! `helpers::spawn_app_with`).

/// The storage backend every test of this binary runs on.
pub const BACKEND: onboard_testkit::Backend = onboard_testkit::Backend::Postgres;

#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/console.rs"]
mod console;
#[path = "../api/console_admin.rs"]
mod console_admin;
#[path = "../api/console_browser.rs"]
mod console_browser;
#[path = "../api/console_support.rs"]
mod console_support;
#[path = "../api/delivery.rs"]
mod delivery;
#[path = "../api/documents.rs"]
mod documents;
#[path = "../api/edd.rs"]
mod edd;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/feed.rs"]
mod feed;
#[path = "../api/feed_delivery.rs"]
mod feed_delivery;
#[path = "../api/feed_history.rs"]
mod feed_history;
#[path = "../api/feed_replay.rs"]
mod feed_replay;
#[path = "../api/fixtures.rs"]
mod fixtures;
#[path = "../api/golden.rs"]
mod golden;
#[path = "../api/health.rs"]
mod health;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/hostile.rs"]
mod hostile;
#[path = "../api/hostile_uploads.rs"]
mod hostile_uploads;
#[path = "../api/hostile_webhooks.rs"]
mod hostile_webhooks;
#[path = "../api/idempotency.rs"]
mod idempotency;
#[path = "../api/keys.rs"]
mod keys;
#[path = "../api/listing.rs"]
mod listing;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/ordered.rs"]
mod ordered;
#[path = "../api/paging.rs"]
mod paging;
#[path = "../api/tenancy.rs"]
mod tenancy;
#[path = "../api/tokens.rs"]
mod tokens;
#[path = "../api/users.rs"]
mod users;
#[path = "../api/validation.rs"]
mod validation;
#[path = "../api/verification.rs"]
mod verification;
#[path = "../api/webhooks.rs"]
mod webhooks;
#[path = "../api/ws.rs"]
mod ws;
