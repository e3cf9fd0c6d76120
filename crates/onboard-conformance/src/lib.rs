//! The conformance suite of Onboard's storage port
//! ([`onboard_core::store::Store`]).
//!
//! The suite lives in `tests/store.rs`: every test is written once, against the
//! trait, and a small macro instantiates it for each backend (`sqlite::…` and
//! `postgres::…`), so that the two backends cannot drift apart. The PostgreSQL
//! half needs a server (see `onboard_testkit`); run it with
//!
//! ```text
//! cargo test -p onboard-conformance
//! ```
//!
//! This library itself is empty.
