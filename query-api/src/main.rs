//! The `query-api` binary: serves the API and the web page.

use std::path::PathBuf;

use clap::Parser;
use indexer::Config;
use query_api::AppState;

/// mimalloc rather than the system allocator: a search allocates and frees many small buffers
/// on the search threads, where glibc's malloc spent about a tenth of the server's CPU
/// (benches/RESULTS.md, "Latest").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Evidence search server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (TOML). Without one, defaults serve ./data on 127.0.0.1:8080.
    #[arg(long, env = "EVIDENCE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (record store and index); overrides the config.
    #[arg(long, env = "EVIDENCE_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on; overrides the config.
    #[arg(long, env = "EVIDENCE_BIND")]
    bind: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,tantivy=warn".into()),
        )
        .init();
    let args = Args::parse();
    // In the server rayon's threads only build indexes: background priority (see `pool`).
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| indexer::priority::lower_priority(indexer::priority::BACKGROUND_NICE))
        .build_global()
    {
        tracing::warn!(error = %e, "rayon's thread pool was already set up");
    }
    let mut config = Config::load_or_default(args.config.as_deref())?;
    if let Some(d) = args.data {
        config.server.data = d;
    }
    if let Some(b) = args.bind {
        config.server.bind = b;
    }
    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.bind))?;
    tracing::info!(addr = %listener.local_addr()?, data = %config.server.data.display(), "listening");
    let state = AppState::new(config)?;
    query_api::run(listener, state, async {
        stop_signal().await;
        tracing::info!("shutting down");
    })
    .await
}

/// Ctrl-C, or SIGTERM (what systemd, Docker and Kubernetes send to stop a service): either one
/// shuts the server down gracefully, finishing requests in flight and writing the query log.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server gracefully");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
