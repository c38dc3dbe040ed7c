//! A Redis [`SessionStore`] for [`session_core`], on one node or a Redis
//! Cluster.
//!
//! ```no_run
//! use session_core::{Key, SessionLayer};
//! use session_store_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), session_core::store::StoreError> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let layer = SessionLayer::new(store, Key::generate());
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # When to pick Redis
//!
//! Pick it when several instances of an application must share sessions
//! (a load balancer may send each request of one visitor to another
//! instance), when sessions should survive a restart of the application, and
//! when you want expiry handled by the server rather than by a sweeper. Redis
//! answers in well under a millisecond on a local network, and every
//! operation a request makes (load, save, touch, delete) is a single round
//! trip. Pick
//! `session-store-memory` for a single instance or tests, and
//! `session-store-sql` when sessions must be durable and you already run a
//! database (Redis keeps data in memory; whether it survives a Redis restart
//! depends on its persistence settings).
//!
//! It needs **Redis 7.0 or later** (or a server that speaks its commands:
//! the store sends `PEXPIREAT … NX` and, for leases, `SET … NX GET`, both
//! new in 7.0).
//!
//! # Key layout
//!
//! A session is one Redis **hash** at `prefix + id` (the prefix is
//! [`DEFAULT_PREFIX`], `"session:"`, unless [`RedisStore::with_prefix`] says
//! otherwise; the id is the 22-character text of [`Id::encode`]):
//!
//! | hash field | value |
//! |---|---|
//! | `created` | creation time, Unix milliseconds (decimal text); `0` marks a stub, no session (see [Round trips](#round-trips)); a hash without it is no session either |
//! | `expires` | expiry time, Unix milliseconds (decimal text) |
//! | `policy` | the session's own expiry policy ([`Record::expiry`]) as [`Expiry::to_stored`] text: `end`, `idle:<ms>` or `at:<Unix ms>`; absent when the session follows the layer's configuration |
//! | `user` | the user the session is bound to ([`Record::user`]), as it is; absent when it is bound to none |
//! | `d:` + *key* | the JSON text of the value of data key *key* |
//!
//! Every data key, whatever characters it holds (dots, `$`, quotes, the
//! empty string, any Unicode), becomes the field `d:` + key, so it never
//! clashes with the metadata fields, and fields are binary safe. A
//! `policy` field that [`Expiry::from_stored`] cannot read, a `user`
//! field that is not UTF-8, or a time spelled otherwise than the store
//! writes it (`+5`, `05`, `-0`), makes the session [`StoreError::Corrupt`];
//! a hash that is no session is no session whatever its other fields hold. The
//! key carries a native expiry (`PEXPIREAT` to `expires`), so Redis itself
//! removes expired sessions. Each user with bound sessions also has an
//! index, a sorted set at `prefix + "user:" + user` (see [User
//! index](#user-index)). Inspecting a session by hand is easy:
//!
//! ```text
//! 127.0.0.1:6379> HGETALL session:q3xN0cQvVb8kD1n3Qm0L7w
//! 1) "created"
//! 2) "1764132000000"
//! 3) "expires"
//! 4) "1765341600000"
//! 5) "policy"
//! 6) "idle:2592000000"
//! 7) "user"
//! 8) "hong"
//! 9) "d:user_count"
//! 10) "3"
//! 127.0.0.1:6379> ZRANGE session:user:hong 0 -1 WITHSCORES
//! 1) "q3xN0cQvVb8kD1n3Qm0L7w"
//! 2) "1764132000000"
//! ```
//!
//! # Round trips
//!
//! | operation | what is sent | round trips |
//! |---|---|---|
//! | load | `HGETALL` | 1 |
//! | load, with the [local cache](#local-cache), a hit | nothing ([`CacheMode::Fenced`]: a `PING`; on a cluster `EXISTS` of the key) | 0 (1) |
//! | create | `EVALSHA` of a script: `HGET created` (a key that holds something: compared with what it writes, to recognise a resend), else `HSET` + `PEXPIREAT` | 1 |
//! | create, bound to a user (login) | the index script (`ZADD` to the user's index), then create | 2 |
//! | save | a pipeline of plain commands (no transaction): `HGET user` if the change set names the user, `HSET` of `expires` and the set fields (and `policy`, `user` when named), `HDEL` of the removed ones, `HINCRBY created 0` (was it live?), `PEXPIREAT` (`PEXPIREAT … NX` when the layer kept the expiry: `expires` is then not written either) | 1 (2 when it finds the session gone: see below) |
//! | save that binds the session to a user | the index script, then save | 2 |
//! | save that unbinds or rebinds it | as above; the former user's index entry is removed afterwards, in the background | 1 or 2 |
//! | touch | a pipeline: `HSET expires`, `HINCRBY created 0`, `PEXPIREAT` | 1 (2 when gone) |
//! | delete | `DEL` (the index entry is pruned later) | 1 |
//! | lock (serialized requests only) | `SET NX GET PX` (again while the lease is held elsewhere); its release is an `EVALSHA` of a compare-and-delete script | 2 |
//! | cycle, one node | `EVALSHA` of a script: if the old key `EXISTS` and the new one does not, `HSET` + `PEXPIREAT` the new key, `DEL` the old one | 1 (2 with a user) |
//! | cycle, cluster | create, then a script that ends the old session if it is live (and a `DEL` of the new one if it was not; see [Redis Cluster](#redis-cluster)) | 2 (3 with a user) |
//! | list_user | `ZRANGE` of the index, an `HMGET` per entry (sent together), then a prune script if some entries are stale | 2 or 3 |
//! | delete_user | `ZRANGE` of the index and an end script per entry (sent together), again until a `ZRANGE` brings no new entry, then a prune script | 4 (2 more per pass when sessions were bound meanwhile) |
//! | end_user_session | the end script | 1 |
//! | delete_expired | `SCAN` for the indexes on every master, then each is pruned as by list_user | many |
//!
//! The scripts are sent by hash (`EVALSHA`); the first call on a server
//! that does not know a script yet costs one extra `SCRIPT LOAD`. A script
//! runs atomically, so a create never overwrites a live session (it reports
//! [`Created::IdTaken`]). On one node, a
//! [cycle](session_core::store::CycleStore::cycle) (a new id at login)
//! moves the session in one script: it writes nothing when the old session
//! is gone ([`Cycled::Gone`]: a logout that ran meanwhile wins) or the new
//! id is taken ([`Cycled::IdTaken`]).
//!
//! Save and touch, the operations of nearly every request, run no script
//! and no `MULTI`/`EXEC` transaction: a pipeline of plain commands costs
//! Redis the least per command. It cannot test before it writes, so it
//! tests *after* it writes: `HINCRBY created 0` leaves a live session's
//! creation time as it is and answers it, but on a session that is gone
//! (deleted or expired) it answers `0` and creates the field as `0`. What
//! the pipeline wrote then sits in a **stub**: a hash whose `created` is
//! `0` is no session for load, save, touch, cycle or the user index, and
//! it carries the expiry the write asked for (a save that keeps the stored
//! expiry gives it one with `PEXPIREAT … NX`, which leaves a live
//! session's expiry alone). The store reports
//! [`Saved::Gone`] and deletes the stub at once (if that `DEL` is lost,
//! Redis expires the stub). Only the create and cycle scripts write a
//! non-zero `created`, and only into a key that does not exist, so a
//! non-zero answer means the write landed in the live session. A logout's
//! `DEL` may land between two commands of the pipeline; whichever gap it
//! lands in, the session is not brought back, and a write that began after
//! the logout was answered reports [`Saved::Gone`] (the interleavings are
//! listed at `RedisStore::write_live` in the source). A hash without
//! `created` (what a pipeline cut short by a broken connection may leave)
//! is no session either; a load that finds one, or a stub, deletes it.
//! Because a save only writes the fields it names, two requests that
//! change different keys of one session at the same time both keep their
//! writes; the expiry of two concurrent writes is the earlier of the two
//! they asked for.
//!
//! On one node, the commands that requests send at the same moment (every
//! load, save, touch, delete and lease, all but the scripts) go to Redis
//! together: the first one spawns a task that
//! yields once, so that every task ready to run can add its commands, and
//! then sends them all as one pipeline on the shared connection; each call
//! gets its own answers (one call's error is its own). Redis spends most of
//! its CPU per read and write it makes, not per command, so this is what
//! its cost per request depends on: under load, a counter request (a load
//! and a save) measured 8.1 µs of Redis CPU with every call written on its
//! own (what Tokio's multi-thread runtime makes of a multiplexed
//! connection, as it runs the connection's task right after each call
//! wakes it) and 3.1 µs batched. A call waits for one turn of the
//! scheduler; nothing else changes (each call keeps its timeout, and one
//! whose batch met a broken connection is resent on its own, as any other
//! call).
//!
//! # User index
//!
//! [`UserIndex::list_user`] and [`UserIndex::delete_user`] read a
//! sorted set per user at `prefix + "user:" + user` (the user as it is,
//! whatever characters it holds), whose members are the ids of the
//! sessions bound to the user. Session keys are the prefix and 22
//! characters of URL-safe base64, never with a `:`, so an index key is
//! never a session key, and two users never share an index. (So no prefix
//! should be another store's prefix followed by `user:`.) The score of a
//! member is the Redis server's time, in milliseconds, when the session was
//! last bound to the user.
//!
//! **An index has no expiry**, and this is deliberate: it must outlive
//! every session it names, or "log out everywhere" would miss one. A
//! session's expiry moves on with every save and touch (an idle timeout,
//! a rolling cookie, a `remember me`), and those are plain commands on the
//! session's key that do not know the user (the layer does not pass it,
//! and reading it first would cost the hot path a round trip), so no TTL
//! set on the index could be sure to follow its longest member. Instead,
//! an index disappears when its last member is pruned, and every store
//! that binds sessions **sweeps** the indexes of its prefix by itself:
//! once per [`DEFAULT_INDEX_SWEEP`] (an hour; see
//! [`RedisStore::with_index_sweep`]), the instances sharing the prefix
//! take turns (a key, `prefix + "sweep"`, held for one period), and the one
//! whose turn it is prunes every index as
//! [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired)
//! does (a `SCAN` of every master). So the index of a user who never comes
//! back is gone at most a period and the grace period after the last of
//! its sessions ended, without an application task; and an index whose
//! session is kept alive by touches is never removed (its entry is pruned
//! only once the session is read gone).
//!
//! The index and the sessions it names live in different slots of a
//! cluster, so no script can change both at once; the store keeps them
//! consistent by order instead, the same way on one node and on a cluster:
//!
//! - A bind (a create, save or cycle that names a user) adds the session
//!   to the user's index *before* the session's hash says `user`, so a
//!   [`delete_user`](session_core::store::UserIndex::delete_user) running meanwhile finds
//!   it. What is listed and deleted is decided by the hash: a session is
//!   listed only while its hash exists and its `user` field names the
//!   user, and `delete_user` deletes each session with a script that checks
//!   the `user` field in the same step. Save, touch and cycle never bring
//!   back a hash that is gone (see [Round trips](#round-trips)), so a
//!   session `delete_user` ended stays ended.
//! - Entries of sessions that ended (deleted, expired by Redis, moved by a
//!   cycle) or that were bound to someone else are *pruned*: by every
//!   [`list_user`](session_core::store::UserIndex::list_user) and `delete_user` of that
//!   user, in the background after every bind to a user that has other
//!   entries (a bounded part of the index: its four oldest entries and
//!   four at random, so that a bind costs at most eight `HMGET`s however
//!   many sessions the user has; 300 logins of one user cost 2,319 of
//!   them where pruning the whole index on every bind cost 45,803, and
//!   600 logins 4,702 instead of 181,474), after an unbind or rebind (the
//!   former user's entry), and by
//!   [`ExpiredCleanup::delete_expired`], which finds every index of the
//!   prefix with `SCAN` (on every master of a cluster, 100 keys a step),
//!   and which the store's sweep runs once an hour (above). So an index
//!   holds the user's live sessions and at most the sessions that ended
//!   since its last prune.
//! - A prune removes an entry only after it read the session gone or bound
//!   to someone else, and only if the entry's score is still the one it
//!   read and is older than a grace period of four times the store's
//!   timeout: a bind in flight (entry added, hash not yet written) renews
//!   the score or is younger than that, so its entry stays.
//!
//! Ending sessions ([`delete_user`](session_core::store::UserIndex::delete_user),
//! [`end_user_session`](session_core::store::UserIndex::end_user_session))
//! runs an *end script* on each id, which makes sure that the id never
//! holds a live session afterwards: a live session bound to the user is
//! deleted and replaced by a **tombstone**, a stub (`created` `0`) that
//! expires after the grace period; so is a key that does not exist (an id
//! in the index whose create or cycle has not written it yet, or a create
//! about to be resent after a lost answer). Create and cycle write only
//! into a key that does not exist, so they answer that the id is taken
//! (a create: [`Created::IdTaken`], the layer draws another id) or that
//! the move lost (a cycle onto a tombstone: [`Cycled::Gone`]). A session
//! of someone else, an unbound one, or a stub is left as it is. The end
//! script answers whether it ended a live session of the user, which is
//! `end_user_session`'s answer.
//!
//! `delete_user` repeats: it reads the index, runs the end script on every
//! member (but `keep`) it has not handled yet, and reads again, until a
//! read brings no member it has not handled. That ends a session cycled
//! to a new id at the same moment (a login, or
//! [`Session::cycle_id`](session_core::Session::cycle_id)): if the new id
//! was in the index at the last read, it was handled in an earlier pass
//! (ended, or blocked by a tombstone); if it was added later, its cycle
//! wrote it later still, which needs the old session live after the last
//! read, but the old one was handled before (the argument in full is at
//! `delete_user_sessions` in `src/users.rs`). What can survive is a session
//! bound by a request that overlaps the call and was no session of the
//! user before it (a fresh login), as if it came just after. A pass after
//! the first runs only when sessions of the user were bound during the
//! previous one; after 32 passes (logins arriving faster than they are
//! ended) the call fails with [`StoreError::Unavailable`], and what it
//! ended stays ended.
//!
//! What remains: a bind whose hash write reaches Redis more than the grace
//! period after its index entry (only possible when the operation already
//! failed with a timeout, e.g. against a frozen node) may leave a bound
//! session unindexed, which `delete_user` then misses, or find its
//! tombstone expired; and a cycle on a cluster whose last `DEL` fails (a
//! broken connection) leaves a new session that nobody was given the id
//! of until it expires.
//!
//! # Redis Cluster
//!
//! [`RedisStore::connect_cluster`] takes the addresses of some nodes (the
//! rest are discovered). All the data of one session lives under one key,
//! so every command touches one slot and needs no hash tags; sessions spread
//! evenly over the slots. Do not put a hash tag (`{...}`) in the prefix: it
//! would send every session to the same slot, that is, to one node.
//! [`parse_cluster_spec`] reads the `redis+cluster://host:port,host:port`
//! form that the example applications take in `SESSION_STORE`, and
//! [`RedisStore::connect_spec`] connects to either form.
//!
//! The one operation that touches two sessions,
//! [cycle](session_core::store::CycleStore::cycle), cannot be one script
//! there: the old and the new key are in different slots, and no script or
//! transaction spans slots. So in a cluster it runs in two steps: create
//! the new session, then end the old one *if it is still live*, in one
//! script that answers whether it was. If it was not (a logout,
//! `delete_user` or `end_user_session` came first), the new session is
//! deleted and the cycle reports [`Cycled::Gone`]; otherwise the old one is
//! ended in the same step, and an end of the old session that comes later
//! finds it ended (and `end_user_session` answers `false`). The script
//! leaves a stub under the old id naming the new one (it expires after the
//! grace period), so that the step resent after a lost answer recognises
//! its own move. Between the two steps both sessions are live; both are in
//! the user's index, so `delete_user` ends both.
//!
//! # Serialized requests
//!
//! With [`SessionConfig::with_serialized_requests(true)`], the layer
//! serializes the requests of one session within its process, and asks the
//! store for a **lease** on the session when a request first loads it
//! ([`LeaseStore::lock`]), so that requests of one session are
//! serialized across every instance sharing this Redis (or Cluster):
//!
//! - the lease is a key, `prefix + "lock:" + id`, set with
//!   `SET key token NX GET PX lease` to a fresh random token (`GET`: a
//!   `SET` resent after a broken connection that finds its own token has
//!   the lease); while another
//!   request holds it the store tries again, pausing 1 ms doubling to
//!   20 ms, for at most the lock wait ([`DEFAULT_LOCK_WAIT`], 5 s, or
//!   [`RedisStore::with_lease`]); past it the load fails with
//!   [`StoreError::Unavailable`] and the layer answers `503`, writing
//!   nothing;
//! - after the request's writes the layer gives it back: a script deletes
//!   the key only if it still holds the request's token, so a lease that
//!   ran out and was taken by another request is left alone;
//! - a lease lasts [`DEFAULT_LEASE`] (10 s) unless
//!   [`RedisStore::with_lease`] says otherwise: an instance that dies
//!   holding one blocks its session that long, no longer.
//!
//! What it costs: a request that never touches its session nothing; one
//! that loads it two more round trips (`SET NX GET PX`, and the release's
//! `EVALSHA`), more while it waits (one `SET` per attempt). Within
//! one instance, requests of a session queue on the in-process lock first,
//! so only one per instance at a time asks Redis.
//!
//! What it does not guarantee: the lease is bounded in time, and nothing
//! stops a request that outlives it (a process stalled by a long pause, a
//! handler slower than the lease). Its save then lands after the next
//! request's load, and a read-modify-write of one key can lose that
//! request's update, as without serialization. There is no fencing token
//! (the save does not check that its lease is still held). It never
//! brings back a session that was logged out meanwhile: the save still
//! reports [`Saved::Gone`]. Pick a lease longer than your slowest request.
//!
//! # Local cache
//!
//! [`RedisStore::with_local_cache`] (opt-in) serves loads from an
//! in-process cache of at most a given number of sessions, so that a
//! read-only request whose session is cached costs no round trip. Redis
//! keeps it coherent across every instance through its server-assisted
//! client-side caching (Redis 6 or later). For authenticated sessions use
//! [`RedisStore::with_local_cache_mode`] with [`CacheMode::Fenced`] (see
//! [Which mode](#which-mode): the default, `Pushed`, can serve a session
//! logged out on another instance for a moment):
//!
//! - the cache has its own RESP3 connection with `CLIENT TRACKING on` (one
//!   per master on a cluster: see [Local cache in a
//!   cluster](#local-cache-in-a-cluster)), and
//!   only what was read on that connection is kept (an `HGETALL` of a
//!   session, a live one: absent sessions and stubs are not kept); Redis
//!   then remembers that this connection holds the key, and when any
//!   client changes it (a save, touch, delete, logout, `delete_user`, a
//!   cycle, an expiry, an eviction) it pushes an `invalidate` message to
//!   the connection, which drops the entry. The push is applied in the
//!   connection's reader, before any later answer on that connection is
//!   handed out; a read in flight whose key is invalidated keeps nothing;
//! - the store's own writes drop the entries they touch before they are
//!   sent and again after they are answered, so an instance always reads
//!   its own writes; taking a [lease](#serialized-requests) drops the
//!   session's entry too, so a serialized request reads what the previous
//!   holder wrote;
//! - when the tracking connection is lost (an error, a disconnect, or a
//!   `PING` every second that goes unanswered within the store's timeout,
//!   so a connection that stalls silently is noticed too), the whole cache
//!   is dropped and bypassed (loads go to Redis uncached) until a new
//!   tracking connection is made: a cache whose invalidations may have been
//!   missed never serves. A flush pushed by Redis (`FLUSHALL`, or its
//!   tracking table full) drops everything as well;
//! - an entry is never served past its `expires` time; at most the given
//!   number of entries is kept (evicted roughly in the order they were
//!   read);
//! - [`RedisStore::cache_stats`] counts hits, misses, invalidations and
//!   flushes, and tells whether the cache serves. A server that refuses
//!   tracking (no RESP3 or no `CLIENT TRACKING`: Redis before 6, or an ACL
//!   without `CLIENT`) leaves the store uncached, with a warning logged
//!   (through `tracing`) and [`CacheState::Disabled`] in the stats.
//!
//! **The guarantee, exactly.** Redis queues the invalidation of a write to
//! the tracking connection of every instance that cached the key *before*
//! it answers the writer. In [`CacheMode::Pushed`] (the default) a hit
//! reflects every invalidation that reached this process before the hit:
//! a write that completed on another instance can be missed by a read
//! that begins while its push is still on the wire or not yet read by the
//! connection's task (on a local network, tens of microseconds; longer
//! while this process is busy; a connection that stalls silently is given
//! up within the one-second heartbeat plus the store's timeout). In
//! [`CacheMode::Fenced`] every hit first sends a `PING` on the tracking
//! connection and serves the entry only if it was not dropped by the time
//! the answer came: since the answer follows every push queued before the
//! `PING`, a read sees every write that completed, on any instance, before
//! it began (a logout on one instance is seen by the very next request on
//! any other). A fenced hit costs a round trip of the cheapest command
//! Redis has instead of an `HGETALL` and its decoding. Writes always go to
//! Redis, so "logout wins" and [`Saved::Gone`] hold in both modes; what
//! `Pushed` can do is let one more read-only request through on another
//! instance within that window.
//!
//! With the cargo feature `metrics`, the cache counts its answers in
//! `session_redis_cache_hits_total` and `session_redis_cache_misses_total`
//! and sets the gauge `session_redis_cache_entries` on each read, through
//! the `metrics` facade (the table: `session_core::metrics`).
//!
//! ## Which mode
//!
//! **Use [`CacheMode::Fenced`] for anything authenticated** (a session
//! that says who is logged in, or what they may do); keep
//! [`CacheMode::Pushed`] for sessions whose staleness costs nothing (a
//! cart, preferences). In `Pushed` mode a logout (or `delete_user`, or a
//! rebind) on one instance does not reach the others' caches at once,
//! measured by `tests/cache_window.rs` on one two-core machine, Redis on
//! loopback:
//!
//! - a read on instance A made right after instance B's logout was
//!   answered served the ended session in 104 to 112 of 300 rounds (about
//!   a third); the invalidation reached A a median 0.3 ms after B's `DEL`
//!   was answered, at most 8 to 61 ms under load (longer on a real network
//!   or a busy process);
//! - when A's tracking connection stalls silently (a half-open TCP
//!   connection), A serves its cached sessions, logged out or not, until
//!   the heartbeat gives the connection up: 2.98 s with the default 2 s
//!   timeout (one heartbeat period, 1 s, plus the store's timeout);
//! - in `Fenced` mode, 0 of 300, and nothing over the stalled connection
//!   (the fence times out and the read goes to Redis).
//!
//! What it costs: one more connection per store; in Redis, a tracking
//! table entry per cached key (bounded by its `tracking-table-max-keys`:
//! past it Redis invalidates keys to make room), and an `invalidate` push for
//! every write to a key some instance holds, this one included: a save
//! measured about 2 µs more command time in `INFO commandstats` (the
//! write's `EXEC` pays for the push). The cache pays off for read-only
//! requests, which cost nothing when they hit; it cannot help when every
//! request writes. With a rolling cookie or an idle timeout the layer
//! [touches](session_core::store::SessionStore::touch) the session only
//! when its expiry moves by more than the layer's expiry precision
//! ([`SessionConfig::with_expiry_precision`](session_core::SessionConfig::with_expiry_precision),
//! 60 s by default): the reads in between hit. A touch drops the entry,
//! so with `Duration::ZERO` every read touches and misses, and the cache
//! only adds the pushes.
//!
//! The cache is not available on a store made by
//! [`RedisStore::from_connection_manager`] or
//! [`RedisStore::from_cluster_connection`] (they have no client or node list
//! to make tracking connections with): [`RedisStore::with_local_cache`]
//! fails there.
//!
//! ## Local cache in a cluster
//!
//! On a store made by [`RedisStore::connect_cluster`] (or
//! [`RedisStore::connect_spec`] with a cluster spec) the cache works the
//! same way, with one tracking connection per master:
//!
//! - it asks the cluster for its slot map (`CLUSTER SLOTS`, on the masters
//!   it knew last, then the node URLs the store was given) and makes a
//!   RESP3 connection with `CLIENT TRACKING on` to every master, with the
//!   credentials and TLS settings of the first URL. It serves only while
//!   every master has one ([`CacheStats::connections`] counts them);
//! - a key is read on the tracking connection of the master that serves
//!   its slot (the slot is computed as the cluster specification says:
//!   CRC16 of the key or its hash tag), not on the store's cluster
//!   connection. So the read and the key's invalidations share one
//!   connection, as on one node, and the fill race is closed the same way:
//!   a read in flight whose key is invalidated keeps nothing. A master that
//!   answers such a read with a redirect does not serve the slot (any
//!   more): nothing is kept and the load goes through the cluster
//!   connection, which follows the redirect. So no entry is ever held that
//!   no tracking connection would invalidate. (Tracking in broadcast mode,
//!   `BCAST PREFIX`, would let reads stay on the cluster connection, but
//!   every write by any instance would then push to every instance, and a
//!   read answered by a master the cache does not track could be kept.);
//! - [`CacheMode::Fenced`] sends `EXISTS key` instead of a `PING`, on the
//!   tracking connection of the key's master: its answer follows every
//!   push that master queued before it, and a node that knows it no longer
//!   serves the slot (a master demoted by a failover, a slot moved away)
//!   answers it with a redirect, which is no hit;
//! - the heartbeat (every second) asks every master for the slot map on its
//!   tracking connection, which also checks that the connection answers.
//!   A map other than the one the cache routes by (a slot moved, a master
//!   added, removed or replaced by a failover), an unanswered check, a lost
//!   connection to any master, or a `MOVED` answer to a cached read or
//!   fence, flushes the whole cache and bypasses it until a tracking
//!   connection to every master of the new map is made (asked for again at
//!   the next heartbeat). A server that refuses tracking on any master
//!   leaves the store uncached ([`CacheState::Disabled`]).
//!
//! **The guarantee in a cluster** is the one-node guarantee for every key,
//! with the key's master in the place of the server: Redis queues the
//! invalidation of a write on the master that executes it, to the tracking
//! connection that read the key from that master, before it answers the
//! writer. So in [`CacheMode::Fenced`] a read sees every write that
//! completed before it began, on any instance (a logout on one instance is
//! seen by the very next request on any other) while the topology holds
//! still, and in
//! [`CacheMode::Pushed`] a hit reflects every invalidation that reached
//! this process. While the cluster's topology changes:
//!
//! - *resharding*: a key whose slot moves is deleted from its old master
//!   (`MIGRATE`), which pushes its invalidation; a read that meets a moved
//!   slot is answered with a redirect and keeps nothing; the new map is
//!   picked up (cache flushed) at the next heartbeat or at the first `MOVED`.
//!   Both modes keep their guarantee throughout;
//! - *failover*: when a master is lost, its tracking connection is lost
//!   too (an error, or an unanswered heartbeat within the store's timeout),
//!   and the whole cache is flushed and bypassed until every master of the
//!   new map has a tracking connection. A master *demoted* without losing
//!   its connections (a manual `CLUSTER FAILOVER`) is different: its
//!   replacement does not know what this instance cached. Once the
//!   demoted node knows it is a replica, it answers a fence with a
//!   redirect, so a [`CacheMode::Fenced`] load reads the new master.
//!   Before that (normally one cluster-bus message after the promotion;
//!   while it is cut off from the majority, up to `cluster-node-timeout`)
//!   it still answers reads as the owner of its slots: a write already
//!   made on its replacement can then be missed, by a fenced hit as by an
//!   uncached read sent to it. So in a failover a fenced load is as fresh
//!   as an uncached read routed by the cache's slot map, not fresher. A
//!   [`CacheMode::Pushed`] hit may serve an entry read from the demoted
//!   master, missing writes made on its replacement (unless the demoted
//!   node, which replicates them, pushes their invalidations: the store
//!   does not count on it), until the
//!   heartbeat sees the new map: at most one heartbeat period (1 s) plus
//!   the time to ask for the map. Writes acknowledged by a master but lost
//!   in a failover (Redis replicates asynchronously) are lost for the
//!   uncached store too;
//! - while any master has no tracking connection (it is down, or not yet
//!   reconnected), the whole cache is bypassed: the sessions on the other
//!   masters are read uncached too, which adds their `HGETALL`s to those
//!   masters' load until every master is tracked again.
//!
//! What it costs in a cluster: one connection per master per store (plus a
//! short-lived one to ask for the slot map when the cache (re)connects),
//! and a `CLUSTER SLOTS` per master per second; in Redis, as on one node, a
//! tracking table entry per cached key on the key's master and a push per
//! write to a key some instance holds.
//!
//! # Timeouts and faults
//!
//! Every operation is bounded by the store's timeout ([`DEFAULT_TIMEOUT`],
//! 2 seconds, or [`RedisStore::with_timeout`]): a Redis that is stopped,
//! hung, or unreachable makes the operation fail with
//! [`StoreError::Unavailable`] (the layer answers `503 Service
//! Unavailable`) instead of holding the request. Other Redis errors become
//! [`StoreError::Failed`]; a field that is not valid JSON, or a key that
//! holds something other than a session hash, becomes
//! [`StoreError::Corrupt`].
//!
//! On one node the store uses a [`ConnectionManager`], which replaces a
//! broken connection in the background. It is configured (see
//! [`RedisStore::connection_manager_config`]) to make one connection
//! attempt at a time, so that while Redis is down (connection refused)
//! operations fail at once rather than queue behind a long back-off, and
//! an operation whose connection turned out to be broken is sent once more
//! on a fresh connection, within the same timeout. So the first request
//! after Redis comes back already succeeds; the store never needs to be
//! rebuilt. Every operation is safe to send twice: Redis may have run the
//! first attempt, and the second answers as if it were the only one. A
//! create that finds exactly what it writes (its times and user, the key
//! not written to since) answers [`Created::Inserted`] again, but not
//! after an end of the user's sessions ended it meanwhile (it finds the
//! tombstone: [`Created::IdTaken`], and the layer draws a fresh id); a
//! cycle recognises its own earlier move (on one node the new key holding
//! exactly its times with the old key gone; on a cluster the stub under
//! the old id that names the new one) and reports [`Cycled::Moved`]
//! again; a lease's `SET` that finds its own token has the lease; a save or
//! touch finds the session live, or reports [`Saved::Gone`] as before.
//!
//! A connection can also stall without any error: a frozen Redis, or a
//! half-open TCP connection (a host that vanished, a firewall or NAT that
//! forgot the connection), which the OS may take many minutes to notice.
//! Operations then fail when the timeout runs out, and the store moves to a
//! fresh connection (at most once per timeout period), so one timed-out
//! request is the whole cost once the path to Redis works again.
//!
//! A cluster connection retries and follows slot moves on its own; the
//! timeout bounds those retries too. When one node is down, the sessions
//! it holds are [`StoreError::Unavailable`] (within a few tens of
//! milliseconds on a refused connection) while the sessions on the other
//! nodes keep working, provided the cluster is configured to serve partial
//! slot coverage (`cluster-require-full-coverage no`) or has replicas to
//! fail over to. When the node is back, the same store uses it again as
//! soon as the node reports the cluster healthy.
//!
//! [`SessionStore`]: session_core::store::SessionStore
//! [`LeaseStore::lock`]: session_core::store::LeaseStore::lock
//! [`SessionConfig::with_serialized_requests(true)`]: session_core::SessionConfig::with_serialized_requests
//! [`Record::expiry`]: session_core::store::Record::expiry
//! [`Expiry::to_stored`]: session_core::Expiry::to_stored
//! [`Expiry::from_stored`]: session_core::Expiry::from_stored
//! [`Cycled::Moved`]: session_core::store::Cycled::Moved
//! [`Cycled::Gone`]: session_core::store::Cycled::Gone
//! [`Cycled::IdTaken`]: session_core::store::Cycled::IdTaken
//! [`ExpiredCleanup::delete_expired`]: session_core::store::ExpiredCleanup::delete_expired
//! [`UserIndex::list_user`]: session_core::store::UserIndex::list_user
//! [`UserIndex::delete_user`]: session_core::store::UserIndex::delete_user
//! [`Record::user`]: session_core::store::Record::user
//! [`Id::encode`]: session_core::Id::encode
//! [`Created::IdTaken`]: session_core::store::Created::IdTaken
//! [`Created::Inserted`]: session_core::store::Created::Inserted
//! [`Saved::Gone`]: session_core::store::Saved::Gone
//! [`StoreError::Unavailable`]: session_core::store::StoreError::Unavailable
//! [`StoreError::Failed`]: session_core::store::StoreError::Failed
//! [`StoreError::Corrupt`]: session_core::store::StoreError::Corrupt
//! [`ConnectionManager`]: redis::aio::ConnectionManager
//! [`CacheStats::connections`]: crate::CacheStats::connections
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod cluster;
mod connection;
mod fields;
mod lease;
mod scripts;
mod store;
mod sweep;
mod users;

pub use redis;

pub use cache::{CacheMode, CacheState, CacheStats};
pub use cluster::{parse_cluster_spec, ParseSpecError};
pub use connection::DEFAULT_TIMEOUT;
pub use lease::{DEFAULT_LEASE, DEFAULT_LOCK_WAIT};
pub use store::{RedisStore, DEFAULT_PREFIX};
pub use sweep::DEFAULT_INDEX_SWEEP;

/// Not part of the API: what the project's fuzz targets reach inside the
/// crate for. No stability promise; do not use.
#[doc(hidden)]
pub mod __private {
    use session_core::store::{Record, StoreError};
    use session_core::Id;

    /// The store's own decoder of a session hash, as `HGETALL` returns it
    /// (field, value pairs): `Ok(None)` for no session, a record, or
    /// [`StoreError::Corrupt`].
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let fields = vec![
    ///     (b"created".to_vec(), b"1700000000000".to_vec()),
    ///     (b"expires".to_vec(), b"1700000060000".to_vec()),
    ///     (b"d:n".to_vec(), b"1".to_vec()),
    /// ];
    /// let record = session_store_redis::__private::decode_hash(&Id::random(), fields)
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(record.data["n"], 1);
    /// ```
    pub fn decode_hash(
        id: &Id,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Option<Record>, StoreError> {
        crate::fields::decode(id, fields)
    }
}
