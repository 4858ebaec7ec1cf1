//! The server: listens, sends each request to its face, serves the admin
//! endpoints, and shuts down gracefully. It is the one module that knows
//! every face; the faces know only what it hands them.
//!
//! - [`app`]: the application's state, built at start-up.
//! - [`listen`]: listeners, connections, the drain on shutdown.
//! - [`dispatch`]: which face a request speaks, what it must meet before its
//!   body is read ([`admit`]), reading the body, the face's call, writes run
//!   to completion under duplicate protection, and the request's log line.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`respond`]: how an error becomes a response, per face.
//! - `deadline`: the write deadline on a connection.
//! - [`nofile`]: the open-file limit, raised and checked at start.
//!
//! Routing is by path prefix: `/entrust/` → [`crate::passthrough`],
//! `/group/` and `/auth/` → [`crate::openim`], the admin routes → [`admin`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod admin;
pub mod admit;
pub mod app;
mod deadline;
pub mod dispatch;
pub mod listen;
pub mod nofile;
pub mod respond;

pub use admit::{BodyBudget, BodyRoom};
pub use app::App;
pub use listen::{Drained, Listener, serve};

/// A running gateway.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The admin listener's address, when `[admin] listen` is set.
    pub admin_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Drained>,
}

impl ServerHandle {
    /// `http://ADDR`, or `https://ADDR` with `[server.tls]`.
    pub fn url(&self) -> String {
        let scheme = if self.app.tls().is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain
    /// timeout), and returns when the server has stopped.
    pub async fn shutdown(mut self) -> Drained {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or_default()
    }

    /// Returns when the server stops (after a shutdown signal).
    pub async fn wait(mut self) -> Drained {
        (&mut self.task).await.unwrap_or_default()
    }

    /// A sender that starts the shutdown (for signal handlers).
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// A listener that could not be opened: which one, its address, and why.
#[derive(Debug)]
pub struct ListenError {
    pub listener: Listener,
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl fmt::Display for ListenError {
    /// `admin.listen: cannot listen on 127.0.0.1:9901: Address in use ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: cannot listen on {}: {}",
            self.listener.config_key(),
            self.addr,
            self.source
        )
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Binds `addr` for `which`, and reads back its address (port 0 chosen).
fn open(which: Listener, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ListenError> {
    let failed = |source| ListenError {
        listener: which,
        addr,
        source,
    };
    let listener = listen::bind(addr).map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

/// Binds `server.listen` (and `admin.listen`) and serves in a background task.
pub async fn start(app: Arc<App>) -> Result<ServerHandle, ListenError> {
    let (listener, addr) = open(Listener::Main, app.config().server.listen)?;
    let (admin, admin_addr) = match app.config().admin.listen {
        Some(a) => {
            let (l, bound) = open(Listener::Admin, a)?;
            (Some(l), Some(bound))
        }
        None => (None, None),
    };
    admit::warn_at_start(&app);
    app.spawn_secret_watcher();
    app.spawn_tls_watcher();
    let (tx, rx) = oneshot::channel();
    let task_app = app.clone();
    let task = tokio::spawn(async move {
        let (stop_admin, admin_rx) = oneshot::channel::<()>();
        let admin_task = admin.map(|l| {
            tokio::spawn(listen::serve(l, task_app.clone(), Listener::Admin, async {
                let _ = admin_rx.await;
            }))
        });
        let drained = listen::serve(listener, task_app, Listener::Main, async {
            let _ = rx.await;
        })
        .await;
        // Probes keep answering until the main listener has drained.
        let _ = stop_admin.send(());
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        drained
    });
    Ok(ServerHandle {
        addr,
        admin_addr,
        app,
        shutdown: Some(tx),
        task,
    })
}
