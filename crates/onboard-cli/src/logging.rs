//! Where `onboard serve` writes its log: stderr, one line per event.
//!
//! At a terminal every line is written as it happens. Otherwise (a file, a pipe
//! to a log collector) lines are gathered in a buffer and written together every
//! [`FLUSH_EVERY`], or at once when the buffer holds [`FLUSH_AT`] bytes: a busy
//! server logs a line per request, and a write per line cost a system call per
//! request. The buffer is written out when the server stops, before an error is
//! reported, and before a panic's message; a `kill -9` loses at most the lines of
//! the last [`FLUSH_EVERY`].

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long a line may wait in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// A buffer this full is written at once, by the thread that filled it.
const FLUSH_AT: usize = 64 * 1024;

/// Installs the log subscriber (`RUST_LOG`, default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in a log file.
        .with_ansi(terminal);
    let _ = if terminal {
        builder.with_writer(std::io::stderr).try_init()
    } else {
        start_flusher();
        builder.with_writer(|| Line).try_init()
    };
}

/// Writes out whatever the buffer holds.
pub fn flush() {
    BUFFER.flush();
}

static BUFFER: Buffered = Buffered(Mutex::new(Vec::new()));

struct Buffered(Mutex<Vec<u8>>);

impl Buffered {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flush(&self) {
        write_out(&mut self.lock());
    }
}

/// Writes the buffer to stderr and empties it. Called with the lock held, so
/// lines leave in the order they came.
fn write_out(buffer: &mut Vec<u8>) {
    if !buffer.is_empty() {
        let _ = std::io::stderr().write_all(buffer);
        buffer.clear();
    }
}

fn start_flusher() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    BUFFER.flush();
                }
            });
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            BUFFER.flush();
            previous(info);
        }));
    });
}

/// One event's line, appended to the buffer.
struct Line;

impl std::io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = BUFFER.lock();
        buffer.extend_from_slice(bytes);
        if buffer.len() >= FLUSH_AT {
            write_out(&mut buffer);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_in_order_until_flushed() {
        let mut first = Line;
        first.write_all(b"one\n").unwrap();
        Line.write_all(b"two\n").unwrap();
        let held = BUFFER.lock().clone();
        let text = String::from_utf8(held).unwrap();
        assert!(text.ends_with("one\ntwo\n"), "{text}");
        flush();
        assert!(BUFFER.lock().is_empty());
    }
}
