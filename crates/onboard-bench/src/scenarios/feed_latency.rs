//! feed-latency: the time from a registration's 201 to its message at each
//! subscriber, with 1, 100 and 1,000 subscribers. Registrations go one at a
//! time, the next only once every subscriber has the last, so nothing queues.
//!
//! A message can arrive before its 201 (the event commits before the first email
//! code is stored and the answer sent); such a message counts as 0 ms and the
//! note says how many there were. The end-to-end time from sending the request
//! is reported beside it. Floor: the floor server, which broadcasts the same
//! message bytes from memory and then answers 201.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use tokio::sync::mpsc;

use super::register::Http;
use super::{Ctx, Onboard};
use crate::dataset::user_id;
use crate::driver;
use crate::floor::FloorConfig;
use crate::process::{serve_floor, stop};
use crate::report::{Better, Row};
use crate::stats::{Latencies, ms};
use crate::subscribers::{
    Subscribed, next_text, spawn_arrival_readers, subscribe_many, user_id_in,
};

const NAME: &str = "feed-latency";
/// How long a message may take before the run is declared broken.
const PATIENCE: Duration = Duration::from_secs(30);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let onboard = Onboard::start(ctx, NAME, 0).await?;
    let (ours, captured) =
        measure_all(ctx, &onboard.served.base, &onboard.served.ws, &onboard.key).await?;
    stop(onboard.served).await;

    let dir = ctx.folder("feed-latency-floor")?;
    captured.config(1024).write(&dir.join("floor.json"))?;
    let floor_server = serve_floor(&dir.join("floor.json"), &dir).await?;
    let (floor, _) = measure_all(ctx, &floor_server.base, &floor_server.ws, &onboard.key).await?;
    stop(floor_server).await;

    let mut rows = Vec::new();
    for ((n, mut ours), (_, mut floor)) in ours.into_iter().zip(floor) {
        let label = |what: &str| format!("{what}, {n} subscribers");
        let p99 = Row::new(
            NAME,
            &label("p99 after the 201"),
            "ms",
            Better::Lower,
            ours.after.p99_ms(),
        )
        .floor(floor.after.p99_ms());
        rows.push(
            Row::new(
                NAME,
                &label("p50 after the 201"),
                "ms",
                Better::Lower,
                ours.after.p50_ms(),
            )
            .floor(floor.after.p50_ms())
            .note(format!(
                "{} of {} messages arrived before their 201 (counted as 0 ms); floor: {} of {}",
                ours.early,
                ours.after.len(),
                floor.early,
                floor.after.len()
            )),
        );
        rows.push(if n >= 1000 { p99.at_most(10.0) } else { p99 });
        rows.push(
            Row::new(
                NAME,
                &label("p99 from the request"),
                "ms",
                Better::Lower,
                ours.end_to_end.p99_ms(),
            )
            .floor(floor.end_to_end.p99_ms()),
        );
    }
    Ok(rows)
}

/// What a round saw, for each subscriber count.
#[derive(Default)]
pub struct Measured {
    /// Arrival minus the 201, negatives as zero.
    after: Latencies,
    /// Arrival minus the moment the request was sent.
    end_to_end: Latencies,
    early: u64,
}

/// Answers captured from our server, for the floor to repeat.
pub struct Captured {
    pub register_body: String,
    pub feed_message: String,
    pub template_user_id: String,
    pub replies: Vec<String>,
}

impl Captured {
    pub fn config(&self, channel_capacity: usize) -> FloorConfig {
        FloorConfig {
            get_body: String::new(),
            register_body: self.register_body.clone(),
            feed_message: self.feed_message.clone(),
            template_user_id: self.template_user_id.clone(),
            replies: self.replies.clone(),
            channel_capacity,
        }
    }
}

async fn measure_all(
    ctx: &Ctx,
    base: &str,
    ws: &str,
    key: &str,
) -> anyhow::Result<(Vec<(usize, Measured)>, Captured)> {
    let plan = &ctx.plan;
    let url = format!("{base}/v1/enterprise/register-account");
    let http = Http::new(driver::client(1), url, key.to_owned());
    let mut out = Vec::new();
    let mut first = None;
    for (round, &n) in plan.latency_subscribers.iter().enumerate() {
        let mut subs = subscribe_many(ws, key, n, plan.connect_in_flight).await?;
        let prefix = format!("lat{round}_");
        let captured = warm_up(&http, &mut subs, &format!("{prefix}warm")).await?;
        first.get_or_insert(captured);
        out.push((
            n,
            measure(&http, subs, &prefix, plan.latency_samples).await?,
        ));
    }
    Ok((out, first.context("no subscriber count to measure")?))
}

/// One registration that every subscriber must see; its 201 body and message
/// become the floor's answers.
pub async fn warm_up(http: &Http, subs: &mut [Subscribed], uid: &str) -> anyhow::Result<Captured> {
    let register_body = http.post_capture(uid).await?;
    let mut feed_message = String::new();
    for s in subs.iter_mut() {
        let text = tokio::time::timeout(PATIENCE, next_text(&mut s.ws))
            .await
            .context("a subscriber did not get the warm-up message")??;
        anyhow::ensure!(
            user_id_in(&text) == Some(uid),
            "unexpected first message: {text}"
        );
        if feed_message.is_empty() {
            feed_message = text;
        }
    }
    Ok(Captured {
        register_body,
        feed_message,
        template_user_id: uid.to_owned(),
        replies: subs.first().map(|s| s.replies.to_vec()).unwrap_or_default(),
    })
}

async fn measure(
    http: &Http,
    subs: Vec<Subscribed>,
    prefix: &str,
    samples: u64,
) -> anyhow::Result<Measured> {
    let n = subs.len();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _readers = spawn_arrival_readers(subs, tx);
    let mut stray: HashMap<String, Vec<Instant>> = HashMap::new();
    let mut m = Measured::default();
    for i in 0..samples {
        let uid = user_id(prefix, i);
        let sent = Instant::now();
        http.post(&uid)
            .await
            .map_err(|e| anyhow!("register failed: {e}"))?;
        let acked = Instant::now();
        let mut got = stray.remove(&uid).unwrap_or_default();
        while got.len() < n {
            let (who, at) = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .with_context(|| {
                    format!(
                        "{} of {n} subscribers got no message in {PATIENCE:?}",
                        n - got.len()
                    )
                })?
                .context("every subscriber's connection ended")?;
            if who == uid {
                got.push(at)
            } else {
                stray.entry(who).or_default().push(at)
            }
        }
        for at in got {
            m.early += u64::from(at < acked);
            m.after.push(at.saturating_duration_since(acked));
            m.end_to_end.push(at.saturating_duration_since(sent));
        }
    }
    progress(prefix, &mut m);
    Ok(m)
}

/// A line on stderr per round: progress for whoever watches a long run.
fn progress(prefix: &str, m: &mut Measured) {
    eprintln!(
        "  {prefix}: {} arrivals, p99 after 201 {:.2} ms",
        m.after.len(),
        ms(m.after.percentile(99.0))
    );
}
