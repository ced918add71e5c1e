//! Access tokens: JWTs signed with Ed25519 (EdDSA). The key pair is generated on
//! first start and kept in the data dir (or given by configuration, so every node
//! signs and verifies with the same key). Verification pins the algorithm, and
//! recently verified tokens are remembered until they expire, so a client's
//! repeated requests skip the signature check.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use starling_core::id::TokenFamilyId;
use starling_core::{Error, Result, Timestamp, UserId};

pub const ISSUER: &str = "starling";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
    /// The session (refresh-token family) the token belongs to: ending the
    /// session revokes it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
}

/// What a verified access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub user: UserId,
    /// Its session; tokens from before sessions were named have none.
    pub family: Option<TokenFamilyId>,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
    /// Verified just now rather than remembered: the first time this node
    /// sees the token.
    pub fresh: bool,
}

/// The answer to a token whose session has ended (logout, a reused refresh
/// token, a password change).
pub fn session_ended() -> Error {
    Error::unauthorized("session_ended", "this session has ended; sign in again")
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    /// The public key, base64url: the JWK `x` member.
    x: String,
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| Error::field("jwt_private_key_file", "is not a PEM file"))
}

impl JwtKeys {
    /// Loads the PKCS#8 Ed25519 key at `path`, generating it if the file is absent.
    pub fn load_or_generate(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let rng = SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| Error::internal("generating the signing key failed"))?;
                let pem = pem_encode(doc.as_ref());
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
                }
                write_private(path, &pem)?;
                tracing::info!(path = %path.display(), "generated a new token signing key");
                Self::from_pem(&pem)
            }
            Err(e) => Err(Error::field(
                "jwt_private_key_file",
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }

    pub fn from_pem(pem: &str) -> Result<Self> {
        let der = pem_decode(pem)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| {
            Error::field(
                "jwt_private_key_file",
                "is not a PKCS#8 Ed25519 private key",
            )
        })?;
        let public = pair.public_key().as_ref().to_vec();
        let x = URL_SAFE_NO_PAD.encode(&public);
        let kid = Sha256::digest(&public)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let decoding = DecodingKey::from_ed_components(&x)
            .map_err(|e| Error::internal(format!("public key: {e}")))?;
        Ok(JwtKeys {
            encoding: EncodingKey::from_ed_der(&der),
            decoding,
            kid,
            x,
        })
    }

    /// Signs an access token for `user` valid for `ttl`, outside any session.
    pub fn issue(&self, user: UserId, ttl: Duration) -> Result<String> {
        self.sign(user, None, ttl)
    }

    /// Signs an access token of the session `family`.
    pub fn issue_session(
        &self,
        user: UserId,
        family: TokenFamilyId,
        ttl: Duration,
    ) -> Result<String> {
        self.sign(user, Some(family), ttl)
    }

    fn sign(&self, user: UserId, family: Option<TokenFamilyId>, ttl: Duration) -> Result<String> {
        let now = Timestamp::now().as_secs();
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            iss: ISSUER.into(),
            fam: family.map(|f| f.to_string()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("signing token: {e}")))
    }

    /// The JSON Web Key Set that publishes the public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
    f.write_all(pem.as_bytes())
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> Result<()> {
    std::fs::write(path, pem)
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}

/// Verifies access tokens, remembering the ones it has verified until they
/// expire, and the sessions this node knows have ended.
pub struct TokenVerifier {
    keys: Arc<JwtKeys>,
    validation: Validation,
    verified: moka::sync::Cache<Arc<str>, (UserId, Option<TokenFamilyId>, i64)>,
    /// Ended sessions, for as long as one of their tokens may still be valid.
    ended: moka::sync::Cache<i64, ()>,
}

impl TokenVerifier {
    pub fn new(keys: Arc<JwtKeys>, ttl: Duration) -> Self {
        // Only EdDSA is accepted: `alg: none`, HS256 with the public key as
        // secret and every other algorithm confusion fail here.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        TokenVerifier {
            keys,
            validation,
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            ended: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl + Duration::from_secs(60))
                .build(),
        }
    }

    /// The user of a valid token of a session that has not ended.
    pub fn verify(&self, token: &str) -> Result<UserId> {
        self.verify_session(token).map(|v| v.user)
    }

    /// Remembers that `family` has ended: its tokens are refused from now on.
    pub fn end_locally(&self, family: TokenFamilyId) {
        self.ended.insert(family.get(), ());
    }

    fn check_open(&self, family: Option<TokenFamilyId>) -> Result<()> {
        match family {
            Some(f) if self.ended.contains_key(&f.get()) => Err(session_ended()),
            _ => Ok(()),
        }
    }

    pub fn verify_session(&self, token: &str) -> Result<Verified> {
        let now = Timestamp::now().as_secs();
        if let Some((user, family, exp)) = self.verified.get(token) {
            if exp > now {
                self.check_open(family)?;
                return Ok(Verified {
                    user,
                    family,
                    expires_at: exp,
                    fresh: false,
                });
            }
            self.verified.invalidate(token);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.keys.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        Error::unauthorized("token_expired", "the access token has expired")
                    }
                    _ => Error::unauthorized("invalid_token", "the access token is not valid"),
                }
            })?;
        let invalid = || Error::unauthorized("invalid_token", "the access token is not valid");
        let user: UserId = data.claims.sub.parse().map_err(|_| invalid())?;
        let family = match data.claims.fam.as_deref() {
            Some(f) => Some(f.parse::<TokenFamilyId>().map_err(|_| invalid())?),
            None => None,
        };
        self.check_open(family)?;
        self.verified
            .insert(Arc::from(token), (user, family, data.claims.exp));
        Ok(Verified {
            user,
            family,
            expires_at: data.claims.exp,
            fresh: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_tokens_verify() {
        let dir = std::env::temp_dir().join(format!("starling-jwt-{}", std::process::id()));
        let path = dir.join("key.pem");
        let _ = std::fs::remove_file(&path);
        let a = Arc::new(JwtKeys::load_or_generate(&path).unwrap());
        let b = JwtKeys::load_or_generate(&path).unwrap();
        assert_eq!(a.kid, b.kid, "the stored key is reused");
        let v = TokenVerifier::new(a.clone(), Duration::from_secs(60));
        let t = a
            .issue(UserId::from_i64(9), Duration::from_secs(60))
            .unwrap();
        assert_eq!(v.verify(&t).unwrap(), UserId::from_i64(9));
        assert_eq!(v.verify(&t).unwrap(), UserId::from_i64(9), "cached path");
        let mut tampered = t.clone();
        tampered.push('x');
        assert!(v.verify(&tampered).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
