//! The contract between the engine and a provider mock.
//!
//! The engine knows nothing about bonus points or card terminals; a provider plugs in its
//! endpoints, its state and its notion of a "competing change" through this trait, and the engine
//! adds the journal, faults, clock and admin API around it.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::dataset::DataSet;
use crate::error::EngineError;

/// A mock of one provider.
pub trait Provider: Send + Sync + std::fmt::Debug + 'static {
    /// Short lower-case name used in URLs, the journal and fault rules (`tyrios`).
    fn name(&self) -> &'static str;

    /// The provider's own endpoints, answering exactly as the provider documents.
    fn router(&self) -> axum::Router;

    /// Replaces all state with the data set's (every provider resets together).
    fn load(&self, data: &DataSet) -> Result<(), EngineError>;

    /// Checks that `load(data)` would succeed, without changing anything. Loading another data
    /// set asks every provider first, so a set one provider refuses leaves all of them — state
    /// included — as they were.
    fn check(&self, data: &DataSet) -> Result<(), EngineError>;

    /// The whole state as JSON, for the admin API and conformance checks.
    fn snapshot(&self) -> serde_json::Value;

    /// Applies a change as another actor would (another till spending points), atomically.
    /// Returns a description of what happened for the journal; an error when the change itself
    /// could not be applied.
    fn apply_change(&self, change: &serde_json::Value) -> Result<serde_json::Value, String>;

    /// A readable view of an exchange whose wire form is opaque (encrypted) or costly to read
    /// (XML), for the journal's `view`, built from the recorded bytes: when the handler attached
    /// none (a fault answered instead of it), and when the journal is read for an exchange whose
    /// handler attached a [`crate::journal::ViewLater`] (its members are laid over this view).
    fn describe(
        &self,
        _request: &crate::journal::HttpRequestRecord,
        _response: Option<&crate::journal::HttpResponseRecord>,
    ) -> Option<serde_json::Value> {
        None
    }

    /// Names the operation a request asks for and whether it may change state, for the
    /// journal's `operation` (the conformance judge tells reads from writes by it). Asked for
    /// every request the transport records, also when a fault answered instead of the router.
    /// Gets the whole request, body included: a provider that routes every command to one URL
    /// names the command from the body.
    fn classify(&self, _request: &crate::journal::HttpRequestRecord) -> Option<crate::journal::Operation> {
        None
    }

    /// Extra admin endpoints, mounted under `/__admin/<name>/`.
    fn admin_router(&self) -> Option<axum::Router> {
        None
    }

    /// The OpenAPI description of [`Provider::admin_router`]'s routes, with paths relative to
    /// the mount point (`/outbox`, not `/__admin/tyrios/outbox`); the engine nests it under
    /// `/__admin/<name>` in `GET /__admin/openapi.json`. A provider with admin routes returns
    /// one generated from its handlers (`#[utoipa::path]`), so the document follows the code.
    fn admin_openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }

    /// The answer to a request the HTTP front refuses before the provider's router sees it
    /// (408, 413, 414, 431, 400 for a head or body that cannot be read, 503 for a connection
    /// over the limit), in the provider's own error format; `message` says why in English. The
    /// front adds `Connection: close` (and `Content-Length`). The default is the engine's JSON
    /// exception, `{"error": "Exception", "message": "…"}`.
    fn refusal(&self, status: StatusCode, message: &str) -> Response<Bytes> {
        crate::http::generic_refusal(status, message)
    }
}
