//! [`SessionService`]: the middleware a [`SessionLayer`](crate::SessionLayer)
//! wraps around a service, and the story of one request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::cookies::{self, Outcome};
use crate::layer::Shared;
use crate::life::{decide, Life, State};
use crate::storage::{Incoming, LayerStore};
use crate::store::AnyStore;
use crate::transport::Via;
use crate::{Error, Session, SessionStore};

/// The middleware made by [`SessionLayer`](crate::SessionLayer): reads the
/// session cookie, puts a [`Session`] in the request extensions, runs the
/// inner service, then saves what changed and sets the cookie.
///
/// It works with any request and response body; the response body must
/// implement `Default` (an empty body is sent with an error status when the
/// store fails after the handler).
///
/// ```
/// use session_core::{Key, SessionLayer, SessionService};
/// use session_store_memory::MemoryStore;
/// use tower::Layer;
///
/// let service = tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let service: SessionService<_, MemoryStore> = SessionLayer::new(MemoryStore::new(), Key::generate()).layer(service);
/// # let _ = service;
/// ```
#[derive(Debug)]
pub struct SessionService<S, St = AnyStore> {
    inner: S,
    shared: Arc<Shared>,
    /// The store as its own type (`None` for client-side sessions).
    store: Option<Arc<LayerStore<St>>>,
}

impl<S: Clone, St> Clone for SessionService<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            store: self.store.clone(),
        }
    }
}

impl<S, St> SessionService<S, St> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, store: Option<Arc<LayerStore<St>>>) -> Self {
        Self {
            inner,
            shared,
            store,
        }
    }
}

impl<S, St, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    St: SessionStore,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // 1. Read the cookie (or the token header): which session, if any,
        //    the request names.
        let shared = &self.shared;
        let headers = req.headers();
        let (incoming, via) = match shared.config.transport.header_token(headers) {
            None => {
                let cookies = cookies::values(headers, &shared.cookie_name);
                (shared.storage.read(cookies), Via::Cookie)
            }
            Some(token) => (shared.storage.read(token.into_iter()), Via::Header),
        };
        let lock = match (&shared.locks, &incoming) {
            (Some(locks), Incoming::Id { id, .. }) => Some((locks.clone(), *id)),
            _ => None,
        };
        // 2. The session, read from its storage only when first used.
        let session = Session::new(shared.clone(), incoming, via);
        req.extensions_mut().insert(session.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = self.store.clone();
        ResponseFuture::new(async move {
            let mut guard = match lock {
                Some((locks, id)) => Some(locks.acquire(id).await),
                None => None,
            };
            // 3. Run the handler.
            let mut response = inner.call(req).await?;
            // 4. Decide what to write, and write it.
            let written = finish(&session, store.as_deref()).await;
            let refused = match &mut guard {
                Some(guard) => guard.finish().await,
                None => false,
            };
            // 5. Set the cookie (or answer with the error).
            match written {
                Ok(outcome) if !refused => {
                    outcome.apply(response.headers_mut(), &session.0.shared.config.transport)
                }
                Ok(_) => {
                    crate::metrics::refused(crate::metrics::Refusal::LeaseTimeout);
                    tracing::error!(
                        status = 503,
                        "the session stayed busy longer than the store waits; answering with an error"
                    );
                    response = error_response(http::StatusCode::SERVICE_UNAVAILABLE);
                }
                Err(err) => {
                    let status = err.status();
                    tracing::error!(error = %err, status = status.as_u16(), "session could not be saved; answering with an error");
                    response = error_response(status);
                }
            }
            Ok(response)
        })
    }
}

fn error_response<B: Default>(status: http::StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}

/// After the handler: decide from what the request did to its session
/// what to write ([`decide`]), write it, and return the headers to send.
async fn finish<St: SessionStore>(
    session: &Session,
    store: Option<&LayerStore<St>>,
) -> Result<Outcome, Error> {
    let inner = &session.0;
    let shared = &*inner.shared;
    let resign = inner.incoming.needs_resign();
    if resign {
        // A cookie signed with an older key, on a request that may not have
        // touched the session: read it (a failure is logged and leaves the
        // cookie as it is), so the cookie re-sent under the current key
        // carries the session's own expiry and a dead session is not
        // re-signed.
        let _ = session.load().await;
    }
    // The request is over: take the state (later changes through a clone
    // kept alive by a spawned task are not saved, as documented).
    let mut state = std::mem::replace(&mut *inner.state.lock(), State::new(Life::Unread));
    let vary = state.body.accessed;
    let write = decide(&state, resign, &shared.config, session.now());
    let life = state.life;
    let written = shared
        .storage
        .write(store, session, write, &mut state)
        .await;
    crate::metrics::written(&shared.storage, life, write, &written);
    let send = written?;
    Ok(Outcome {
        send,
        vary,
        via: inner.via,
    })
}

type BoxFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

/// The response future of [`SessionService`](crate::SessionService): runs the
/// inner service, then saves the session and sets the cookie.
///
/// ```
/// use session_core::ResponseFuture;
///
/// fn assert_send<T: Send>() {}
/// assert_send::<ResponseFuture<String, std::convert::Infallible>>();
/// ```
pub struct ResponseFuture<B, E> {
    inner: BoxFuture<B, E>,
}

impl<B, E> ResponseFuture<B, E> {
    pub(crate) fn new(
        future: impl Future<Output = Result<Response<B>, E>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
