//! Blobs as files under the data dir. Writes go to a temporary file that is
//! renamed into place, so a reader never sees half an object.

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use starling_core::ports::{Blob, BlobStore, valid_blob_key};
use starling_core::{Error, Result};

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|e| Error::Unavailable {
                message: format!("media directory {}: {e}", root.display()),
            })?;
        Ok(FsBlobStore { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        if !valid_blob_key(key) {
            return Err(Error::not_found("media"));
        }
        Ok(self.root.join(key))
    }
}

fn io_err(e: std::io::Error) -> Error {
    Error::internal(format!("media storage: {e}"))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        if !valid_blob_key(key) {
            return Err(Error::internal(format!("invalid blob key {key}")));
        }
        let path = self.root.join(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        tokio::fs::write(&tmp, &bytes).await.map_err(io_err)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>> {
        let path = match self.path(key) {
            Ok(p) => p,
            Err(_) => return Ok(None),
        };
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(Blob {
                bytes: Bytes::from(b),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A key naming a directory is simply not an object.
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = match self.path(key) {
            Ok(p) => p,
            Err(_) => return Ok(()),
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn check(&self) -> Result<()> {
        tokio::fs::metadata(&self.root)
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable {
                message: format!("media directory {}: {e}", self.root.display()),
            })
    }
}
