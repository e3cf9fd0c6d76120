//! The HTTP API end to end: one test binary (so it links once), one real server per
//! test on `127.0.0.1:0`, a fresh SQLite file in a temporary folder, and two
//! enterprises (A and B) with their own keys. Each module covers one concern.

mod helpers;

mod fixtures;
mod ordered;
mod ws;

mod auth;
mod errors;
mod feed;
mod feed_delivery;
mod feed_history;
mod golden;
mod health;
mod listing;
mod paging;
mod tenancy;
mod users;
mod validation;
