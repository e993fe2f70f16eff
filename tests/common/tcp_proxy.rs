//! A TCP proxy on a loopback port that can be stopped and started again, to take a server
//! away from its clients without touching the server: stopped, it closes every proxied
//! connection and the port refuses new ones, which is what a client sees when the server
//! stops.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// Forwards every connection made to [`TcpProxy::addr`] to the target.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    /// The accept loop and every proxied connection; aborting them closes their sockets.
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl TcpProxy {
    /// Starts forwarding a fresh loopback port to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let proxy = TcpProxy {
            addr: listener.local_addr().unwrap(),
            target,
            tasks: Arc::new(Mutex::new(JoinSet::new())),
        };
        proxy.accept(listener);
        proxy
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the port and every connection through it; returns once they are closed.
    pub async fn stop(&self) {
        // Twice: a connection accepted while the accept loop was being stopped may have
        // been added after the first round took the set.
        for _ in 0..2 {
            let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Listens on the same port again. Retries for a few seconds in case the port is held
    /// in a state the kernel has not released yet.
    pub async fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match listen(self.addr) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("proxy: {} not free yet ({e}); retrying", self.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.accept(listener);
    }

    fn accept(&self, listener: TcpListener) {
        let target = self.target;
        let tasks = Arc::downgrade(&self.tasks);
        self.tasks.lock().unwrap().spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Some(tasks) = tasks.upgrade() else { return };
                tasks.lock().unwrap().spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.tasks.lock().unwrap().abort_all();
    }
}

/// A listener on `addr` with `SO_REUSEADDR`, so the port can be taken again while connections
/// it accepted before linger in `TIME_WAIT`.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}
