//! Typed errors of the engine. Peer input never produces a panic; it produces one of these.

use thiserror::Error;

/// Everything that can go wrong inside the engine or when configuring it.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A value given by a user (admin API, flag, file) is not acceptable; the text says why.
    #[error("{0}")]
    InvalidInput(String),
    /// Something named does not exist (a fault rule, a provider, a data set).
    #[error("{0}")]
    NotFound(String),
    /// A data set could not be read or parsed.
    #[error("data set {name}: {message}")]
    DataSet {
        /// Name or path of the data set.
        name: String,
        /// What is wrong, including the file.
        message: String,
    },
    /// Reading or binding failed.
    #[error("{context}: {source}")]
    Io {
        /// What the engine tried to do.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// Wraps an I/O error with what the engine was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
