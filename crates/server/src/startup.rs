//! Wiring: turns [`Settings`] into a running HTTP server. The only place that knows every
//! concrete type.

use crate::indexer::{Indexer, PositionStore};
use crate::notify::{Notifier, NotifyConfig};
use crate::settings::{MailTransport, SearchBackendKind, Settings};
use achex_api::auth::{PasswordHasher, TokenService};
use achex_api::files::BlobStore;
use achex_api::metrics::Metrics;
use achex_api::rate_limit::{Limit, LoginLimiter};
use achex_api::ws::{Heartbeat, Hub};
use achex_api::{AppState, middleware_from_fn, record_metrics};
use achex_bidding_engine::engine::{Engine, EngineConfig};
use achex_core::Clock;
use achex_listing::ListingStatus;
use achex_notification::{MailConfig, Mailer, RetryPolicy, Sender, mailer_from_config};
use achex_search::{Backend, SearchIndex};
use achex_store::Store;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, bail};
use base64::Engine as _;
use chrono::Duration;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

/// Connects to the configured database, creating the data directory first, and applies
/// migrations. Every subcommand starts here so they all act on the same database.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&settings.data.dir)
        .with_context(|| format!("cannot create the data directory {}", settings.data.dir.display()))?;
    let url = settings.database_url();
    let store = Store::connect(&url, settings.database.max_connections)
        .await
        .context("cannot connect to the database (check database.url / ACHEX__DATABASE__URL)")?;
    store.migrate().await.context("cannot apply database migrations")?;
    let durability = store.durability().await?;
    if !durability.is_durable() {
        bail!("the database is not configured for durable commits: {durability:?}");
    }
    Ok(store)
}

/// The JWT key: configured, or generated once and kept in the data directory.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if !settings.auth.jwt_secret.is_empty() {
        return Ok(settings.auth.jwt_secret.expose().as_bytes().to_vec());
    }
    let path = settings.data.dir.join("jwt-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()));
    }
    let mut key = [0u8; 48];
    getrandom_fill(&mut key)?;
    write_private(&path, &base64::engine::general_purpose::STANDARD.encode(key))?;
    Ok(key.to_vec())
}

fn getrandom_fill(buf: &mut [u8]) -> anyhow::Result<()> {
    use rand::RngCore as _;
    rand::rng().fill_bytes(buf);
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Builds the shared state from settings.
pub async fn build_state(settings: &Settings, store: Store, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let auth = &settings.auth;
    let tokens = TokenService::new(
        &jwt_secret(settings)?,
        auth.issuer.clone(),
        auth.audience.clone(),
        Duration::seconds(auth.access_ttl_secs),
        Duration::days(auth.refresh_ttl_days),
    )
    .map_err(anyhow::Error::msg)?;
    let login_limiter = LoginLimiter::new(
        Limit { max: auth.login_failures_per_account, window: Duration::seconds(auth.login_account_window_secs) },
        Limit { max: auth.login_attempts_per_ip, window: Duration::seconds(auth.login_ip_window_secs) },
    );
    let blobs = BlobStore::new(settings.attachments_dir(), settings.attachments.max_bytes)
        .context("cannot create the attachments directory")?;
    let metrics = Metrics::new();
    metrics.published_listings.set(store.count_listings(ListingStatus::Published).await? as i64);
    let engine = Engine::new(Arc::new(store.clone()), clock.clone(), EngineConfig::default());
    let search = open_search(settings).await?;
    Ok(AppState {
        store,
        clock,
        tokens,
        passwords: PasswordHasher::new(),
        login_limiter,
        blobs,
        metrics,
        engine,
        hub: Hub::new(heartbeat(settings)?),
        search,
    })
}

/// The websockets' heartbeat, checked: a zero interval would never tick, and a timeout shorter
/// than two intervals would close a healthy client whose pong was merely late.
fn heartbeat(settings: &Settings) -> anyhow::Result<Heartbeat> {
    let live = &settings.live;
    anyhow::ensure!(live.heartbeat_secs > 0, "live.heartbeat_secs must be at least 1");
    anyhow::ensure!(
        live.peer_timeout_secs >= 2 * live.heartbeat_secs,
        "live.peer_timeout_secs ({}) must be at least twice live.heartbeat_secs ({})",
        live.peer_timeout_secs,
        live.heartbeat_secs
    );
    Ok(Heartbeat {
        interval: std::time::Duration::from_secs(live.heartbeat_secs),
        peer_timeout: std::time::Duration::from_secs(live.peer_timeout_secs),
    })
}

/// Opens the configured search backend.
pub async fn open_search(settings: &Settings) -> anyhow::Result<Arc<dyn SearchIndex>> {
    let backend = match settings.search.backend {
        SearchBackendKind::Embedded => Backend::Embedded { dir: Some(settings.search_dir()) },
        SearchBackendKind::Meilisearch => Backend::Meilisearch {
            url: settings.search.url.clone(),
            api_key: Some(settings.search.api_key.expose().to_owned()).filter(|k| !k.is_empty()),
            index: settings.search.index.clone(),
        },
    };
    if let Backend::Embedded { dir: Some(dir) } = &backend {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the search directory {}", dir.display()))?;
    }
    match achex_search::open(backend).await {
        Ok(index) => Ok(index),
        Err(achex_search::SearchError::SchemaMismatch) => {
            bail!(
                "the search index was built by another version; run `achex reindex` (or delete {})",
                settings.search_dir().display()
            )
        }
        Err(e) => Err(e).context("cannot open the search index (check search.* / ACHEX__SEARCH__*)"),
    }
}

/// Where the indexer keeps its outbox position for the configured backend.
pub fn index_positions(settings: &Settings) -> PositionStore {
    match settings.search.backend {
        SearchBackendKind::Embedded => PositionStore::File(settings.search_dir().join("outbox-position")),
        SearchBackendKind::Meilisearch => {
            PositionStore::Database(format!("search:meilisearch:{}", settings.search.index))
        }
    }
}

/// The configured mail transport: a file outbox by default, SMTP when asked.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    let mail = &settings.mail;
    let from = Sender::new(Some(mail.from_name.clone()).filter(|n| !n.is_empty()), &mail.from_address)
        .map_err(|e| anyhow::anyhow!("mail.from_address: {e}"))?;
    let config = match settings.mail_transport() {
        MailTransport::Smtp => MailConfig::Smtp { url: mail.smtp_url.expose().to_owned() },
        MailTransport::File | MailTransport::Auto => MailConfig::File { dir: settings.mail_dir() },
    };
    mailer_from_config(&config, from).map_err(|e| anyhow::anyhow!("mail settings: {e}"))
}

pub fn notify_config(settings: &Settings) -> NotifyConfig {
    let n = &settings.notifications;
    NotifyConfig {
        base_url: settings.mail.base_url.trim_end_matches('/').to_owned(),
        retry: RetryPolicy {
            base: std::time::Duration::from_secs(n.retry_base_secs),
            factor: 2,
            max_delay: std::time::Duration::from_secs(n.retry_max_secs.max(n.retry_base_secs)),
            max_attempts: n.max_attempts.max(1),
        },
        ending_soon: Duration::minutes(n.ending_soon_minutes),
        digest_hour: n.digest_hour_utc.min(23),
        senders: n.senders.max(1),
        mails_per_sender: n.mails_per_sender.clamp(1, 1_000),
        lease: Duration::seconds(i64::from(n.lease_secs.max(1))),
    }
}

/// A bound, ready-to-run HTTP server, with the indexer that keeps its search current.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    indexer: Arc<Indexer>,
    notifier: Option<Arc<Notifier>>,
    stop_background: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and builds the server around `state`.
    pub fn build(settings: &Settings, state: AppState) -> anyhow::Result<Application> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.server.host, settings.server.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(achex_api::middleware())
                .wrap(middleware_from_fn(record_metrics))
                .configure(|cfg| achex_api::configure(cfg, app_state.clone()))
        })
        .listen(listener)?
        // SIGTERM and Ctrl-C are handled in `run_until_stopped`, which closes the websockets first.
        .disable_signals()
        .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let indexer = Arc::new(Indexer::new(
            state.store.clone(),
            state.search.clone(),
            index_positions(settings),
            Some(state.metrics.commit_to_searchable.clone()),
        ));
        let (stop_background, stopped) = tokio::sync::watch::channel(false);
        indexer.clone().spawn(stopped.clone());
        let notifier = if settings.notifications.enabled {
            let notifier =
                Arc::new(Notifier::new(state.clone(), mailer(settings)?, indexer.clone(), notify_config(settings)));
            notifier.clone().spawn(stopped);
            Some(notifier)
        } else {
            None
        };
        Ok(Application { port, server: server.run(), state, indexer, notifier, stop_background })
    }

    /// The notification dispatcher, when this process runs one.
    pub fn notifier(&self) -> Option<Arc<Notifier>> {
        self.notifier.clone()
    }

    /// The outbox indexer (tests wait on it; `reindex` drives it).
    pub fn indexer(&self) -> Arc<Indexer> {
        self.indexer.clone()
    }

    /// Brings back every open lot (after a restart) and starts the clock that closes them.
    pub async fn start_engine(&self, tick_every: std::time::Duration) -> anyhow::Result<usize> {
        let recovered = self.state.engine.recover().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        self.state.engine.spawn_ticker(tick_every);
        Ok(recovered)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the process is told to stop (Ctrl-C / SIGTERM), or the server is stopped
    /// through its [`handle`](Self::handle).
    ///
    /// On a signal the live channel closes first (1001 `server_stopping`): a websocket never ends
    /// by itself, so the graceful stop would otherwise wait out its whole timeout and then cut
    /// the sockets without a close frame. Requests in flight still finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = self.server;
        let served = tokio::select! {
            served = &mut server => served,
            () = stop_requested() => {
                tracing::info!("stopping: closing live connections, finishing requests in flight");
                self.state.hub.stop();
                // The server future runs the stop: poll it while the handle waits for it.
                tokio::join!(handle.stop(true), server).1
            }
        };
        let _ = self.stop_background.send(true);
        if let Some(notifier) = &self.notifier {
            // E-mails claimed for this process and not yet sent go back to the queue at once, not
            // after their lease.
            match tokio::time::timeout(std::time::Duration::from_secs(5), notifier.release_handed()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(mails = n, "released the e-mails this process had claimed"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "releasing claimed e-mails failed; they go out after their lease")
                }
                Err(_) => tracing::warn!("releasing claimed e-mails timed out; they go out after their lease"),
            }
        }
        served
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        // Without signal handlers the server is stopped through its handle only.
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_timeout_shorter_than_two_heartbeats_or_a_zero_heartbeat_is_refused() {
        let mut settings = Settings::defaults();
        assert_eq!(heartbeat(&settings).expect("the defaults hold"), Heartbeat::default());
        settings.live.heartbeat_secs = 10;
        settings.live.peer_timeout_secs = 19;
        assert!(heartbeat(&settings).unwrap_err().to_string().contains("twice"));
        settings.live.heartbeat_secs = 0;
        settings.live.peer_timeout_secs = 30;
        assert!(heartbeat(&settings).unwrap_err().to_string().contains("at least 1"));
    }
}
