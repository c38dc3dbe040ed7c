//! [`SessionService`]: the middleware a [`SessionLayer`](crate::SessionLayer) wraps around a service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::commit::commit;
use crate::cookies;
use crate::layer::{SessionStorage, Shared};
use crate::session::{Incoming, SignedValue};
use crate::{ResponseFuture, Session};

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
/// let service: SessionService<_> = SessionLayer::new(MemoryStore::new(), Key::generate()).layer(service);
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// What the request's cookies say about its session.
    fn incoming(&self, headers: &http::HeaderMap) -> Incoming {
        let shared = &self.shared;
        let mut found = cookies::values(headers, &shared.cookie_name);
        match &shared.storage {
            SessionStorage::Server { signer, .. } => found
                .find_map(|value| {
                    let verified = signer.verify(value)?;
                    Some(Incoming::Id {
                        id: verified.id,
                        needs_resign: verified.needs_resign,
                        value: SignedValue::new(value)?,
                    })
                })
                .unwrap_or_else(|| {
                    tracing::trace!("no valid session cookie");
                    Incoming::None
                }),
            // Decoded lazily, the first that decodes winning (as for ids):
            // the browser sends the most specific cookie first, but a
            // sibling subdomain can add one of the same name that does not
            // verify, and it must not hide the real one.
            SessionStorage::Client { .. } => {
                let candidates: Vec<String> = found.map(str::to_owned).collect();
                if candidates.is_empty() {
                    Incoming::None
                } else {
                    Incoming::Data(candidates)
                }
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
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
        let incoming = self.incoming(req.headers());
        let lock = match (&self.shared.locks, &incoming) {
            (Some(locks), Incoming::Id { id, .. }) => Some((locks.clone(), *id)),
            _ => None,
        };
        let session = Session::new(self.shared.clone(), incoming);
        req.extensions_mut().insert(session.clone());
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(async move {
            let mut guard = match lock {
                Some((locks, id)) => Some(locks.acquire(id).await),
                None => None,
            };
            let mut response = inner.call(req).await?;
            let committed = commit(&session).await;
            // The store's lease (if the request took one) is given back
            // once the writes are done.
            let refused = match &mut guard {
                Some(guard) => guard.finish().await,
                None => false,
            };
            match committed {
                Ok(outcome) if !refused => outcome.apply(response.headers_mut()),
                Ok(_) => {
                    // Whatever the handler made of the failed load, its
                    // answer was built without the session.
                    tracing::error!(
                        status = 503,
                        "the session stayed busy longer than the store waits; answering with an error"
                    );
                    response = Response::new(ResBody::default());
                    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                }
                Err(err) => {
                    let status = err.status();
                    tracing::error!(error = %err, status = status.as_u16(), "session could not be saved; answering with an error");
                    response = Response::new(ResBody::default());
                    *response.status_mut() = status;
                }
            }
            Ok(response)
        })
    }
}
