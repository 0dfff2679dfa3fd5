//! A pseudo-terminal pair standing in for the terminal's RS-232 port: the terminal reads and
//! writes the master side, the ECR opens the slave path (`/dev/pts/N`) as if it were a COM port.
//!
//! The pair comes from `tokio-serial`, which puts the slave in raw mode: in the default canonical
//! mode the line discipline would eat or rewrite ZVT bytes (03 is VINTR, 15 is VKILL, 11/13 are
//! XON/XOFF, 0D becomes 0A). The terminal keeps the slave end open itself, so the master never
//! reads end-of-file (EIO) between two ECR sessions — a serial port has no "connection" either.

use std::io;
use std::path::{Path, PathBuf};

use tokio_serial::{SerialPort, SerialStream};

/// Both ends of a pseudo-terminal: the master for the terminal, the slave's path for the ECR.
#[derive(Debug)]
pub struct Pty {
    master: SerialStream,
    /// Held open so that the master never reads EOF while no ECR has the slave open.
    slave: std::fs::File,
    slave_path: PathBuf,
}

impl Pty {
    /// Opens a new pair. Needs a tokio runtime.
    pub fn open() -> io::Result<Self> {
        let (master, slave) = SerialStream::pair().map_err(io::Error::from)?;
        let slave_path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("the pseudo-terminal has no slave path"))?;
        // `pair` locks the slave (flock), which would keep every serial library that locks its
        // port — tokio-serial, pyserial — from opening it. Hold it through a plain, unlocked
        // descriptor instead, opened *before* the locked one closes: for an instant with no
        // slave open the master reports a hang-up, which tokio keeps for good (a closed
        // readiness is never cleared), and every read of the master then spins on EAGAIN,
        // one core busy for the life of the process.
        let unlocked = std::fs::OpenOptions::new().read(true).write(true).open(&slave_path)?;
        drop(slave);
        let slave = unlocked;
        Ok(Self {
            master,
            slave,
            slave_path,
        })
    }

    /// The path an ECR opens, e.g. `/dev/pts/3`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The master side, for the terminal's serial link; the slave stays open as long as the
    /// returned guard lives.
    pub fn into_master(self) -> (SerialStream, std::fs::File) {
        (self.master, self.slave)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

    use super::Pty;

    /// Counts how often the terminal's read of the master is polled.
    struct Counted<R> {
        inner: R,
        polls: Arc<AtomicUsize>,
    }

    impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    /// A master with nothing to read waits for the ECR: its read is polled once and then
    /// sleeps until the time-out. A master that once saw the slave closed (the window between
    /// closing `pair`'s slave and opening ours, which a worker thread in `epoll_wait` catches
    /// now and then) is woken again and again — thousands of polls in the same time. Several
    /// pairs, on a multi-threaded runtime as possim runs them, to give that window its chance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_master_does_not_spin() {
        for attempt in 0..20 {
            let pty = Pty::open().expect("a pseudo-terminal");
            let (master, _slave) = pty.into_master();
            let polls = Arc::new(AtomicUsize::new(0));
            let mut counted = Counted {
                inner: master,
                polls: Arc::clone(&polls),
            };
            let mut buf = [0u8; 16];
            let waited = tokio::time::timeout(Duration::from_millis(50), counted.read(&mut buf)).await;
            assert!(waited.is_err(), "attempt {attempt}: the idle master read {waited:?}");
            let polls = polls.load(Ordering::Relaxed);
            assert!(
                polls <= 3,
                "attempt {attempt}: the idle master was polled {polls} times in 50 ms (a spin)"
            );
        }
    }
}
