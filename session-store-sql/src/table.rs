//! The table name: validated once, because it is spliced into SQL text.

use std::fmt;

/// The longest part (schema or table) accepted: leaves room for the index
/// suffixes (`_expires_at_idx`, `_user_id_idx`) within PostgreSQL's 63-byte
/// identifiers.
const MAX_PART: usize = 48;

/// The table name given to [`SqlStore::with_table_name`](crate::SqlStore::with_table_name)
/// is not a plain identifier.
///
/// Table names are spliced into SQL text (a name cannot be a bound
/// parameter), so only letters, digits and underscores are accepted, not
/// starting with a digit, at most 48 characters, with at most one dot
/// between a schema and the table.
///
/// ```
/// use session_store_sql::SqlStore;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqlStore::connect("sqlite::memory:").await?;
/// let err = store.with_table_name("sessions; DROP TABLE users").unwrap_err();
/// assert!(err.to_string().contains("letters, digits and underscores"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTableName {
    name: String,
}

impl InvalidTableName {
    /// The name that was refused.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// let err = store.with_table_name("a.b.c").unwrap_err();
    /// assert_eq!(err.name(), "a.b.c");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for InvalidTableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid session table name {:?}: use letters, digits and underscores \
             (not starting with a digit, at most {MAX_PART} characters), optionally \
             `schema.table` with one dot, e.g. `sessions` or `auth.sessions`",
            self.name
        )
    }
}

impl std::error::Error for InvalidTableName {}

/// A checked table name, optionally schema-qualified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableName {
    text: String,
    schema: Option<String>,
    table: String,
}

impl TableName {
    pub(crate) fn new(text: &str) -> Result<Self, InvalidTableName> {
        let invalid = || InvalidTableName {
            name: text.to_owned(),
        };
        let (schema, table) = match text.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, text),
        };
        for part in schema.iter().chain([&table]) {
            if !is_identifier(part) {
                return Err(invalid());
            }
        }
        Ok(Self {
            text: text.to_owned(),
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        })
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The schema part, if any, and the table part.
    pub(crate) fn parts(&self) -> (Option<&str>, &str) {
        (self.schema.as_deref(), &self.table)
    }

    /// The name quoted with `quote` (`"` or `` ` ``), schema included.
    pub(crate) fn quoted(&self, quote: char) -> String {
        match self.parts() {
            (Some(schema), table) => format!("{quote}{schema}{quote}.{quote}{table}{quote}"),
            (None, table) => format!("{quote}{table}{quote}"),
        }
    }

    /// The name of the index on `column` (`expires_at`, `user_id`), without
    /// the schema (which PostgreSQL and MySQL take from the table).
    pub(crate) fn index(&self, column: &str) -> String {
        format!("{}_{column}_idx", self.parts().1)
    }
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && part.len() <= MAX_PART
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_qualified_names() {
        for name in [
            "sessions",
            "_s",
            "Sessions_2",
            "auth.sessions",
            &"a".repeat(48),
        ] {
            assert_eq!(TableName::new(name).unwrap().as_str(), name);
        }
        let qualified = TableName::new("auth.sessions").unwrap();
        assert_eq!(qualified.parts(), (Some("auth"), "sessions"));
        assert_eq!(qualified.index("expires_at"), "sessions_expires_at_idx");
        assert_eq!(qualified.index("user_id"), "sessions_user_id_idx");
        assert_eq!(qualified.quoted('"'), "\"auth\".\"sessions\"");
        assert_eq!(TableName::new("s").unwrap().quoted('`'), "`s`");
    }

    #[test]
    fn refuses_anything_else() {
        for name in [
            "",
            ".",
            "a.",
            ".a",
            "a.b.c",
            "1sessions",
            "sessions;",
            "ses sions",
            "s\"x",
            "s`x",
            "sessions--",
            "séance",
            &"a".repeat(49),
        ] {
            let err = TableName::new(name).unwrap_err();
            assert_eq!(err.name(), name);
            assert!(err.to_string().contains("letters, digits and underscores"));
        }
    }
}
