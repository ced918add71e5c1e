//! Blobs in an S3-compatible bucket (AWS, MinIO, Garage, ...), through object_store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use starling_core::ports::{Blob, BlobStore, valid_blob_key};
use starling_core::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `starling/`.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    bucket: String,
}

fn s3_err(e: object_store::Error) -> Error {
    Error::Unavailable {
        message: format!("s3: {e}"),
    }
}

impl S3BlobStore {
    pub fn new(opts: &S3Options) -> Result<Self> {
        // Bounded retries and timeouts: a dead S3 must fail a request (and
        // /ready) within seconds, not after object_store's default ten retries.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(30));
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&opts.bucket)
            .with_region(&opts.region)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(ep) = &opts.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &opts.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let store = b
            .build()
            .map_err(|e| Error::field("media_url", format!("S3 settings are not valid: {e}")))?;
        Ok(S3BlobStore {
            store: Arc::new(store),
            prefix: opts.prefix.trim_matches('/').to_owned(),
            bucket: opts.bucket.clone(),
        })
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        if !valid_blob_key(key) {
            return Err(Error::internal(format!("invalid blob key {key}")));
        }
        self.store
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>> {
        if !valid_blob_key(key) {
            return Ok(None);
        }
        match self.store.get(&self.path(key)).await {
            Ok(r) => Ok(Some(Blob {
                bytes: r.bytes().await.map_err(s3_err)?,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        if !valid_blob_key(key) {
            return Ok(());
        }
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn check(&self) -> Result<()> {
        // A HEAD of a key that need not exist proves the bucket answers with our
        // credentials: NotFound is healthy, anything else is not.
        match self.store.head(&self.path("health-check")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Unavailable {
                message: format!("s3 bucket {}: {e}", self.bucket),
            }),
        }
    }
}
