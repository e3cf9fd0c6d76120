//! Outgoing webhooks on the Standard Webhooks spec (CONTRACT §9): endpoints,
//! their secrets and signatures, which addresses may receive them, and the retry
//! schedule. Pure rules; the dispatcher (`service::webhooks`) applies them, the
//! store keeps the state and an HTTP sender (in the delivery crate) posts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use crate::events::EventKind;
use crate::random::Random;
use crate::tenant::EnterpriseId;

/// What a webhook secret is written with: `whsec_` and the base64 of its bytes.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    pub fn generate(random: &dyn Random) -> Self {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes);
        WebhookSecret(format!("{SECRET_PREFIX}{}", BASE64.encode(bytes)))
    }

    /// A secret read back from storage (or given by an operator): `whsec_` + base64.
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.strip_prefix(SECRET_PREFIX)?;
        let bytes = BASE64.decode(encoded).ok()?;
        (bytes.len() >= 24).then(|| WebhookSecret(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        let encoded = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        BASE64.decode(encoded).unwrap_or_default()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC takes any key");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// An endpoint's id: `ep_` and 32 hex characters.
pub fn new_endpoint_id(random: &dyn Random) -> String {
    let mut bytes = [0u8; 16];
    random.fill(&mut bytes);
    format!("ep_{}", hex::encode(bytes))
}

/// The `webhook-id` of one event sent to one endpoint: the same on every retry
/// and replay, different across endpoints.
pub fn message_id(endpoint_id: &str, event_id: i64) -> String {
    let suffix = endpoint_id.strip_prefix("ep_").unwrap_or(endpoint_id);
    format!("msg_{suffix}_{event_id}")
}

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub enterprise: EnterpriseId,
    pub url: String,
    pub description: String,
    /// `None`: every type.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: WebhookSecret,
    /// The secret before the last rotation, and until when it still signs.
    pub old_secret: Option<(WebhookSecret, OffsetDateTime)>,
    pub created_at: OffsetDateTime,
    /// The last `event_id` this endpoint is done with.
    pub cursor: i64,
    /// Failed attempts at the next message.
    pub attempts: u32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub failing_since: Option<OffsetDateTime>,
    /// A one-event replay: after `event_id` `.0`, the cursor jumps to `.1`.
    pub replay: Option<(i64, i64)>,
}

impl Endpoint {
    /// Whether events of `kind` go to this endpoint.
    pub fn wants(&self, kind: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == kind))
    }

    /// The `webhook-signature` header: one signature per secret in force.
    pub fn signature(
        &self,
        message_id: &str,
        timestamp: i64,
        body: &[u8],
        now: OffsetDateTime,
    ) -> String {
        let mut signatures = vec![self.secret.sign(message_id, timestamp, body)];
        if let Some((old, until)) = &self.old_secret
            && now < *until
        {
            signatures.push(old.sign(message_id, timestamp, body));
        }
        signatures.join(" ")
    }
}

/// The event types an endpoint may ask for.
pub fn is_event_type(name: &str) -> bool {
    EventKind::parse(name).is_ok()
}

/// When a failed message is tried again, and when the endpoint gives it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The waits before the 2nd, 3rd… attempt; after the last, the message fails.
    pub waits: Vec<Duration>,
    /// An endpoint failing this long without a success is disabled.
    pub disable_after: Duration,
    /// How long one attempt may take.
    pub timeout: std::time::Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            waits: [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
            disable_after: Duration::days(5),
            timeout: std::time::Duration::from_secs(15),
        }
    }
}

/// What an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The status code, when an answer came.
    pub status: Option<u16>,
    /// A `Retry-After` the receiver asked for.
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Delivered: on to the next message.
    Delivered,
    /// Try this message again at the time given.
    RetryAt(OffsetDateTime),
    /// The schedule is spent: the message failed, on to the next.
    GiveUp,
    /// The endpoint is disabled (410 Gone, or failing too long).
    Disable(String),
}

impl RetrySchedule {
    /// The decision after attempt number `attempts` (1 for the first) at `now`,
    /// the endpoint failing since `failing_since` (before this attempt).
    pub fn after(
        &self,
        result: &AttemptResult,
        attempts: u32,
        failing_since: Option<OffsetDateTime>,
        now: OffsetDateTime,
        random: &dyn Random,
    ) -> AfterAttempt {
        if result.succeeded() {
            return AfterAttempt::Delivered;
        }
        if result.status == Some(410) {
            return AfterAttempt::Disable("the endpoint answered 410 Gone".into());
        }
        let since = failing_since.unwrap_or(now);
        if now - since >= self.disable_after {
            return AfterAttempt::Disable(format!(
                "the endpoint failed for {} days without a success",
                self.disable_after.whole_days()
            ));
        }
        let Some(wait) = self.waits.get(attempts.saturating_sub(1) as usize) else {
            return AfterAttempt::GiveUp;
        };
        // ±20 % jitter, so that endpoints that failed together do not retry together.
        let jitter = f64::from(random.below(401)) / 1000.0 - 0.2;
        let jittered = *wait + *wait * jitter;
        let wait = match result.retry_after {
            Some(asked) if asked > jittered => asked.min(Duration::days(1)),
            _ => jittered,
        };
        AfterAttempt::RetryAt(now + wait.max(Duration::milliseconds(100)))
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private,
/// link-local (cloud metadata included), CGNAT, multicast, documentation or
/// otherwise reserved. An IPv6 address must be global unicast (`2000::/3`) and
/// outside the special-purpose blocks there; so every form that embeds or stands
/// for an IPv4 address (IPv4-compatible `::/96`, translated `::ffff:0:0:0/96`,
/// NAT64, 6to4 `2002::/16`, Teredo and the rest of `2001::/23`) and discard-only
/// `100::/64` are refused. An IPv4-mapped address is judged as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    (first & 0xe000) == 0x2000 // global unicast
        && !(first == 0x2001 && second < 0x0200) // IETF protocol assignments, Teredo
        && !(first == 0x2001 && second == 0x0db8) // documentation
        && first != 0x2002 // 6to4
        && (first & 0xfff0) != 0x3ff0 // documentation (3fff::/20)
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

/// Why a webhook URL is refused, as a sentence: `https://` or `http://`; a host,
/// a name or an IPv4 address, of letters, digits and `. _ ~ % ! $ & ' ( ) * + , ;
/// = -` (a name in its ASCII form; an IPv6 host needs a name); optionally `:` and
/// a port of 1 to
/// 65535; optionally a path, query or fragment of printable ASCII; at most
/// 2048 characters in all (the pattern of the OpenAPI document says the same);
/// and, unless private networks are allowed, not an address that is not public.
/// What this shape lets through and the HTTP client cannot use fails at send
/// time, as an attempt that says why.
pub fn check_url(text: &str, allow_private: bool) -> Result<(), String> {
    if text.len() > 2048 {
        return Err("url must be at most 2048 characters".into());
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("url must start with https:// or http://")?;
    if !rest.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(
            "url must be printable ASCII without spaces (write a host name in its \
             ASCII form)"
                .into(),
        );
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("url has no host".into());
    }
    if authority.contains('@') {
        return Err("url must not carry a user name or password".into());
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || "._~%!$&'()*+,;=-".contains(c);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, &authority[host.len()..][..port.len() + 1]),
        None => (authority, ""),
    };
    if host.is_empty() || !host.chars().all(name_char) {
        return Err(
            "url must have a host that is a name or an IPv4 address, of letters, digits and \
             . _ ~ % ! $ & ' ( ) * + , ; = - (a name in its ASCII form; give an IPv6 \
             host a name)"
                .into(),
        );
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':').unwrap_or("x");
        let number = (digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
            .then(|| digits.parse::<u16>().ok())
            .flatten();
        if number.is_none_or(|n| n == 0) {
            return Err("url must have a port of 1 to 65535, without leading zeros".into());
        }
    }
    check_host_name(host, allow_private)?;
    let Ok(target) = url_parts::Target::parse(text) else {
        return Ok(());
    };
    if let Some(ip) = target.ip_literal()
        && !allow_private
        && !is_public(ip)
    {
        return Err(format!(
            "url points at {ip}, which is not a public address (loopback, private, \
             link-local and metadata addresses are refused)"
        ));
    }
    // A name is resolved and its addresses checked before every send (and at
    // creation, by the service): plain http is as safe as https there.
    Ok(())
}

/// Refuses a host with an empty label (`a..b`, `.a`; one trailing dot is how DNS
/// writes a full name) and, unless private networks are allowed, the `localhost`
/// names, which always mean this machine (RFC 6761), trailing dot or not.
fn check_host_name(host: &str, allow_private: bool) -> Result<(), String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return Err(
            "url has a host with an empty label (two dots in a row, or a dot first)".into(),
        );
    }
    if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
        return Err(format!(
            "url names {name}, which is not a public address (it is always this machine)"
        ));
    }
    Ok(())
}

/// A webhook URL taken apart, without a URL crate: scheme, host and port are
/// all the checks need.
pub mod url_parts {
    use std::net::IpAddr;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Target {
        pub https: bool,
        pub host: String,
        pub port: u16,
    }

    impl Target {
        pub fn parse(text: &str) -> Result<Target, String> {
            if text.len() > 2048 {
                return Err("url must be at most 2048 characters".into());
            }
            if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("url must not contain spaces or control characters".into());
            }
            let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
                (true, rest)
            } else if let Some(rest) = text.strip_prefix("http://") {
                (false, rest)
            } else {
                return Err("url must start with https:// or http://".into());
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if authority.contains('@') {
                return Err("url must not carry a user name or password".into());
            }
            let (host, port) = split_host_port(authority)?;
            if host.is_empty() {
                return Err("url has no host".into());
            }
            let port = port.unwrap_or(if https { 443 } else { 80 });
            Ok(Target {
                https,
                host: host.to_ascii_lowercase(),
                port,
            })
        }

        pub fn ip_literal(&self) -> Option<IpAddr> {
            self.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        }
    }

    fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
        let bad_port = || "url has an unreadable port".to_string();
        if let Some(rest) = authority.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| "url has an unclosed [ in its host".to_string())?;
            return match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port.parse().map_err(|_| bad_port())?))),
                None if after.is_empty() => Ok((host, None)),
                None => Err(bad_port()),
            };
        }
        match authority.rsplit_once(':') {
            Some((host, port)) => Ok((host, Some(port.parse().map_err(|_| bad_port())?))),
            None => Ok((authority, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SequenceRandom;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends() {
        let random = SequenceRandom::new(1);
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let old = WebhookSecret::generate(&random);
        let endpoint = Endpoint {
            id: new_endpoint_id(&random),
            enterprise: EnterpriseId(1),
            url: "https://example.com/hook".into(),
            description: String::new(),
            event_types: None,
            enabled: true,
            disabled_reason: None,
            secret: WebhookSecret::generate(&random),
            old_secret: Some((old.clone(), now + Duration::hours(1))),
            created_at: now,
            cursor: 0,
            attempts: 0,
            next_attempt_at: None,
            failing_since: None,
            replay: None,
        };
        let during = endpoint.signature("m", now.unix_timestamp(), b"{}", now);
        assert_eq!(during.split(' ').count(), 2);
        assert!(during.contains(&old.sign("m", now.unix_timestamp(), b"{}")));
        let later = now + Duration::hours(2);
        let signature = endpoint.signature("m", later.unix_timestamp(), b"{}", later);
        assert_eq!(signature.split(' ').count(), 1);
    }

    #[test]
    fn only_public_addresses_receive_webhooks() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::",
            "::ffff:0:7f00:1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "100::1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
            "3fff::1",
            "ff02::1",
            "::",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(
            check_url("http://[::1]/hook", true).is_err(),
            "IPv6 hosts need a name"
        );
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://example.com", false).is_err());
        for url in [
            "https://example.com:99999/",
            "https://example.com:0/",
            "https://example.com:0443/",
            "http://localhost./hook",
            "http://api.LOCALHOST/hook",
            "https://a..example.com/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
        }
        assert!(check_url("https://example.com.:65535/", false).is_ok());
        assert!(check_url("https://user:pw@example.com", false).is_err());
        assert!(check_url("https://Example.com:8443/x?y", false).is_ok());
        let target = url_parts::Target::parse("https://Example.com:8443/x?y").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("example.com", 8443));
        assert!(check_url("https://caf\u{e9}.example/", false).is_err());
        assert!(check_url("https://a.example/\u{8d}", false).is_err());
        assert!(check_url("https:///path", false).is_err());
        assert!(check_url("https://[abc/", false).is_err());
        assert!(check_url("https://a]b/", false).is_err());
        assert!(check_url("https://a.example:x/", false).is_err());
        assert!(check_url("https://a.example:443:1/", false).is_err());
        assert!(check_url("https://a.example:99999/x", false).is_err());
        assert!(check_url("https://[2606:2800:220:1::1]:8443/x", false).is_err());
    }

    #[test]
    fn the_schedule_retries_with_jitter_then_gives_up_and_410_disables() {
        let random = SequenceRandom::new(3);
        let schedule = RetrySchedule::default();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let failed = AttemptResult {
            status: Some(500),
            retry_after: None,
        };
        let AfterAttempt::RetryAt(at) = schedule.after(&failed, 1, None, now, &random) else {
            panic!("the first failure is retried");
        };
        let wait = (at - now).as_seconds_f64();
        assert!((4.0..=6.0).contains(&wait), "{wait}");
        assert_eq!(
            schedule.after(&failed, 8, Some(now), now, &random),
            AfterAttempt::GiveUp
        );
        let gone = AttemptResult {
            status: Some(410),
            retry_after: None,
        };
        assert!(matches!(
            schedule.after(&gone, 1, None, now, &random),
            AfterAttempt::Disable(_)
        ));
        let long_ago = now - Duration::days(5);
        assert!(matches!(
            schedule.after(&failed, 1, Some(long_ago), now, &random),
            AfterAttempt::Disable(_)
        ));
        let asked = AttemptResult {
            status: Some(503),
            retry_after: Some(Duration::minutes(10)),
        };
        assert_eq!(
            schedule.after(&asked, 1, None, now, &random),
            AfterAttempt::RetryAt(now + Duration::minutes(10))
        );
        let ok = AttemptResult {
            status: Some(204),
            retry_after: None,
        };
        assert_eq!(
            schedule.after(&ok, 3, Some(now), now, &random),
            AfterAttempt::Delivered
        );
    }
}

/// What became of one attempt, in the deliveries list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Succeeded,
    /// Failed, and will be tried again.
    Pending,
    /// Failed, and given up (or the endpoint was disabled).
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Pending => "pending",
            AttemptStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "succeeded" => Some(AttemptStatus::Succeeded),
            "pending" => Some(AttemptStatus::Pending),
            "failed" => Some(AttemptStatus::Failed),
            _ => None,
        }
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The position in the deliveries list (newest first).
    pub position: i64,
    pub event_id: i64,
    pub message_id: String,
    /// 1 for the first attempt at this message.
    pub attempt: u32,
    pub attempted_at: OffsetDateTime,
    pub status: AttemptStatus,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    /// The first KiB of the answer, or why there was none.
    pub response: String,
}

/// Where an endpoint stands after the dispatcher's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub cursor: i64,
    pub attempts: u32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub failing_since: Option<OffsetDateTime>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub replay: Option<(i64, i64)>,
}

impl Progress {
    pub fn of(endpoint: &Endpoint) -> Progress {
        Progress {
            cursor: endpoint.cursor,
            attempts: endpoint.attempts,
            next_attempt_at: endpoint.next_attempt_at,
            failing_since: endpoint.failing_since,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.clone(),
            replay: endpoint.replay,
        }
    }

    /// Done with `event_id` (delivered, given up or not wanted): on to the next,
    /// or back to where a one-event replay interrupted.
    pub fn done_with(&mut self, event_id: i64) {
        self.cursor = event_id;
        self.attempts = 0;
        self.next_attempt_at = None;
        if let Some((replayed, resume)) = self.replay
            && event_id >= replayed
        {
            self.cursor = resume.max(event_id);
            self.replay = None;
        }
    }
}

/// A change an enterprise makes to one of its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChange {
    Settings {
        url: String,
        description: String,
        event_types: Option<Vec<String>>,
        enabled: bool,
    },
    Rotate {
        secret: WebhookSecret,
        old: WebhookSecret,
        old_until: OffsetDateTime,
    },
    /// Send again every wanted event after this one, in order.
    ReplayAfter(i64),
    /// Send this one event again, then carry on where the endpoint was.
    ReplayOne(i64),
}

/// What an endpoint has yet to send, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub endpoint_id: String,
    /// Events after the endpoint's cursor (some may be of types it does not want).
    pub depth: i64,
    /// When the oldest of them was committed.
    pub oldest: Option<OffsetDateTime>,
}

/// Attempts made by this process, by outcome.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    pub succeeded: std::sync::atomic::AtomicU64,
    pub pending: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

impl DeliveryCounts {
    pub fn count(&self, status: AttemptStatus) {
        let counter = match status {
            AttemptStatus::Succeeded => &self.succeeded,
            AttemptStatus::Pending => &self.pending,
            AttemptStatus::Failed => &self.failed,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
