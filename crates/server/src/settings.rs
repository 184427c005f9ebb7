//! Settings: compiled-in defaults ← `config/*.toml` ← `ACHEX__SECTION__KEY` ← command-line flags.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The shipped defaults, also the documentation of every key.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// A value that must never reach a log line.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub data: DataSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub attachments: AttachmentSettings,
    pub demo: DemoSettings,
    pub log: LogSettings,
    pub search: SearchSettings,
    pub mail: MailSettings,
    pub notifications: NotificationSettings,
    pub live: LiveSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: Secret,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_days: i64,
    pub login_failures_per_account: usize,
    pub login_account_window_secs: i64,
    pub login_attempts_per_ip: usize,
    pub login_ip_window_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSettings {
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub data_dir: PathBuf,
    pub listings: usize,
    pub seed: u64,
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchBackendKind {
    Embedded,
    Meilisearch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    pub backend: SearchBackendKind,
    pub dir: PathBuf,
    pub url: String,
    pub api_key: Secret,
    pub index: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// SMTP when `smtp_url` is set, the file outbox otherwise.
    Auto,
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub dir: PathBuf,
    pub smtp_url: Secret,
    pub from_name: String,
    pub from_address: String,
    pub base_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    pub enabled: bool,
    pub ending_soon_minutes: i64,
    pub max_attempts: u32,
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    pub digest_hour_utc: u32,
    pub senders: usize,
    pub mails_per_sender: usize,
    pub lease_secs: u32,
}

/// The live channel (websockets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    pub heartbeat_secs: u64,
    pub peer_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub filter: String,
}

impl Settings {
    /// Loads the layers. `config_dir` is searched for `*.toml` files (missing is fine).
    pub fn load(config_dir: &Path) -> Result<Settings, config::ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Ok(entries) = std::fs::read_dir(config_dir) {
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
                .collect();
            files.sort();
            for file in files {
                builder = builder.add_source(config::File::from(file));
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ACHEX").prefix_separator("__").separator("__").try_parsing(true),
        );
        builder.build()?.try_deserialize()
    }

    /// Only the defaults: for tests that must not pick up a developer's local files.
    pub fn defaults() -> Settings {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("the shipped default configuration parses")
    }

    /// Where the embedded search index lives: the configured directory or `<data.dir>/search`.
    pub fn search_dir(&self) -> PathBuf {
        if self.search.dir.as_os_str().is_empty() { self.data.dir.join("search") } else { self.search.dir.clone() }
    }

    /// The mail transport in force: `auto` is SMTP once `smtp_url` is set (setting the URL is
    /// what an operator does to send real mail), the file outbox otherwise.
    pub fn mail_transport(&self) -> MailTransport {
        match self.mail.transport {
            MailTransport::Auto if self.mail.smtp_url.expose().is_empty() => MailTransport::File,
            MailTransport::Auto => MailTransport::Smtp,
            chosen => chosen,
        }
    }

    /// Where the file mail transport writes: the configured directory or `<data.dir>/outbox`.
    pub fn mail_dir(&self) -> PathBuf {
        if self.mail.dir.as_os_str().is_empty() { self.data.dir.join("outbox") } else { self.mail.dir.clone() }
    }

    /// The database URL: the configured one, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data.dir.join("achex.db").display())
        } else {
            self.database.url.expose().to_owned()
        }
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.data.dir.join("attachments")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_defaults_parse() {
        let s = Settings::defaults();
        assert_eq!(s.server.port, 8080);
        assert!(s.database.url.is_empty());
        assert!(s.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn mail_goes_to_the_file_outbox_until_an_smtp_url_is_set() {
        let mut s = Settings::defaults();
        assert_eq!(s.mail_transport(), MailTransport::File);
        s.mail.smtp_url = Secret::new("smtp://127.0.0.1:2525");
        assert_eq!(s.mail_transport(), MailTransport::Smtp, "setting the URL alone selects SMTP");
        s.mail.transport = MailTransport::File;
        assert_eq!(s.mail_transport(), MailTransport::File, "an explicit choice wins");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = Secret::new("hunter2-hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
