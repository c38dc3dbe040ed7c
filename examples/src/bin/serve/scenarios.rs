//! The scenarios' handlers, the same for axum and hyper: each takes the
//! request's [`Session`] (and what else its route needs) and answers the
//! JSON body, or a session error the framework turns into a status code.

use serde_json::{json, Map, Value};
use session_core::{Error, Session};

use crate::stores::{Accounts, USER_VERSION};

/// `SCENARIO`: which of the tutorial's apps to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `GET /` counts visits, `GET /logout/` forgets them.
    Counter,
    /// The counter with the tutorial's cookie settings.
    Settings,
    /// Login, profile, logout, and the account pages.
    Login,
    /// A session too big for a cookie.
    Big,
    /// Flash messages: `GET /save/` sets one, `GET /` shows them once.
    Flash,
}

impl Scenario {
    /// What `SCENARIO` may be.
    pub const NAMES: &'static str = "counter, settings, login, big, flash";

    /// The scenario named `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        match name {
            "counter" => Some(Scenario::Counter),
            "settings" => Some(Scenario::Settings),
            "login" => Some(Scenario::Login),
            "big" => Some(Scenario::Big),
            "flash" => Some(Scenario::Flash),
            _ => None,
        }
    }
}

/// The counter: `GET /` and `GET /logout/` (counter and settings).
pub mod counter {
    use super::*;

    /// `GET /`: the count before this visit; then this visit is counted.
    pub async fn count(session: &Session) -> Result<Value, Error> {
        let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
        session.insert("user_count", user_count + 1).await?;
        Ok(json!({ "user_count": user_count }))
    }

    /// `GET /logout/`: forgets the count. An emptied session is deleted
    /// and its cookie removed.
    pub async fn logout(session: &Session) -> Result<Value, Error> {
        session.remove_value("user_count").await?;
        Ok(json!({ "message": "Logged out" }))
    }
}

/// The login and the account pages.
pub mod login {
    use super::*;

    /// `GET /login/{username}/`: stores the tutorial's profile, binds the
    /// session to the user, and gives the session a fresh id
    /// (session-fixation defence).
    pub async fn login(
        versions: &Accounts,
        session: &Session,
        username: &str,
    ) -> Result<Value, Error> {
        let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
        session.insert("username", profile).await?;
        // The user a server-side store lists the session under, and the
        // one the version check of cookie sessions looks up.
        session.set_user(username).await?;
        if let Some(versions) = versions {
            session
                .insert(USER_VERSION, versions.current(username))
                .await?;
        }
        session.cycle_id().await?;
        Ok(json!({ "message": "Logged in" }))
    }

    /// `GET /get/`: the stored profile, or "Login first".
    pub async fn profile(session: &Session) -> Result<Value, Error> {
        Ok(match session.get_value("username").await? {
            Some(info) => json!({ "session_info": info }),
            None => json!({ "message": "Login first" }),
        })
    }

    /// `GET /logout/`: ends the session (and its binding to the user).
    pub async fn logout(session: &Session) -> Result<Value, Error> {
        session.destroy();
        Ok(json!({ "message": "Logged out" }))
    }

    /// `GET /sessions/`: the logged-in user's sessions, oldest first.
    pub async fn sessions(versions: &Accounts, session: &Session) -> Result<Value, Error> {
        if session.user().await?.is_none() {
            return Ok(json!({ "message": "Login first" }));
        }
        if versions.is_some() {
            return Ok(json!({
                "sessions": [],
                "message": "Sessions kept in cookies cannot be listed; \
                            /logout/others/ and /logout/everywhere/ still work",
            }));
        }
        let sessions: Vec<Value> = session
            .user_sessions()
            .await?
            .into_iter()
            .map(|info| {
                json!({
                    // Safe to show: it is not the session id, and cannot be
                    // turned into one.
                    "handle": info.handle,
                    "current": info.current,
                    "created_at": info.created_at.unix_timestamp(),
                    "expires_at": info.expires_at.unix_timestamp(),
                })
            })
            .collect();
        Ok(json!({ "sessions": sessions }))
    }

    /// `GET /logout/others/`: ends the user's other sessions; this one
    /// goes on.
    pub async fn logout_others(versions: &Accounts, session: &Session) -> Result<Value, Error> {
        let Some(user) = session.user().await? else {
            return Ok(json!({ "message": "Login first" }));
        };
        let ended = match versions {
            None => Some(session.end_other_sessions().await?),
            Some(versions) => {
                // Every session of the user is now outdated; this one takes
                // the new version, so it alone goes on.
                let version = versions.bump(&user);
                session.insert(USER_VERSION, version).await?;
                None
            }
        };
        Ok(json!({ "message": "Logged out other sessions", "ended": ended }))
    }

    /// `GET /logout/everywhere/`: ends every session of the user, this one
    /// included.
    pub async fn logout_everywhere(versions: &Accounts, session: &Session) -> Result<Value, Error> {
        let Some(user) = session.user().await? else {
            return Ok(json!({ "message": "Login first" }));
        };
        let ended = match versions {
            None => Some(session.end_all_sessions().await?),
            Some(versions) => {
                versions.bump(&user);
                session.destroy();
                None
            }
        };
        Ok(json!({ "message": "Logged out everywhere", "ended": ended }))
    }
}

/// Flash messages, shown once.
pub mod flash {
    use session_core::{Flash, Level};

    use super::*;

    /// `GET /save/`: "saves", and leaves the message `Saved` for the next
    /// page.
    pub async fn save(session: &Session) -> Result<Value, Error> {
        session.flash(Level::Success, "Saved").await?;
        Ok(json!({ "message": "Saved" }))
    }

    /// `GET /`: the messages left since the last visit, oldest first; they
    /// are gone after this.
    pub async fn page(session: &Session) -> Result<Value, Error> {
        let flashes: Vec<Flash> = session.take_flashes().await?;
        Ok(json!({ "flashes": flashes }))
    }
}

/// The session too big for a cookie.
pub mod big {
    use super::*;

    /// How many entries `/login/{username}/` stores.
    pub const ENTRIES: usize = 1_000_000;

    /// `GET /login/{username}/`: stores the user and a map of [`ENTRIES`]
    /// integers. A cookie store would make a cookie browsers drop:
    /// `check_size` says so before anything is sent (a 500 with the
    /// reason), and the login is taken out again.
    pub async fn login(session: &Session, username: &str) -> Result<Value, Error> {
        let big: Map<String, Value> = (0..ENTRIES).map(|i| (i.to_string(), i.into())).collect();
        session.insert("user_id", username).await?;
        session.insert_value("big", Value::Object(big)).await?;
        if let Err(too_large) = session.check_size().await {
            session.remove_value("big").await?;
            session.remove_value("user_id").await?;
            return Err(too_large);
        }
        session.cycle_id().await?;
        Ok(json!({ "message": "Logged in", "entries": ENTRIES }))
    }

    /// `GET /get/`: who is logged in and how many entries the session
    /// holds, or "Login first".
    pub async fn profile(session: &Session) -> Result<Value, Error> {
        let Some(user_id) = session.get::<String>("user_id").await? else {
            return Ok(json!({ "message": "Login first" }));
        };
        let big = session.get_value("big").await?;
        let entries = big.as_ref().and_then(Value::as_object).map_or(0, Map::len);
        Ok(json!({ "user_id": user_id, "entries": entries }))
    }

    /// `GET /logout/`: ends the session.
    pub async fn logout(session: &Session) -> Result<Value, Error> {
        session.clear().await?;
        Ok(json!({ "message": "Logged out" }))
    }
}
