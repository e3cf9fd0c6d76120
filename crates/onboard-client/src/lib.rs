//! A Rust client for Onboard: [`Client`] speaks the End Users REST API
//! (CONTRACT §2) and [`FeedClient`] follows the WebSocket feed (CONTRACT §5),
//! resuming after the last `event_id` it yielded whenever the connection drops.
//!
//! Everything that crosses the network is an `onboard-api` type; this crate
//! depends on that crate only, never on the server. TLS (`https://`, `wss://`)
//! uses rustls on `ring`, trusting the webpki roots unless told to trust only
//! given certificates ([`Certificates`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = onboard_client::Client::new("http://127.0.0.1:8080", "key")?;
//! let user = client.user("user-1").await?;
//! println!("{} is {}", user.user_id, user.status);
//!
//! let feed = onboard_client::FeedClient::new("ws://127.0.0.1:8080/ws", "key")?;
//! let mut subscription = feed.subscribe(Some(0));
//! let message = subscription.next_message().await?;
//! println!("event {} for {}", message.event_id, message.payload.user_id);
//! # Ok(()) }
//! ```

mod feed;
mod rest;
mod tls;

pub use feed::{Backoff, FeedClient, FeedError, FeedUpdate, Subscription};
pub use onboard_api;
pub use reqwest::StatusCode;
pub use rest::{Channel, Client, ClientBuilder, Error, UserFilter};
pub use tls::{Certificates, install_tls_provider};
