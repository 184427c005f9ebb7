//! Content-addressed file storage for attachments: each file is stored once under the hex SHA-256
//! of its bytes (`ab/abcdef….pdf`), written to a temporary file first and renamed into place, so
//! a half-written upload is never visible and identical uploads share one file.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    /// Largest file accepted, enforced while the upload streams in.
    pub max_bytes: u64,
}

/// An upload being received: bytes go to a temporary file while they are hashed and counted.
pub struct PendingBlob {
    file: tokio::fs::File,
    temp_path: PathBuf,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>, max_bytes: u64) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root, max_bytes })
    }

    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        // Only ever a 64-character hex name: nothing a client sends can walk out of the root.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&sha256[..2]).join(format!("{sha256}.pdf")))
    }

    pub async fn begin(&self) -> std::io::Result<PendingBlob> {
        let temp_path = self.root.join("tmp").join(format!("{}.part", uuid::Uuid::now_v7()));
        let file = tokio::fs::File::create(&temp_path).await?;
        Ok(PendingBlob { file, temp_path, hasher: Sha256::new(), size: 0, head: Vec::with_capacity(8) })
    }

    /// Moves a finished upload into place and returns its hash and size.
    pub async fn commit(&self, mut pending: PendingBlob) -> std::io::Result<(String, u64)> {
        pending.file.flush().await?;
        pending.file.sync_all().await?;
        let sha256 = hex::encode(pending.hasher.finalize_reset());
        let target = self.path_of(&sha256).expect("a SHA-256 is 64 hex characters");
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(&pending.temp_path, &target).await?;
        Ok((sha256, pending.size))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl PendingBlob {
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.head.len() < 8 {
            let take = (8 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first bytes received, for sniffing the real type.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Discards the upload.
    pub async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp_path).await;
    }
}

/// Whether the bytes start like a PDF (`%PDF-`), whatever the client claimed.
pub fn looks_like_pdf(head: &[u8]) -> bool {
    head.starts_with(b"%PDF-")
}

/// Checks a client-supplied file name: a plain name, no directories, no control characters.
pub fn safe_file_name(name: &str) -> Option<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 200
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.contains("..")
        && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_control_characters_are_refused_in_file_names() {
        for bad in
            ["../etc/passwd", "..\\boot.ini", "/abs.pdf", "a/b.pdf", "..", "", "a\u{0}.pdf", "a\nb.pdf", "x..pdf"]
        {
            assert_eq!(safe_file_name(bad), None, "{bad:?}");
        }
        assert_eq!(safe_file_name("成果说明书 v2.pdf").as_deref(), Some("成果说明书 v2.pdf"));
    }

    #[test]
    fn only_pdf_magic_counts_as_pdf() {
        assert!(looks_like_pdf(b"%PDF-1.7\n"));
        assert!(!looks_like_pdf(b"<html>"));
        assert!(!looks_like_pdf(b"%PD"));
    }
}
