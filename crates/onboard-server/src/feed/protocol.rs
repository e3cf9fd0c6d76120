//! The WebSocket protocol of CONTRACT §5: what clients send, what the server
//! answers. Parsing never fails silently: every refusal is an [`ErrorReply`] that the
//! session turns into a `type: "error"` reply naming the action.

use onboard_api::{Reply, ReplyPayload, USERS_FEED};
use serde_json::Value;

/// A well-formed client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Authenticate {
        api_key: String,
    },
    Subscribe {
        feeds: Vec<String>,
        after: Option<i64>,
    },
    Unsubscribe {
        feeds: Vec<String>,
    },
}

/// Why a client message was refused, and the action it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub action: String,
    pub message: String,
}

impl ErrorReply {
    pub fn new(action: &str, message: impl Into<String>) -> Self {
        ErrorReply {
            action: action.to_owned(),
            message: message.into(),
        }
    }
}

pub fn parse(text: &str) -> Result<ClientMessage, ErrorReply> {
    let value: Value = onboard_core::strict_json::parse_str(text)
        .map_err(|e| ErrorReply::new("unknown", format!("the message is refused: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ErrorReply::new(
            "unknown",
            "the message must be a JSON object",
        ));
    };
    let Some(kind) = map.get("type").and_then(Value::as_str) else {
        return Err(ErrorReply::new("unknown", "the message needs a \"type\""));
    };
    match kind {
        "authenticate" => {
            let api_key = map
                .get("apiKey")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| ErrorReply::new(kind, "apiKey is required"))?;
            // The vendor's own examples send `"true"`; both spellings mean yes.
            let enterprise = matches!(map.get("enterprise"), Some(Value::Bool(true)))
                || matches!(map.get("enterprise"), Some(Value::String(s)) if s == "true");
            if !enterprise {
                return Err(ErrorReply::new(
                    kind,
                    "enterprise must be true: this feed serves enterprise keys",
                ));
            }
            Ok(ClientMessage::Authenticate {
                api_key: api_key.to_owned(),
            })
        }
        "subscribe" => {
            let feeds = feeds(kind, map.get("feeds"))?;
            let after = match map.get("after") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    ErrorReply::new(
                        kind,
                        "after must be an event_id: a whole number of 0 or more",
                    )
                })?),
            };
            Ok(ClientMessage::Subscribe { feeds, after })
        }
        "unsubscribe" => Ok(ClientMessage::Unsubscribe {
            feeds: feeds(kind, map.get("feeds"))?,
        }),
        // An empty or long type is not echoed back as the action.
        other if other.is_empty() || other.len() > MAX_ECHOED_TYPE => Err(ErrorReply::new(
            "unknown",
            "unknown message type: expected authenticate, subscribe or unsubscribe",
        )),
        other => Err(ErrorReply::new(
            other,
            format!(
                "unknown message type {other:?}: expected authenticate, subscribe or unsubscribe"
            ),
        )),
    }
}

/// The longest unknown `type` named back in a refusal's action.
const MAX_ECHOED_TYPE: usize = 64;

/// The most feed names one message may carry.
const MAX_FEEDS: usize = 100;

/// The feed names of a subscribe or unsubscribe, each once, in the order given.
/// Names are not judged here: the session accepts the vendor's feeds and refuses
/// the others one by one, so one unknown name does not spoil the rest.
fn feeds(action: &str, value: Option<&Value>) -> Result<Vec<String>, ErrorReply> {
    let items = value
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ErrorReply::new(action, "feeds must be a non-empty array of feed names"))?;
    if items.len() > MAX_FEEDS {
        return Err(ErrorReply::new(
            action,
            format!(
                "feeds may name at most {MAX_FEEDS} feeds, not {}",
                items.len()
            ),
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| ErrorReply::new(action, "feeds must be strings"))?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The vendor's other feeds of the same account: acknowledged, never carrying a
/// message, since Onboard holds no balances, orders or trades.
const VENDOR_ACCOUNT_FEEDS: [&str; 3] = [
    "private.enterprise.users.balances",
    "private.enterprise.users.open-orders",
    "private.enterprise.users.trades",
];

/// The vendor's market feeds, `<prefix><pair>` such as `ticker.sfox.btcusd`.
const VENDOR_MARKET_PREFIXES: [&str; 3] = ["ticker.sfox.", "trades.sfox.", "orderbook.sfox."];

/// Whether `name` is a feed of the vendor's WebSocket API (CONTRACT §5): the users
/// feed, the account's other private feeds, or a market feed of a currency pair.
pub fn is_vendor_feed(name: &str) -> bool {
    name == USERS_FEED
        || VENDOR_ACCOUNT_FEEDS.contains(&name)
        || VENDOR_MARKET_PREFIXES.iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|pair| {
                (2..=24).contains(&pair.len())
                    && pair
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
        })
}

/// The refusal of one name that is no vendor feed; long names are cut short.
pub fn unknown_feed(action: &str, name: &str) -> ErrorReply {
    let shown: String = name.chars().take(MAX_ECHOED_TYPE).collect();
    let cut = if shown.len() < name.len() { "…" } else { "" };
    ErrorReply::new(
        action,
        format!(
            "unknown feed {shown:?}{cut}: Onboard serves {USERS_FEED} and acknowledges the \
             vendor's other feeds"
        ),
    )
}

pub fn success(
    sequence: u64,
    timestamp: i64,
    action: &str,
    feeds: Option<Vec<String>>,
    after: Option<i64>,
) -> Reply {
    Reply {
        r#type: "success".into(),
        sequence,
        timestamp,
        payload: ReplyPayload {
            action: action.into(),
            feeds,
            after,
            message: None,
        },
        action: action.into(),
    }
}

pub fn error(sequence: u64, timestamp: i64, refusal: ErrorReply) -> Reply {
    Reply {
        r#type: "error".into(),
        sequence,
        timestamp,
        payload: ReplyPayload {
            action: refusal.action.clone(),
            feeds: None,
            after: None,
            message: Some(refusal.message),
        },
        action: refusal.action,
    }
}

/// A feed message as text: this connection's envelope (`sequence`, `timestamp`)
/// around the event's payload, which is serialised once for every connection.
/// The same bytes `serde_json` writes for a [`onboard_api::FeedMessage`].
pub fn feed_message(
    sequence: u64,
    timestamp: i64,
    item: &onboard_core::service::FeedItem,
) -> String {
    let payload = item.payload_json();
    let mut text = String::with_capacity(payload.len() + 128);
    text.push_str("{\"sequence\":");
    text.push_str(&sequence.to_string());
    text.push_str(",\"recipient\":\"");
    text.push_str(onboard_api::USERS_FEED);
    text.push_str("\",\"timestamp\":");
    text.push_str(&timestamp.to_string());
    text.push_str(",\"event_id\":");
    text.push_str(&item.event.event_id.to_string());
    text.push_str(",\"payload\":");
    text.push_str(payload);
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spliced_feed_message_is_what_serde_writes() {
        use onboard_api::{EndUserSummary, FeedMessage, FeedToken, Requirements};
        use onboard_core::events::{Event, EventKind};
        use onboard_core::service::FeedItem;
        use onboard_core::user::UserSummary;

        let user = UserSummary::from_stored(EndUserSummary {
            account_type: "individual".into(),
            account_role: "Client".into(),
            user_id: "jane \"q\" doe".into(),
            advisor_user_id: None,
            email: "jane@example.com".into(),
            first_name: "Jäne".into(),
            last_name: "Doe".into(),
            phone_number: "+12223334444".into(),
            status: "PENDING".into(),
            requirements: Requirements {
                email: true,
                sms: true,
            },
        })
        .unwrap();
        let event = Event {
            event_id: 42,
            kind: EventKind::Registered,
            cause: "registered".into(),
            by: None,
            user,
            at: time::OffsetDateTime::UNIX_EPOCH,
            detail: None,
        };
        let token = FeedToken {
            token: "t".repeat(64),
            expires: "2026-12-03T00:00:00.000Z".into(),
            partner_user_id: "jane".into(),
        };
        let item = FeedItem::new(event, Some(token));
        let spliced = feed_message(7, 1_717_005_327_995_988_841, &item);
        let message = FeedMessage {
            sequence: 7,
            recipient: onboard_api::USERS_FEED.into(),
            timestamp: 1_717_005_327_995_988_841,
            event_id: 42,
            payload: item.payload(),
        };
        assert_eq!(spliced, serde_json::to_string(&message).unwrap());
        // Another connection splices the same payload text into its own envelope.
        let other = feed_message(8, 1, &item);
        assert!(other.ends_with(&format!("\"payload\":{}}}", item.payload_json())));
        assert!(other.starts_with("{\"sequence\":8,"));
    }

    #[test]
    fn the_vendor_examples_parse() {
        let auth = r#"{"type":"authenticate","apiKey":"k","enterprise":"true"}"#;
        assert_eq!(
            parse(auth),
            Ok(ClientMessage::Authenticate {
                api_key: "k".into()
            })
        );
        let sub = r#"{"type":"subscribe","feeds":["private.enterprise.users"]}"#;
        assert_eq!(
            parse(sub),
            Ok(ClientMessage::Subscribe {
                feeds: vec![USERS_FEED.into()],
                after: None
            })
        );
    }

    #[test]
    fn refusals_name_the_action() {
        let cases = [
            ("{", "unknown"),
            ("[]", "unknown"),
            (r#"{"feeds":[]}"#, "unknown"),
            (r#"{"type":"authenticate","apiKey":"k"}"#, "authenticate"),
            (r#"{"type":"subscribe","feeds":[7]}"#, "subscribe"),
            (r#"{"type":"subscribe","feeds":[],"after":1}"#, "subscribe"),
            (
                r#"{"type":"subscribe","feeds":["private.enterprise.users"],"after":-1}"#,
                "subscribe",
            ),
            (r#"{"type":"dance"}"#, "dance"),
            // Found by the ws_message fuzz target: an empty type gave an empty action.
            (r#"{"type":"","fr":12}"#, "unknown"),
        ];
        for (text, action) in cases {
            let refusal = parse(text).expect_err(text);
            assert_eq!(refusal.action, action, "{text}");
            assert!(!refusal.message.is_empty());
        }
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
        let refusal = parse(&long).expect_err("a long unknown type");
        assert_eq!(refusal.action, "unknown");
        assert!(refusal.message.len() < 200, "{}", refusal.message);
    }

    #[test]
    fn several_feeds_are_kept_once_each_in_order_and_judged_later() {
        let text = r#"{"type":"subscribe","feeds":["private.enterprise.users.balances",
            "private.enterprise.users","nope","private.enterprise.users"]}"#;
        let ClientMessage::Subscribe { feeds, .. } = parse(text).unwrap() else {
            panic!("not a subscribe");
        };
        assert_eq!(
            feeds,
            ["private.enterprise.users.balances", USERS_FEED, "nope"]
        );
        let many = format!(r#"{{"type":"subscribe","feeds":{:?}}}"#, vec!["x"; 101]);
        assert!(parse(&many).is_err());
    }

    #[test]
    fn the_vendor_feeds_are_known_and_nothing_else() {
        for name in [
            USERS_FEED,
            "private.enterprise.users.balances",
            "private.enterprise.users.open-orders",
            "private.enterprise.users.trades",
            "ticker.sfox.btcusd",
            "trades.sfox.ethbtc",
            "orderbook.sfox.usdcusd",
        ] {
            assert!(is_vendor_feed(name), "{name}");
        }
        for name in [
            "",
            "private.other",
            "private.enterprise.users.",
            "ticker.sfox.",
            "ticker.sfox.BTCUSD",
            "ticker.sfox.btc-usd",
            "ticker.kraken.btcusd",
        ] {
            assert!(!is_vendor_feed(name), "{name}");
        }
        let refusal = unknown_feed("subscribe", &"y".repeat(1000));
        assert!(refusal.message.len() < 200, "{}", refusal.message);
    }
}
