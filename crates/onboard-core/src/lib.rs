//! Onboard's domain: what an end user is, which inputs are valid, and the storage
//! port. Nothing here knows HTTP or SQL.
//!
//! Read [`service::Onboarding`] first: it is the list of use cases, and each one
//! shows the path from request body to store. Then:
//! - [`registration`] turns a request body into a [`registration::Registration`],
//!   reporting every problem at once (helped by [`reader`]);
//! - [`values`], [`identity`] and [`vocab`] are the validated value types of CONTRACT §3;
//! - [`user`] is the end user and its two wire shapes;
//! - [`store`] is the port the backends implement;
//! - [`clock`] and [`secret`] are the injected time and the hashed secrets.

pub mod clock;
pub mod identity;
pub mod reader;
pub mod registration;
pub mod secret;
pub mod service;
pub mod store;
pub mod user;
pub mod values;
pub mod vocab;
