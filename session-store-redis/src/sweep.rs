//! The periodic sweep of the user indexes: a store that binds sessions to
//! users prunes every index of its prefix now and then by itself, so that
//! the index of a user who never comes back disappears without an
//! application task (see the [crate documentation](crate#user-index)).
//!
//! Every instance runs a timer; at each tick the instances race for a turn
//! (a key set with `SET NX PX` for one period), and the one that takes it
//! sweeps: one sweep per period, however many instances share the prefix.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::store::StoreError;
use session_core::Id;
use tokio::sync::oneshot;

use crate::connection::{lock, Call};
use crate::RedisStore;

/// How often a store sweeps the user indexes of its prefix unless
/// [`RedisStore::with_index_sweep`] says otherwise (the instances sharing
/// a prefix take turns: one sweep per period in all).
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(session_store_redis::DEFAULT_INDEX_SWEEP, Duration::from_secs(3600));
/// ```
pub const DEFAULT_INDEX_SWEEP: Duration = Duration::from_secs(3600);

/// What the key of the sweep's turn adds to the prefix. (Not a session
/// key: those are 22 characters of base64.)
const TURN: &str = "sweep";

/// The sweep of one store and its clones: started by the first bind, and
/// stopped when the last clone is dropped (the sender below goes with it).
pub(crate) struct Sweep {
    period: Option<Duration>,
    started: AtomicBool,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl fmt::Debug for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sweep")
            .field("period", &self.period)
            .field("started", &self.started.load(Ordering::Relaxed))
            .finish()
    }
}

impl Sweep {
    pub(crate) fn new(period: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            period,
            started: AtomicBool::new(false),
            stop: Mutex::new(None),
        })
    }

    pub(crate) fn period(&self) -> Option<Duration> {
        self.period
    }

    /// Starts the sweep of `store` (once; not without a period or outside
    /// a Tokio runtime): a task that, every period, takes the turn if no
    /// other instance has it and then prunes every index of the prefix.
    /// The first sweep comes one period after the start, so a short-lived
    /// process never sweeps.
    pub(crate) fn start(&self, store: &RedisStore) {
        let Some(period) = self.period else {
            return;
        };
        if self.started.load(Ordering::Relaxed) || self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Another executor: no timer to run on; `delete_expired` by
            // hand still works.
            return;
        };
        let (tx, mut stopped) = oneshot::channel::<()>();
        *lock(&self.stop) = Some(tx);
        // The task's clone has a sweep of its own, which never starts: it
        // must not keep this one (and so every clone's sender) alive.
        let mut sweeper = store.clone();
        sweeper.sweep = Sweep::new(None);
        runtime.spawn(async move {
            loop {
                // Ends when the last clone of the store is dropped.
                if tokio::time::timeout(period, &mut stopped).await.is_ok() {
                    return;
                }
                if let Ok(true) = sweeper.take_turn(period).await {
                    if let Err(err) = sweeper.prune_every_index().await {
                        tracing::warn!("session-store-redis: the user index sweep failed: {err}");
                    }
                }
            }
        });
    }
}

impl RedisStore {
    /// The key whose holder sweeps this period: the prefix and `sweep`.
    fn turn_key(&self) -> String {
        format!("{}{TURN}", self.prefix())
    }

    /// Takes the sweep's turn for `period` unless another instance holds
    /// it.
    async fn take_turn(&self, period: Duration) -> Result<bool, StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(self.turn_key())
            .arg(Id::random().encode())
            .arg("NX")
            .arg("PX")
            .arg(period.as_millis().clamp(1, i64::MAX as u128) as i64);
        let taken: Option<String> = self.run(Call::Cmd(set)).await?;
        Ok(taken.is_some())
    }
}
