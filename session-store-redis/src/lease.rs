//! Leases that serialize the requests of one session across instances
//! ([`LeaseStore::lock`](session_core::store::LeaseStore::lock)): a key
//! per session, `prefix + "lock:" + id`, set with `SET NX GET PX` to a
//! random token, deleted by a compare-and-delete script.

use std::fmt;
use std::time::Duration;

use session_core::store::{async_trait, SessionLease, StoreError};
use session_core::Id;
use tokio::time::Instant;

use crate::connection::Call;
use crate::RedisStore;

/// What a lease key adds to the prefix, before the session's id.
pub(crate) const LOCK: &str = "lock:";

/// How long a lease lasts unless [`RedisStore::with_lease`] says otherwise:
/// a request that holds its session longer is no longer alone, and an
/// instance that dies holding one blocks the session this long.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(session_store_redis::DEFAULT_LEASE, Duration::from_secs(10));
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How long a request waits for another's lease on its session unless
/// [`RedisStore::with_lease`] says otherwise; past it the layer answers
/// `503`.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(session_store_redis::DEFAULT_LOCK_WAIT, Duration::from_secs(5));
/// ```
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The first pause between two attempts on a held lease; it doubles up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(20);

impl RedisStore {
    /// The Redis key of the lease on session `id`: the prefix, `lock:` and
    /// [`Id::encode`]. It never is a session key (those have no `:` after
    /// the prefix) nor a user's index (`user:`).
    ///
    /// ```no_run
    /// use session_core::Id;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// let id = Id::from_bytes([0; 16]);
    /// assert_eq!(store.lock_key(&id), "session:lock:AAAAAAAAAAAAAAAAAAAAAA");
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock_key(&self, id: &Id) -> String {
        format!("{}{LOCK}{}", self.prefix(), id.encode())
    }

    /// Takes the lease on session `id`: `SET NX GET PX` with a fresh
    /// random token, tried again with pauses (1 ms doubling to 20 ms)
    /// while another request holds it, for at most the store's lock wait.
    ///
    /// `GET` makes Redis answer the token the key held when it was not
    /// set (`nil` when it was): a `SET` resent after a broken connection,
    /// whose first attempt took the lease, finds its own token and has
    /// the lease, instead of waiting for itself.
    pub(crate) async fn take_lease(&self, id: &Id) -> Result<RedisLease, StoreError> {
        let key = self.lock_key(id);
        let token = Id::random().encode();
        let lease_ms = self.lease().as_millis().clamp(1, i64::MAX as u128) as i64;
        let deadline = Instant::now() + self.lock_wait();
        let mut pause = FIRST_PAUSE;
        loop {
            let mut set = redis::cmd("SET");
            set.arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("GET")
                .arg("PX")
                .arg(lease_ms);
            let held: Option<Vec<u8>> = self.run(Call::Cmd(set)).await?;
            if held.is_none_or(|held| held == token.as_bytes()) {
                return Ok(RedisLease {
                    store: self.clone(),
                    key,
                    token,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::unavailable(Busy(self.lock_wait())));
            }
            // Bounded: every turn sleeps, and the deadline ends the loop.
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// A lease taken by [`RedisStore`]: the key and the token it holds.
pub(crate) struct RedisLease {
    store: RedisStore,
    key: String,
    token: String,
}

impl fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out of logs: it is what releases the lease.
        f.debug_struct("RedisLease")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionLease for RedisLease {
    /// The unlock script: deletes the key only if it still holds this
    /// lease's token. An error leaves the lease to run out.
    async fn release(self: Box<Self>) {
        let mut invocation = self.store.scripts.unlock.key(&self.key);
        invocation.arg(&self.token);
        let _ = self.store.run::<i64>(Call::Script(invocation)).await;
    }
}

/// Another request held the session past the wait.
#[derive(Debug)]
struct Busy(Duration);

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the session is busy: another request held it for longer than {:?}",
            self.0
        )
    }
}

impl std::error::Error for Busy {}
