//! A push service for tests, shared by the adapter's tests and the server's
//! end-to-end tests: it captures what is pushed to it, answers with the status
//! its endpoint URL names, and decrypts bodies as a browser would (RFC 8291),
//! independently of the sender's code.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::rand_core::OsRng;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha256;
use starling_core::messaging::PushTarget;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

/// A push subscription as a browser creates it: its own P-256 key pair and a
/// 16-byte auth secret.
pub struct Browser {
    pub secret: p256::SecretKey,
    pub auth: [u8; 16],
}

impl Browser {
    pub fn new() -> Self {
        Self {
            secret: p256::SecretKey::random(&mut OsRng),
            auth: rand::random(),
        }
    }

    pub fn p256dh(&self) -> String {
        b64(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    pub fn target(&self, endpoint: String) -> PushTarget {
        PushTarget {
            endpoint,
            p256dh: self.p256dh(),
            auth: b64(self.auth),
        }
    }

    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        decrypt(body, &self.secret, &self.auth)
    }
}

pub fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info, &mut out)
        .unwrap();
    out
}

/// RFC 8291 decryption of a one-record `aes128gcm` body (RFC 8188).
pub fn decrypt(body: &[u8], ua_secret: &p256::SecretKey, auth: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("body shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 16 {
        return Err(format!(
            "keyid must be the 65-byte sender key, is {idlen} bytes"
        ));
    }
    let keyid = &body[21..21 + idlen];
    let record = &body[21 + idlen..];
    if record.len() > rs {
        return Err(format!(
            "record of {} bytes exceeds rs {rs}: not one record",
            record.len()
        ));
    }

    let as_public = p256::PublicKey::from_sec1_bytes(keyid).map_err(|e| format!("keyid: {e}"))?;
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());

    let ikm: [u8; 32] = hkdf(
        auth,
        shared.raw_secret_bytes(),
        &[b"WebPush: info\0", ua_public.as_bytes(), keyid],
    );
    let cek: [u8; 16] = hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"]);
    let nonce: [u8; 12] = hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"]);

    let mut plain = Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(&Nonce::from(nonce), record)
        .map_err(|_| "AES-GCM authentication failed".to_owned())?;
    // Strip padding: zeros after the delimiter, which must be 2 (last record).
    while plain.last() == Some(&0) {
        plain.pop();
    }
    match plain.pop() {
        Some(2) => Ok(plain),
        other => Err(format!("last record delimiter is {other:?}, not 2")),
    }
}

// ---------------------------------------------------------------------------
// The push service
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Captured {
    pub id: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
pub struct Service {
    pub captured: Arc<Mutex<Vec<Captured>>>,
}

/// `POST /push/{status}/{id}` answers `status`, so each test picks the answer
/// through the endpoint URL.
pub async fn receive(
    State(service): State<Service>,
    Path((status, id)): Path<(u16, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    service
        .captured
        .lock()
        .unwrap()
        .push(Captured { id, headers, body });
    let status = StatusCode::from_u16(status).unwrap();
    let text = if status.is_success() {
        ""
    } else {
        "the push service says no"
    };
    (status, text)
}

pub struct PushService {
    pub origin: String,
    pub service: Service,
}

impl PushService {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let service = Service::default();
        let app = Router::new()
            .route("/push/{status}/{id}", post(receive))
            .with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { origin, service }
    }

    /// A fresh subscription endpoint that answers `status`.
    pub fn endpoint(&self, status: u16) -> (String, String) {
        let id = format!("{:016x}", rand::random::<u64>());
        (format!("{}/push/{status}/{id}", self.origin), id)
    }

    pub fn take(&self, id: &str) -> Captured {
        let captured = self.service.captured.lock().unwrap();
        let found: Vec<_> = captured.iter().filter(|c| c.id == id).cloned().collect();
        assert_eq!(
            found.len(),
            1,
            "expected one request for {id}, got {}",
            found.len()
        );
        found.into_iter().next().unwrap()
    }

    pub fn count(&self, id: &str) -> usize {
        self.service
            .captured
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.id == id)
            .count()
    }
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
