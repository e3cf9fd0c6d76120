//! Pinned cores: the process under test (the server, or the floor that stands in
//! for it) runs on one set of cores and the bench (the load generator) on the
//! other, so that neither steals the other's CPU time and both sides of every
//! ratio get the same cores. A pinned server's tokio sees its cores only and starts
//! one worker per core: like with like.
//!
//! Affinity is set with `taskset` (util-linux): children are started as
//! `taskset -c CPUS program …` (so they start pinned, before their runtime sizes
//! itself), the bench pins itself with `taskset -a -p` before its runtime starts,
//! and a floor that runs inside the bench (a database written or read straight)
//! runs on a thread pinned to the server's cores with `taskset -p` on its thread
//! id. Where `taskset` is missing or there is one core, nothing is pinned and the
//! report says so.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;

use anyhow::Context;
use serde::Serialize;

/// `--pin`: `auto` (the default: pinned when there are at least 2 cores), `off`,
/// or `SERVER:BENCH` core lists in `taskset -c` syntax (e.g. `0:1`, `0-1:2-3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinRequest {
    Auto,
    Off,
    Cores { server: String, bench: String },
}

impl std::str::FromStr for PinRequest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(PinRequest::Auto),
            "off" => Ok(PinRequest::Off),
            _ => {
                let (server, bench) = s
                    .split_once(':')
                    .ok_or_else(|| format!("{s:?}: want auto, off or SERVER:BENCH (e.g. 0:1)"))?;
                for list in [server, bench] {
                    if parse_list(list).is_none_or(|cores| cores.is_empty()) {
                        return Err(format!("{list:?} is not a core list such as 0 or 2-3"));
                    }
                }
                Ok(PinRequest::Cores {
                    server: server.to_owned(),
                    bench: bench.to_owned(),
                })
            }
        }
    }
}

/// Which cores each side runs on, as recorded in every report.
#[derive(Debug, Clone, Serialize)]
pub struct Pinning {
    /// The server, the floor server, and floors run inside the bench: `None`
    /// when not pinned.
    pub server_cpus: Option<String>,
    /// The bench itself (the load generator and the feed subscribers).
    pub bench_cpus: Option<String>,
    /// How it was decided, or why nothing is pinned.
    pub note: String,
}

impl Pinning {
    fn unpinned(note: impl Into<String>) -> Pinning {
        Pinning {
            server_cpus: None,
            bench_cpus: None,
            note: note.into(),
        }
    }

    /// Decides the cores for `request` on this machine.
    pub fn decide(request: &PinRequest) -> Pinning {
        let allowed = allowed_cores();
        let (server, bench) = match request {
            PinRequest::Off => return Pinning::unpinned("not pinned (--pin off)"),
            PinRequest::Cores { server, bench } => (server.clone(), bench.clone()),
            PinRequest::Auto => {
                if allowed.len() < 2 {
                    return Pinning::unpinned(format!(
                        "not pinned: {} core(s) available, server and bench share them",
                        allowed.len()
                    ));
                }
                // The first half for the server, the rest for the bench.
                let half = allowed.len() / 2;
                (join(&allowed[..half]), join(&allowed[half..]))
            }
        };
        if !taskset_works() {
            return Pinning::unpinned(
                "not pinned: `taskset` (util-linux) is missing; server and bench share the cores",
            );
        }
        Pinning {
            note: format!("server on CPU {server}, bench on CPU {bench} (taskset)"),
            server_cpus: Some(server),
            bench_cpus: Some(bench),
        }
    }

    /// One line for the table.
    pub fn describe(&self) -> String {
        match (&self.server_cpus, &self.bench_cpus) {
            (Some(server), Some(bench)) => format!(
                "server, floor server and in-bench floors on CPU {server}; bench (load \
                 generator) on CPU {bench} (taskset)"
            ),
            _ => self.note.clone(),
        }
    }

    /// Pins this whole process (every thread) to the bench's cores. Call it
    /// before the runtime starts, so that tokio sizes itself to them. On failure
    /// nothing is pinned, and the returned pinning says why.
    pub fn apply_to_bench(self) -> Pinning {
        let Some(bench) = &self.bench_cpus else {
            return self;
        };
        match taskset_pid(bench, std::process::id(), true) {
            Ok(()) => self,
            Err(e) => Pinning::unpinned(format!("not pinned: {e:#}")),
        }
    }
}

static PINNING: OnceLock<Pinning> = OnceLock::new();

/// Records the run's pinning, for [`current`] (once, at start-up).
pub fn install(pinning: Pinning) {
    let _ = PINNING.set(pinning);
}

/// The run's pinning: unpinned until [`install`].
pub fn current() -> Pinning {
    PINNING
        .get()
        .cloned()
        .unwrap_or_else(|| Pinning::unpinned("not pinned"))
}

/// A command that starts `program` on the server's cores (a plain command when
/// unpinned).
pub fn server_command(program: &Path) -> tokio::process::Command {
    match current().server_cpus {
        Some(cpus) => {
            let mut command = tokio::process::Command::new("taskset");
            command.arg("-c").arg(cpus).arg(program);
            command
        }
        None => tokio::process::Command::new(program),
    }
}

/// Runs `make()`'s future on a thread of its own pinned to the server's cores, on
/// a one-thread runtime (whose blocking threads inherit the pinning): for floors
/// that the bench computes itself, so that they get the cores the server gets.
/// Unpinned, the future simply runs here.
pub async fn on_server_cores<F, Fut, T>(make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let Some(cpus) = current().server_cpus else {
        return Ok(make().await);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("floor".into())
        .spawn(move || {
            let run = || -> anyhow::Result<T> {
                taskset_pid(&cpus, thread_id()?, false)?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(make()))
            };
            let _ = tx.send(run());
        })
        .context("Failed to start the floor's thread")?;
    rx.await.context("the floor's thread stopped")?
}

/// This thread's kernel id, from `/proc/thread-self` (`<pid>/task/<tid>`).
fn thread_id() -> anyhow::Result<u32> {
    let link = std::fs::read_link("/proc/thread-self").context("no /proc/thread-self")?;
    let tid = link.file_name().and_then(|n| n.to_str()).unwrap_or("");
    tid.parse()
        .with_context(|| format!("unexpected /proc/thread-self: {}", link.display()))
}

/// `taskset [-a] -p -c CPUS PID`: pins a process (all its threads with `all`)
/// or one thread.
fn taskset_pid(cpus: &str, pid: u32, all: bool) -> anyhow::Result<()> {
    let mut command = std::process::Command::new("taskset");
    if all {
        command.arg("-a");
    }
    let out = command
        .args(["-p", "-c", cpus, &pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .context("Failed to run taskset")?;
    anyhow::ensure!(
        out.status.success(),
        "taskset -p -c {cpus} {pid} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn taskset_works() -> bool {
    std::process::Command::new("taskset")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cores this process may run on (`Cpus_allowed_list` in `/proc/self/status`),
/// else as many as `available_parallelism` says, from 0.
fn allowed_cores() -> Vec<usize> {
    let listed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))?;
            parse_list(line["Cpus_allowed_list:".len()..].trim())
        });
    listed.unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n).collect()
    })
}

/// The machine's online cores (`/sys/devices/system/cpu/online`), whatever this
/// process is pinned to.
pub fn online_cores() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| parse_list(text.trim()))
        .map_or_else(|| allowed_cores().len(), |cores| cores.len())
}

/// A `taskset -c` / kernel core list: `0`, `0-3`, `0,2-3`.
fn parse_list(list: &str) -> Option<Vec<usize>> {
    let mut cores = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                cores.extend(a..=b);
            }
            None => cores.push(part.trim().parse().ok()?),
        }
    }
    Some(cores)
}

fn join(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_parse_like_taskset() {
        assert_eq!(parse_list("0"), Some(vec![0]));
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("x"), None);
    }

    #[test]
    fn pin_requests_parse() {
        assert_eq!("auto".parse(), Ok(PinRequest::Auto));
        assert_eq!("off".parse(), Ok(PinRequest::Off));
        assert_eq!(
            "0:1".parse(),
            Ok(PinRequest::Cores {
                server: "0".into(),
                bench: "1".into()
            })
        );
        assert!("0".parse::<PinRequest>().is_err());
        assert!("0:".parse::<PinRequest>().is_err());
    }
}
