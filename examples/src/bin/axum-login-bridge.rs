//! Keep axum-login, switch the store: axum-login's login app (users, password hashes, a login form,
//! a protected page) on one of our stores through `TowerStore`: only the store lines differ.
//! `SESSION_STORE`: `memory` (the default), `sqlite://…`, `postgres://…` or `redis://…`. Try
//! `curl -i -d 'username=ferris&password=hunter42' localhost:8000/login` (303 to /protected). Needs:
//! ```toml
//! session-tower-sessions = { version = "0.1", features = ["deletion-task"] } # tower-sessions 0.14
//! session-core = "0.1"
//! session-store-memory = "0.1"
//! session-store-redis = "0.1"
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres"] }
//! axum = { version = "0.8", features = ["form"] }
//! axum-login = "0.18"
//! password-auth = "1"
//! serde = { version = "1", features = ["derive"] }
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
#![forbid(unsafe_code)]

use std::{collections::HashMap, sync::Arc};

use axum::response::{Html, Redirect};
use axum::{http::StatusCode, routing::get, Form, Router};
use axum_login::tower_sessions::{ExpiredDeletion, Expiry, SessionManagerLayer};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use password_auth::{generate_hash, verify_password};
use serde::Deserialize;
use session_core::{store::SessionStore, time::Duration};
use session_tower_sessions::TowerStore;

#[derive(Clone, Debug)]
struct User {
    name: String,
    hash: String, // the password's hash: passwords are not kept
}

impl AuthUser for User {
    type Id = String;
    fn id(&self) -> String {
        self.name.clone()
    }
    fn session_auth_hash(&self) -> &[u8] {
        self.hash.as_bytes() // a new password ends every session of the old one
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Clone)]
struct Backend(Arc<HashMap<String, User>>); // name to user
type Auth = AuthSession<Backend>;

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = tokio::task::JoinError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, Self::Error> {
        let user = self.0.get(&creds.username).cloned();
        let check = move || user.filter(|user| verify_password(creds.password, &user.hash).is_ok());
        tokio::task::spawn_blocking(check).await // slow on purpose: off the async threads
    }

    async fn get_user(&self, name: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(self.0.get(name).cloned())
    }
}

const FORM: &str = r#"<form method="post"><input name="username"><input name="password" type="password"><button>Log in</button></form>"#;
const INTERNAL: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;

async fn login(mut auth: Auth, Form(creds): Form<Credentials>) -> Result<Redirect, StatusCode> {
    let user = auth.authenticate(creds).await.map_err(|_| INTERNAL)?;
    let user = user.ok_or(StatusCode::UNAUTHORIZED)?; // unknown user or wrong password
    auth.login(&user).await.map_err(|_| INTERNAL)?; // a fresh session id, bound to the user
    Ok(Redirect::to("/protected"))
}

async fn protected(auth: Auth) -> Result<String, StatusCode> {
    let user = auth.user.ok_or(StatusCode::UNAUTHORIZED)?;
    Ok(format!("Logged in as {}", user.name))
}

async fn logout(mut auth: Auth) -> Result<Redirect, StatusCode> {
    auth.logout().await.map_err(|_| INTERNAL)?; // the session is deleted from the store
    Ok(Redirect::to("/login"))
}

/// The one part that is ours: any of our stores, from `SESSION_STORE`.
async fn our_store() -> Result<Arc<dyn SessionStore>, Box<dyn std::error::Error>> {
    let url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
    Ok(match url.split(':').next() {
        Some("memory") => Arc::new(session_store_memory::MemoryStore::new()),
        Some("redis") => Arc::new(session_store_redis::RedisStore::connect(&url).await?),
        _ => {
            let store = session_store_sql::SqlStore::connect(&url).await?;
            store.migrate().await?;
            Arc::new(store)
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut users = HashMap::new();
    for (name, password) in [("ferris", "hunter42"), ("hong", "aaa@aaa.com")] {
        let (name, hash) = (name.to_owned(), generate_hash(password));
        users.insert(name.clone(), User { name, hash });
    }
    let session_store = TowerStore::new(our_store().await?); // where axum-login names its store
    let hour = std::time::Duration::from_secs(3600); // the store's own cleanup, hourly:
    tokio::spawn(session_store.clone().continuously_delete_expired(hour));
    let session_layer = SessionManagerLayer::new(session_store)
        .with_secure(false) // plain http, for development
        .with_expiry(Expiry::OnInactivity(Duration::days(1)));
    let app = Router::new()
        .route("/protected", get(protected))
        .route("/login", get(|| async { Html(FORM) }).post(login))
        .route("/logout", get(logout))
        .layer(AuthManagerLayerBuilder::new(Backend(Arc::new(users)), session_layer).build());
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
