//! The `redis+cluster://host:port,host:port` spec of a Redis Cluster.

use std::fmt;

const CLUSTER_SCHEME: &str = "redis+cluster://";
const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";

/// Whether `spec` names a cluster (`redis+cluster://` or `rediss+cluster://`).
pub(crate) fn is_cluster_spec(spec: &str) -> bool {
    spec.starts_with(CLUSTER_SCHEME) || spec.starts_with(CLUSTER_TLS_SCHEME)
}

/// The text given to [`parse_cluster_spec`] was not a cluster spec. The
/// message never repeats the spec's credentials.
///
/// ```
/// use session_store_redis::parse_cluster_spec;
///
/// let err = parse_cluster_spec("redis://127.0.0.1:6379").unwrap_err();
/// assert!(err.to_string().contains("redis+cluster://"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSpecError(String);

impl fmt::Display for ParseSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseSpecError {}

/// Reads `redis+cluster://host:port,host:port,…` (or `rediss+cluster://`
/// for TLS) into the node URLs that
/// [`RedisStore::connect_cluster`](crate::RedisStore::connect_cluster)
/// takes. Credentials before the first host
/// (`redis+cluster://user:pass@h1:p,h2:p`) apply to every node.
///
/// ```
/// use session_store_redis::parse_cluster_spec;
///
/// let nodes = parse_cluster_spec("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")?;
/// assert_eq!(nodes, ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]);
///
/// let nodes = parse_cluster_spec("rediss+cluster://:secret@a:6379,b:6379")?;
/// assert_eq!(nodes, ["rediss://:secret@a:6379", "rediss://:secret@b:6379"]);
/// # Ok::<(), session_store_redis::ParseSpecError>(())
/// ```
pub fn parse_cluster_spec(spec: &str) -> Result<Vec<String>, ParseSpecError> {
    let (scheme, rest) = if let Some(rest) = spec.strip_prefix(CLUSTER_SCHEME) {
        ("redis://", rest)
    } else if let Some(rest) = spec.strip_prefix(CLUSTER_TLS_SCHEME) {
        ("rediss://", rest)
    } else {
        return Err(ParseSpecError(format!(
            "a Redis Cluster spec starts with `{CLUSTER_SCHEME}` (or `{CLUSTER_TLS_SCHEME}`), \
             e.g. `redis+cluster://127.0.0.1:7000,127.0.0.1:7001`"
        )));
    };
    let (auth, hosts) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}{auth}{host}"))
        .collect();
    if nodes.is_empty() {
        return Err(ParseSpecError(format!(
            "the Redis Cluster spec `{}` names no node: list them as host:port,host:port",
            redacted(spec)
        )));
    }
    if let Some(bad) = hosts.split(',').map(str::trim).find(|h| h.contains('/')) {
        return Err(ParseSpecError(format!(
            "`{bad}` in the Redis Cluster spec is not host:port (a cluster has no database number)"
        )));
    }
    Ok(nodes)
}

/// `spec` for an error message: the credentials (everything before the
/// last `@`) masked. The spec is printed when an application starts, so a
/// password must never be part of it.
fn redacted(spec: &str) -> String {
    let (scheme, rest) = spec.split_once("://").unwrap_or(("", spec));
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => spec.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_specs_parse() {
        assert_eq!(
            parse_cluster_spec("redis+cluster://a:1, b:2,").unwrap(),
            ["redis://a:1", "redis://b:2"]
        );
        assert_eq!(
            parse_cluster_spec("redis+cluster://u:p@a:1,b:2/").unwrap(),
            ["redis://u:p@a:1", "redis://u:p@b:2"]
        );
        assert!(parse_cluster_spec("redis+cluster://").is_err());
        assert!(parse_cluster_spec("redis+cluster://a:1/0").is_err());
        assert!(parse_cluster_spec("http://a:1").is_err());
    }

    #[test]
    fn errors_never_carry_credentials() {
        let err = parse_cluster_spec("redis+cluster://alice:hunter2@").unwrap_err();
        assert!(err.to_string().contains("`redis+cluster://***@`"), "{err}");
        for spec in [
            "redis+cluster://alice:hunter2@",
            "redis+cluster://alice:hunter2@/",
            "rediss+cluster://alice:hunter2@ , ,",
            "redis+cluster://alice:hunter2@a:1/0,b:2",
            "redis+cluster://alice:hunter2@a:1,b:2/3",
            "redis+cluster://alice:hun@ter2@a:1,b:2/3",
            "redis+clustr://alice:hunter2@a:1",
            "redis+cluster:/alice:hunter2@a:1",
        ] {
            let err = parse_cluster_spec(spec).unwrap_err();
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(
                    !text.contains("hunter2") && !text.contains("ter2") && !text.contains("alice"),
                    "{spec} -> {text}"
                );
            }
        }
    }
}
