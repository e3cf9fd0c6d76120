//! Readiness that tells the truth (CONTRACT §13), with the real binary on a real
//! full disk: the data folder is a small tmpfs the test mounts and fills. While
//! commits fail, `/readyz` is 503 with why, a write is refused with the disk-full
//! sentence, and the log says so once; once space returns, `/readyz` is 200 again
//! and writes succeed, without a restart.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use onboard_testkit::fixtures::individual;
use serde_json::Value;
use support::{Server, free_port, http_client, onboard};

/// How soon readiness must follow the disk's state, either way.
const FOLLOWS_WITHIN: Duration = Duration::from_secs(5);
const DISK_FULL: &str = "the database's disk is full";

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A 16 MiB tmpfs, or why one cannot be mounted here.
    fn mount() -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount could not run: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (it needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem has no room left; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0xA5u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
        // Whatever is left, byte by byte in small steps.
        while file.write_all(&[0xA5; 512]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn readyz(server: &Server) -> (u16, Value) {
    let response = http_client(Duration::from_secs(10))
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `/readyz` until it answers `status`; returns the body.
async fn readyz_becomes(server: &Server, status: u16) -> Value {
    let started = Instant::now();
    loop {
        let (now, body) = readyz(server).await;
        if now == status {
            return body;
        }
        assert!(
            started.elapsed() < FOLLOWS_WITHIN,
            "/readyz still {now} after {FOLLOWS_WITHIN:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(server: &Server, key: &str, user_id: &str) -> (u16, Value) {
    let response = http_client(Duration::from_secs(30))
        .post(server.url("/v1/enterprise/register-account"))
        .bearer_auth(key)
        .json(&individual(user_id))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn log_lines_with(server: &Server, phrase: &str) -> usize {
    let log = server.log_tail(100_000);
    log.iter().filter(|line| line.contains(phrase)).count()
}

#[tokio::test]
async fn a_full_disk_makes_the_node_unready_and_freed_space_makes_it_ready_without_a_restart() {
    let disk = match SmallDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED: the full-disk readiness test, because {why}");
            return;
        }
    };
    let key = onboard(&["enterprise", "create", "--name", "acme"], disk.path()).await;
    let key = key.trim();
    let server = Server::start(disk.path(), free_port()).await;
    assert_eq!(register(&server, key, "before-full").await.0, 201);

    let filler = disk.fill();
    let mut refused = None;
    for i in 0..2_000 {
        let (status, body) = register(&server, key, &format!("while-full-{i}")).await;
        if status == 503 {
            refused = Some(body);
            break;
        }
        assert_eq!(status, 201, "{body}");
    }
    let refused = refused.expect("a write must fail once the disk is full");
    let sentence = refused["error"].as_str().unwrap();
    assert!(
        sentence.starts_with("the database's disk is full; "),
        "{refused}"
    );

    let unready = readyz_becomes(&server, 503).await;
    assert_eq!(unready["status"], "unavailable", "{unready}");
    assert!(
        unready["error"].as_str().unwrap().starts_with(DISK_FULL),
        "{unready}"
    );
    // More refused writes, and more probes: still one line in the log.
    for i in 0..5 {
        let (status, body) = register(&server, key, &format!("still-full-{i}")).await;
        assert_eq!(status, 503, "{body}");
        assert!(body["error"].as_str().unwrap().starts_with(DISK_FULL));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(readyz(&server).await.0, 503);
    assert_eq!(log_lines_with(&server, DISK_FULL), 1, "once per episode");
    let log = server.log_tail(100_000).join("\n");
    assert!(!log.contains("still-full"), "no personal data in the log");

    std::fs::remove_file(&filler).unwrap();
    let ready = readyz_becomes(&server, 200).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(register(&server, key, "after-full").await.0, 201);
    // The log is written by a background thread: give it a moment.
    let mut said = 0;
    for _ in 0..20 {
        said = log_lines_with(&server, "commits writes again");
        if said > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(said, 1, "once per episode");
    server.stop().await;
}
