//! The local cache on a Redis Cluster: one tracking connection per master,
//! each key read (and fenced) on the connection of the master that serves
//! its slot, and the slot map those connections route by, checked against
//! the cluster's own on every heartbeat.
//!
//! A key is read on the tracking connection of its master, not on the
//! store's cluster connection, so that the read and the invalidations of
//! the key share one connection, exactly as on one node: Redis remembers
//! the key for that connection when it answers the read, and queues the
//! `invalidate` push of any later write to it there before it answers the
//! writer. A master that does not serve the key's slot (the map is out of
//! date) answers the read with a redirect, and nothing is kept: no entry is
//! ever held that no tracking connection would invalidate. (`CLIENT
//! TRACKING on BCAST PREFIX` would track every key of the prefix on every
//! connection instead, so that reads could stay on the cluster connection;
//! but every write of any instance would then push to every instance, and
//! a read answered by a master the cache does not track could be kept.)

use std::sync::Mutex;
use std::time::Duration;

use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};
use session_core::store::StoreError;

use super::{is_link_error, lock, resp3_client, Failure, Line};
use crate::connection::classify;

/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The hash slot of `key`, as the Redis Cluster specification defines it:
/// CRC16 (XMODEM) of the key, or of its hash tag (the text between the
/// first `{` and the next `}`, when not empty), modulo 16384.
pub(super) fn slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// A master, as `CLUSTER SLOTS` names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Master {
    host: String,
    port: u16,
    id: String,
}

/// Which master serves which slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Topology {
    /// Sorted, without duplicates.
    masters: Vec<Master>,
    /// `(first slot, last slot, index in masters)`, sorted.
    ranges: Vec<(u16, u16, usize)>,
}

impl Topology {
    /// Reads an answer to `CLUSTER SLOTS` given by a node at `asked` (the
    /// host of a master the node does not know the address of).
    pub(super) fn parse(answer: Value, asked: &str) -> Result<Self, String> {
        let Value::Array(entries) = answer else {
            return Err(format!("unexpected answer to CLUSTER SLOTS: {answer:?}"));
        };
        let mut found: Vec<(u16, u16, Master)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(items) = entry else {
                return Err("a CLUSTER SLOTS entry is not an array".into());
            };
            let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(node))) =
                (items.first(), items.get(1), items.get(2))
            else {
                return Err("a CLUSTER SLOTS entry has no slot range and master".into());
            };
            let host = match node.first() {
                Some(Value::BulkString(host)) => String::from_utf8_lossy(host).into_owned(),
                Some(Value::SimpleString(host)) => host.clone(),
                _ => String::new(),
            };
            let host = if host.is_empty() || host == "?" {
                asked.to_owned()
            } else {
                host
            };
            let Some(Value::Int(port)) = node.get(1) else {
                return Err("a CLUSTER SLOTS master has no port".into());
            };
            let id = match node.get(2) {
                Some(Value::BulkString(id)) => String::from_utf8_lossy(id).into_owned(),
                Some(Value::SimpleString(id)) => id.clone(),
                _ => String::new(),
            };
            let (Ok(first), Ok(last), Ok(port)) = (
                u16::try_from(*first),
                u16::try_from(*last),
                u16::try_from(*port),
            ) else {
                return Err("a CLUSTER SLOTS entry is out of range".into());
            };
            found.push((first, last, Master { host, port, id }));
        }
        let mut masters: Vec<Master> = found.iter().map(|(_, _, m)| m.clone()).collect();
        masters.sort();
        masters.dedup();
        let mut ranges: Vec<(u16, u16, usize)> = found
            .into_iter()
            .map(|(first, last, master)| {
                let index = masters.binary_search(&master).unwrap_or_default();
                (first, last, index)
            })
            .collect();
        ranges.sort_unstable();
        Ok(Self { masters, ranges })
    }

    pub(super) fn masters(&self) -> &[Master] {
        &self.masters
    }

    /// The index of the master serving `slot`, if any does.
    fn master_of(&self, slot: u16) -> Option<usize> {
        let after = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        let (_, last, index) = self.ranges.get(after.checked_sub(1)?)?;
        (slot <= *last).then_some(*index)
    }
}

/// The tracking connections of a serving cache on a cluster: one per master
/// of `topology`, in its order.
pub(super) struct Shards {
    topology: Topology,
    lines: Vec<Line>,
}

impl Shards {
    pub(super) fn new(topology: Topology, lines: Vec<Line>) -> Self {
        debug_assert_eq!(topology.masters.len(), lines.len());
        Self { topology, lines }
    }

    pub(super) fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The tracking connection of the master serving `key`'s slot.
    pub(super) fn line_for(&self, key: &[u8]) -> Option<&Line> {
        self.lines.get(self.topology.master_of(slot(key))?)
    }

    /// The heartbeat: asks every master for the slot map, on its tracking
    /// connection. An error names the connection that failed (`None`: the
    /// map is not the one the cache routes by).
    pub(super) async fn check(&self, timeout: Duration) -> Result<(), (Option<u64>, String)> {
        for (line, master) in self.lines.iter().zip(&self.topology.masters) {
            let mut conn = line.conn.clone();
            let answer = tokio::time::timeout(
                timeout,
                redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async::<Value>(&mut conn),
            )
            .await;
            let answer = match answer {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => return Err((Some(line.id), err.to_string())),
                Err(_) => return Err((Some(line.id), "a heartbeat timed out".into())),
            };
            let seen = Topology::parse(answer, &master.host).map_err(|why| (None, why))?;
            if seen != self.topology {
                return Err((
                    None,
                    format!(
                        "the cluster's slot map changed (as {}:{} sees it)",
                        master.host, master.port
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How the cache reaches a cluster: the node URLs the store was made with,
/// and the masters it found last.
pub(super) struct Seeds {
    seeds: Vec<ConnectionInfo>,
    /// Asked first next time (a seed may be gone since).
    known: Mutex<Vec<ConnectionInfo>>,
}

impl Seeds {
    pub(super) fn new(nodes: &[String]) -> Result<Self, StoreError> {
        let seeds = nodes
            .iter()
            .map(|node| node.as_str().into_connection_info().map_err(classify))
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(StoreError::failed("no Redis Cluster node address given"));
        }
        Ok(Self {
            seeds,
            known: Mutex::new(Vec::new()),
        })
    }

    /// Asks the known masters, then the seeds, for the slot map; the first
    /// answer wins.
    pub(super) async fn discover(&self, timeout: Duration) -> Result<Topology, Failure> {
        let candidates: Vec<ConnectionInfo> = lock(&self.known)
            .iter()
            .chain(&self.seeds)
            .cloned()
            .collect();
        let mut last = Failure::Transient("no node to ask".into());
        for info in candidates {
            let asked = match info.addr() {
                ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
                _ => String::new(),
            };
            match ask_slots(info, timeout).await {
                Ok(answer) => {
                    return Topology::parse(answer, &asked).map_err(Failure::Transient);
                }
                Err(Failure::Refused(why)) => return Err(Failure::Refused(why)),
                Err(failure) => last = failure,
            }
        }
        Err(last)
    }

    /// A client for `master`, with the settings (credentials, TLS) of the
    /// first seed.
    pub(super) fn client_for(&self, master: &Master) -> Result<redis::Client, Failure> {
        let info = self.info_for(master);
        resp3_client(info).map_err(|err| Failure::Transient(err.to_string()))
    }

    fn info_for(&self, master: &Master) -> ConnectionInfo {
        let template = self.seeds[0].clone();
        let addr = match template.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: master.host.clone(),
                port: master.port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(master.host.clone(), master.port),
        };
        template.set_addr(addr)
    }

    /// Remembers the masters of `topology`, to ask them first next time.
    pub(super) fn remember(&self, topology: &Topology) {
        let infos = topology
            .masters
            .iter()
            .map(|master| self.info_for(master))
            .collect();
        *lock(&self.known) = infos;
    }
}

/// `CLUSTER SLOTS`, asked on a short-lived connection to `info`.
async fn ask_slots(info: ConnectionInfo, timeout: Duration) -> Result<Value, Failure> {
    let client = resp3_client(info).map_err(|err| Failure::Transient(err.to_string()))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let asked = tokio::time::timeout(timeout, async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async::<Value>(&mut conn)
            .await
    })
    .await;
    match asked {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) if is_link_error(&err) => Err(Failure::Transient(err.to_string())),
        Ok(Err(err)) => Err(Failure::of(err)),
        Err(_) => Err(Failure::Transient("CLUSTER SLOTS timed out".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_cluster_specification() {
        // The specification's CRC16 check value, and CLUSTER KEYSLOT's
        // answers.
        assert_eq!(slot(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    }

    fn node(host: &str, port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(id.as_bytes().to_vec()),
        ])
    }

    fn range(first: i64, last: i64, master: Value) -> Value {
        Value::Array(vec![Value::Int(first), Value::Int(last), master])
    }

    /// The map `ranges` describe, read as from a node at `seed`.
    fn topology(ranges: Vec<Value>, seed: &str) -> Topology {
        Topology::parse(Value::Array(ranges), seed).unwrap()
    }

    #[test]
    fn a_slot_map_is_read_and_compared_whatever_its_order() {
        let one = topology(
            vec![
                range(0, 5460, node("10.0.0.1", 7000, "a")),
                range(10923, 16383, node("", 7002, "c")),
                range(5461, 10922, node("10.0.0.2", 7001, "b")),
            ],
            "10.0.0.3",
        );
        assert_eq!(one.masters().len(), 3);
        assert_eq!(one.masters()[2].host, "10.0.0.3");
        assert_eq!(one.master_of(0), Some(0));
        assert_eq!(one.master_of(5460), Some(0));
        assert_eq!(one.master_of(5461), Some(1));
        assert_eq!(one.master_of(16383), Some(2));
        let other = topology(
            vec![
                range(5461, 10922, node("10.0.0.2", 7001, "b")),
                range(0, 5460, node("10.0.0.1", 7000, "a")),
                range(10923, 16383, node("10.0.0.3", 7002, "c")),
            ],
            "10.0.0.1",
        );
        assert_eq!(one, other);
        // A slot moved, or a gap: another map.
        let moved = topology(
            vec![
                range(0, 5459, node("10.0.0.1", 7000, "a")),
                range(5460, 10922, node("10.0.0.2", 7001, "b")),
                range(10923, 16383, node("10.0.0.3", 7002, "c")),
            ],
            "10.0.0.1",
        );
        assert_ne!(one, moved);
        let gap = topology(
            vec![range(0, 5460, node("10.0.0.1", 7000, "a"))],
            "10.0.0.1",
        );
        assert_eq!(gap.master_of(5461), None);
        assert!(Topology::parse(Value::Int(3), "x").is_err());
        assert!(Topology::parse(Value::Array(vec![Value::Int(3)]), "x").is_err());
    }
}
