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
        // descriptor instead.
        drop(slave);
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(&slave_path)?;
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
