//! A real headless Chromium for console tests, driven over WebDriver: each
//! [`Browser`] starts its own `chromedriver` on a free loopback port and one
//! browser session on it. Dropping it ends the session's processes (the driver
//! runs in a process group of its own, killed whole).
//!
//! Where Chromium or chromedriver is missing (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`, or `ONBOARD_TEST_CHROMIUM` / `ONBOARD_TEST_CHROMEDRIVER`),
//! [`Browser::start`] answers `None` after saying so on stderr, unless
//! `ONBOARD_REQUIRE_BROWSER=1` makes it fail with that sentence (CI sets it).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

pub const CHROMIUM_VAR: &str = "ONBOARD_TEST_CHROMIUM";
pub const CHROMEDRIVER_VAR: &str = "ONBOARD_TEST_CHROMEDRIVER";
pub const REQUIRE_BROWSER_VAR: &str = "ONBOARD_REQUIRE_BROWSER";

/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(20);

/// The arguments of a headless Chromium that runs in a container as root and
/// reaches nothing but loopback.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
];

/// A chromedriver process group, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser session and its driver.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    /// A new headless browser, or `None` (said on stderr) when none is installed.
    pub async fn start() -> Option<Browser> {
        let chromium = binary(CHROMIUM_VAR, "/usr/bin/chromium");
        let chromedriver = binary(CHROMEDRIVER_VAR, "/usr/bin/chromedriver");
        for path in [&chromium, &chromedriver] {
            if !std::path::Path::new(path).is_file() {
                let sentence = format!(
                    "SKIPPED: a browser test, because {path} is not installed \
                     (apt-get install chromium chromium-driver)"
                );
                if std::env::var(REQUIRE_BROWSER_VAR).is_ok_and(|v| v == "1") {
                    panic!("{sentence} ({REQUIRE_BROWSER_VAR}=1 forbids skipping it)");
                }
                let _ = writeln!(std::io::stderr(), "{sentence}");
                return None;
            }
        }
        let port = crate::process::free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("Failed to start chromedriver");
        let driver = Driver(child);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + DRIVER_START;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": CHROMIUM_ARGS }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("Failed to open a browser session");
        Some(Browser {
            client,
            _driver: driver,
        })
    }

    /// Ends the browser session (then the driver, on drop).
    pub async fn close(self) {
        let Browser { client, _driver } = self;
        let _ = client.close().await;
    }
}
