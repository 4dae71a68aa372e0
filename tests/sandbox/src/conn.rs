//! A TCP listener whose connections a handler can kill, so the `Reset`
//! fault drops a connection without writing a single byte of the answer.
//!
//! Each accepted stream shares a [`KillSwitch`] with the request's
//! `ConnectInfo<ConnInfo>`. Once killed, every read and write on the stream
//! fails; the stream is switched to a zero linger first, so closing it sends a
//! TCP RST, the way a crashed upstream or a middlebox would.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    reader: Mutex<Option<Waker>>,
}

impl KillSwitch {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        let waker = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// Connection info available to handlers as `ConnectInfo<ConnInfo>`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    #[allow(dead_code)]
    pub remote: SocketAddr,
    pub kill: Arc<KillSwitch>,
}

impl Connected<IncomingStream<'_, ResetListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, ResetListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub struct ResetListener(pub TcpListener);

impl Listener for ResetListener {
    type Io = KillableStream;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, remote) = Listener::accept(&mut self.0).await;
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(KillSwitch::default());
        (KillableStream { inner: stream, kill: kill.clone() }, ConnInfo { remote, kill })
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo { remote: self.0.local_addr()?, kill: Arc::new(KillSwitch::default()) })
    }
}

pub struct KillableStream {
    inner: TcpStream,
    kill: Arc<KillSwitch>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.kill.killed() {
            let _ = self.inner.set_zero_linger();
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "sandbox fault: connection reset"));
        }
        Ok(())
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        *this.kill.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
