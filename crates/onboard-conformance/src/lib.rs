//! The conformance suite of Onboard's storage port
//! ([`onboard_core::store::Store`]), and its scaffolding.
//!
//! The suite is one test binary, `tests/store.rs` (users, codes, events, tokens),
//! with its modules in `tests/store/`: `edd.rs`, `access.rs` (keys and operators)
//! and `console.rs` (sessions and the sign-in lockout). Every test is an `async fn name(store: Arc<dyn Store>)`, written once
//! against the trait; [`conformance!`] turns a list of names into `sqlite::name`
//! and `postgres::name` tests, each on a fresh database of its own, so that the
//! two backends cannot drift apart. Time is a fixed instant ([`NOW`]) passed
//! explicitly, as the trait asks: no test reads a clock. The PostgreSQL half needs
//! a server (see `onboard_testkit`); run it with
//!
//! ```text
//! cargo test -p onboard-conformance
//! ```

use std::sync::Arc;
use std::time::Duration;

use onboard_core::store::Store;
use time::OffsetDateTime;
use time::macros::datetime;

pub use onboard_testkit::{Backend, TestDatabase};

/// How long one test may take on one backend.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The instant every write happens at, unless a test moves it.
pub const NOW: OffsetDateTime = datetime!(2026-06-15 12:00:00 UTC);

/// Generates, for every test named, one `#[tokio::test]` per backend: the tests
/// under `store` take a store ([`run`]), those under `database` the database
/// itself ([`run_on`]), to open a second store on it. The tests run on a
/// multi-threaded runtime so that the concurrency tests really race, and each is
/// bounded so that a deadlock fails instead of hanging.
#[macro_export]
macro_rules! conformance {
    (
        store: [$($name:ident),* $(,)?]
        $(, database: [$($db_name:ident),* $(,)?])? $(,)?
    ) => {
        $crate::conformance!(@backend sqlite, Sqlite, [$($name),*], [$($($db_name),*)?]);
        $crate::conformance!(@backend postgres, Postgres, [$($name),*], [$($($db_name),*)?]);
    };
    (@backend $module:ident, $backend:ident, [$($name:ident),*], [$($db_name:ident),*]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::run($crate::Backend::$backend, super::$name).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $db_name() {
                    $crate::run_on($crate::Backend::$backend, super::$db_name).await;
                }
            )*
        }
    };
}

/// Whether `backend` is PostgreSQL and none is available (the test kit says so
/// once, on stderr).
fn skipped(backend: Backend) -> bool {
    backend == Backend::Postgres && onboard_testkit::skip_postgres()
}

/// Runs a test on a store over a fresh database of `backend`, within
/// [`TEST_TIMEOUT`].
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    if skipped(backend) {
        return;
    }
    let db = TestDatabase::new(backend).await;
    let store = db.open_store().await;
    tokio::time::timeout(TEST_TIMEOUT, test(store))
        .await
        .expect("the test finished within its time limit");
}

/// Runs a test that needs the database itself (to open a second store on it).
pub async fn run_on<F>(backend: Backend, test: F)
where
    F: AsyncFnOnce(&TestDatabase),
{
    if skipped(backend) {
        return;
    }
    let db = TestDatabase::new(backend).await;
    tokio::time::timeout(TEST_TIMEOUT, test(&db))
        .await
        .expect("the test finished within its time limit");
}
