//! get-user: `GET /v1/enterprise/users/{user_id}` over the stored users, at fixed
//! concurrency. Floor: the floor server answering the same bytes from memory.

use std::sync::Arc;

use super::{Ctx, Onboard, USERS, capture_get};
use crate::dataset::user_id;
use crate::driver::{self, Load, Outcome};
use crate::floor::FloorConfig;
use crate::process::{serve_floor, stop};
use crate::report::{Better, Row};

const NAME: &str = "get-user";

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let plan = &ctx.plan;
    let onboard = Onboard::start(ctx, NAME, plan.users).await?;
    let base = onboard.served.base.clone();
    let client = driver::client(plan.load.concurrency);
    let sample = capture_get(&client, &user_url(&base, 0), &onboard.key).await?;
    let targets = Targets::new(&base, &onboard.key, plan.users);
    get_load(&client, &targets, plan.warmup_load()).await;
    let mut ours = get_load(&client, &targets, plan.load).await;
    ours.check("get-user, ours")?;
    stop(onboard.served).await;

    let dir = ctx.folder("get-user-floor")?;
    let config = FloorConfig {
        get_body: sample,
        ..FloorConfig::default()
    };
    config.write(&dir.join("floor.json"))?;
    let floor_server = serve_floor(&dir.join("floor.json"), &dir).await?;
    let targets = Targets::new(&floor_server.base, &onboard.key, plan.users);
    get_load(&client, &targets, plan.warmup_load()).await;
    let mut floor = get_load(&client, &targets, plan.load).await;
    floor.check("get-user, floor")?;
    stop(floor_server).await;
    let label = format!("{} users", plan.users);
    let mut out = rows(NAME, &label, &mut ours, &mut floor);
    out[0] = out[0]
        .clone()
        .ratio_target(0.5)
        .note("floor: axum answering the same response bytes from memory, same client");
    Ok(out)
}

/// Who to ask for which user: a spread over all stored users.
pub struct Targets {
    base: String,
    key: String,
    users: u64,
}

impl Targets {
    pub fn new(base: &str, key: &str, users: u64) -> Arc<Targets> {
        Arc::new(Targets {
            base: base.to_owned(),
            key: key.to_owned(),
            users,
        })
    }

    /// A multiplicative hash spreads `i` over the users without a RNG.
    fn url(&self, i: u64) -> String {
        let spread = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
        user_url(&self.base, spread % self.users.max(1))
    }
}

fn user_url(base: &str, i: u64) -> String {
    format!("{base}/v1/enterprise/users/{}", user_id(USERS, i))
}

async fn get_load(client: &reqwest::Client, targets: &Arc<Targets>, load: Load) -> Outcome {
    let (client, targets) = (client.clone(), targets.clone());
    driver::drive(load, move |i| {
        let (client, targets) = (client.clone(), targets.clone());
        async move { driver::get_ok(&client, targets.url(i), &targets.key).await }
    })
    .await
}

/// requests/s, p50 and p99 of an HTTP measurement against its floor.
pub fn rows(scenario: &str, label: &str, ours: &mut Outcome, floor: &mut Outcome) -> Vec<Row> {
    let metric = |what: &str| format!("{what}, {label}");
    vec![
        Row::new(
            scenario,
            &metric("requests/s"),
            "req/s",
            Better::Higher,
            ours.per_second(),
        )
        .floor(floor.per_second()),
        Row::new(
            scenario,
            &metric("p50"),
            "ms",
            Better::Lower,
            ours.latencies.p50_ms(),
        )
        .floor(floor.latencies.p50_ms()),
        Row::new(
            scenario,
            &metric("p99"),
            "ms",
            Better::Lower,
            ours.latencies.p99_ms(),
        )
        .floor(floor.latencies.p99_ms()),
    ]
}
