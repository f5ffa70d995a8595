//! The HTTP server loop: accepts connections and serves the router on each
//! with hyper, like `axum::serve`, plus what that one lacks: a timer, so
//! that a client that does not send a whole request head within
//! [`HEADER_READ_TIMEOUT`] is disconnected. Without it a connection that
//! sent nothing, half a request head, or nothing more after its last answer
//! stayed open for good, and enough of them (a few thousand idle sockets,
//! "slowloris") would take every file descriptor.
//!
//! HTTP/1.1 only: telling HTTP/2 (cleartext, prior knowledge) apart means
//! reading a connection's first bytes before any timer runs, which a
//! silent client could hold forever; clients of this API speak HTTP/1.1
//! (a TLS proxy in front may speak HTTP/2 to its own clients).
//!
//! Shutdown: when `shutdown` resolves the listener closes, each connection
//! finishes the request it is serving and closes, and [`serve`] returns
//! once all have.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// How long a client has to send a request's head, counted from the
/// connection's start or from the end of its previous answer (hyper's
/// default once a timer is set).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait after an `accept` error other than a peer's (out of
/// file descriptors) before accepting again, as `axum::serve` does.
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (graceful shutdown) and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_header_timeout(listener, app, shutdown, HEADER_READ_TIMEOUT).await
}

/// [`serve`] with another header timeout (tests use a short one).
async fn serve_with_header_timeout(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            // A peer that gave up before we accepted: nothing to wait for.
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let service = app
            .clone()
            .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection, not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The header timeout of the test servers.
    const TEST_TIMEOUT: Duration = Duration::from_millis(500);

    async fn server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_with_header_timeout(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            TEST_TIMEOUT,
        ));
        (addr, stop)
    }

    /// Reads until the peer closes; `None` if it is still open after `wait`.
    async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<Vec<u8>> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        tokio::time::timeout(wait, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return seen,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .ok()
    }

    #[tokio::test]
    async fn idle_and_half_sent_connections_are_closed_after_the_header_timeout() {
        let (addr, _stop) = server().await;
        // Nothing sent; half a request head; a whole request, then idle.
        let mut silent = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let mut half = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("writes");
        let mut kept = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("writes");
        let mut answer = [0u8; 256];
        let n = kept.read(&mut answer).await.expect("answer");
        assert!(
            String::from_utf8_lossy(&answer[..n]).ends_with("hello"),
            "served"
        );
        for (name, stream) in [
            ("silent", &mut silent),
            ("half", &mut half),
            ("kept", &mut kept),
        ] {
            assert!(
                closed_within(stream, TEST_TIMEOUT + Duration::from_secs(5))
                    .await
                    .is_some(),
                "{name}: closed after the timeout"
            );
        }
    }

    #[tokio::test]
    async fn shutdown_lets_the_server_return_and_refuses_new_connections() {
        let (addr, stop) = server().await;
        let mut open = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        open.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("writes");
        let mut answer = [0u8; 256];
        assert!(open.read(&mut answer).await.expect("answer") > 0);
        stop.send(()).expect("server running");
        // The idle keep-alive connection is closed by the graceful shutdown.
        assert!(
            closed_within(&mut open, Duration::from_secs(5))
                .await
                .is_some()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
