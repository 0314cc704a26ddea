//! The HTTP server: the app as a function of state (testable without a socket) and its runner.

use std::sync::Arc;
use std::time::Duration;

use lux_migration::MigratorTrait;
use tokio::sync::Semaphore;

use lux_core::Lux;

use crate::instance::Instance;

use crate::rest::{AuthPolicy, api_service, around_request};
use poem::listener::{Acceptor, BoxAcceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler, http::StatusCode};
use serde_json::json;

/// Requests served at once before more are refused with 503 (a flood must not grow memory).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

/// What every request handler reads: the running Lux and who may do what.
#[derive(Debug, Clone)]
pub struct AppState {
    pub lux: Lux,
    pub instance: Instance,
    pub policy: AuthPolicy,
    in_flight: Arc<Semaphore>,
}

impl AppState {
    pub fn new(instance: &Instance, policy: AuthPolicy) -> Self {
        AppState::with_max_in_flight(instance, policy, DEFAULT_MAX_IN_FLIGHT)
    }

    pub fn with_max_in_flight(
        instance: &Instance,
        policy: AuthPolicy,
        max_in_flight: usize,
    ) -> Self {
        AppState {
            lux: instance.lux().clone(),
            instance: instance.clone(),
            policy,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// A place among the requests served at once, or `None` when all are taken (then refuse
    /// with 503 rather than queue without bound). Shared by every listener of the server.
    pub(crate) fn try_admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }
}

/// The whole HTTP surface, as an endpoint that can be served or called in-process.
pub fn app(state: AppState) -> impl poem::Endpoint {
    let api = api_service(&state.instance, state.policy.clone());
    let spec = crate::rest::spec_json();
    let docs = api.swagger_ui();
    let site = crate::dashboard::mount(Route::new())
        .nest_no_strip("/api/v1", api)
        .at(
            "/api/v1/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                spec.clone()
                    .with_content_type("application/json; charset=utf-8")
            })),
        )
        .nest("/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
        .at(
            "/mcp",
            crate::mcp::http_endpoint(state.lux.clone(), state.policy.clone()),
        )
        .data(state.clone());
    let in_flight = state.in_flight.clone();
    Doors {
        otlp: crate::otlp::app(state),
        site: site
            .around(move |endpoint, request| around_request(endpoint, request, in_flight.clone())),
    }
}

/// The OTLP receiver beside the rest: OTLP answers in its own encodings and limits (a protobuf
/// `google.rpc.Status`, 64 MiB bodies), which the REST middleware would rewrite, so its path
/// never passes through it.
struct Doors<Otlp, Site> {
    otlp: Otlp,
    site: Site,
}

impl<Otlp: poem::Endpoint, Site: poem::Endpoint> poem::Endpoint for Doors<Otlp, Site> {
    type Output = Response;

    async fn call(&self, request: poem::Request) -> poem::Result<Response> {
        if request.uri().path() == crate::otlp::TRACES_PATH {
            self.otlp
                .call(request)
                .await
                .map(IntoResponse::into_response)
        } else {
            self.site
                .call(request)
                .await
                .map(IntoResponse::into_response)
        }
    }
}

/// Liveness: the process answers. It says nothing about the database on purpose.
#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

#[handler]
async fn metrics(state: Data<&AppState>) -> Response {
    let queue = match state.lux.analysis_queue_status().await {
        Ok(queue) => Some(queue),
        Err(error) => {
            tracing::warn!(%error, "cannot read the analysis queue for /metrics");
            None
        }
    };
    crate::metrics::render(&state.lux, queue.as_ref())
        .with_content_type("text/plain; version=0.0.4")
        .into_response()
}

/// Readiness: the database answers and its schema is current; otherwise 503 with `Retry-After`.
#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    let check = async {
        state.lux.ping().await?;
        lux_migration::Migrator::get_pending_migrations(state.lux.db())
            .await
            .map_err(lux_core::Error::Storage)
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(pending)) if pending.is_empty() => Json(json!({
            "status": "ready",
            "database": state.lux.backend().name(),
            "analysis": detection_details(&state.lux.detectors().detection_mode()),
        }))
        .into_response(),
        Ok(Ok(pending)) => not_ready(&format!("{} migration(s) pending", pending.len())),
        Ok(Err(error)) => not_ready(&error.to_string()),
        Err(_) => not_ready("database did not answer within 2 s"),
    }
}

/// How steps are analysed, for `/readyz`: `features` says `lexical fallback` without a model.
fn detection_details(mode: &lux_core::detect::DetectionMode) -> serde_json::Value {
    json!({
        "summary": mode.summary(),
        "features": mode.features(),
        "learned_detectors": mode.learned,
        "semantic_model": mode.semantic_model,
        "llm_verifier": mode.llm_verifier,
        "plugin_detectors": mode.plugin_detectors,
    })
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

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish: the app on `acceptor`,
/// and the OTLP/HTTP trace receiver on `otlp` when given.
pub(crate) async fn serve(
    acceptor: impl Acceptor + 'static,
    otlp: Option<BoxAcceptor>,
    state: AppState,
) -> anyhow::Result<()> {
    for address in acceptor.local_addr() {
        // poem prints a TCP address as `socket://…`; an operator wants a URL to open.
        match address.as_socket_addr() {
            Some(socket) => tracing::info!("Lux listening on http://{socket}"),
            None => tracing::info!("Lux listening on {address}"),
        }
    }
    for address in otlp.iter().flat_map(|otlp| otlp.local_addr()) {
        match address.as_socket_addr() {
            Some(socket) => tracing::info!("OTLP/HTTP traces at http://{socket}/v1/traces"),
            None => tracing::info!("OTLP/HTTP traces at {address}/v1/traces"),
        }
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
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
        stop.send_replace(true);
    });
    let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        // A dropped sender (the signal task gone) also means stop.
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let grace = Some(Duration::from_secs(10));
    let main = poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        app(state.clone()),
        stopped(stopping.clone()),
        grace,
    );
    let served = match otlp {
        Some(otlp) => {
            let receiver = poem::Server::new_with_acceptor(otlp).run_with_graceful_shutdown(
                crate::otlp::app(state),
                stopped(stopping),
                grace,
            );
            let (main, receiver) = tokio::join!(main, receiver);
            main.and(receiver)
        }
        None => main.await,
    };
    served.map_err(|error| anyhow::anyhow!("server stopped: {error}"))
}
