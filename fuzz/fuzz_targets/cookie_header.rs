//! Any bytes as a `Cookie` header, through the real `SessionLayer` (tower's
//! `oneshot` on a tiny service) with the memory store and with each
//! data-cookie codec: never a panic, never an error status, and a valid
//! session cookie appended after the fuzzed bytes (in the same header, or
//! in a second one, bare or in double quotes as RFC 6265 allows) is still
//! found — unless the fuzzed bytes themselves carry a session cookie that
//! verifies, which then wins, as the first that verifies always does.
#![no_main]

use std::convert::Infallible;
use std::future::Future;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie};
use session_core::time::OffsetDateTime;
use session_core::{Key, Keys, ManualClock, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::{Layer, ServiceExt};

/// Reads `n`; with `?write`, also stores `seen` (a data cookie is then
/// encoded and sent).
async fn handler(req: Request<()>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().unwrap().clone();
    let n = match session.get::<u64>("n").await {
        Ok(n) => format!("{n:?}"),
        Err(_) => "err".to_owned(),
    };
    if req.uri().query() == Some("write") {
        session.insert("seen", true).await.unwrap();
    }
    Ok(Response::new(n))
}

struct Setup {
    layer: SessionLayer,
    /// `session=…` of a live session holding `n = 7`.
    valid: String,
    /// Whether the handler may write (client-side only: a store would
    /// grow with every run).
    write: bool,
}

fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

async fn call(layer: &SessionLayer, path: &str, cookies: &[HeaderValue]) -> Response<String> {
    let mut request = Request::get(path).body(()).unwrap();
    for cookie in cookies {
        request.headers_mut().append(COOKIE, cookie.clone());
    }
    let service = layer.layer(tower::service_fn(handler));
    service.oneshot(request).await.unwrap()
}

/// A layer and a valid cookie of a session holding `n = 7`.
fn setup(layer: SessionLayer, write: bool) -> Setup {
    let store_n = tower::service_fn(|req: Request<()>| async move {
        let session = req.extensions().get::<Session>().unwrap().clone();
        session.insert("n", 7u64).await.unwrap();
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let response = block_on(
        layer
            .layer(store_n)
            .oneshot(Request::get("/").body(()).unwrap()),
    )
    .unwrap();
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    let valid = set_cookie.split(';').next().unwrap().to_owned();
    Setup {
        layer,
        valid,
        write,
    }
}

fn setups() -> &'static [Setup] {
    static SETUPS: std::sync::OnceLock<Vec<Setup>> = std::sync::OnceLock::new();
    SETUPS.get_or_init(|| {
        let keys = Keys::new(vec![
            Key::from_bytes(&[7; 32]).unwrap(),
            Key::from_bytes(&[8; 32]).unwrap(),
        ])
        .unwrap();
        // A fixed clock: cookies minted for the seeds stay live, so a seed
        // copied into the fuzzed bytes is a session, never an expired one.
        let clock = ManualClock::new(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
        let config = SessionConfig::new()
            .with_secure(false)
            .with_clock(clock.clone());
        let store = MemoryStore::new().with_clock(clock);
        vec![
            setup(
                SessionLayer::new(session_core::store::AnyStore::new(store), keys.clone()).with_config(config.clone()),
                false,
            ),
            setup(
                SessionLayer::client_side(SignedCookie::new(&keys)).with_config(config.clone()),
                true,
            ),
            setup(
                SessionLayer::client_side(EncryptedCookie::new(&keys)).with_config(config.clone()),
                true,
            ),
            setup(
                SessionLayer::client_side(StarletteCookie::new("dev-secret-key"))
                    .with_config(config),
                true,
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // What a header value can hold at all (`HeaderValue` refuses controls
    // other than tab); everything else, obs-text included, stays.
    let bytes: Vec<u8> = data
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        .collect();
    let fuzzed = HeaderValue::from_bytes(&bytes).unwrap();
    for setup in setups() {
        let path = if setup.write { "/?write" } else { "/" };
        block_on(async {
            // The fuzzed header alone.
            let alone = call(&setup.layer, path, &[fuzzed.clone()]).await;
            assert_eq!(alone.status(), StatusCode::OK);
            let found = alone.into_body();
            assert_ne!(found, "err");
            // A session the fuzzed bytes carry themselves (copied from a
            // seed, say) wins; otherwise the valid cookie after them is
            // found.
            let expected = if found == "None" {
                "Some(7)".to_owned()
            } else {
                found
            };
            let mut joined = bytes.clone();
            joined.extend_from_slice(b"; ");
            joined.extend_from_slice(setup.valid.as_bytes());
            let joined = HeaderValue::from_bytes(&joined).unwrap();
            let valid = HeaderValue::from_str(&setup.valid).unwrap();
            let (name, value) = setup.valid.split_once('=').unwrap();
            let quoted = HeaderValue::from_str(&format!("{name}=\"{value}\"")).unwrap();
            for cookies in [
                vec![joined],
                vec![fuzzed.clone(), valid],
                vec![fuzzed.clone(), quoted],
            ] {
                let response = call(&setup.layer, path, &cookies).await;
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.into_body(), expected, "{:?}", setup.layer);
            }
        });
    }
});
