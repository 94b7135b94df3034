use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fogbank_core::Controller;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::dispatch::{dispatch, App};

/// Largest request body accepted (Lambda zips go up to 50 MB).
const MAX_BODY: usize = 64 * 1024 * 1024;

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"request body too large or broken")));
            *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(r);
        }
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    // A bug must not take the connection (or the process) down: a panicking handler answers
    // 500 and is logged loudly.
    let reply = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(&app, &parts.method, &path, &query, &parts.headers, &body)
    })) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(method = %parts.method, path, "request handler panicked; answered 500");
            crate::dispatch::internal_error_reply()
        }
    };
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(k), http::HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    Ok(resp)
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(app.clone(), req));
                    if let Err(e) = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await {
                        tracing::trace!(error = %e, "connection ended");
                    }
                });
            }
        }
    }
}

/// Runs every controller in its own task: after each committed write, and at the latest when
/// its last reconcile asked to run again.
pub fn run_controllers(app: &App) -> Vec<tokio::task::JoinHandle<()>> {
    let notify = Arc::new(Notify::new());
    {
        let n = notify.clone();
        app.services.store.on_commit(move || n.notify_waiters());
    }
    app.services
        .controllers
        .iter()
        .map(|c| {
            let c: Arc<dyn Controller> = c.clone();
            let notify = notify.clone();
            tokio::spawn(async move {
                loop {
                    let woken = notify.notified();
                    let c2 = c.clone();
                    let next = tokio::task::spawn_blocking(move || c2.reconcile()).await.unwrap_or(Duration::from_secs(1));
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(next) => {}
                    }
                }
            })
        })
        .collect()
}
