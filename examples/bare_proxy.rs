//! `tokengate::proxy::ReverseProxy` alone, with no OAuth layer: the baseline that
//! `benches/compare.sh` measures `tokengate serve` against.
//!
//! ```sh
//! cargo run --release --example bench_upstream -- 127.0.0.1:9000 &
//! cargo run --release --example bare_proxy -- 127.0.0.1:8090 http://127.0.0.1:9000
//! curl -s http://127.0.0.1:8090/anything      # hello, world (from the upstream)
//! ```
//!
//! It prints `listening on ADDR` once bound. Connections are served like the public listener
//! of `tokengate serve` serves them (hyper-util's auto builder, `TCP_NODELAY`, the client
//! address in `ClientAddr` for `X-Forwarded-For`), so the difference between the two is the
//! layer and what `tokengate serve` wraps around it (body limit, metrics, `/healthz`
//! routing).

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokengate::proxy::{ClientAddr, ReverseProxy};
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let proxy = ReverseProxy::new(upstream.parse()?)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service = proxy
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                req
            });
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}
