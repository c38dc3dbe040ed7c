//! The SQL text of every operation, per database.
//!
//! Everything else (binding, row counts, decoding, errors) is shared in
//! `lib.rs`; only these strings differ. Times are `BIGINT` Unix
//! milliseconds, "now" is always a bound parameter.

use crate::table::TableName;
use crate::Backend;

/// The statements of one store, with its table name spliced in.
#[derive(Clone, Debug)]
pub(crate) struct Statements {
    /// Run in order by `migrate()` (PostgreSQL: inside one transaction
    /// holding an advisory lock).
    pub migrate: Vec<String>,
    /// Binds: id, now. Columns: data (text), created_at, expires_at.
    pub load: String,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    /// MySQL only: removes an expired record with the id before the insert.
    /// Binds: id, now.
    pub create_clear: Option<String>,
    /// PostgreSQL, SQLite: insert-or-replace-expired, binds id, data,
    /// created_at, expires_at, now; 0 rows = id taken.
    /// MySQL: plain insert, binds id, data, created_at, expires_at;
    /// a duplicate-key error = id taken.
    pub create: String,
    /// PostgreSQL binds: removed keys (text[]), set (JSON object), expires_at, id, now.
    /// SQLite binds: removal patch, set members (object text without braces), expires_at, id, now.
    /// MySQL: empty; the statement depends on the number of keys, see [`mysql_save`].
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub save: String,
    /// The quoted table name.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub table: String,
    /// Binds: expires_at, id, now.
    pub touch: String,
    /// Binds: id.
    pub delete: String,
    /// Binds: now, batch size.
    pub delete_expired: String,
}

impl Statements {
    pub(crate) fn new(backend: Backend, table: &TableName) -> Self {
        match backend {
            Backend::Postgres => postgres(table),
            Backend::Sqlite => sqlite(table),
            Backend::MySql => mysql(table),
        }
    }
}

fn index_name(table: &TableName) -> String {
    format!("{}_expires_at_idx", table.table())
}

fn postgres(table: &TableName) -> Statements {
    let t = table.quoted('"');
    let index = index_name(table);
    Statements {
        migrate: vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 id TEXT COLLATE \"C\" PRIMARY KEY, \
                 data JSONB NOT NULL, \
                 created_at BIGINT NOT NULL, \
                 expires_at BIGINT NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS \"{index}\" ON {t} (expires_at)"),
        ],
        load: format!(
            "SELECT data::text, created_at, expires_at FROM {t} WHERE id = $1 AND expires_at > $2"
        ),
        create_clear: None,
        create: format!(
            "INSERT INTO {t} AS s (id, data, created_at, expires_at) \
             VALUES ($1, $2::jsonb, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, \
             created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at \
             WHERE s.expires_at <= $5"
        ),
        save: format!(
            "UPDATE {t} SET data = (data - $1::text[]) || $2::jsonb, expires_at = $3 \
             WHERE id = $4 AND expires_at > $5"
        ),
        touch: format!("UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"),
        delete: format!("DELETE FROM {t} WHERE id = $1"),
        delete_expired: format!(
            "DELETE FROM {t} WHERE id IN \
             (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
             AND expires_at <= $1"
        ),
        table: t,
    }
}

fn sqlite(table: &TableName) -> Statements {
    let t = table.quoted('"');
    // SQLite puts the schema on the index name, never on the indexed table.
    let index = match table.schema() {
        Some(schema) => format!("\"{schema}\".\"{}\"", index_name(table)),
        None => format!("\"{}\"", index_name(table)),
    };
    let bare = format!("\"{}\"", table.table());
    Statements {
        migrate: vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 id TEXT PRIMARY KEY NOT NULL, \
                 data TEXT NOT NULL, \
                 created_at INTEGER NOT NULL, \
                 expires_at INTEGER NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {index} ON {bare} (expires_at)"),
        ],
        load: format!(
            "SELECT data, created_at, expires_at FROM {t} WHERE id = ?1 AND expires_at > ?2"
        ),
        create_clear: None,
        create: format!(
            "INSERT INTO {t} AS s (id, data, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
             created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE s.expires_at <= ?5"
        ),
        // json_patch removes every named key (removed and set ones: the
        // patch maps them to null); the set members are then spliced into
        // the object text, so JSON null values are kept and no key is ever
        // parsed as a JSON path. `p` is json_patch's minified output, `{}`
        // or `{...}`.
        save: format!(
            "UPDATE {t} SET data = (SELECT CASE \
             WHEN ?2 = '' THEN p \
             WHEN p = '{{}}' THEN '{{' || ?2 || '}}' \
             ELSE '{{' || ?2 || ',' || substr(p, 2) END \
             FROM (SELECT json_patch({t}.data, ?1) AS p)), \
             expires_at = ?3 \
             WHERE id = ?4 AND expires_at > ?5"
        ),
        touch: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3"),
        delete: format!("DELETE FROM {t} WHERE id = ?1"),
        delete_expired: format!(
            "DELETE FROM {t} WHERE rowid IN \
             (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
        ),
        table: t,
    }
}

fn mysql(table: &TableName) -> Statements {
    let t = table.quoted('`');
    let index = index_name(table);
    Statements {
        migrate: vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
             id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
             data JSON NOT NULL, \
             created_at BIGINT NOT NULL, \
             expires_at BIGINT NOT NULL, \
             INDEX `{index}` (expires_at)\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )],
        load: format!(
            "SELECT data, created_at, expires_at FROM {t} WHERE id = ? AND expires_at > ?"
        ),
        create_clear: Some(format!("DELETE FROM {t} WHERE id = ? AND expires_at <= ?")),
        create: format!("INSERT INTO {t} (id, data, created_at, expires_at) VALUES (?, ?, ?, ?)"),
        save: String::new(),
        touch: format!("UPDATE {t} SET expires_at = ? WHERE id = ? AND expires_at > ?"),
        delete: format!("DELETE FROM {t} WHERE id = ?"),
        delete_expired: format!(
            "DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
        ),
        table: t,
    }
}

/// The MySQL save for `removed` removed keys and `set` set keys.
///
/// Binds: one JSON path per removed key, then a JSON path and a JSON text
/// per set key, then expires_at, id, now. Paths are `$."key"` with the key
/// written as a JSON string (bound, never spliced into the SQL). Keys go
/// through paths because MariaDB's `JSON_MERGE_PATCH` (10.11) skips some
/// removals when the patch's keys are not in the document's order.
#[cfg(feature = "mysql")]
pub(crate) fn mysql_save(table: &str, removed: usize, set: usize) -> String {
    let mut data = String::from("data");
    if removed > 0 {
        data = format!("JSON_REMOVE({data}{})", ", ?".repeat(removed));
    }
    if set > 0 {
        data = format!(
            "JSON_SET({data}{})",
            ", ?, JSON_EXTRACT(?, '$')".repeat(set)
        );
    }
    format!("UPDATE {table} SET data = {data}, expires_at = ? WHERE id = ? AND expires_at > ?")
}

/// The MySQL JSON path of the top-level key `key`.
#[cfg(feature = "mysql")]
pub(crate) fn mysql_path(key: &str) -> String {
    format!("$.{}", serde_json::Value::from(key))
}
