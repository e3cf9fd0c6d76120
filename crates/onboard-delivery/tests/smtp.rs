//! The SMTP channel against a real (tiny) SMTP server on loopback.

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use onboard_core::delivery::{CodeMessage, Deliver};
use onboard_core::random::OsRandom;
use onboard_core::store::EnterpriseId;
use onboard_core::verification::{Channel, Code};
use onboard_delivery::smtp::{SmtpChannel, SmtpConfig, TlsMode};
use time::OffsetDateTime;

use smtp_sink::{Rcpt, SmtpSink};

const TO: &str = "jane.doe@example.com";

fn channel(port: u16) -> SmtpChannel {
    SmtpChannel::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "Onboard <no-reply@onboard.test>".into(),
    })
    .expect("a valid SMTP configuration")
}

fn message(to: &str) -> CodeMessage {
    CodeMessage {
        enterprise: EnterpriseId(1),
        user_id: "jane".into(),
        channel: Channel::Email,
        to: to.into(),
        code: Code::generate(&OsRandom),
        sent_at: OffsetDateTime::now_utc(),
    }
}

#[tokio::test]
async fn an_email_code_reaches_the_smtp_server_with_its_envelope_and_digits() {
    let sink = SmtpSink::start(Rcpt::Accept).await;
    let message = message(TO);

    channel(sink.port)
        .deliver(&message)
        .await
        .expect("delivered");

    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "no-reply@onboard.test");
    assert_eq!(mail.to, [TO]);
    assert_eq!(mail.code().as_deref(), Some(message.code.expose()));
    assert!(mail.data.contains(&message.text()), "{}", mail.data);
    for header in [
        "Subject: Your verification code",
        "To: jane.doe@example.com",
        "From: Onboard <no-reply@onboard.test>",
    ] {
        assert!(
            mail.data.lines().any(|l| l == header),
            "no {header:?} in {}",
            mail.data
        );
    }
}

#[tokio::test]
async fn each_delivery_is_its_own_message() {
    let sink = SmtpSink::start(Rcpt::Accept).await;
    let channel = channel(sink.port);
    let first = message("first@example.com");
    let second = message("second@example.com");
    channel.deliver(&first).await.expect("delivered");
    channel.deliver(&second).await.expect("delivered");

    let mails = sink.wait_for(2).await;
    let got: Vec<(Vec<String>, Option<String>)> =
        mails.iter().map(|m| (m.to.clone(), m.code())).collect();
    assert_eq!(
        got,
        [
            (
                vec!["first@example.com".to_owned()],
                Some(first.code.expose().to_owned())
            ),
            (
                vec!["second@example.com".to_owned()],
                Some(second.code.expose().to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn a_refused_recipient_is_an_error_that_names_neither_address_nor_code() {
    let sink = SmtpSink::start(Rcpt::Refuse).await;
    let message = message(TO);

    let error = channel(sink.port)
        .deliver(&message)
        .await
        .expect_err("the server refused the recipient");

    let sentence = error.to_string();
    assert!(sentence.contains("refused"), "{sentence}");
    for secret in [TO, "jane.doe", message.code.expose()] {
        assert!(
            !sentence.contains(secret),
            "{secret} leaked in {sentence:?}"
        );
    }
    assert!(sink.mails().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_that_names_neither_address_nor_code() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let message = message(TO);
    let error = channel(port)
        .deliver(&message)
        .await
        .expect_err("nothing listens");
    let sentence = error.to_string();
    for secret in [TO, message.code.expose()] {
        assert!(
            !sentence.contains(secret),
            "{secret} leaked in {sentence:?}"
        );
    }
}

#[test]
fn a_sender_that_is_not_an_address_is_refused_at_startup() {
    let refused = SmtpChannel::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(25),
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "not an address".into(),
    });
    let error = refused.err().expect("the sender is refused");
    assert!(error.contains("not a valid address"), "{error}");
}
