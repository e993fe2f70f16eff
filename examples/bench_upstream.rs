//! A tiny, fast HTTP upstream for benchmarks: every request gets `200` and a fixed 13-byte
//! body. Used by `benches/compare.sh`.
//!
//! ```sh
//! cargo run --release --example bench_upstream -- 127.0.0.1:9000
//! curl -s http://127.0.0.1:9000/anything      # hello, world
//! ```
//!
//! It prints `listening on ADDR` once bound. Runtime worker threads: `BENCH_WORKERS`
//! (default: one per core).

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"hello, world\n",
                    ))))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
