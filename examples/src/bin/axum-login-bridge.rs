//! Keep axum-login, switch the store: axum-login's login app; only `store` (through `TowerStore`)
//! is ours. `SESSION_STORE`: `memory` (default), `sqlite://…`, `postgres://…`, `redis://…`.
//! ```toml
//! session-tower-sessions = "0.1" # tower-sessions 0.14, as axum-login 0.18
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
use axum::{http::StatusCode, response::Html, response::Redirect, routing::get, Form, Router};
use axum_login::tower_sessions::SessionManagerLayer;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use password_auth::{generate_hash, verify_password};
use serde::Deserialize;
use session_core::store::AnyStore;
use session_store_redis::RedisStore;
use session_tower_sessions::TowerStore;
use std::{collections::HashMap, sync::Arc, time::Duration};

#[derive(Clone, Debug)]
struct User(String, String); // the name, and the password's hash: passwords are not kept
impl AuthUser for User {
    type Id = String;
    fn id(&self) -> String {
        self.0.clone()
    }
    fn session_auth_hash(&self) -> &[u8] {
        self.1.as_bytes() // a new password ends every session of the old one
    }
}
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}
#[derive(Clone)]
struct Backend(Arc<HashMap<String, User>>); // name to user
impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = tokio::task::JoinError;
    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, Self::Error> {
        let user = self.0.get(&creds.username).cloned();
        let check = move || user.filter(|user| verify_password(creds.password, &user.1).is_ok());
        tokio::task::spawn_blocking(check).await // slow on purpose: off the async threads
    }
    async fn get_user(&self, name: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(self.0.get(name).cloned())
    }
}
const FORM: &str = r#"<form method="post"><input name="username"><input name="password" type="password"><button>Log in</button></form>"#;
const INTERNAL: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;
type Auth = AuthSession<Backend>;
async fn login(mut auth: Auth, Form(creds): Form<Credentials>) -> Result<Redirect, StatusCode> {
    let user = auth.authenticate(creds).await.map_err(|_| INTERNAL)?;
    let user = user.ok_or(StatusCode::UNAUTHORIZED)?; // unknown user or wrong password
    auth.login(&user).await.map_err(|_| INTERNAL)?; // a fresh session id, bound to the user
    Ok(Redirect::to("/protected"))
}
async fn protected(auth: Auth) -> Result<String, StatusCode> {
    let user = auth.user.ok_or(StatusCode::UNAUTHORIZED)?;
    Ok(format!("Logged in as {}", user.0))
}
async fn logout(mut auth: Auth) -> Result<Redirect, StatusCode> {
    auth.logout().await.map_err(|_| INTERNAL)?; // the session is deleted from the store
    Ok(Redirect::to("/login"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let user = |n: &str, password| (n.to_owned(), User(n.to_owned(), generate_hash(password)));
    let users = HashMap::from([user("ferris", "hunter42"), user("hong", "aaa@aaa.com")]);
    let store = match std::env::var("SESSION_STORE").as_deref() {
        Err(_) | Ok("memory") => AnyStore::new(session_store_memory::MemoryStore::new()),
        Ok(url) if url.starts_with("redis") => AnyStore::new(RedisStore::connect(url).await?),
        Ok(url) => {
            let sql = session_store_sql::SqlStore::connect(url).await?;
            sql.migrate().await?; // creates the `sessions` table if needed
            drop(sql.spawn_cleanup(Duration::from_secs(600))); // deletes expired rows
            AnyStore::new(sql)
        }
    };
    let session_layer = SessionManagerLayer::new(TowerStore::new(store)).with_secure(false);
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
