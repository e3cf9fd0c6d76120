//! The event webhooks' HTTP sender (CONTRACT §9), behind
//! `onboard_core::service::WebhookSender`: one signed POST per attempt, no
//! redirects, a deadline per attempt, and only public addresses unless private
//! networks are allowed. A host name is resolved by this client's own resolver,
//! which refuses private addresses, so the address checked is the address
//! connected to (a name that changes its answer between a check and the send
//! gains nothing).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use onboard_core::service::{SendResult, WebhookRequest, WebhookSender};
use onboard_core::webhooks::{AttemptResult, check_url, is_public};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use time::Duration;

/// The most of an answer kept for the deliveries list.
const KEPT_ANSWER: usize = 1024;

pub struct HttpWebhookSender {
    /// Resolves only to public addresses.
    public: reqwest::Client,
    /// Resolves anywhere (private networks allowed).
    any: reqwest::Client,
    /// How names are resolved, at creation and by `public` at every send.
    lookup: Arc<dyn Lookup>,
}

/// The addresses a host name stands for. The system's resolver in production;
/// tests give a table, to make a name stand for any address at all.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: String, port: u16) -> LookupFuture;
}

pub type LookupFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// The system's resolver (`getaddrinfo`, through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String, port: u16) -> LookupFuture {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

impl HttpWebhookSender {
    pub fn new() -> Result<Self, String> {
        Self::with_lookup(Arc::new(SystemLookup))
    }

    /// A sender that resolves names with `lookup`.
    pub fn with_lookup(lookup: Arc<dyn Lookup>) -> Result<Self, String> {
        crate::install_tls_provider();
        let build = |resolver: Option<PublicOnly>| {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Onboard-Webhooks/", env!("CARGO_PKG_VERSION")));
            if let Some(resolver) = resolver {
                builder = builder.dns_resolver(Arc::new(resolver));
            }
            builder
                .build()
                .map_err(|e| format!("the HTTP client could not be built: {e}"))
        };
        Ok(HttpWebhookSender {
            public: build(Some(PublicOnly(lookup.clone())))?,
            any: build(None)?,
            lookup,
        })
    }
}

/// A resolver that answers only with public addresses.
struct PublicOnly(Arc<dyn Lookup>);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.0.clone();
        Box::pin(async move {
            let addresses = public_addresses(lookup.as_ref(), &host, 0).await?;
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The addresses `host` resolves to, all of them public, or an error naming the
/// first that is not.
async fn public_addresses(
    lookup: &dyn Lookup,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addresses = lookup.lookup(host.to_owned(), port).await?;
    if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, which is not a public address",
            private.ip()
        )
        .into());
    }
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address").into());
    }
    Ok(addresses)
}

fn failure(started: Instant, why: String) -> SendResult {
    SendResult {
        result: AttemptResult {
            status: None,
            retry_after: None,
        },
        duration_ms: elapsed_ms(started),
        response: cut(&why),
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

fn cut(text: &str) -> String {
    if text.len() <= KEPT_ANSWER {
        return text.to_owned();
    }
    let mut end = KEPT_ANSWER;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The address the HTTP client itself would connect to when the URL's host is
/// an address: read by the same URL parser, which also takes spellings such as
/// `0x7f000001`, `2130706433` or `127.1` as IPv4. `Err` for a URL it refuses.
fn literal_address(url: &str) -> Result<Option<IpAddr>, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url cannot be read: {e}"))?;
    // The parser writes an address host in its canonical form ("127.0.0.1",
    // "[::1]"); a name stays a name.
    Ok(parsed.host_str().and_then(|host| {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
    }))
}

/// Refuses a URL whose host, as the HTTP client reads it, is an address that is
/// not public.
fn check_literal(url: &str, allow_private_networks: bool) -> Result<(), String> {
    match literal_address(url)? {
        Some(ip) if !allow_private_networks && !is_public(ip) => Err(format!(
            "url points at {ip}, which is not a public address (loopback, private, \
             link-local and metadata addresses are refused)"
        )),
        _ => Ok(()),
    }
}

/// Seconds of a `Retry-After` header (the HTTP-date form is not honoured).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: i64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds >= 0).then(|| Duration::seconds(seconds))
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn check(&self, url: &str, allow_private_networks: bool) -> Result<(), String> {
        check_url(url, allow_private_networks)?;
        if allow_private_networks {
            return Ok(());
        }
        match literal_address(url) {
            // What the HTTP client cannot read fails at send time, saying why.
            Err(_) => Ok(()),
            Ok(Some(_)) => check_literal(url, false),
            Ok(None) => self.check_name(url).await,
        }
    }

    async fn post(&self, request: WebhookRequest) -> SendResult {
        self.send(request).await
    }
}

impl HttpWebhookSender {
    /// Refuses a host name that resolves to an address that is not public.
    async fn check_name(&self, url: &str) -> Result<(), String> {
        let Ok(target) = onboard_core::webhooks::url_parts::Target::parse(url) else {
            return Ok(());
        };
        let lookup = self.lookup.lookup(target.host.clone(), target.port);
        match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
            Ok(Ok(addresses)) => {
                let addresses: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
                match addresses.iter().find(|ip| !is_public(**ip)) {
                    Some(ip) => Err(format!(
                        "url names the host {}, which resolves to {ip}, which is not a public address",
                        target.host
                    )),
                    None => Ok(()),
                }
            }
            // A name that does not resolve now may later; every send checks again.
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }

    async fn send(&self, request: WebhookRequest) -> SendResult {
        let started = Instant::now();
        let allow = request.allow_private_networks;
        if let Err(why) =
            check_url(&request.url, allow).and_then(|_| check_literal(&request.url, allow))
        {
            return failure(started, why);
        }
        let client = if request.allow_private_networks {
            &self.any
        } else {
            &self.public
        };
        let sent = client
            .post(&request.url)
            .timeout(request.timeout)
            .header("content-type", "application/json")
            .header("webhook-id", &request.message_id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", &request.signature)
            .body(request.body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer within {} s", request.timeout.as_secs())
                } else {
                    let mut why = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(inner) = source {
                        why = format!("{why}: {inner}");
                        source = inner.source();
                    }
                    why
                };
                return failure(started, why);
            }
        };
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        // Read at most a little more than is kept, then stop.
        let mut kept = Vec::new();
        let mut response = response;
        while kept.len() <= KEPT_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                _ => break,
            }
        }
        SendResult {
            result: AttemptResult {
                status: Some(status),
                retry_after: wait,
            },
            duration_ms: elapsed_ms(started),
            response: cut(&String::from_utf8_lossy(&kept)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_spellings_of_a_private_address_are_refused_too() {
        for url in [
            "http://0x7f000001/hook",
            "http://2130706433/hook",
            "http://127.1/hook",
            "http://0177.0.0.1/hook",
            "http://[::ffff:169.254.169.254]/",
            "http://[0:0:0:0:0:0:0:1]/",
        ] {
            assert!(check_literal(url, false).is_err(), "{url}");
            assert!(check_literal(url, true).is_ok(), "{url}");
        }
        assert!(check_literal("https://example.com/hook", false).is_ok());
        assert!(check_literal("http://93.184.216.34/hook", false).is_ok());
    }
}
