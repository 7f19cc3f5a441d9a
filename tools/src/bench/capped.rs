//! A TCP proxy on loopback that caps what each connection may send back, as a CDN or a hub that caps each
//! connection does: `cap` bytes per second per connection, none in all. Requests pass through as they come.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; stops when dropped.
pub struct CappedProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl CappedProxy {
    /// Forwards each connection to `target`, its answers capped at `cap` bytes per second (`None`: as fast as
    /// they come).
    pub async fn start(target: SocketAddr, cap: Option<u64>) -> std::io::Result<CappedProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = relay(client, server, cap).await;
                    }
                });
            }
        });
        Ok(CappedProxy { addr, task })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CappedProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bytes an idle connection may send at once.
const BURST: u64 = 256 * 1024;

async fn relay(client: TcpStream, server: TcpStream, cap: Option<u64>) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let answers = async {
        let mut buf = vec![0u8; 64 * 1024];
        // A virtual clock of when the connection's link is next free; an idle connection saves up no more than
        // BURST bytes, so a reused connection is capped as a fresh one is.
        let mut free_at = Instant::now();
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(cap) = cap {
                let burst = Duration::from_secs_f64(BURST as f64 / cap as f64);
                let now = Instant::now();
                free_at =
                    free_at.max(now.checked_sub(burst).unwrap_or(now)) + Duration::from_secs_f64(n as f64 / cap as f64);
                if free_at > now {
                    tokio::time::sleep(free_at - now).await;
                }
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, answers);
    Ok(())
}
