//! Web Push: messages to browsers through their push service (RFC 8030),
//! encrypted for the subscription (RFC 8291: `aes128gcm` content coding,
//! RFC 8188) and signed with the server's VAPID key (RFC 8292).
//!
//! The crypto is the `web-push-native` crate (pure Rust, RustCrypto): its
//! `encrypt` for the message body and its ES256 JWT signer for the VAPID
//! token. What is ours is the glue around it: the key's storage, the size
//! limit, where a push may go (the `endpoint` module), the HTTP request
//! through reqwest and what the push service's answer means.
//!
//! # The VAPID key
//!
//! [`VapidKey`] is the server's long-lived P-256 key pair. Browsers subscribe
//! with its public half ([`VapidKey::public_key`]: base64url, no padding, of
//! the 65-byte uncompressed point), and every push request is signed with the
//! private half. Changing the key orphans every existing subscription, so it
//! is generated once and kept: [`VapidKey::load_or_generate`] keeps it in a
//! file of the data dir, or a configured string is read with
//! [`VapidKey::from_base64url`].
//!
//! Its string form is **the base64url (RFC 4648 §5, no padding) encoding of
//! the 32-byte big-endian private scalar**: 43 characters, the same raw format
//! other Web Push libraries call the "VAPID private key", so a key can move
//! between them. Padding, surrounding whitespace and a trailing newline are
//! accepted on input.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use starling_core::messaging::{PushOutcome, PushSender, PushTarget};
use starling_core::{Error, Result};
use web_push_native::jwt_simple::{
    self,
    algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair},
    claims::Claims,
};
use web_push_native::{Auth, p256};

mod endpoint;
pub use endpoint::{AllowedHost, Dns, SystemDns, is_public, parse_allowed_hosts};
use endpoint::{EndpointPolicy, GuardedResolver, PlainResolver, Route};

/// Length of an uncompressed P-256 point: `0x04 || x || y`.
const POINT_LEN: usize = 65;
const SCALAR_LEN: usize = 32;
const AUTH_LEN: usize = 16;
/// Where the RFC 8188 header's record size sits: after the 16-byte salt.
const RS_FIELD: std::ops::Range<usize> = 16..20;
/// The RFC 8188 record size we announce. Push services must accept bodies of
/// at least 4096 bytes (RFC 8030 §7.2), and the one record we send is never
/// larger than that.
const RECORD_SIZE: u32 = 4096;
/// salt (16) || rs (4) || idlen (1) || keyid (the 65-byte ephemeral key).
const HEADER_LEN: usize = RS_FIELD.end + 1 + POINT_LEN;
/// The AES-GCM tag ending the record.
const TAG_LEN: usize = 16;

/// The largest payload [`WebPushSender::send`] accepts: what fits in a
/// 4096-byte body after the header, the padding delimiter and the GCM tag.
pub const MAX_PAYLOAD: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;

/// Lifetime of the VAPID JWT; RFC 8292 §2 caps it at 24 hours.
const JWT_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long one push request may take, connection included, unless changed
/// with [`WebPushSender::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response's body goes into the error message.
const ERROR_BODY_LIMIT: usize = 512;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, tolerating padding and the standard alphabet (some
/// clients send either).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(s).ok()
}

// ---------------------------------------------------------------------------
// VAPID key
// ---------------------------------------------------------------------------

/// The server's VAPID (RFC 8292) P-256 key pair. See the module docs for its
/// string format.
#[derive(Clone, PartialEq, Eq)]
pub struct VapidKey {
    scalar: [u8; SCALAR_LEN],
    public: [u8; POINT_LEN],
}

fn key_field(message: impl Into<String>) -> Error {
    Error::field("vapid_private_key", message)
}

impl VapidKey {
    /// A fresh random key pair.
    pub fn generate() -> Result<Self> {
        Self::from_scalar(&ES256KeyPair::generate().to_bytes())
    }

    /// Parses the string form: base64url of the 32-byte private scalar.
    pub fn from_base64url(s: &str) -> Result<Self> {
        let bytes = b64_decode(s).ok_or_else(|| key_field("is not base64url"))?;
        Self::from_scalar(&bytes)
    }

    fn from_scalar(bytes: &[u8]) -> Result<Self> {
        let scalar: [u8; SCALAR_LEN] = bytes.try_into().map_err(|_| {
            key_field(format!(
                "must be {SCALAR_LEN} bytes (a P-256 private scalar), not {}",
                bytes.len()
            ))
        })?;
        // Rejects zero and values not below the group order.
        let public = Self::signer(&scalar)
            .map_err(|_| key_field("is not a valid P-256 private key"))?
            .public_key()
            .public_key()
            .to_bytes_uncompressed();
        let public: [u8; POINT_LEN] = public
            .try_into()
            .map_err(|_| Error::internal("unexpected P-256 public key length"))?;
        Ok(Self { scalar, public })
    }

    /// The ES256 signer for this key.
    fn signer(scalar: &[u8; SCALAR_LEN]) -> std::result::Result<ES256KeyPair, jwt_simple::Error> {
        ES256KeyPair::from_bytes(scalar)
    }

    /// The string form to store: base64url of the 32-byte private scalar.
    /// It is a secret.
    pub fn to_base64url(&self) -> String {
        b64(self.scalar)
    }

    /// The application server key browsers subscribe with: base64url of the
    /// 65-byte uncompressed public point.
    pub fn public_key(&self) -> String {
        b64(self.public)
    }

    /// Reads the key stored at `path`, or generates one and stores it there
    /// (mode 0600 on Unix, parent directories created) when the file does not
    /// exist. The file is written under a temporary name and then linked into
    /// place, so a reader never sees half a key and, when two processes start
    /// at once, both end up with the key that won. A file that exists but
    /// does not hold a valid key is an error, never overwritten.
    ///
    /// Blocking file I/O: meant for startup.
    pub fn load_or_generate(path: &Path) -> Result<Self> {
        if let Some(key) = Self::load(path)? {
            return Ok(key);
        }
        let key = Self::generate()?;
        let io_err = |what: &str, e: std::io::Error| {
            Error::internal(format!("{what} {}: {e}", path.display()))
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create the directory of", e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "vapid".to_owned());
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let written = write_private(&tmp, format!("{}\n", key.to_base64url()).as_bytes());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err("cannot write the VAPID key next to", e));
        }
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&tmp);
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp);
                Self::load(path)?.ok_or_else(|| Error::internal("VAPID key vanished"))
            }
            // A file system without hard links: an atomic rename still keeps
            // readers from seeing half a file.
            Err(_) => match std::fs::rename(&tmp, path) {
                Ok(()) => Ok(key),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(io_err("cannot store the VAPID key at", e))
                }
            },
        }
    }

    fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(s) => Self::from_base64url(&s)
                .map(Some)
                .map_err(|e| Error::internal(format!("VAPID key file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::internal(format!(
                "cannot read the VAPID key {}: {e}",
                path.display()
            ))),
        }
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

impl FromStr for VapidKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_base64url(s)
    }
}

/// Shows the public key only.
impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Encryption (RFC 8291)
// ---------------------------------------------------------------------------

/// Encrypts `plaintext` for the subscription's key and auth secret into one
/// `aes128gcm` record with its header, under a fresh ephemeral key and salt
/// (RFC 8291 §3.1, RFC 8188 §2.1).
fn encrypt(plaintext: &[u8], ua_public: &p256::PublicKey, auth: &Auth) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PAYLOAD {
        return Err(Error::PayloadTooLarge {
            message: format!(
                "a push payload holds at most {MAX_PAYLOAD} bytes, not {}",
                plaintext.len()
            ),
        });
    }
    let mut body = web_push_native::encrypt(plaintext.to_vec(), ua_public, auth)
        .map_err(|e| Error::internal(format!("cannot encrypt the push message: {e}")))?;
    // The crate announces the record's own length as the record size, which
    // for an empty payload is 17, below RFC 8188's minimum of 18 (decoders
    // such as http_ece refuse it). The record size only bounds records and is
    // not authenticated, so announce the 4096 our one record always fits in,
    // as other Web Push senders do.
    if body.get(RS_FIELD.end) != Some(&(POINT_LEN as u8)) {
        return Err(Error::internal("unexpected aes128gcm header"));
    }
    body[RS_FIELD].copy_from_slice(&RECORD_SIZE.to_be_bytes());
    Ok(body)
}

/// Decodes a subscription's keys, checking their shape and that the key
/// lies on the curve.
fn subscription_keys(target: &PushTarget) -> Result<(p256::PublicKey, Auth)> {
    let p256dh = b64_decode(&target.p256dh)
        .and_then(|k| <[u8; POINT_LEN]>::try_from(k).ok())
        .filter(|k| k[0] == 0x04)
        .ok_or_else(|| {
            Error::field(
                "p256dh",
                "must be base64url of a 65-byte uncompressed P-256 point",
            )
        })?;
    let p256dh = p256::PublicKey::from_sec1_bytes(&p256dh)
        .map_err(|_| Error::field("p256dh", "is not a point on P-256"))?;
    let auth = b64_decode(&target.auth)
        .and_then(|k| <[u8; AUTH_LEN]>::try_from(k).ok())
        .ok_or_else(|| Error::field("auth", "must be base64url of 16 bytes"))?;
    Ok((p256dh, Auth::from(auth)))
}

/// The origin of a push endpoint: the VAPID audience.
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Checks the shape of what a browser sent as a subscription: the endpoint is
/// an http(s) URL and the keys have the right length and lie on the curve.
/// Where the endpoint points is [`WebPushSender`]'s check
/// ([`PushSender::check_endpoint`]).
pub fn validate_target(target: &PushTarget) -> Result<()> {
    let url = url::Url::parse(&target.endpoint)
        .map_err(|e| Error::field("endpoint", format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(Error::field("endpoint", "must be an https:// URL"));
    }
    subscription_keys(target).map(|_| ())
}

// ---------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------

/// RFC 8030 §5.3 message urgency, sent as the `Urgency` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Sends Web Push messages over HTTP(S) with reqwest.
///
/// Responses map to: 2xx → [`PushOutcome::Accepted`]; 404 and 410 →
/// [`PushOutcome::Gone`]; 429, 5xx, timeouts and network failures →
/// [`Error::Unavailable`] (worth retrying later); any other status →
/// [`Error::Internal`] (the request itself is refused: bad VAPID signature,
/// payload too large, ...). Error messages carry the status and the start of
/// the push service's answer. Redirects are not followed.
///
/// Only `https` endpoints on public addresses are sent to, checked against
/// the addresses actually connected to (see the `endpoint` module), unless
/// the host is on the allow-list ([`WebPushSender::with_allowed_hosts`]);
/// others fail with `invalid_endpoint` ([`Error::Unprocessable`]) before any
/// request. No proxy is used: through one, the address check would not
/// bind the connection.
pub struct WebPushSender {
    signer: ES256KeyPair,
    public_key: String,
    subject: String,
    timeout: Duration,
    policy: EndpointPolicy,
    /// For endpoints off the allow-list: resolves to public addresses only.
    guarded: reqwest::Client,
    /// For allow-listed endpoints.
    allowed: reqwest::Client,
    urgency: Option<Urgency>,
}

fn http_client(
    timeout: Duration,
    resolver: impl reqwest::dns::Resolve + 'static,
) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(resolver))
        .user_agent(concat!("starling/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("cannot build the push HTTP client: {e}")))
}

impl WebPushSender {
    /// `subject` is the VAPID contact (RFC 8292 §2.1) push services can
    /// reach the operator at: a `mailto:` or `https:` URI, such as
    /// `mailto:admin@example.org`.
    pub fn new(private_key: &VapidKey, subject: String) -> Result<Self> {
        let subject = subject.trim().to_owned();
        let contact = subject
            .strip_prefix("mailto:")
            .or_else(|| subject.strip_prefix("https://"));
        if contact.is_none_or(str::is_empty) {
            return Err(Error::field(
                "vapid_subject",
                "must be a mailto: or https: URI, such as mailto:admin@example.org",
            ));
        }
        let signer = VapidKey::signer(&private_key.scalar)
            .map_err(|e| Error::internal(format!("cannot load the VAPID key for signing: {e}")))?;
        let dns: Arc<dyn Dns> = Arc::new(SystemDns);
        Ok(Self {
            signer,
            public_key: private_key.public_key(),
            subject,
            timeout: DEFAULT_TIMEOUT,
            guarded: http_client(DEFAULT_TIMEOUT, GuardedResolver(dns.clone()))?,
            allowed: http_client(DEFAULT_TIMEOUT, PlainResolver(dns.clone()))?,
            policy: EndpointPolicy {
                allowed: Vec::new(),
                dns,
            },
            urgency: None,
        })
    }

    fn rebuild(mut self) -> Result<Self> {
        let dns = &self.policy.dns;
        self.guarded = http_client(self.timeout, GuardedResolver(dns.clone()))?;
        self.allowed = http_client(self.timeout, PlainResolver(dns.clone()))?;
        Ok(self)
    }

    /// Bounds each push request, connection included ([`DEFAULT_TIMEOUT`]
    /// otherwise).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        self.timeout = timeout;
        self.rebuild()
    }

    /// Hosts pushed to whatever they resolve to, over `http` too: a private
    /// push service, or a test's. Nothing else may be a private address.
    pub fn with_allowed_hosts(mut self, hosts: Vec<AllowedHost>) -> Self {
        self.policy.allowed = hosts;
        self
    }

    /// Resolves endpoint hosts with `dns` instead of the system resolver.
    pub fn with_dns(mut self, dns: Arc<dyn Dns>) -> Result<Self> {
        self.policy.dns = dns;
        self.rebuild()
    }

    /// Sends every message with this `Urgency` (none by default, which push
    /// services treat as `normal`).
    pub fn with_urgency(mut self, urgency: Option<Urgency>) -> Self {
        self.urgency = urgency;
        self
    }

    /// The RFC 8292 `Authorization` header value for a push service origin.
    ///
    /// Signed with the crate's ES256 JWT signer, but with claims of our own:
    /// its `VapidSignature` takes the audience from the endpoint's scheme and
    /// host, leaving out a port, and the audience is the whole origin.
    fn authorization(&self, audience: &str) -> Result<String> {
        let claims = Claims::create(JWT_LIFETIME.into())
            .with_audience(audience)
            .with_subject(&self.subject);
        let token = self
            .signer
            .sign(claims)
            .map_err(|e| Error::internal(format!("cannot sign the VAPID token: {e}")))?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

/// The start of a response body, for error messages.
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

#[async_trait]
impl PushSender for WebPushSender {
    fn public_key(&self) -> String {
        self.public_key.clone()
    }

    async fn check_endpoint(&self, endpoint: &str) -> Result<()> {
        self.policy.check(endpoint).await
    }

    async fn send(
        &self,
        target: &PushTarget,
        payload: &[u8],
        ttl: Duration,
    ) -> Result<PushOutcome> {
        let (url, route) = self.policy.classify(&target.endpoint)?;
        let origin = origin(&url);
        let (ua_public, auth) = subscription_keys(target)?;

        let body = encrypt(payload, &ua_public, &auth)?;

        let client = match route {
            Route::Allowed => &self.allowed,
            Route::Guarded => &self.guarded,
        };
        let mut request = client
            .post(url)
            .header("TTL", ttl.as_secs().to_string())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", self.authorization(&origin)?)
            .body(body);
        if let Some(urgency) = self.urgency {
            request = request.header("Urgency", urgency.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| match endpoint::refusal(&e) {
                // The name resolved to a private address this time (rebinding).
                Some(r) => endpoint::invalid(format!("push to {origin} refused: {r}")),
                None => Error::Unavailable {
                    message: format!("push to {origin} failed: {e}"),
                },
            })?;

        let status = response.status();
        if status.is_success() {
            return Ok(PushOutcome::Accepted);
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(PushOutcome::Gone);
        }
        let excerpt = body_excerpt(response).await;
        let message = if excerpt.is_empty() {
            format!("push service {origin} answered {status}")
        } else {
            format!("push service {origin} answered {status}: {excerpt}")
        };
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(Error::Unavailable { message })
        } else {
            Err(Error::internal(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscription's key pair and auth secret.
    fn subscription() -> (p256::SecretKey, Auth) {
        let secret = p256::SecretKey::from_slice(&ES256KeyPair::generate().to_bytes()).unwrap();
        (secret, Auth::from([1; AUTH_LEN]))
    }

    /// One record, announced with a record size of 4096 whatever the
    /// payload (an empty one too), that the subscription can open.
    #[test]
    fn one_record_of_at_most_4096_bytes() {
        let (secret, auth) = subscription();
        for payload in [Vec::new(), b"hello".to_vec(), vec![7; MAX_PAYLOAD]] {
            let body = encrypt(&payload, &secret.public_key(), &auth).unwrap();
            assert_eq!(body[RS_FIELD], RECORD_SIZE.to_be_bytes());
            assert_eq!(body.len(), HEADER_LEN + payload.len() + 1 + TAG_LEN);
            let plain = web_push_native::decrypt(body, &secret, &auth).unwrap();
            assert_eq!(plain, payload);
        }
        let body = encrypt(&[7; MAX_PAYLOAD], &secret.public_key(), &auth).unwrap();
        assert_eq!(body.len(), RECORD_SIZE as usize);
        let err = encrypt(&[7; MAX_PAYLOAD + 1], &secret.public_key(), &auth);
        assert!(matches!(err, Err(Error::PayloadTooLarge { .. })));
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(b64_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(b64_decode("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(b64_decode(" -_8\n").unwrap(), vec![0xfb, 0xff]);
        assert!(b64_decode("***").is_none());
    }

    #[test]
    fn origin_is_the_audience() {
        let url = url::Url::parse("https://push.example.net:443/wpush/v2/abc?x=1").unwrap();
        assert_eq!(origin(&url), "https://push.example.net");
        let url = url::Url::parse("http://127.0.0.1:8123/p").unwrap();
        assert_eq!(origin(&url), "http://127.0.0.1:8123");
    }
}
