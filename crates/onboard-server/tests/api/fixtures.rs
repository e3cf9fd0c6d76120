//! Valid registration bodies: the vendor's examples, from the test kit.

pub use onboard_testkit::fixtures::{advisor, client_of, corporation, individual};
