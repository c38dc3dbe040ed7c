//! The counter (`GET /`) and the login app's `GET /login/{name}/` and
//! `GET /get/` in actix-web 4 with actix-session 0.11's CookieSessionStore
//! (signed, not encrypted, cookie).

use actix_session::config::CookieContentSecurity;
use actix_session::{storage::CookieSessionStore, SessionMiddleware};
use actix_web::{cookie::Key, App, HttpServer};

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
            .configure(session_peers::actix_routes::routes)
    })
    .bind(session_peers::addr())?;
    for addr in server.addrs() {
        session_peers::announce(addr);
    }
    server.run().await
}
