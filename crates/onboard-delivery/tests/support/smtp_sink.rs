//! A small SMTP server for tests: it speaks just enough SMTP (greeting, EHLO/HELO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT) to take mail from `lettre`, and records
//! each message's envelope and content. Shared by the delivery crate's tests and
//! the CLI's end-to-end test.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as the sink received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without the angle brackets.
    pub to: Vec<String>,
    /// The message: headers and body, dot-unstuffed, lines joined by `\n`.
    pub data: String,
}

impl Mail {
    /// The first run of six digits after "code is " in the message.
    pub fn code(&self) -> Option<String> {
        let start = self.data.find("code is ")? + "code is ".len();
        let digits: String = self.data[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (digits.len() == 6).then_some(digits)
    }
}

/// How the sink answers `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcpt {
    Accept,
    /// `550 5.1.1 <address>: mailbox unavailable` (the reply quotes the address).
    Refuse,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Listens on `127.0.0.1:0` and serves every connection until the runtime ends.
    pub async fn start(rcpt: Rcpt) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("Failed to bind the SMTP sink");
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = SmtpSink {
            port,
            mails: mails.clone(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mails = mails.clone();
                tokio::spawn(async move {
                    let _ = session(stream, rcpt, mails).await;
                });
            }
        });
        sink
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `count` messages arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        for _ in 0..1000 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the SMTP sink got {} messages, not {count}",
            self.mails().len()
        );
    }
}

fn address(argument: &str) -> String {
    argument
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn session(
    stream: TcpStream,
    rcpt: Rcpt,
    mails: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: address(&line["MAIL FROM:".len()..]),
                ..Mail::default()
            };
            "250 2.1.0 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let to = address(&line["RCPT TO:".len()..]);
            match rcpt {
                Rcpt::Accept => {
                    mail.to.push(to);
                    "250 2.1.5 OK\r\n".into()
                }
                Rcpt::Refuse => format!("550 5.1.1 <{to}>: mailbox unavailable\r\n"),
            }
        } else if upper == "DATA" {
            write
                .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                let line = line.strip_prefix('.').map_or(line.as_str(), |l| l);
                data.push(line.to_owned());
            }
            mail.data = data.join("\n");
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            "250 2.0.0 queued\r\n".into()
        } else if upper == "RSET" {
            mail = Mail::default();
            "250 2.0.0 OK\r\n".into()
        } else if upper == "NOOP" {
            "250 2.0.0 OK\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 command not recognised\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}
