//! feed-fanout: registrations driven as fast as the server takes them (the
//! driver's full concurrency) while 1,000 subscribers count what they receive;
//! then a bounded wait for everyone to catch up. A subscriber still short of the
//! count after that wait fell behind for good.
//!
//! Messages/s is every message delivered, divided by the time from the first
//! registration to the last arrival. Floor: the floor server fed the same number
//! of registrations by the same driver, broadcasting the same message bytes from
//! memory to the same number of subscribers.

use std::time::{Duration, Instant};

use super::feed_latency::warm_up;
use super::register::{Http, register_load};
use super::{Ctx, Onboard};
use crate::driver::{self, Load};
use crate::process::{serve_floor, stop};
use crate::report::{Better, Row};
use crate::subscribers::{Counters, spawn_counting_readers, subscribe_many};

const NAME: &str = "feed-fanout";

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let plan = &ctx.plan;
    let onboard = Onboard::start(ctx, NAME, 0).await?;
    let load = Load {
        max_time: plan.fanout_time,
        ..plan.register_load()
    };
    let (ours, captured) = fan_out(
        ctx,
        &onboard.served.base,
        &onboard.served.ws,
        &onboard.key,
        load,
    )
    .await?;
    stop(onboard.served).await;

    let dir = ctx.folder("feed-fanout-floor")?;
    let capacity = (ours.registered as usize + 64).next_power_of_two();
    captured.config(capacity).write(&dir.join("floor.json"))?;
    let floor_server = serve_floor(&dir.join("floor.json"), &dir).await?;
    let same_count = Load {
        max_requests: ours.registered,
        max_time: plan.fanout_time * 10,
        ..load
    };
    let (floor, _) = fan_out(
        ctx,
        &floor_server.base,
        &floor_server.ws,
        &onboard.key,
        same_count,
    )
    .await?;
    stop(floor_server).await;

    let n = plan.fanout_subscribers;
    Ok(vec![
        Row::new(
            NAME,
            &format!("registrations/s, {n} subscribers"),
            "users/s",
            Better::Higher,
            ours.registrations_per_s,
        )
        .note(format!(
            "{} registrations by {} workers",
            ours.registered, load.concurrency
        )),
        Row::new(
            NAME,
            "messages/s delivered",
            "msg/s",
            Better::Higher,
            ours.messages_per_s,
        )
        .floor(floor.messages_per_s)
        .ratio_target(0.6)
        .note(format!(
            "{} of {} messages delivered; floor: {} of {}",
            ours.delivered, ours.expected, floor.delivered, floor.expected
        )),
        Row::new(
            NAME,
            "catch-up after the last 201",
            "ms",
            Better::Lower,
            ours.catch_up_ms,
        )
        .floor(floor.catch_up_ms),
        Row::new(
            NAME,
            "subscribers behind for good",
            "subscribers",
            Better::Lower,
            ours.behind as f64,
        )
        .at_most(0.0)
        .note(format!(
            "after waiting up to {:?} for them to catch up",
            plan.drain
        )),
    ])
}

struct FanOut {
    registered: u64,
    registrations_per_s: f64,
    expected: u64,
    delivered: u64,
    messages_per_s: f64,
    catch_up_ms: f64,
    behind: usize,
}

async fn fan_out(
    ctx: &Ctx,
    base: &str,
    ws: &str,
    key: &str,
    load: Load,
) -> anyhow::Result<(FanOut, super::feed_latency::Captured)> {
    let plan = &ctx.plan;
    let url = format!("{base}/v1/enterprise/register-account");
    let http = Http::new(driver::client(load.concurrency), url, key.to_owned());
    let mut subs = subscribe_many(ws, key, plan.fanout_subscribers, plan.connect_in_flight).await?;
    let captured = warm_up(&http, &mut subs, "fan_warm").await?;
    let (_readers, counters) = spawn_counting_readers(subs);
    let started = Instant::now();
    let outcome = register_load(&http, "fan_", load).await;
    outcome.check("feed-fanout registrations")?;
    let last_ack = Instant::now();
    let expected = outcome.ok;
    wait_caught_up(&counters, expected, plan.drain).await;
    let delivered = counters.total();
    let last = counters.last_arrival();
    let span = last
        .saturating_duration_since(started)
        .as_secs_f64()
        .max(1e-9);
    let fan = FanOut {
        registered: outcome.ok,
        registrations_per_s: outcome.per_second(),
        expected: expected * plan.fanout_subscribers as u64,
        delivered,
        messages_per_s: delivered as f64 / span,
        catch_up_ms: last.saturating_duration_since(last_ack).as_secs_f64() * 1000.0,
        behind: counters.behind(expected),
    };
    eprintln!(
        "  {base}: {} registrations, {} messages, {} behind",
        fan.registered, fan.delivered, fan.behind
    );
    Ok((fan, captured))
}

/// Waits until every subscriber has `expected` messages, or `patience` passes.
async fn wait_caught_up(counters: &Counters, expected: u64, patience: Duration) {
    let deadline = Instant::now() + patience;
    while counters.behind(expected) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
