//! A directory of `.eml` files instead of an SMTP server: the default for `make run`, so a
//! developer can open what the platform would have sent in any mail client, and nothing leaves
//! the machine.
//!
//! Layout: one file per e-mail, `<dir>/<event_id>.<user_id>.eml`, holding the complete RFC 5322
//! message exactly as SMTP would carry it (CRLF line ends). Files named `.<…>.tmp` are
//! unfinished writes left by a crash; they are never read and are safe to delete.

use crate::email::{OutgoingEmail, Sender, build_message};
use crate::error::{MailConfigError, MailError};
use crate::mailer::Mailer;
use achex_core::UserId;
use async_trait::async_trait;
use chrono::Utc;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
    from: Sender,
}

impl FileOutbox {
    /// Uses `dir`, creating it (and its parents) if needed.
    pub fn new(dir: impl Into<PathBuf>, from: Sender) -> Result<Self, MailConfigError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| MailConfigError::OutboxDirectory(format!("{}: {e}", dir.display())))?;
        Ok(Self { dir, from })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the e-mail about `event_id` to `user` is (or will be) written.
    pub fn path_for(&self, event_id: Uuid, user: UserId) -> PathBuf {
        self.dir.join(format!("{event_id}.{user}.eml"))
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let target = self.path_for(email.event_id, email.to.user_id);
        // A redelivery finds the file and stops before doing any work.
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            return Ok(());
        }
        let bytes = build_message(email, &self.from, Utc::now())?.formatted();
        let dir = self.dir.clone();
        let written = tokio::task::spawn_blocking(move || write_once(&dir, &target, &bytes))
            .await
            .map_err(|e| MailError::Transient(format!("the file outbox writer stopped: {e}")))?
            .map_err(|e| MailError::Transient(format!("writing to the file outbox failed: {e}")))?;
        if written {
            tracing::debug!(event_id = %email.event_id, user_id = %email.to.user_id, "mail written to the file outbox");
        }
        Ok(())
    }
}

/// Writes `bytes` to `target` unless it already exists; `Ok(true)` when this call wrote it.
///
/// The bytes go to a uniquely named temporary file first and are synced, then the temporary file
/// is *hard-linked* to the final name. Unlike a rename, a link never replaces an existing file, so
/// even two deliveries of the same message racing each other leave exactly one copy, and a crash
/// at any point leaves either no final file (the event is retried) or a complete one (the retry
/// finds it and does nothing). Filesystems without hard links fall back to a rename after an
/// existence check, which is atomic but could let a concurrent duplicate overwrite the first
/// copy with an identical message.
fn write_once(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<bool> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", Uuid::now_v7().simple()));
    let result = write_synced(&temporary, bytes).and_then(|()| match fs::hard_link(&temporary, target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if target.exists() => Ok(false),
        Err(_) => fs::rename(&temporary, target).map(|()| true),
    });
    // Gone already after a rename; otherwise the link holds the data and this name can go.
    let _ = fs::remove_file(&temporary);
    if result? {
        sync_directory(dir)?;
        return Ok(true);
    }
    Ok(false)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the new directory entry durable, so a file reported written survives a power cut.
fn sync_directory(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Recipient;
    use crate::payload::samples;
    use crate::render::render;
    use achex_core::Lang;
    use std::sync::Arc;

    fn outbox() -> (tempfile::TempDir, FileOutbox) {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(dir.path().join("mail"), "achex <notify@achex.example>".parse().unwrap()).unwrap();
        (dir, outbox)
    }

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            event_id: Uuid::now_v7(),
            to: Recipient { user_id: UserId::new(), name: "Ada".into(), address: "ada@example.com".into() },
            lang: Lang::En,
            rendered: render(&samples::all()[0], Lang::En, "http://localhost:8080"),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_message_is_written_as_one_eml_file_named_after_event_and_user() {
        let (_guard, outbox) = outbox();
        let email = email();
        outbox.send(&email).await.unwrap();
        assert_eq!(entries(outbox.dir()), vec![format!("{}.{}.eml", email.event_id, email.to.user_id)]);
        let raw = fs::read_to_string(outbox.path_for(email.event_id, email.to.user_id)).unwrap();
        assert!(raw.contains(&crate::message_id(email.event_id, email.to.user_id, "achex.example")), "{raw}");
        assert!(raw.contains("\r\nTo: Ada <ada@example.com>\r\n"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
    }

    #[tokio::test]
    async fn sending_the_same_email_twice_leaves_one_unchanged_file() {
        let (_guard, outbox) = outbox();
        let email = email();
        outbox.send(&email).await.unwrap();
        let path = outbox.path_for(email.event_id, email.to.user_id);
        let first = fs::read(&path).unwrap();
        outbox.send(&email).await.unwrap();
        assert_eq!(fs::read(&path).unwrap(), first);
        assert_eq!(entries(outbox.dir()).len(), 1);
    }

    #[tokio::test]
    async fn redelivery_after_a_crash_finds_the_file_and_writes_nothing() {
        let (_guard, outbox) = outbox();
        let email = email();
        let path = outbox.path_for(email.event_id, email.to.user_id);
        fs::write(&path, b"delivered before the crash").unwrap();
        outbox.send(&email).await.unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"delivered before the crash");
    }

    #[tokio::test]
    async fn concurrent_deliveries_of_one_email_make_exactly_one_file() {
        let (_guard, outbox) = outbox();
        let outbox = Arc::new(outbox);
        let email = Arc::new(email());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (outbox, email) = (outbox.clone(), email.clone());
                tokio::spawn(async move { outbox.send(&email).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(entries(outbox.dir()), vec![format!("{}.{}.eml", email.event_id, email.to.user_id)]);
    }

    #[test]
    fn write_once_reports_whether_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.eml");
        assert!(write_once(dir.path(), &target, b"first").unwrap());
        assert!(!write_once(dir.path(), &target, b"second").unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(entries(dir.path()), vec!["x.eml".to_owned()]);
    }

    #[test]
    fn an_unusable_directory_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"").unwrap();
        let err = FileOutbox::new(file.join("mail"), "n@achex.example".parse().unwrap()).unwrap_err();
        assert!(matches!(err, MailConfigError::OutboxDirectory(_)), "{err:?}");
    }
}
