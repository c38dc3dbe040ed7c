//! The counter in actix-web 4 with actix-session 0.11's CookieSessionStore
//! (signed, not encrypted, cookie).

use actix_session::config::CookieContentSecurity;
use actix_session::{storage::CookieSessionStore, Session, SessionMiddleware};
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
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                    .cookie_content_security(CookieContentSecurity::Signed)
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
