//! One environment shared by the tests of a suite: started by whichever test comes first, torn
//! down when the last one finishes, on a runtime of its own so each test (on its own harness
//! thread) can use it.
//!
//! ```no_run
//! use clusternet_test_support::shared::Shared;
//!
//! static SUITE: Shared<String> = Shared::new(2);
//!
//! async fn start() -> anyhow::Result<String> {
//!     Ok("an expensive environment".into())
//! }
//!
//! #[test]
//! fn first() -> anyhow::Result<()> {
//!     SUITE.test(start, |env| async move { anyhow::ensure!(!env.is_empty()); Ok(()) })
//! }
//! ```
//!
//! The environment's processes are owned with a lifeline (they exit when this process does),
//! so a suite run with a filter, or one whose test panicked, still leaves nothing running; only
//! then is its scratch directory kept, for the logs.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Result, bail};

/// An environment shared by `tests` tests.
pub struct Shared<T> {
    tests: usize,
    done: AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
    state: OnceLock<State<T>>,
}

struct State<T> {
    runtime: tokio::runtime::Runtime,
    /// Tests run side by side (read), or alone (write) when they would disturb the others.
    turn: tokio::sync::RwLock<()>,
    value: Mutex<Option<Arc<T>>>,
    error: Option<String>,
}

impl<T: Send + Sync + 'static> Shared<T> {
    /// For a suite of `tests` tests (the last of them to finish tears the environment down).
    pub const fn new(tests: usize) -> Self {
        Self {
            tests,
            done: AtomicUsize::new(0),
            failed: std::sync::atomic::AtomicBool::new(false),
            state: OnceLock::new(),
        }
    }

    /// Runs one test against the environment, starting it with `start` if no test has yet.
    pub fn test<S, SF, F, TF>(&'static self, start: S, test: F) -> Result<()>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<T>>,
        F: FnOnce(Arc<T>) -> TF,
        TF: Future<Output = Result<()>>,
    {
        self.run(start, test, false)
    }

    /// Like [`Shared::test`], with no other test of the suite running meanwhile (for one that
    /// fills a limit, or measures the environment's memory).
    pub fn test_alone<S, SF, F, TF>(&'static self, start: S, test: F) -> Result<()>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<T>>,
        F: FnOnce(Arc<T>) -> TF,
        TF: Future<Output = Result<()>>,
    {
        self.run(start, test, true)
    }

    fn run<S, SF, F, TF>(&'static self, start: S, test: F, alone: bool) -> Result<()>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<T>>,
        F: FnOnce(Arc<T>) -> TF,
        TF: Future<Output = Result<()>>,
    {
        let state = self.state.get_or_init(|| {
            crate::install_crypto_provider();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime for the suite");
            let started = runtime.block_on(start());
            let (value, error) = match started {
                Ok(v) => (Some(Arc::new(v)), None),
                Err(err) => (None, Some(format!("{err:#}"))),
            };
            State {
                runtime,
                turn: tokio::sync::RwLock::new(()),
                value: Mutex::new(value),
                error,
            }
        });
        if let Some(err) = &state.error {
            bail!("the suite's environment did not start: {err}");
        }
        let Some(value) = state.value.lock().ok().and_then(|v| v.clone()) else {
            bail!("the suite's environment is gone (more tests ran than the suite declares)");
        };
        let result = state.runtime.block_on(async {
            if alone {
                let _turn = state.turn.write().await;
                test(value).await
            } else {
                let _turn = state.turn.read().await;
                test(value).await
            }
        });
        if result.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 == self.tests {
            let last = state.value.lock().ok().and_then(|mut v| v.take());
            if self.failed.load(Ordering::SeqCst) {
                // Keep the scratch directories (logs) of a failed suite; its processes still
                // exit with this one (lifeline).
                eprintln!("a test failed: the suite's environment and its logs are kept");
                std::mem::forget(last);
            } else {
                // Dropped inside the runtime: what it owns may need one to shut down.
                state.runtime.block_on(async move { drop(last) });
            }
        }
        result
    }
}
