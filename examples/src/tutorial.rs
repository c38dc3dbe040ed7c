//! What the tutorial's routes do with the session, written once and served
//! by both the axum and the hyper apps.
//!
//! Each function takes the request's [`Session`] and returns the JSON the
//! route answers with.

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Session};

/// `GET /` of the counter: answers the count *before* this visit, then
/// stores count + 1.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|s| async move { examples::tutorial::count(&s).await.map(axum::Json) }));
/// # let _ = app;
/// ```
pub async fn count(session: &Session) -> Result<Value, Error> {
    let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
    session.insert("user_count", user_count + 1).await?;
    Ok(json!({ "user_count": user_count }))
}

/// `GET /logout/` of the counter: forgets the count.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let answer = examples::tutorial::forget_count(&session).await?;
/// assert_eq!(answer["message"], "Logged out");
/// # Ok(()) }
/// ```
pub async fn forget_count(session: &Session) -> Result<Value, Error> {
    session.remove_value("user_count").await?;
    Ok(json!({ "message": "Logged out" }))
}

/// `GET /login/{username}/`: stores the tutorial's profile under
/// `username`, and gives the session a fresh id (session-fixation defence).
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// examples::tutorial::login(&session, "hong").await?;
/// # Ok(()) }
/// ```
pub async fn login(session: &Session, username: &str) -> Result<Value, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    session.cycle_id().await?;
    Ok(json!({ "message": "Logged in" }))
}

/// `GET /get/`: the stored profile, or "Login first".
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let answer = examples::tutorial::profile(&session).await?;
/// # let _ = answer; Ok(()) }
/// ```
pub async fn profile(session: &Session) -> Result<Value, Error> {
    Ok(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    })
}

/// `GET /logout/` of the login app: ends the session.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// examples::tutorial::logout(&session).await?;
/// # Ok(()) }
/// ```
pub async fn logout(session: &Session) -> Result<Value, Error> {
    session.clear().await?;
    Ok(json!({ "message": "Logged out" }))
}

/// How many entries the big-session scenario stores.
pub const BIG_ENTRIES: usize = 1_000_000;

/// `GET /login/{username}/` of the big-session scenario: stores a map of
/// [`BIG_ENTRIES`] integers — far too big for a cookie (4 KB). With a
/// server-side store it just works; with a cookie store the handler sees
/// [`Error::TooLarge`] from [`Session::check_size`] and answers with it
/// instead of sending a cookie the browser would silently drop.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let answer = examples::tutorial::big_login(&session, "hong").await?;
/// # let _ = answer; Ok(()) }
/// ```
pub async fn big_login(session: &Session, username: &str) -> Result<Value, Error> {
    let entries: serde_json::Map<String, Value> = (0..BIG_ENTRIES)
        .map(|i| (i.to_string(), Value::from(i)))
        .collect();
    session.insert("user_id", username).await?;
    session.insert_value("big", Value::Object(entries)).await?;
    if let Err(err) = session.check_size().await {
        // Leave the session as it was: nothing half-stored.
        session.remove_value("big").await?;
        session.remove_value("user_id").await?;
        return Err(err);
    }
    session.cycle_id().await?;
    Ok(json!({ "message": "Logged in", "entries": BIG_ENTRIES }))
}

/// `GET /get/` of the big-session scenario: how many entries the session holds.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let answer = examples::tutorial::big_profile(&session).await?;
/// # let _ = answer; Ok(()) }
/// ```
pub async fn big_profile(session: &Session) -> Result<Value, Error> {
    let user: Option<String> = session.get("user_id").await?;
    let entries = session
        .get_value("big")
        .await?
        .and_then(|big| big.as_object().map(|map| map.len()))
        .unwrap_or(0);
    Ok(match user {
        Some(user) => json!({ "user_id": user, "entries": entries }),
        None => json!({ "message": "Login first" }),
    })
}

/// The big-session app's routes, for axum (`/logout/` as in the login app).
///
/// ```
/// let app = examples::tutorial::big_router();
/// # let _ = app;
/// ```
pub fn big_router() -> Router {
    Router::new()
        .route(
            "/login/{username}/",
            get(|s: Session, Path(user): Path<String>| async move {
                big_login(&s, &user).await.map(Json)
            }),
        )
        .route(
            "/get/",
            get(|s: Session| async move { big_profile(&s).await.map(Json) }),
        )
        .route(
            "/logout/",
            get(|s: Session| async move { logout(&s).await.map(Json) }),
        )
}

/// The counter app's routes, for axum.
///
/// ```
/// let app = examples::tutorial::counter_router();
/// # let _ = app;
/// ```
pub fn counter_router() -> Router {
    Router::new()
        .route(
            "/",
            get(|s: Session| async move { count(&s).await.map(Json) }),
        )
        .route(
            "/logout/",
            get(|s: Session| async move { forget_count(&s).await.map(Json) }),
        )
}

/// The login app's routes, for axum.
///
/// ```
/// let app = examples::tutorial::login_router();
/// # let _ = app;
/// ```
pub fn login_router() -> Router {
    Router::new()
        .route(
            "/login/{username}/",
            get(|s: Session, Path(user): Path<String>| async move {
                login(&s, &user).await.map(Json)
            }),
        )
        .route("/get/", get(|s: Session| async move { profile(&s).await.map(Json) }))
        .route("/logout/", get(|s: Session| async move { logout(&s).await.map(Json) }))
}
