//! The provider-neutral simulation engine every possim mock stands on.
//!
//! The engine owns what all providers share: the [`clock::Clock`] (real or frozen time), the
//! [`journal::Journal`] of every exchange, the [`fault::Faults`] that make mocks misbehave on
//! purpose, the loaded [`dataset::DataSet`], the HTTP transport that applies faults and records
//! exchanges around a provider's router ([`http`]), and the admin API ([`admin`]).
//! A provider plugs in through the [`provider::Provider`] trait and never sees the transport.
//!
//! Layout:
//! - `clock`: engine time, RFC 3339 and duration parsing.
//! - `journal`: the bounded exchange record.
//! - `fault`: fault rules, matching and triggering.
//! - `dataset`: data set files and settings.
//! - `provider`: the provider contract.
//! - `selfcall`: keeps outbound calls of providers away from possim's own listeners.
//! - `state`: a provider's state under one lock, loaded from its data set file.
//! - `auth`: HTTP Basic credentials for provider logins.
//! - `front`: the HTTP front every listener shares (limits, time-outs, refusals).
//! - `retention`: how much history providers keep (bounded memory).
//! - `http`: the instrumented HTTP/1.1 server loop for provider endpoints.
//! - `admin`: the `/__admin` API.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod dataset;
pub mod error;
pub mod fault;
pub mod front;
pub mod http;
pub mod journal;
pub mod openapi;
pub mod provider;
pub mod retention;
pub mod selfcall;
pub mod state;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

pub use error::EngineError;

use clock::{Clock, Millis};
use dataset::DataSet;
use fault::Faults;
use journal::Journal;
use provider::Provider;

/// Turns a data set name or path (as given to `--data` or the admin API) into a data set.
pub type DataSetResolver = Box<dyn Fn(&str) -> Result<DataSet, EngineError> + Send + Sync>;

/// How to build an engine.
pub struct EngineConfig {
    /// The data set loaded at start and on every reset.
    pub data: DataSet,
    /// Freeze the clock here regardless of the data set (`--clock`).
    pub clock_override: Option<Millis>,
    /// Journal ring size.
    pub journal_capacity: usize,
    /// Journal budget in bytes (estimated size of the entries held).
    pub journal_max_bytes: usize,
    /// Replaces the data sets' `[retention]` (command line, config file).
    pub retention: Option<retention::Retention>,
    /// Whether the journal records from the start.
    pub journal_enabled: bool,
    /// Resolves names given to the admin API's data set loader.
    pub resolver: DataSetResolver,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data", &self.data.name)
            .field("clock_override", &self.clock_override)
            .field("journal_capacity", &self.journal_capacity)
            .field("journal_enabled", &self.journal_enabled)
            .field("journal_max_bytes", &self.journal_max_bytes)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// The shared engine. One per `possim serve`; providers and transports hold an `Arc` of it.
pub struct Engine {
    clock: Arc<Clock>,
    journal: Journal,
    faults: Faults,
    providers: RwLock<Vec<Arc<dyn Provider>>>,
    data: RwLock<DataSet>,
    clock_override: Option<Millis>,
    retention: Option<retention::Retention>,
    resolver: DataSetResolver,
    connections: AtomicU64,
    endpoints: RwLock<BTreeMap<String, String>>,
    outbound: Arc<AtomicUsize>,
    self_calls: selfcall::SelfCalls,
}

/// Counts a request a provider sends on its own (a notify) as in flight until dropped; see
/// [`Engine::begin_outbound`].
#[derive(Debug)]
pub struct OutboundGuard(Arc<AtomicUsize>);

impl Drop for OutboundGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("clock", &self.clock)
            .field("providers", &self.provider_names())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds an engine with no providers yet; the clock is set from the data set or override.
    pub fn new(config: EngineConfig) -> Result<Arc<Self>, EngineError> {
        let journal = Journal::with_budget(config.journal_capacity, config.journal_max_bytes);
        journal.set_enabled(config.journal_enabled);
        let mut data = config.data;
        if let Some(retention) = config.retention {
            data.settings.retention = retention;
        }
        let engine = Arc::new(Self {
            clock: Arc::new(Clock::real()),
            journal,
            faults: Faults::default(),
            providers: RwLock::new(Vec::new()),
            data: RwLock::new(data),
            clock_override: config.clock_override,
            retention: config.retention,
            resolver: config.resolver,
            connections: AtomicU64::new(0),
            endpoints: RwLock::new(BTreeMap::new()),
            outbound: Arc::new(AtomicUsize::new(0)),
            self_calls: selfcall::SelfCalls::default(),
        });
        engine.reset_clock()?;
        Ok(engine)
    }

    /// The engine clock; providers keep a handle to it.
    pub fn clock(&self) -> Arc<Clock> {
        Arc::clone(&self.clock)
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// possim's own listeners, which outbound calls must not reach (see [`selfcall`]).
    pub fn self_calls(&self) -> &selfcall::SelfCalls {
        &self.self_calls
    }

    /// Registers a provider and loads the current data set into it.
    pub fn add_provider(&self, provider: Arc<dyn Provider>) -> Result<(), EngineError> {
        provider.load(&self.data())?;
        self.providers.write().unwrap_or_else(|p| p.into_inner()).push(provider);
        Ok(())
    }

    /// The registered providers, in registration order.
    pub fn providers(&self) -> Vec<Arc<dyn Provider>> {
        self.providers.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Names of the registered providers.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers().iter().map(|p| p.name()).collect()
    }

    /// One provider by name.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, EngineError> {
        self.providers().into_iter().find(|p| p.name() == name).ok_or_else(|| {
            EngineError::NotFound(format!(
                "no provider named {name:?} (known: {})",
                self.provider_names().join(", ")
            ))
        })
    }

    /// The data set currently loaded.
    pub fn data(&self) -> DataSet {
        self.data.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Restores the start condition: every provider's state from the data set, the clock, an
    /// empty journal and no armed faults.
    pub fn reset(&self) -> Result<(), EngineError> {
        let data = self.data();
        for provider in self.providers() {
            provider.load(&data)?;
        }
        self.reset_clock()?;
        self.journal.clear();
        self.faults.clear();
        Ok(())
    }

    /// Loads another data set (by built-in name or directory path) and resets to it. Every
    /// provider checks the set first: one it refuses changes nothing, not even the running
    /// state.
    pub fn load_data(&self, name_or_path: &str) -> Result<(), EngineError> {
        let mut new = (self.resolver)(name_or_path)?;
        new.clock_ms()?;
        if let Some(retention) = self.retention {
            new.settings.retention = retention;
        }
        for provider in self.providers() {
            provider.check(&new)?;
        }
        // Only a provider whose load disagrees with its own check gets here: restore the old set.
        let old = std::mem::replace(&mut *self.data.write().unwrap_or_else(|p| p.into_inner()), new);
        if let Err(e) = self.reset() {
            *self.data.write().unwrap_or_else(|p| p.into_inner()) = old;
            self.reset()?;
            return Err(e);
        }
        Ok(())
    }

    /// Resolves a data set without loading it (for validation at start-up).
    pub fn resolve_data(&self, name_or_path: &str) -> Result<DataSet, EngineError> {
        (self.resolver)(name_or_path)
    }

    fn reset_clock(&self) -> Result<(), EngineError> {
        match self.clock_override.or(self.data().clock_ms()?) {
            Some(at) => self.clock.freeze_at(at),
            None => self.clock.unfreeze(),
        }
        Ok(())
    }

    /// Announces where a provider (or the terminal) listens, so `GET /__admin/health` can tell
    /// tools that attach to a running possim (the conformance runner) where to send a POS.
    pub fn set_endpoint(&self, name: &str, url: &str) {
        self.endpoints
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), url.to_owned());
    }

    /// Every announced endpoint, by name.
    pub fn endpoints(&self) -> BTreeMap<String, String> {
        self.endpoints.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Marks a request a provider sends on its own as in flight until the guard is dropped (after
    /// its journal entry is complete). Exchanges the mocks *answer* are journaled before the
    /// answer leaves, so a client that has its answers sees them all; the provider's own requests
    /// finish on the provider's side, and a reader of the journal waits until none is in flight
    /// (`outboundInFlight` in `GET /__admin/health`).
    pub fn begin_outbound(&self) -> OutboundGuard {
        self.outbound.fetch_add(1, Ordering::AcqRel);
        OutboundGuard(Arc::clone(&self.outbound))
    }

    /// Requests providers are sending right now.
    pub fn outbound_in_flight(&self) -> usize {
        self.outbound.load(Ordering::Acquire)
    }

    /// A fresh connection id for the journal.
    pub fn next_connection_id(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }
}
