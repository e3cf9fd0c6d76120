//! list-users: the full streamed list and a 100-item page from the middle, at each
//! list size (100,000 then 1,000,000 users at full size).
//!
//! Floors: for the full list, reading the same rows with the same library
//! (rusqlite, the same keyset query over the stored list JSON, 500 rows a page) in the bench:
//! the database work that no server can skip. For the page, the floor server
//! answering the same bytes, as in get-user. RSS growth is the server's peak RSS
//! during the list (reset through `/proc/<pid>/clear_refs`) minus its RSS before.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

use super::get_user::rows as http_rows;
use super::{Ctx, Onboard, capture_get};
use crate::driver::{self, Load, Outcome};
use crate::floor::FloorConfig;
use crate::process::{Memory, serve_floor, stop};
use crate::report::{Better, Row};

const NAME: &str = "list-users";
/// The server's page size while streaming (`STREAM_PAGE` in onboard-server).
const PAGE: i64 = 500;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        ctx.postgres_url.is_none(),
        "list-users reads its full-list floor straight from SQLite; on PostgreSQL it is \
         not implemented yet"
    );
    let mut rows = Vec::new();
    let mut onboard: Option<Onboard> = None;
    let mut loaded = 0;
    for &size in &ctx.plan.list_sizes {
        let current = match onboard.take() {
            None => Onboard::start(ctx, NAME, size).await?,
            Some(previous) => previous.grow(ctx, loaded, size).await?,
        };
        loaded = size;
        rows.extend(full_list(&current, size).await?);
        rows.extend(middle_page(ctx, &current, size).await?);
        onboard = Some(current);
    }
    if let Some(onboard) = onboard {
        stop(onboard.served).await;
    }
    Ok(rows)
}

async fn full_list(onboard: &Onboard, size: u64) -> anyhow::Result<Vec<Row>> {
    let served = &onboard.served;
    let client = driver::client(1);
    let url = format!("{}/v1/enterprise/users", served.base);
    Memory::reset_peak(served)?;
    let before = Memory::of(served)?;
    let started = Instant::now();
    let listed = stream_list(&client, &url, &onboard.key).await?;
    let elapsed = started.elapsed();
    let after = Memory::of(served)?;
    anyhow::ensure!(
        listed.users == size,
        "the full list held {} users, not {size}",
        listed.users
    );
    let path = onboard.database.sqlite_path()?;
    let floor = read_rows(path, &onboard.enterprise, size).await?;
    let growth_mib = after.peak_kib.saturating_sub(before.rss_kib) as f64 / 1024.0;
    let mb_per_s = listed.bytes as f64 / 1e6 / elapsed.as_secs_f64();
    Ok(vec![
        Row::new(
            NAME,
            &format!("full list time, {size} users"),
            "s",
            Better::Lower,
            elapsed.as_secs_f64(),
        )
        .floor(floor.as_secs_f64())
        .note("floor: the same rows read with rusqlite, same keyset query, 500 a page"),
        Row::new(
            NAME,
            &format!("full list MB/s, {size} users"),
            "MB/s",
            Better::Higher,
            mb_per_s,
        )
        .note(format!("{} bytes streamed", listed.bytes)),
        Row::new(
            NAME,
            &format!("peak RSS growth, {size} users"),
            "MiB",
            Better::Lower,
            growth_mib,
        )
        .at_most(64.0)
        .note(format!(
            "RSS {} KiB before, peak {} KiB",
            before.rss_kib, after.peak_kib
        )),
    ])
}

struct Listed {
    bytes: u64,
    users: u64,
}

/// Reads the streamed list to its end, counting bytes and users as they pass.
async fn stream_list(client: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<Listed> {
    let mut response = client
        .get(url)
        .bearer_auth(key)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .context("Failed to ask for the full list")?;
    anyhow::ensure!(
        response.status().is_success(),
        "the list answered {}",
        response.status()
    );
    let mut listed = Listed { bytes: 0, users: 0 };
    let mut tail: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.context("the list stream failed")? {
        listed.bytes += chunk.len() as u64;
        listed.users += count_users(&mut tail, &chunk);
    }
    Ok(listed)
}

const USER_KEY: &str = r#""user_id":""#;

/// Occurrences of `"user_id":"` in `chunk`, including one split across the
/// previous chunk (whose last bytes are kept in `tail`).
fn count_users(tail: &mut Vec<u8>, chunk: &[u8]) -> u64 {
    let keep = USER_KEY.len() - 1;
    let head = &chunk[..chunk.len().min(keep)];
    let mut seam = tail.clone();
    seam.extend_from_slice(head);
    let across = String::from_utf8_lossy(&seam).matches(USER_KEY).count();
    let within = String::from_utf8_lossy(chunk).matches(USER_KEY).count();
    // The next seam starts with the last `keep` bytes seen, which may reach back
    // into earlier chunks when this one is short.
    tail.extend_from_slice(&chunk[chunk.len().saturating_sub(keep)..]);
    let excess = tail.len().saturating_sub(keep);
    tail.drain(..excess);
    (across + within) as u64
}

/// The floor of the full list: the same rows, same query, same library, on a
/// thread of its own.
async fn read_rows(path: &Path, enterprise: &str, expected: u64) -> anyhow::Result<Duration> {
    let (path, enterprise) = (path.to_owned(), enterprise.to_owned());
    // On the server's cores, like the server's own reads.
    let (read, elapsed) = crate::pin::on_server_cores(move || async move {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        let enterprise = crate::dataset::enterprise_id(&conn, &enterprise)?;
        let started = Instant::now();
        let read = read_all(&conn, enterprise)?;
        anyhow::Ok((read, started.elapsed()))
    })
    .await??;
    anyhow::ensure!(
        read == expected,
        "the floor read {read} users, not {expected}"
    );
    Ok(elapsed)
}

fn read_all(conn: &Connection, enterprise: i64) -> anyhow::Result<u64> {
    // The server's own statement: each user's list shape, stored with its row.
    const SQL: &str = "SELECT position, \
        CASE WHEN rendered_at = updated_at THEN list_json END AS list_json FROM users \
        WHERE enterprise_id = ?1 AND active = 1 AND position > ?2 ORDER BY position LIMIT ?3";
    let mut statement = conn.prepare(SQL)?;
    let (mut after, mut read) = (0_i64, 0_u64);
    loop {
        let mut rows = statement.query((enterprise, after, PAGE + 1))?;
        let mut seen = 0;
        while let Some(row) = rows.next()? {
            seen += 1;
            if seen > PAGE {
                break;
            }
            after = row.get("position")?;
            let _: String = row.get("list_json")?;
            read += 1;
        }
        if seen <= PAGE {
            return Ok(read);
        }
    }
}

/// A page of 100 from the middle of the list, at fixed concurrency.
async fn middle_page(ctx: &Ctx, onboard: &Onboard, size: u64) -> anyhow::Result<Vec<Row>> {
    let plan = &ctx.plan;
    let client = driver::client(plan.load.concurrency);
    // Cursors are sealed: walk to the middle of the list as a client would.
    let cursor = cursor_after(&client, onboard, size / 2).await?;
    let path = format!("/v1/enterprise/users?limit=100&cursor={cursor}");
    let sample = capture_get(
        &client,
        &format!("{}{path}", onboard.served.base),
        &onboard.key,
    )
    .await?;
    anyhow::ensure!(
        sample.matches(USER_KEY).count() == 100,
        "the middle page is not 100 users"
    );
    let url = format!("{}{path}", onboard.served.base);
    page_load(&client, &url, &onboard.key, plan.warmup_load()).await;
    let mut ours = page_load(&client, &url, &onboard.key, plan.load).await;
    ours.check("list page, ours")?;

    let dir = ctx.folder("list-page-floor")?;
    let config = FloorConfig {
        get_body: sample,
        ..FloorConfig::default()
    };
    config.write(&dir.join("floor.json"))?;
    let floor_server = serve_floor(&dir.join("floor.json"), &dir).await?;
    let url = format!("{}{path}", floor_server.base);
    page_load(&client, &url, &onboard.key, plan.warmup_load()).await;
    let mut floor = page_load(&client, &url, &onboard.key, plan.load).await;
    floor.check("list page, floor")?;
    stop(floor_server).await;
    let label = format!("page of 100, {size} users");
    let mut out = http_rows(NAME, &label, &mut ours, &mut floor);
    out[0] = out[0].clone().ratio_target(0.3);
    Ok(out)
}

/// The `next_cursor` after the first `skip` users, read page by page.
async fn cursor_after(
    client: &reqwest::Client,
    onboard: &Onboard,
    skip: u64,
) -> anyhow::Result<String> {
    let mut cursor: Option<String> = None;
    let mut skipped = 0;
    while skipped < skip.max(1) {
        let limit = (skip.max(1) - skipped).min(1000);
        let mut url = format!("{}/v1/enterprise/users?limit={limit}", onboard.served.base);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: serde_json::Value = client
            .get(&url)
            .bearer_auth(&onboard.key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let next = page["next_cursor"].as_str();
        cursor = Some(next.context("the list ended before its middle")?.to_owned());
        skipped += limit;
    }
    cursor.context("no cursor")
}

async fn page_load(client: &reqwest::Client, url: &str, key: &str, load: Load) -> Outcome {
    let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
    driver::drive(load, move |_| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move { driver::get_ok(&client, url, &key).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_split_across_chunks_are_counted_once() {
        let body = br#"{"data":[{"user_id":"a"},{"user_id":"b"},{"user_id":"c"}]}"#;
        for cut in 0..body.len() {
            let mut tail = Vec::new();
            let n = count_users(&mut tail, &body[..cut]) + count_users(&mut tail, &body[cut..]);
            assert_eq!(n, 3, "cut at {cut}");
        }
    }
}
