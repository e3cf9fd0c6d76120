//! idle-connections: the server's RSS per idle WebSocket connection that has
//! authenticated and subscribed, with 10,000 such connections at full size.
//!
//! RSS is read before (with one subscriber already there, so the enterprise's
//! channel and tailer exist) and after every connection is open and settled; the
//! difference over the count is the cost of one. The client side lives in the
//! bench process, not in the measured one. Floor: the floor server, whose
//! sessions hold a broadcast receiver behind the same WebSocket buffers.

use std::time::Duration;

use super::{Ctx, Onboard};
use crate::floor::FloorConfig;
use crate::process::{Memory, Served, serve_floor, stop};
use crate::report::{Better, Row};
use crate::subscribers::{spawn_idle_readers, subscribe, subscribe_many};

const NAME: &str = "idle-connections";
/// Time for the server to finish whatever the last handshakes started.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let onboard = Onboard::start(ctx, NAME, 0).await?;
    let replies = subscribe(&onboard.served.ws, &onboard.key)
        .await?
        .replies
        .to_vec();
    let ours = per_connection(ctx, &onboard.served, &onboard.key).await?;
    stop(onboard.served).await;

    let dir = ctx.folder("idle-floor")?;
    let config = FloorConfig {
        replies,
        channel_capacity: 1024,
        ..FloorConfig::default()
    };
    config.write(&dir.join("floor.json"))?;
    let floor_server = serve_floor(&dir.join("floor.json"), &dir).await?;
    let floor = per_connection(ctx, &floor_server, &onboard.key).await?;
    stop(floor_server).await;

    let n = ctx.plan.idle_connections;
    let mut note = format!(
        "RSS {} -> {} KiB; floor {} -> {} KiB",
        ours.before_kib, ours.after_kib, floor.before_kib, floor.after_kib
    );
    if let Some(limit) = &ctx.nofile_note {
        note.push_str(&format!("; {limit}"));
    }
    Ok(vec![
        Row::new(
            NAME,
            &format!("RSS per connection, {n} connections"),
            "KiB",
            Better::Lower,
            ours.per_connection_kib,
        )
        .floor(floor.per_connection_kib)
        .at_most(10.0)
        .note(note),
    ])
}

struct Idle {
    before_kib: u64,
    after_kib: u64,
    per_connection_kib: f64,
}

async fn per_connection(ctx: &Ctx, served: &Served, key: &str) -> anyhow::Result<Idle> {
    let plan = &ctx.plan;
    let first = subscribe(&served.ws, key).await?;
    tokio::time::sleep(SETTLE).await;
    let before = Memory::of(served)?.rss_kib;
    let subs = subscribe_many(
        &served.ws,
        key,
        plan.idle_connections,
        plan.connect_in_flight,
    )
    .await?;
    let _readers = spawn_idle_readers(subs);
    tokio::time::sleep(SETTLE).await;
    let after = Memory::of(served)?.rss_kib;
    drop(first);
    Ok(Idle {
        before_kib: before,
        after_kib: after,
        per_connection_kib: after.saturating_sub(before) as f64 / plan.idle_connections as f64,
    })
}
