//! Onboard's domain: what an end user is, which inputs are valid, and the storage
//! ports. Nothing here knows HTTP or SQL.
//!
//! Read [`service::Onboarding`] first: it is the list of use cases, and each one
//! shows the path from request body to store. Then:
//! - [`registration`] turns a request body into a [`registration::Registration`],
//!   reporting every problem at once (helped by [`reader`]);
//! - [`values`], [`identity`] and [`vocab`] are the validated value types of CONTRACT §3;
//! - [`user`] is the end user and its two wire shapes;
//! - [`store`] holds the ports the backends implement, one per kind of thing
//!   kept; [`tenant`] is the enterprise they scope by;
//! - [`lifecycle`] is the state machine of status and requirements, and
//!   [`verification`] the one-time codes it consumes;
//! - [`events`] is the append-only log every change writes;
//! - [`delivery`] is the port through which codes reach users;
//! - [`edd`] is enhanced due diligence: questionnaires, requests, documents;
//! - [`clock`], [`random`] and [`secret`] are injected time, injected randomness
//!   and the hashed secrets;
//! - [`access`] is who may call and act: API keys that end, and operators;
//! - [`requests`] is the parsing of the other request bodies, [`webhooks`] the
//!   outgoing webhooks' rules (URLs, retries, signatures), and [`time_format`]
//!   the wire's timestamps;
//! - [`strict_json`] reads client JSON, refusing a key named twice in one object.

pub mod access;
pub mod clock;
pub mod delivery;
pub mod edd;
pub mod events;
pub mod identity;
pub mod lifecycle;
pub mod random;
pub mod reader;
pub mod registration;
pub mod requests;
pub mod seal;
pub mod secret;
pub mod service;
pub mod store;
pub mod strict_json;
pub mod tenant;
pub mod time_format;
pub mod user;
pub mod values;
pub mod verification;
pub mod vocab;
pub mod webhooks;
