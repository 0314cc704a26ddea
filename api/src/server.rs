//! The HTTP server: the app as a function of state (testable without a socket) and its runner.

use std::time::Duration;

use lux_core::Lux;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler, http::StatusCode};
use serde_json::json;

#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) lux: Lux,
}

pub(crate) fn app(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .data(state)
}

/// Liveness: the process answers. It says nothing about the database on purpose.
#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Readiness: the database answers; otherwise 503 with `Retry-After`, so balancers back off.
#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.lux.ping()).await {
        Ok(Ok(())) => Json(json!({
            "status": "ready",
            "database": state.lux.backend().name(),
        }))
        .into_response(),
        Ok(Err(error)) => not_ready(&error.to_string()),
        Err(_) => not_ready("database did not answer within 2 s"),
    }
}

fn not_ready(reason: &str) -> Response {
    tracing::warn!(reason, "not ready");
    Json(json!({"status": "unavailable", "reason": "database unavailable"}))
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_header("Retry-After", "5")
        .into_response()
}

/// Takes the listening socket; done before anything else so a taken port fails fast and alone.
pub(crate) async fn bind(address: &str) -> anyhow::Result<impl Acceptor + use<>> {
    TcpListener::bind(address.to_owned())
        .into_acceptor()
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub(crate) async fn serve(
    acceptor: impl Acceptor + 'static,
    state: AppState,
) -> anyhow::Result<()> {
    for address in acceptor.local_addr() {
        tracing::info!("Lux listening on http://{address}");
    }
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                ctrl_c.await.ok();
            }
        }
        tracing::info!("shutting down");
    };
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(Duration::from_secs(10)))
        .await
        .map_err(|error| anyhow::anyhow!("server stopped: {error}"))
}
