//! The counter in actix-web 4 with actix-session 0.11's RedisSessionStore
//! (`REDIS_URL`, default `redis://127.0.0.1:6379`).

use actix_session::{storage::RedisSessionStore, Session, SessionMiddleware};
use actix_web::{cookie::Key, error, get, App, HttpResponse, HttpServer};
use serde_json::json;

#[get("/")]
async fn counter(session: Session) -> actix_web::Result<HttpResponse> {
    let count: u64 = session
        .get("user_count")
        .map_err(error::ErrorInternalServerError)?
        .unwrap_or(0);
    session
        .insert("user_count", count + 1)
        .map_err(error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().json(json!({ "user_count": count })))
}

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
            .service(counter)
    })
    .bind(session_peers::addr())?;
    for addr in server.addrs() {
        session_peers::announce(addr);
    }
    server.run().await
}
