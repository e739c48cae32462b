//! The HTTP load generator: N simulated clients, each on its own keep-alive HTTP/1.1 connection,
//! sending `GET` requests back to back (closed loop) for a bounded time, latencies in an HDR
//! histogram. Loopback addresses only.
//!
//! The client is raw hyper 1 connections (`hyper::client::conn::http1`) on a single-threaded tokio
//! runtime: on a two-core machine the client shares the cores with the server, so it should cost
//! as little as possible; reqwest's pool, redirect and decompression layers would only add to that.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::stats::{histogram, record, Summary};

/// A load run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Server address; must be a loopback address.
    pub addr: SocketAddr,
    /// Request paths (with query strings), used in turn.
    pub paths: Arc<Vec<String>>,
    /// Simulated clients, each with one connection.
    pub concurrency: usize,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// Measured time (the run stops earlier when `stop` is set).
    pub duration: Duration,
    /// Most requests one client sends, whatever the time.
    pub max_requests_per_client: u64,
    /// Ends the run early when set.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What a load run came to.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Simulated clients.
    pub concurrency: usize,
    /// Latency and throughput of the measured requests.
    pub summary: Summary,
    /// Measured requests answered 200.
    pub ok: u64,
    /// Measured requests answered with another status.
    pub non_200: u64,
    /// Connection or protocol failures.
    pub errors: u64,
    /// Mean response body size, bytes.
    pub mean_body_bytes: f64,
    /// Measured wall time, seconds.
    pub seconds: f64,
}

struct ClientOutcome {
    hist: hdrhistogram::Histogram<u64>,
    ok: u64,
    non_200: u64,
    errors: u64,
    bytes: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One `GET`; returns the status and body length.
pub async fn get(sender: &mut Sender, host: &str, path: &str) -> anyhow::Result<(u16, usize)> {
    let (status, body) = get_body(sender, host, path).await?;
    Ok((status, body.len()))
}

/// GET `path`: the status and the body.
async fn get_body(sender: &mut Sender, host: &str, path: &str) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let req = hyper::Request::builder()
        .uri(path)
        .header(hyper::header::HOST, host)
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

async fn client(
    id: usize,
    opts: LoadOptions,
    measure_from: Instant,
    until: Instant,
) -> ClientOutcome {
    let mut out = ClientOutcome {
        hist: histogram(),
        ok: 0,
        non_200: 0,
        errors: 0,
        bytes: 0,
    };
    let host = opts.addr.to_string();
    let mut sender: Option<Sender> = None;
    let n = opts.paths.len().max(1);
    let mut k = id * 7919 % n;
    for _ in 0..opts.max_requests_per_client {
        let now = Instant::now();
        if now >= until
            || opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            break;
        }
        if sender.is_none() {
            match connect(opts.addr).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    out.errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let path = &opts.paths[k % n];
        k += 1;
        let t = Instant::now();
        let res = get(s, &host, path).await;
        let d = t.elapsed();
        let measured = t >= measure_from;
        match res {
            Ok((status, len)) => {
                if measured {
                    record(&mut out.hist, d);
                    out.bytes += len as u64;
                    if status == 200 {
                        out.ok += 1;
                    } else {
                        out.non_200 += 1;
                    }
                }
            }
            Err(_) => {
                out.errors += 1;
                sender = None;
            }
        }
    }
    out
}

/// Runs the load and returns its summary.
pub fn run(opts: &LoadOptions) -> anyhow::Result<LoadResult> {
    if !opts.addr.ip().is_loopback() {
        bail!(
            "the load generator only targets loopback addresses, not {}",
            opts.addr
        );
    }
    if opts.paths.is_empty() {
        bail!("no request paths");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let until = measure_from + opts.duration;
    let outcomes = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for id in 0..opts.concurrency.max(1) {
            set.spawn(client(id, opts.clone(), measure_from, until));
        }
        let mut outs = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(o) = r {
                outs.push(o);
            }
        }
        outs
    });
    let end = Instant::now().min(until.max(measure_from));
    let wall = end.saturating_duration_since(measure_from);
    let mut hist = histogram();
    let (mut ok, mut non_200, mut errors, mut bytes) = (0, 0, 0, 0);
    for o in &outcomes {
        let _ = hist.add(&o.hist);
        ok += o.ok;
        non_200 += o.non_200;
        errors += o.errors;
        bytes += o.bytes;
    }
    let n = hist.len();
    Ok(LoadResult {
        concurrency: opts.concurrency,
        summary: Summary::from_histogram(&hist, wall),
        ok,
        non_200,
        errors,
        mean_body_bytes: if n > 0 { bytes as f64 / n as f64 } else { 0.0 },
        seconds: wall.as_secs_f64(),
    })
}

/// Waits until `GET path` answers 200 (at most `timeout`).
pub fn wait_ready(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<()> {
    wait_for(addr, path, "", timeout)
}

/// Waits until GET `path` answers 200 with a body that contains `needle` (anything, when
/// empty), up to `timeout`.
pub fn wait_for(
    addr: SocketAddr,
    path: &str,
    needle: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("only loopback addresses, not {addr}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let host = addr.to_string();
    rt.block_on(async {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match connect(addr).await {
                Ok(mut s) => match get_body(&mut s, &host, path).await {
                    Ok((200, body)) if String::from_utf8_lossy(&body).contains(needle) => {
                        return Ok(())
                    }
                    Ok((status, body)) => {
                        last = format!("status {status}: {}", String::from_utf8_lossy(&body))
                    }
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("{addr}{path} not ready after {timeout:?}: {last}")
    })
}
