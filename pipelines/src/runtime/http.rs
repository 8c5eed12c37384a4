//! The `/metrics` listener (Prometheus text format), served by axum through the
//! console crate's [`metrics_router`](vigil_dashboards::metrics_router): it answers
//! `GET /metrics` only, and binds 127.0.0.1 unless told otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::stats::StatsRegistry;

/// Bind `addr`; the returned listener is served by [`serve`].
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// The bound address.
pub fn local_addr(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}

/// Answer `GET /metrics` with the counters until the task is dropped.
pub async fn serve(listener: TcpListener, stats: StatsRegistry) {
    let app = vigil_dashboards::metrics_router(Arc::new(move || stats.snapshot()));
    if let Err(e) = vigil_dashboards::serve_on(listener, app, std::future::pending()).await {
        tracing::error!("the /metrics listener stopped: {e:#}");
    }
}
