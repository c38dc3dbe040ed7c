//! The counter (`GET /`) and the login app's `GET /login/{name}/` and
//! `GET /get/` in actix-web 4 with actix-session 0.11's RedisSessionStore
//! (`REDIS_URL`, default `redis://127.0.0.1:6379`).

use actix_session::{storage::RedisSessionStore, SessionMiddleware};
use actix_web::{cookie::Key, App, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = match RedisSessionStore::new(url.as_str()).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot connect to Redis at {url}: {e:#}");
            std::process::exit(1);
        }
    };
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), key.clone())
                    // Plain http: no `Secure` attribute.
                    .cookie_secure(false)
                    .build(),
            )
            .configure(session_peers::actix_routes::routes)
    })
    .bind(session_peers::addr())?;
    for addr in server.addrs() {
        session_peers::announce(addr);
    }
    server.run().await
}
