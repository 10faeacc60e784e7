//! Splicing an upgraded connection (exec, attach, port-forward, websocket watches) to the
//! child's, with an idle timeout: a connection that moves no byte either way for that long is
//! closed, as the kubelet's `--streaming-connection-idle-timeout` closes idle streams. Held idle
//! connections would otherwise keep their share of the hub's long-running limit forever.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How a splice ended.
#[derive(Debug)]
pub enum Ended {
    /// Either side closed (bytes copied client→child, child→client).
    Closed(u64, u64),
    /// No byte moved for the idle timeout.
    Idle,
    /// A side failed.
    Failed(io::Error),
}

/// Copies both ways until either side closes, one fails, or nothing moves for `idle`.
pub async fn splice<A, B>(a: A, b: B, idle: Duration) -> Ended
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Activity {
        inner: a,
        last: last.clone(),
        start,
    };
    let mut b = Activity {
        inner: b,
        last: last.clone(),
        start,
    };
    let watchdog = async {
        loop {
            let deadline = start + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut a, &mut b) => match r {
            Ok((up, down)) => Ended::Closed(up, down),
            Err(err) => Ended::Failed(err),
        },
        _ = watchdog => Ended::Idle,
    }
}

/// A stream that stamps the time of its last read or write.
struct Activity<T> {
    inner: T,
    last: Arc<AtomicU64>,
    start: Instant,
}

impl<T> Activity<T> {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
        // client ⇄ [a | splice | b] ⇄ child
        let (mut client, a) = tokio::io::duplex(1024);
        let (b, mut child) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(a, b, Duration::from_secs(10)));
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            child.read_exact(&mut buf).await.unwrap();
        }
        assert!(!task.is_finished(), "busy for 30 s: still open");
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(matches!(task.await.unwrap(), Ended::Idle));
    }

    #[tokio::test]
    async fn a_close_ends_the_splice() {
        let (mut client, a) = tokio::io::duplex(1024);
        let (b, mut child) = tokio::io::duplex(1024);
        let task = tokio::spawn(splice(a, b, Duration::from_secs(60)));
        client.write_all(b"hello").await.unwrap();
        drop(client);
        let mut got = Vec::new();
        child.read_to_end(&mut got).await.unwrap();
        drop(child);
        assert_eq!(got, b"hello");
        assert!(matches!(task.await.unwrap(), Ended::Closed(5, 0)));
    }
}
