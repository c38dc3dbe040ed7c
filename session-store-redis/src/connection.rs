//! The connection to Redis, the timeout on every operation, and how Redis
//! errors map to [`StoreError`]s.
//!
//! One node: a [`ConnectionManager`] (it reconnects in the background after
//! an error), swapped for a fresh one when an operation times out, since a
//! stalled connection reports no error. A cluster: a [`ClusterConnection`],
//! which retries and follows slot moves on its own.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, ScriptInvocation, ServerErrorKind};
use session_core::store::StoreError;
use tokio::time::Instant;

/// How long one operation may take, connection included, unless
/// [`RedisStore::with_timeout`](crate::RedisStore::with_timeout) sets
/// another bound.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(session_store_redis::DEFAULT_TIMEOUT, Duration::from_secs(2));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection of a store; clones share it.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(Arc<Single>),
    /// A cluster connection, and the node URLs it was made from when the
    /// store made it (the local cache connects to the masters with them).
    Cluster(ClusterConnection, Option<Arc<[String]>>),
}

impl Conn {
    /// Connects to one node through `client`, within [`DEFAULT_TIMEOUT`];
    /// the connection can be replaced after a timeout.
    pub(crate) async fn connect_client(client: redis::Client) -> Result<Self, StoreError> {
        let config = manager_config(DEFAULT_TIMEOUT);
        let manager = bounded(DEFAULT_TIMEOUT, async {
            ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .map_err(classify)
        })
        .await?;
        Ok(Conn::Single(Arc::new(Single::new(
            manager,
            Some((client, config)),
        ))))
    }

    /// Connects to a cluster through some of its nodes, within
    /// [`DEFAULT_TIMEOUT`].
    pub(crate) async fn connect_cluster(nodes: Vec<String>) -> Result<Self, StoreError> {
        if nodes.is_empty() {
            return Err(StoreError::failed("no Redis Cluster node address given"));
        }
        let client = ClusterClient::builder(nodes.clone())
            .connection_timeout(DEFAULT_TIMEOUT)
            .response_timeout(DEFAULT_TIMEOUT)
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(classify)?;
        let conn = bounded(DEFAULT_TIMEOUT, async {
            client.get_async_connection().await.map_err(classify)
        })
        .await?;
        Ok(Conn::Cluster(conn, Some(nodes.into())))
    }

    /// A cluster connection built elsewhere: its node URLs are unknown.
    pub(crate) fn from_cluster_connection(conn: ClusterConnection) -> Self {
        Conn::Cluster(conn, None)
    }

    /// A connection manager built elsewhere: it cannot be replaced.
    pub(crate) fn from_manager(manager: ConnectionManager) -> Self {
        Conn::Single(Arc::new(Single::new(manager, None)))
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(..))
    }

    /// The client a one-node connection was made from, when the store made
    /// it.
    pub(crate) fn client(&self) -> Option<&redis::Client> {
        match self {
            Conn::Single(single) => single.rebuild.as_ref().map(|(client, _)| client),
            Conn::Cluster(..) => None,
        }
    }

    /// Where the local cache makes its tracking connections: the client of
    /// one node, or the node URLs of a cluster; `None` when the store did
    /// not make its connection itself.
    pub(crate) fn tracking_target(&self) -> Option<crate::cache::Target> {
        match self {
            Conn::Single(_) => self.client().cloned().map(crate::cache::Target::Single),
            Conn::Cluster(_, nodes) => nodes.clone().map(crate::cache::Target::Cluster),
        }
    }

    /// Sends `call`, bounded by `timeout`; on one node, an operation whose
    /// connection broke is sent once more (the connection manager has begun
    /// a fresh connection by then), and a timeout replaces the connection.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + timeout;
        let attempt = |conn: Conn| {
            let call = &call;
            async move {
                match (conn, call) {
                    (Conn::Single(single), Call::Cmds(cmds)) => {
                        let answers = Batcher::call(&single, cmds, timeout).await?;
                        T::from_redis_value(redis::Value::Array(answers)).map_err(RedisError::from)
                    }
                    (Conn::Single(single), Call::Cmd(cmd)) => {
                        let answers =
                            Batcher::call(&single, std::slice::from_ref(cmd), timeout).await?;
                        let answer = answers.into_iter().next().unwrap_or(redis::Value::Nil);
                        T::from_redis_value(answer).map_err(RedisError::from)
                    }
                    (Conn::Single(single), call) => call.send(&mut single.manager()).await,
                    (Conn::Cluster(mut c, _), call) => call.send(&mut c).await,
                }
            }
        };
        let timed_out = || {
            if let Conn::Single(single) = self {
                single.replace_after_timeout(timeout);
            }
            StoreError::unavailable(TimedOut(timeout))
        };
        let first = tokio::time::timeout_at(deadline, attempt(self.clone()))
            .await
            .map_err(|_| timed_out())?;
        match first {
            Err(err) if !self.is_cluster() && err.is_connection_dropped() => {
                tokio::time::timeout_at(deadline, attempt(self.clone()))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(classify)
            }
            other => other.map_err(classify),
        }
    }
}

impl Conn {
    /// The nodes to scan for keys: on a cluster, the address of every
    /// master (as `host:port`, asked of the masters themselves); on one
    /// node, the node (`None`).
    pub(crate) async fn masters(
        &self,
        timeout: Duration,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let Conn::Cluster(conn, _) = self else {
            return Ok(vec![None]);
        };
        let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
        let answers = bounded(timeout, async {
            conn.clone()
                .route_command(redis::cmd("PING"), routing)
                .await
                .map_err(classify)
        })
        .await?;
        match answers {
            redis::Value::Map(answers) => Ok(answers
                .into_iter()
                .filter_map(|(addr, _)| redis::from_redis_value::<String>(addr).ok())
                .map(Some)
                .collect()),
            other => Err(StoreError::failed(format!(
                "unexpected answer to PING on every master: {other:?}"
            ))),
        }
    }

    /// Sends `cmd` to the node `node` names (a master's `host:port` from
    /// [`masters`](Self::masters)), or as usual for `None`, bounded by
    /// `timeout`.
    pub(crate) async fn run_at<T: FromRedisValue>(
        &self,
        node: Option<&str>,
        cmd: Cmd,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let (Conn::Cluster(conn, _), Some(node)) = (self, node) else {
            return self.run(Call::Cmd(cmd), timeout).await;
        };
        let (host, port) = node
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
            .ok_or_else(|| StoreError::failed(format!("not a node address: {node}")))?;
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
        let value = bounded(timeout, async {
            conn.clone()
                .route_command(cmd, routing)
                .await
                .map_err(classify)
        })
        .await?;
        redis::from_redis_value(value).map_err(|err| classify(err.into()))
    }
}

/// The connection manager settings of a store on one node: connection
/// attempts time out after `timeout`, one attempt per reconnection, no
/// response timeout of its own (the store's timeout bounds every
/// operation).
pub(crate) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(None)
        .set_number_of_retries(0)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100))
}

/// One node: the connection manager in use, and what a replacement is made
/// of when the store built it itself.
pub(crate) struct Single {
    manager: Mutex<ConnectionManager>,
    batcher: Batcher,
    rebuild: Option<(redis::Client, ConnectionManagerConfig)>,
    /// When the manager was last replaced.
    replaced: Mutex<Option<Instant>>,
}

impl Single {
    fn new(
        manager: ConnectionManager,
        rebuild: Option<(redis::Client, ConnectionManagerConfig)>,
    ) -> Self {
        Self {
            manager: Mutex::new(manager),
            batcher: Batcher::default(),
            rebuild,
            replaced: Mutex::new(None),
        }
    }

    fn manager(&self) -> ConnectionManager {
        lock(&self.manager).clone()
    }

    /// After a timeout: the connection may be stalled without the OS
    /// knowing (a half-open TCP connection), and the connection manager
    /// only replaces connections that report an error. So the store swaps
    /// in a fresh manager, which connects on first use; at most once per
    /// `timeout`, so that a Redis that is merely slow is not flooded with
    /// connections.
    fn replace_after_timeout(&self, timeout: Duration) {
        let Some((client, config)) = &self.rebuild else {
            return;
        };
        let mut replaced = lock(&self.replaced);
        if replaced.is_some_and(|at| at.elapsed() < timeout) {
            return;
        }
        if let Ok(fresh) = ConnectionManager::new_lazy_with_config(client.clone(), config.clone()) {
            *lock(&self.manager) = fresh;
            *replaced = Some(Instant::now());
        }
    }
}

/// Locks `mutex`, ignoring poisoning: no code of this crate panics while
/// holding one of its locks, and what they guard is valid between any two
/// statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request to Redis: a plain command, a script invocation, or plain
/// commands sent together.
pub(crate) enum Call<'a> {
    Cmd(Cmd),
    Script(ScriptInvocation<'a>),
    /// Plain commands whose answers are wanted as they are (a
    /// `Vec<redis::Value>`, one per command; a command's error fails the
    /// call). On one node they join the other calls of the moment in one
    /// write (see [`Batcher`]), as a [`Call::Cmd`] does; on a cluster
    /// they are a plain pipeline.
    Cmds(Vec<Cmd>),
}

impl Call<'_> {
    async fn send<T: FromRedisValue>(
        &self,
        conn: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> redis::RedisResult<T> {
        match self {
            Call::Cmd(cmd) => cmd.query_async(conn).await,
            Call::Script(invocation) => invocation.invoke_async(conn).await,
            Call::Cmds(cmds) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query_async(conn).await
            }
        }
    }
}

/// Gathers the plain commands of one node ([`Call::Cmd`], [`Call::Cmds`]:
/// all but the scripts) that are made at about the same moment (by the
/// requests that are ready to run) into one pipeline, so
/// that Redis reads and answers them in one go.
///
/// Why: Redis spends most of its CPU per read and write it makes (waking
/// up, the system calls), not per command. The multiplexed connection
/// writes whatever calls are queued when its task runs, but on Tokio's
/// multi-thread runtime a task woken by the task running (the
/// connection's, woken by a call) is run next, so each call was written,
/// and read by Redis, on its own: measured under wrk, 1.45 reads and
/// writes by Redis per counter request (two round trips) against 0.14 on a
/// current-thread runtime, and 8.1 against 2.8 µs of Redis CPU per request.
/// The first call of a batch spawns a task that yields once (so that every
/// task ready now can add its calls) and then sends them all as one
/// pipeline; each call gets its own answers, or the error of the whole
/// pipeline (a broken connection: each call is then resent on its own, as
/// any other call).
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pipe: Option<redis::Pipeline>,
    /// Each call's number of answers, and where to send them.
    waiting: Vec<(usize, Answer)>,
}

type Answer = tokio::sync::oneshot::Sender<redis::RedisResult<Vec<redis::Value>>>;

impl Batcher {
    /// Sends `cmds` with the other calls of the moment on `single`'s
    /// connection; their answers.
    async fn call(
        single: &Arc<Single>,
        cmds: &[Cmd],
        timeout: Duration,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let first = {
            let mut queue = lock(&single.batcher.queue);
            let first = queue.pipe.is_none();
            let pipe = queue.pipe.get_or_insert_with(redis::pipe);
            for cmd in cmds {
                pipe.add_command(cmd.clone());
            }
            queue.waiting.push((cmds.len(), tx));
            first
        };
        if first {
            tokio::spawn(Self::send(single.clone(), timeout));
        }
        match rx.await {
            Ok(answers) => answers,
            // The sending task ended without an answer (its runtime shut
            // down): as if the connection had dropped.
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the batch was dropped before Redis answered",
            ))),
        }
    }

    /// The task of one batch: lets the ready tasks join, then sends.
    async fn send(single: Arc<Single>, timeout: Duration) {
        tokio::task::yield_now().await;
        let Queue { pipe, waiting } = std::mem::take(&mut *lock(&single.batcher.queue));
        let Some(pipe) = pipe else {
            return;
        };
        let total = waiting.iter().map(|(n, _)| n).sum();
        let mut manager = single.manager();
        let answers = tokio::time::timeout(
            timeout,
            redis::aio::ConnectionLike::req_packed_commands(&mut manager, &pipe, 0, total),
        )
        .await;
        let answers = match answers {
            Ok(Ok(answers)) if answers.len() == total => Ok(answers),
            Ok(Ok(answers)) => Err(RedisError::from((
                ErrorKind::Client,
                "Redis answered a batch with the wrong number of answers",
                format!("{} for {total}", answers.len()),
            ))),
            Ok(Err(err)) => Err(err),
            // The callers time out on their own.
            Err(_) => return,
        };
        let mut answers = match answers {
            Ok(answers) => answers.into_iter(),
            Err(err) => {
                for (_, tx) in waiting {
                    let _ = tx.send(Err(err.clone()));
                }
                return;
            }
        };
        for (n, tx) in waiting {
            let mine: Vec<redis::Value> = answers.by_ref().take(n).collect();
            let answer = match mine.iter().find_map(|value| match value {
                redis::Value::ServerError(err) => Some(err.clone()),
                _ => None,
            }) {
                Some(err) => Err(err.into()),
                None => Ok(mine),
            };
            let _ = tx.send(answer);
        }
    }
}

/// Runs `fut` for at most `timeout`; past it, [`StoreError::Unavailable`].
async fn bounded<T>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| StoreError::unavailable(TimedOut(timeout)))?
}

/// Redis did not answer in time.
#[derive(Debug)]
struct TimedOut(Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Sorts a Redis error into the store's error kinds.
pub(crate) fn classify(err: RedisError) -> StoreError {
    // The error of a transaction carries the errors of its commands.
    let wrong_type = err.code() == Some("WRONGTYPE")
        || err
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, error)| error.code() == "WRONGTYPE"));
    if wrong_type {
        return StoreError::Corrupt(format!(
            "the session key holds something other than a session hash ({err})"
        ));
    }
    let unavailable = match err.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => true,
        // A redirect reaches us only when the cluster connection could not
        // follow it: the node that owns the slot is not reachable.
        ErrorKind::Server(kind) => matches!(
            kind,
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        ),
        _ => err.code() == Some("BUSY"),
    };
    if unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::failed(err)
    }
}
