//! Which PostgreSQL server the tests of this process use, decided once per process:
//!
//! 1. the server of `ONBOARD_TEST_POSTGRES_URL` (default
//!    `postgres://postgres@127.0.0.1:5432/postgres`), when it answers;
//! 2. otherwise a throw-away cluster of this process's own, when PostgreSQL's server
//!    binaries are installed (`ONBOARD_TEST_POSTGRES_BIN`, else
//!    `/usr/lib/postgresql/*/bin`, newest first, else `PATH`): `initdb` into a
//!    temporary folder (trust authentication, no fsync) and `postgres` on a free
//!    loopback port, its socket in the same folder;
//! 3. otherwise none: the PostgreSQL tests are skipped, saying so on stderr, unless
//!    `ONBOARD_REQUIRE_POSTGRES=1` makes them fail with the same sentence.
//!
//! # How the throw-away cluster ends with the process
//!
//! Statics are never dropped, and an `atexit` hook would miss a test process that
//! is killed or aborts. So the cluster is run by a watchdog: a small `sh` script
//! that reads its standard input from a pipe whose only writer is this process.
//! The write end lives in a static until the process ends, however it ends (normal
//! exit, panic, abort, `SIGKILL`); the kernel then closes it, the script's read
//! returns end-of-file, and the script stops `postgres` (fast shutdown, escalating
//! to immediate and then `SIGKILL` if it lingers) and deletes the folder. The
//! watchdog runs in a process group of its own, so a Ctrl-C at the terminal reaches
//! the test process but not the cleanup. The same script removes the folder when
//! the cluster never started (`initdb` failed, or the process died before).
//!
//! `initdb` and `postgres` refuse to run as root: as root, both (and the watchdog)
//! run as the `postgres` account (else `nobody`), which is given the folder.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The environment variable naming the PostgreSQL server of the tests.
pub const POSTGRES_URL_VAR: &str = "ONBOARD_TEST_POSTGRES_URL";
/// The environment variable naming the folder of `initdb` and `postgres` for a
/// throw-away cluster (instead of looking for them).
pub const POSTGRES_BIN_VAR: &str = "ONBOARD_TEST_POSTGRES_BIN";
/// Set to `1`, a missing PostgreSQL fails the PostgreSQL tests instead of skipping
/// them.
pub const REQUIRE_POSTGRES_VAR: &str = "ONBOARD_REQUIRE_POSTGRES";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long the configured server may take to answer before it counts as absent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a throw-away cluster may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The watchdog (see the module's documentation). `$1` is the cluster's folder,
/// `$2` the `postgres` binary, `$3` the port; standard input is the pipe from the
/// test process, which writes `start` once `initdb` has succeeded.
const WATCHDOG: &str = r#"
dir=$1
read -r go || go=
if [ "$go" = start ]; then
    "$2" -D "$dir/data" -p "$3" -h 127.0.0.1 -k "$dir" -F \
        -c max_connections=200 -c synchronous_commit=off -c full_page_writes=off \
        </dev/null >"$dir/postgres.log" 2>&1 &
    pid=$!
    cat >/dev/null
    kill -INT "$pid" 2>/dev/null
    ( sleep 5; kill -QUIT "$pid" 2>/dev/null; sleep 5; kill -KILL "$pid" 2>/dev/null ) &
    timer=$!
    wait "$pid"
    kill "$timer" 2>/dev/null
fi
rm -rf "$dir"
"#;

/// The server of this process's tests, or why there is none.
struct Server {
    url: String,
    /// The write end of the watchdog's pipe, for a throw-away cluster: held, never
    /// written again, until the process ends.
    _watchdog: Option<ChildStdin>,
}

fn server() -> Result<&'static Server, &'static str> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER.get_or_init(resolve).as_ref().map_err(String::as_str)
}

/// The URL of the PostgreSQL server the tests use (its admin database): the
/// configured one, or this process's throw-away cluster. Panics, saying why, when
/// there is none; check [`skip_postgres`] first.
pub fn postgres_server_url() -> String {
    match server() {
        Ok(server) => server.url.clone(),
        Err(reason) => panic!("{}", sentence(reason)),
    }
}

/// Whether the PostgreSQL tests of this process are to be skipped, because no
/// server answers and no throw-away cluster could be started. The first call of the
/// process says so on stderr, in one line. With `ONBOARD_REQUIRE_POSTGRES=1` it
/// panics with that line instead, failing the test.
pub fn skip_postgres() -> bool {
    let Err(reason) = server() else {
        return false;
    };
    let sentence = sentence(reason);
    if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
        panic!("{sentence} ({REQUIRE_POSTGRES_VAR}=1 forbids skipping them)");
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| say(&sentence));
    true
}

/// Writes a line to the process's stderr itself: `eprintln!` inside a test is
/// captured by the test harness and shown only if that test fails.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn sentence(reason: &str) -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "this test binary".to_owned());
    format!("SKIPPED: the PostgreSQL tests of {binary}, because {reason}")
}

fn resolve() -> Result<Server, String> {
    let configured =
        std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let unreachable = match probe(&configured, PROBE_TIMEOUT) {
        Ok(()) => {
            return Ok(Server {
                url: configured,
                _watchdog: None,
            });
        }
        Err(e) => format!("PostgreSQL is not reachable at {configured} ({e})"),
    };
    let bin = server_binaries().map_err(|e| format!("{unreachable} and {e}"))?;
    let server = start_cluster(&bin).map_err(|e| {
        format!(
            "{unreachable} and a throw-away cluster from {} did not start: {e}",
            bin.display()
        )
    })?;
    say(&format!(
        "{unreachable}: the tests of this process use a throw-away cluster at {} (from {})",
        server.url,
        bin.display()
    ));
    Ok(server)
}

/// Connects to `url` once, on a thread and runtime of its own (the callers may be
/// inside a runtime).
fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            match tokio::time::timeout(timeout, PgConnection::connect(&url)).await {
                Ok(Ok(connection)) => {
                    let _ = connection.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the probe panicked".to_owned()))
}

/// The folder holding `initdb` and `postgres`.
fn server_binaries() -> Result<PathBuf, String> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(POSTGRES_BIN_VAR) {
        let dir = PathBuf::from(dir);
        return if usable(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{POSTGRES_BIN_VAR}={} holds no initdb and postgres",
                dir.display()
            ))
        };
    }
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| usable(dir))
        .collect();
    installed.sort();
    if let Some((_, dir)) = installed.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| usable(dir))
        .ok_or_else(|| {
            format!(
                "no PostgreSQL server binaries (initdb, postgres) were found in \
                 /usr/lib/postgresql/*/bin or on PATH (or set {POSTGRES_BIN_VAR})"
            )
        })
}

/// The account that runs the cluster: `None` for this process's own, or the uid
/// and gid of an unprivileged one when this process is root.
type Account = Option<(u32, u32)>;

fn cluster_account() -> Result<Account, String> {
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let (Ok(uid), Ok(gid)) = (id(&["-u", name]), id(&["-g", name]))
            && uid != 0
        {
            return Ok(Some((uid, gid)));
        }
    }
    Err("this process is root and neither a postgres nor a nobody account exists".to_owned())
}

fn id(args: &[&str]) -> Result<u32, String> {
    let output = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("id: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("id {} failed", args.join(" ")))
}

/// A command run as `account`, in `dir`.
fn command(program: impl AsRef<std::ffi::OsStr>, account: Account, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).env("HOME", dir);
    if let Some((uid, gid)) = account {
        // As root, std also drops the supplementary groups before switching.
        command.gid(gid).uid(uid);
    }
    command
}

fn start_cluster(bin: &Path) -> Result<Server, String> {
    let account = cluster_account()?;
    let dir = tempfile::Builder::new()
        .prefix("onboard-pg-")
        .tempdir()
        .map_err(|e| format!("no temporary folder: {e}"))?
        .keep();
    let cleanup_here = |e: String| {
        let _ = std::fs::remove_dir_all(&dir);
        e
    };
    if let Some((uid, gid)) = account {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| cleanup_here(format!("chown {}: {e}", dir.display())))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| cleanup_here(format!("no free port: {e}")))?
        .port();

    // From here on the watchdog owns the folder: it deletes it once `watchdog` (the
    // pipe's write end) is closed, by this function on failure or by the kernel.
    let mut child = command("sh", account, &dir)
        .arg("-c")
        .arg(WATCHDOG)
        .arg("onboard-pg-watchdog")
        .arg(&dir)
        .arg(bin.join("postgres"))
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| cleanup_here(format!("sh: {e}")))?;
    let mut watchdog = child.stdin.take().expect("the watchdog's stdin is piped");
    let mut give_up = |watchdog: ChildStdin, e: String| {
        drop(watchdog);
        let _ = child.wait();
        e
    };

    let initdb = command(bin.join("initdb"), account, &dir)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
        .arg("--no-sync")
        .stdin(Stdio::null())
        .output();
    match initdb {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(give_up(watchdog, format!("initdb: {}", last_line(&said))));
        }
        Err(e) => return Err(give_up(watchdog, format!("initdb: {e}"))),
    }
    if let Err(e) = watchdog.write_all(b"start\n") {
        return Err(give_up(watchdog, format!("the watchdog: {e}")));
    }

    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match probe(&url, Duration::from_secs(2)) {
            Ok(()) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                let e = format!("{e}; its log ends: {}", last_line(&log));
                return Err(give_up(watchdog, e));
            }
        }
    }
    Ok(Server {
        url,
        _watchdog: Some(watchdog),
    })
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
