//! The routes of the actix-session peers (cookie and Redis stores alike):
//! the counter (`GET /`) and the login app's `GET /login/{name}/` and
//! `GET /get/`, the same JSON as ours.

use actix_session::Session;
use actix_web::{error, get, web, HttpResponse};
use serde_json::{json, Value};

/// Every route, for `App::configure`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(counter).service(login).service(profile);
}

/// `GET /`: the count before this visit; then this visit is counted.
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

/// `GET /login/{name}/`: stores the profile and gives the session a fresh
/// id (`renew`), as ours does.
#[get("/login/{name}/")]
async fn login(session: Session, name: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let info = json!({ "user_id": name.into_inner(), "age": 21, "email": "aaa@aaa.com" });
    session
        .insert("username", info)
        .map_err(error::ErrorInternalServerError)?;
    session.renew();
    Ok(HttpResponse::Ok().json(json!({ "message": "Logged in" })))
}

/// `GET /get/`: the stored profile, or "Login first" (reads only).
#[get("/get/")]
async fn profile(session: Session) -> actix_web::Result<HttpResponse> {
    let info: Option<Value> = session
        .get("username")
        .map_err(error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().json(match info {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}
