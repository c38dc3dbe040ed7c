//! `FRAMEWORK=axum`: the scenarios' routes as an axum `Router`; the
//! `Session` extractor hands each handler its session.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use session_core::{Error, Session, SessionLayer};
use tokio::net::TcpListener;

use crate::scenarios::{big, counter, flash, login, Scenario};
use crate::stores::Accounts;

/// A handler's answer: JSON, or the session error as its status code.
type Answer = Result<Json<Value>, Error>;

/// The app of `scenario`, wrapped in `layer`.
pub fn app(scenario: Scenario, layer: SessionLayer, versions: Accounts) -> Router {
    let app = match scenario {
        Scenario::Counter | Scenario::Settings => Router::new()
            .route(
                "/",
                get(|session: Session| async move { counter::count(&session).await.map(Json) }),
            )
            .route(
                "/logout/",
                get(|session: Session| async move { counter::logout(&session).await.map(Json) }),
            )
            .layer(layer),
        Scenario::Login => Router::new()
            .route("/login/{username}/", get(login_route))
            .route(
                "/get/",
                get(|session: Session| async move { login::profile(&session).await.map(Json) }),
            )
            .route(
                "/logout/",
                get(|session: Session| async move { login::logout(&session).await.map(Json) }),
            )
            .route("/sessions/", get(sessions_route))
            .route("/logout/others/", get(logout_others_route))
            .route("/logout/everywhere/", get(logout_everywhere_route))
            .layer(layer)
            .with_state(versions),
        Scenario::Big => Router::new()
            .route(
                "/login/{username}/",
                get(
                    |session: Session, Path(username): Path<String>| async move {
                        big::login(&session, &username).await.map(Json)
                    },
                ),
            )
            .route(
                "/get/",
                get(|session: Session| async move { big::profile(&session).await.map(Json) }),
            )
            .route(
                "/logout/",
                get(|session: Session| async move { big::logout(&session).await.map(Json) }),
            )
            .layer(layer),
        Scenario::Flash => Router::new()
            .route(
                "/",
                get(|session: Session| async move { flash::page(&session).await.map(Json) }),
            )
            .route(
                "/save/",
                get(|session: Session| async move { flash::save(&session).await.map(Json) }),
            )
            .layer(layer),
    };
    // Outside the session layer (routes added after it are not wrapped).
    match crate::metrics::render() {
        Some(_) => app.route("/metrics", get(metrics_route)),
        None => app,
    }
}

/// `GET /metrics` (`SESSION_METRICS=1`).
async fn metrics_route() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let text = crate::metrics::render().unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
}

/// `GET /login/{username}/` of the login scenario.
async fn login_route(
    State(versions): State<Accounts>,
    session: Session,
    Path(username): Path<String>,
) -> Answer {
    login::login(&versions, &session, &username).await.map(Json)
}

/// `GET /sessions/`.
async fn sessions_route(State(versions): State<Accounts>, session: Session) -> Answer {
    login::sessions(&versions, &session).await.map(Json)
}

/// `GET /logout/others/`.
async fn logout_others_route(State(versions): State<Accounts>, session: Session) -> Answer {
    login::logout_others(&versions, &session).await.map(Json)
}

/// `GET /logout/everywhere/`.
async fn logout_everywhere_route(State(versions): State<Accounts>, session: Session) -> Answer {
    login::logout_everywhere(&versions, &session)
        .await
        .map(Json)
}

/// Serves `app` on `listener` until Ctrl-C.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
