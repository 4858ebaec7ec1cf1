//! Per-connection control: the stream wrapper that lets a handler trickle
//! its answer or drop the connection with a TCP reset.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Sleep;

/// Shared between a connection's task, its stream and its handlers.
#[derive(Default)]
pub(crate) struct ConnCtl {
    kill: Notify,
    reset: AtomicBool,
    trickle_nanos: AtomicU64,
}

impl ConnCtl {
    /// Ask the connection task to drop the connection now.
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// Drop the connection with SO_LINGER 0 (a TCP reset).
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.kill();
    }

    pub async fn killed(&self) {
        self.kill.notified().await;
    }

    /// From now on, write one byte per `every`.
    pub fn trickle(&self, every: Duration) {
        let n = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.trickle_nanos.store(n, Ordering::SeqCst);
    }

    fn trickle_interval(&self) -> Option<Duration> {
        match self.trickle_nanos.load(Ordering::SeqCst) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }
}

/// Streams that can be made to reset on close.
pub(crate) trait Linger {
    fn zero_linger(&self) -> io::Result<()>;
}

impl Linger for TcpStream {
    fn zero_linger(&self) -> io::Result<()> {
        self.set_zero_linger()
    }
}

impl Linger for tokio_rustls::server::TlsStream<TcpStream> {
    fn zero_linger(&self) -> io::Result<()> {
        self.get_ref().0.set_zero_linger()
    }
}

/// A connection's stream, paced and reset as its [`ConnCtl`] says.
pub(crate) struct SimIo<S: Linger> {
    inner: S,
    ctl: Arc<ConnCtl>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S: Linger> SimIo<S> {
    pub fn new(inner: S, ctl: Arc<ConnCtl>) -> Self {
        SimIo {
            inner,
            ctl,
            sleep: None,
        }
    }
}

impl<S: Linger> Drop for SimIo<S> {
    fn drop(&mut self) {
        if self.ctl.reset.load(Ordering::SeqCst) {
            let _ = self.inner.zero_linger();
        }
    }
}

impl<S: Linger + AsyncRead + Unpin> AsyncRead for SimIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: Linger + AsyncWrite + Unpin> AsyncWrite for SimIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(every) = this.ctl.trickle_interval().filter(|_| !buf.is_empty()) else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        ready!(sleep.as_mut().poll(cx));
        let r = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..1]));
        this.sleep = None;
        // Push the byte out now: hyper only flushes once it runs out of data.
        if let Poll::Ready(Err(e)) = Pin::new(&mut this.inner).poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(r)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
