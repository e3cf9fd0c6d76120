//! Real processes on loopback: [`Served`] is a child that serves HTTP on
//! `127.0.0.1:<port>` (started, awaited until it answers, its stdout and stderr kept
//! in files, stopped by signal and killed when dropped); [`Onboard`] is the
//! `onboard` binary, run to completion or as `onboard serve`. The CLI suites, the
//! server's and the bench all start their processes here.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long `onboard serve` may take to answer `/readyz`, and a one-shot command
/// to finish.
pub const STARTUP: Duration = Duration::from_secs(30);

/// A port free right now on 127.0.0.1 (the child binds it a moment later).
pub fn try_free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// [`try_free_port`], for tests.
pub fn free_port() -> u16 {
    try_free_port().expect("Failed to find a free port")
}

/// Whether `GET path` on `127.0.0.1:port` answers 200, over plain HTTP/1.1 (no
/// client library: the same bytes whatever the caller links).
pub async fn answers_200(port: u16, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
    matches!(read.await, Ok(Ok(_))) && answer.starts_with(b"HTTP/1.1 200")
}

/// A running child serving HTTP on `127.0.0.1:port`; killed (SIGKILL) when
/// dropped, and then, if the thread is panicking, the end of its stderr printed.
pub struct Served {
    child: Child,
    pub port: u16,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// `ws://127.0.0.1:<port>/ws`
    pub ws: String,
    /// What the child writes to stdout.
    stdout: PathBuf,
    /// What the child writes to stderr (its log).
    stderr: PathBuf,
    /// The folder of both files, when it is this value's own.
    _logs: Option<tempfile::TempDir>,
}

impl Served {
    /// Starts `command`, which must serve on `127.0.0.1:port`, with stdin closed and
    /// stdout and stderr in `<logs>/<name>.out` and `<logs>/<name>.log` (a temporary
    /// folder of its own when `logs` is `None`). It does not wait: see
    /// [`Served::wait_ready`].
    pub fn start(
        mut command: Command,
        port: u16,
        name: &str,
        logs: Option<&Path>,
    ) -> io::Result<Served> {
        let own = match logs {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let dir = logs
            .or(own.as_ref().map(|d| d.path()))
            .expect("a log folder");
        let (stdout, stderr) = (
            dir.join(format!("{name}.out")),
            dir.join(format!("{name}.log")),
        );
        let child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child exited at once"))?;
        Ok(Served {
            child,
            port,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}/ws"),
            stdout,
            stderr,
            _logs: own,
        })
    }

    /// Waits until `path` answers 200, for at most `within`; the error says how
    /// the child's log ends.
    pub async fn wait_ready(&self, path: &str, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if answers_200(self.port, path).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(io::Error::other(format!(
            "{} did not answer {path} with 200 within {within:?}; its log ends: {}",
            self.base,
            self.log_tail(5).join(" / ")
        )))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the child has printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The first line of stdout that `wanted` accepts, waiting up to `within`.
    pub async fn stdout_line(&self, wanted: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.stdout().lines().find(|l| wanted(l)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no such line on stdout within {within:?}: {:?}",
                self.stdout()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last `n` lines of the child's stderr.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| (*l).to_owned())
            .collect()
    }

    /// Sends SIGTERM and returns at once.
    pub async fn terminate(&self) -> io::Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        match sent.success() {
            true => Ok(()),
            false => Err(io::Error::other(format!("kill -TERM {}: {sent}", self.pid))),
        }
    }

    /// Waits up to `within` for the child to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// SIGTERM (a graceful stop, which closes the feed's connections properly, and
    /// lets a profiler wrapped around the child write its data), then SIGKILL if
    /// it has not exited within `within`: the exit status, or `None` when it had to
    /// be killed.
    pub async fn stop(mut self, within: Duration) -> Option<ExitStatus> {
        if self.terminate().await.is_ok()
            && let Some(status) = self.wait_exit(within).await
        {
            return Some(status);
        }
        self.kill().await;
        None
    }

    /// SIGKILL: no shutdown hook runs, nothing is flushed on the way out.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL delivered");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Reaped before the drop returns, so that the port and the files are free
        // for whatever the test starts next.
        let _ = self.child.start_kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if std::thread::panicking() {
            eprintln!("--- last lines of the server at {} ---", self.base);
            for line in self.log_tail(40) {
                eprintln!("{line}");
            }
        }
    }
}

/// The `onboard` binary under test (`env!("CARGO_BIN_EXE_onboard")`).
#[derive(Debug, Clone)]
pub struct Onboard(pub PathBuf);

impl Onboard {
    pub fn new(bin: impl Into<PathBuf>) -> Onboard {
        Onboard(bin.into())
    }

    /// `onboard <args>` with `RUST_LOG=warn`, `stdin` written to it if given, to
    /// completion (bounded by [`STARTUP`]).
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(&self.0);
        with_shared_keyring(&mut command, args);
        let mut child = command
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("onboard runs");
        let mut input = child.stdin.take().expect("a stdin pipe");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        tokio::time::timeout(STARTUP, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("onboard {args:?} took more than {STARTUP:?}"))
            .expect("onboard runs")
    }

    /// `onboard <args>`, insisting on success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None).await;
        assert!(
            out.status.success(),
            "onboard {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 on stdout")
    }

    /// `onboard enterprise create --name <name> <database>`: the new key, which
    /// must be the only line on stdout.
    pub async fn create_enterprise(&self, name: &str, database: &[&str]) -> String {
        let mut args = vec!["enterprise", "create", "--name", name];
        args.extend(database);
        let stdout = self.ok(&args).await;
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "the key must be the only line on stdout: {stdout:?}"
        );
        lines[0].to_owned()
    }

    /// The command `onboard serve --listen 127.0.0.1:<port> <args>`, logging at
    /// `warn`.
    pub fn serve_command(&self, port: u16, args: &[&str]) -> Command {
        let mut command = Command::new(&self.0);
        with_shared_keyring(&mut command, args);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", "warn");
        command
    }

    /// `onboard serve <args>` on `port`, started but not yet awaited: several
    /// nodes start faster side by side.
    pub fn start_serve(&self, port: u16, args: &[&str]) -> Served {
        Served::start(self.serve_command(port, args), port, "onboard", None)
            .expect("the server starts")
    }

    /// `onboard serve <args>` on `port`, once `/readyz` answers 200.
    pub async fn serve_on(&self, port: u16, args: &[&str]) -> Served {
        let served = self.start_serve(port, args);
        served
            .wait_ready("/readyz", STARTUP)
            .await
            .expect("the server becomes ready");
        served
    }

    /// `onboard serve <args>` on a free port, once `/readyz` answers 200.
    pub async fn serve(&self, args: &[&str]) -> Served {
        self.serve_on(free_port(), args).await
    }
}

/// A process's resident memory and its peak, in KiB (`VmRSS`, `VmHWM` of
/// `/proc/<pid>/status`).
pub fn memory_kib(pid: u32) -> io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        kib_field(&status, name)
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A `Name:   1234 kB` line of a `/proc` file.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// A PostgreSQL deployment names its master keyring, and every node of it reads
/// the same file: commands of this test process on a `postgres:` URL share one,
/// made once. (The embedded database makes its own in its data folder.)
fn with_shared_keyring(command: &mut Command, args: &[&str]) {
    let on_postgres = args
        .windows(2)
        .any(|w| w[0] == "--database-url" && w[1].starts_with("postgres"));
    if on_postgres && !args.contains(&"--master-key-file") {
        command.env("ONBOARD_MASTER_KEY_FILE", shared_keyring());
    }
}

/// The keyring file every PostgreSQL command of this test process names.
pub fn shared_keyring() -> &'static Path {
    static FILE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("master.key");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("the keyring file is created");
        let text = onboard_core::seal::Keyring::generate().to_text();
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("the keyring is written");
        (dir, path)
    });
    path
}
