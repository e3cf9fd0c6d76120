//! What every handler can reach.

use onboard_core::service::Onboarding;

#[derive(Clone)]
pub struct AppState {
    pub onboarding: Onboarding,
    /// The largest request body accepted, in bytes (413 above it).
    pub body_limit: usize,
    /// Sandbox mode: routes that expose codes (`/v1/sandbox/*`) exist only then.
    pub sandbox: bool,
}
