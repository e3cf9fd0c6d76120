//! The feed client against a scripted WebSocket server on loopback, which does
//! what the real server only does in rare moments: it pings, repeats events,
//! drops the connection mid-stream, refuses for a moment, warns, and finally
//! says the history is gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use onboard_api::{
    ClientMessage, FeedMessage, FeedPayload, FeedRequirements, Reply, ReplyPayload, USERS_FEED,
};
use onboard_client::{Backoff, FeedClient, FeedError, FeedUpdate};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Socket = WebSocketStream<TcpStream>;

/// What the server saw of its clients.
#[derive(Debug, Default)]
struct Seen {
    /// The `after` of each subscribe, one per connection.
    afters: Vec<Option<i64>>,
    keys: Vec<String>,
    pong: bool,
}

async fn receive(socket: &mut Socket) -> ClientMessage {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the client speaks within 10 s")
            .expect("the client stays connected")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).expect("a client message");
        }
    }
}

async fn send(socket: &mut Socket, value: &impl serde::Serialize) {
    let text = serde_json::to_string(value).unwrap();
    socket.send(Message::text(text)).await.unwrap();
}

fn reply(sequence: u64, action: &str, after: Option<i64>, error: Option<&str>) -> Reply {
    Reply {
        r#type: if error.is_some() { "error" } else { "success" }.into(),
        sequence,
        timestamp: 1_717_005_327_995_988_841,
        payload: ReplyPayload {
            action: action.into(),
            feeds: None,
            after,
            message: error.map(str::to_owned),
        },
        action: action.into(),
    }
}

fn event(sequence: u64, event_id: i64) -> FeedMessage {
    FeedMessage {
        sequence,
        recipient: USERS_FEED.into(),
        timestamp: 1_717_005_327_995_988_841,
        event_id,
        payload: FeedPayload {
            user_id: format!("u-{event_id}"),
            first_name: "Jane".into(),
            last_name: "Smith".into(),
            email: "jane@example.com".into(),
            phone_number: "+12243987754".into(),
            account_role: "Client".into(),
            account_type: "individual".into(),
            status: "PENDING".into(),
            user_token: None,
            requirements: FeedRequirements {
                sms: true,
                email: true,
            },
        },
    }
}

/// Reads authenticate and subscribe, noting what they carried.
async fn handshake(socket: &mut Socket, seen: &Mutex<Seen>) {
    let ClientMessage::Authenticate {
        api_key,
        enterprise,
    } = receive(socket).await
    else {
        panic!("authenticate comes first");
    };
    assert!(enterprise);
    let ClientMessage::Subscribe { feeds, after } = receive(socket).await else {
        panic!("subscribe comes second");
    };
    assert_eq!(feeds, [USERS_FEED]);
    let mut seen = seen.lock().unwrap();
    seen.keys.push(api_key);
    seen.afters.push(after);
}

async fn script(listener: TcpListener, seen: Arc<Mutex<Seen>>) {
    // 1: a live start at 0, a ping, events 1 and 2 (each sent twice), then a drop
    //    without a goodbye.
    let (tcp, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    handshake(&mut socket, &seen).await;
    send(&mut socket, &reply(1, "authenticate", None, None)).await;
    send(&mut socket, &reply(2, "subscribe", Some(0), None)).await;
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a pong within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Pong(data) = frame {
            assert_eq!(data.as_ref(), b"are you there");
            seen.lock().unwrap().pong = true;
            break;
        }
    }
    for (sequence, id) in [(3, 1), (4, 1), (5, 2), (6, 1), (7, 2)] {
        send(&mut socket, &event(sequence, id)).await;
    }
    drop(socket);

    // 2: a passing trouble: the same request will do on a new connection.
    let (tcp, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    handshake(&mut socket, &seen).await;
    send(&mut socket, &reply(1, "authenticate", None, None)).await;
    let busy = "the event log is unavailable; try again shortly";
    send(&mut socket, &reply(2, "subscribe", None, Some(busy))).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;

    // 3: resumed after 2; event 3, a warning, then the history is gone.
    let (tcp, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    handshake(&mut socket, &seen).await;
    send(&mut socket, &reply(1, "authenticate", None, None)).await;
    send(&mut socket, &reply(2, "subscribe", Some(2), None)).await;
    send(&mut socket, &event(3, 2)).await;
    send(&mut socket, &event(4, 3)).await;
    let warning = "slow down";
    send(&mut socket, &reply(5, "unknown", None, Some(warning))).await;
    let gone = "events after 3 are no longer held (the oldest held is 9)";
    send(&mut socket, &reply(6, "subscribe", None, Some(gone))).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
}

#[tokio::test]
async fn pings_are_answered_repeats_skipped_drops_resumed_and_lost_history_is_fatal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = tokio::spawn(script(listener, seen.clone()));

    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let feed = FeedClient::new(&url, "the-key").unwrap().backoff(backoff);
    let mut subscription = feed.subscribe(None);
    let mut updates = Vec::new();
    let error = loop {
        let next = tokio::time::timeout(Duration::from_secs(20), subscription.next())
            .await
            .expect("the script ends within 20 s");
        match next {
            Ok(update) => updates.push(update),
            Err(error) => break error,
        }
        assert!(updates.len() < 50, "the script ends: {updates:?}");
    };
    server.await.expect("the script ran to its end");

    let story: Vec<String> = updates
        .iter()
        .map(|u| match u {
            FeedUpdate::Message(m) => format!("event {}", m.event_id),
            FeedUpdate::Subscribed { after } => format!("subscribed after {after}"),
            FeedUpdate::Reconnecting { delay, .. } => format!("retry in {}", delay.as_millis()),
            FeedUpdate::ServerError { action, message } => format!("{action}: {message}"),
        })
        .collect();
    assert_eq!(
        story,
        [
            "subscribed after 0",
            "event 1",
            "event 2",
            "retry in 20",
            "retry in 40",
            "subscribed after 2",
            "event 3",
            "unknown: slow down",
        ]
    );
    assert_eq!(
        error,
        FeedError::SubscribeRefused(
            "events after 3 are no longer held (the oldest held is 9)".into()
        )
    );
    assert_eq!(subscription.after(), Some(3));
    let seen = seen.lock().unwrap();
    assert!(seen.pong, "the ping was answered");
    assert_eq!(seen.afters, [None, Some(2), Some(2)]);
    assert_eq!(seen.keys, ["the-key"; 3]);
}
