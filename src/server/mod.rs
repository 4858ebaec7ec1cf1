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
//!
//! Routing is by path prefix: `/entrust/` → [`crate::passthrough`],
//! `/group/` and `/auth/` → [`crate::openim`], the admin routes → [`admin`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod admin;
pub mod admit;
pub mod app;
mod deadline;
pub mod dispatch;
pub mod listen;
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
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// Binds `server.listen` (and `admin.listen`) and serves in a background task.
pub async fn start(app: Arc<App>) -> io::Result<ServerHandle> {
    let listener = listen::bind(app.config().server.listen)?;
    let addr = listener.local_addr()?;
    let admin = match app.config().admin.listen {
        Some(a) => Some(listen::bind(a)?),
        None => None,
    };
    let admin_addr = admin.as_ref().map(|l| l.local_addr()).transpose()?;
    admit::warn_at_start(&app);
    app.spawn_secret_watcher();
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
