//! `WebPushSender` against a real HTTP push service played by this test: it
//! captures each request, checks the VAPID token the way a push service does
//! and decrypts the body the way a browser does, with the subscription's own
//! private key and auth secret.
//!
//! The browser side is written here from the RFCs, independently of the
//! sender's code (the `web-push-native` crate) and of `starling_adapters::push`
//! but for its public API. Both rest on RustCrypto primitives (p256, hkdf,
//! aes-gcm), so captured bodies are also decrypted by Python's `http_ece`, an
//! implementation that shares nothing with the sender (`pip install http_ece
//! cryptography`); without it that test is skipped, except when `CI=true`,
//! where it fails. The decryptor is itself checked against RFC 8291
//! Appendix A.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use starling_adapters::push::{Dns, MAX_PAYLOAD, parse_allowed_hosts};
use starling_adapters::{Urgency, VapidKey, WebPushSender};
use starling_core::Error;
use starling_core::messaging::{PushOutcome, PushSender, PushTarget};

#[path = "support/push_service.rs"]
mod push_service;
use push_service::*;

const SUBJECT: &str = "mailto:admin@example.org";

/// The decryptor itself must reproduce the RFC's example, or nothing it
/// accepts proves anything.
#[test]
fn decryptor_opens_rfc8291_example() {
    let ua_secret =
        p256::SecretKey::from_slice(&unb64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
    assert_eq!(
        b64(ua_secret.public_key().to_encoded_point(false).as_bytes()),
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    );
    let body = unb64(concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    ));
    let plain = decrypt(&body, &ua_secret, &unb64("BTBZMqHH6r4Tts7J_aSIgg")).unwrap();
    assert_eq!(plain, b"When I grow up, I want to be a watermelon");

    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(decrypt(&tampered, &ua_secret, &unb64("BTBZMqHH6r4Tts7J_aSIgg")).is_err());
}

/// Checks the RFC 8292 `Authorization` header as a push service does and
/// returns the JWT claims.
fn check_vapid(headers: &HeaderMap, origin: &str, expected_key: &str) -> serde_json::Value {
    let value = header(headers, "authorization");
    let params = value.strip_prefix("vapid ").expect("vapid scheme");
    let params: HashMap<&str, &str> = params
        .split(',')
        .map(|p| p.trim().split_once('=').expect("t=... and k=..."))
        .collect();
    let (token, k) = (params["t"], params["k"]);
    assert_eq!(k, expected_key, "k= is the sender's public key");

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form");
    let jose: serde_json::Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    assert_eq!(jose["alg"], "ES256");
    assert_eq!(jose["typ"], "JWT");

    let key = VerifyingKey::from_sec1_bytes(&unb64(k)).unwrap();
    let signature = Signature::from_slice(&unb64(parts[2])).expect("64-byte r || s");
    let signed = format!("{}.{}", parts[0], parts[1]);
    key.verify(signed.as_bytes(), &signature)
        .expect("JWT signature verifies with k=");

    let claims: serde_json::Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    assert_eq!(claims["aud"], origin, "aud is the endpoint's origin");
    assert_eq!(claims["sub"], SUBJECT);
    let exp = claims["exp"].as_u64().expect("numeric exp");
    let now = unix_now();
    assert!(exp > now, "exp {exp} is in the future");
    assert!(exp <= now + 24 * 3600, "exp {exp} is at most 24 h away");
    claims
}

/// A sender allowed to push to the test's push service on 127.0.0.1 (over
/// http, as it serves).
fn sender(key: &VapidKey) -> WebPushSender {
    WebPushSender::new(key, SUBJECT.to_owned())
        .unwrap()
        .with_allowed_hosts(parse_allowed_hosts("127.0.0.1").unwrap())
}

/// A sender with no allow-list, as in production by default.
fn strict_sender() -> WebPushSender {
    WebPushSender::new(&VapidKey::generate().unwrap(), SUBJECT.to_owned()).unwrap()
}

fn is_invalid_endpoint(e: &Error) -> bool {
    matches!(
        e,
        Error::Unprocessable {
            code: "invalid_endpoint",
            ..
        }
    )
}

/// Answers from a script: each lookup of a name takes the next answer, the
/// last one repeating.
struct ScriptedDns {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    lookups: AtomicUsize,
}

impl ScriptedDns {
    fn new(host: &str, answers: &[&[&str]]) -> Arc<Self> {
        let answers = answers
            .iter()
            .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
            .collect();
        Arc::new(Self {
            answers: Mutex::new(HashMap::from([(host.to_owned(), answers)])),
            lookups: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Dns for ScriptedDns {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        match answers.get_mut(host) {
            Some(a) if a.len() > 1 => Ok(a.remove(0)),
            Some(a) => Ok(a[0].clone()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host}: no such name"),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

#[tokio::test]
async fn push_is_signed_and_decrypts_for_the_subscription() {
    let service = PushService::start().await;
    let key = VapidKey::generate().unwrap();
    let sender = sender(&key);
    let browser = Browser::new();
    let (endpoint, id) = service.endpoint(201);
    let payload = br#"{"title":"New love","body":"ada loved your post \xe2\x9d\xa4"}"#;

    let outcome = sender
        .send(
            &browser.target(endpoint),
            payload,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(outcome, PushOutcome::Accepted);

    let request = service.take(&id);
    assert_eq!(header(&request.headers, "ttl"), "3600");
    assert_eq!(header(&request.headers, "content-encoding"), "aes128gcm");
    assert_eq!(
        header(&request.headers, "content-type"),
        "application/octet-stream"
    );
    assert!(request.headers.get("urgency").is_none());
    check_vapid(&request.headers, &service.origin, &sender.public_key());

    assert_eq!(browser.decrypt(&request.body).unwrap(), payload);
    // Someone else's subscription cannot read it.
    assert!(Browser::new().decrypt(&request.body).is_err());
}

#[tokio::test]
async fn every_message_has_a_fresh_key_and_salt() {
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap());
    let browser = Browser::new();
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let (endpoint, id) = service.endpoint(201);
        sender
            .send(
                &browser.target(endpoint),
                b"same words",
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        bodies.push(service.take(&id).body);
    }
    assert_ne!(bodies[0][..16], bodies[1][..16], "salts differ");
    assert_ne!(
        bodies[0][21..86],
        bodies[1][21..86],
        "ephemeral keys differ"
    );
    assert_ne!(
        bodies[0][21..86],
        unb64(&sender.public_key())[..],
        "not the VAPID key"
    );
    for body in &bodies {
        assert_eq!(browser.decrypt(body).unwrap(), b"same words");
    }
}

#[tokio::test]
async fn empty_and_largest_payloads_round_trip() {
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap());
    let browser = Browser::new();
    let largest: Vec<u8> = (0..MAX_PAYLOAD).map(|i| i as u8).collect();
    for payload in [&b""[..], &largest[..]] {
        let (endpoint, id) = service.endpoint(201);
        sender
            .send(&browser.target(endpoint), payload, Duration::ZERO)
            .await
            .unwrap();
        let request = service.take(&id);
        assert_eq!(header(&request.headers, "ttl"), "0");
        assert!(
            request.body.len() <= 4096,
            "fits what every push service accepts"
        );
        assert_eq!(browser.decrypt(&request.body).unwrap(), payload);
    }
}

#[tokio::test]
async fn too_large_payload_is_refused_before_sending() {
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap());
    let (endpoint, id) = service.endpoint(201);
    let err = sender
        .send(
            &Browser::new().target(endpoint),
            &vec![b'x'; MAX_PAYLOAD + 1],
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    assert_eq!(service.count(&id), 0);
}

#[tokio::test]
async fn urgency_header_when_configured() {
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap()).with_urgency(Some(Urgency::High));
    let (endpoint, id) = service.endpoint(201);
    sender
        .send(
            &Browser::new().target(endpoint),
            b"hi",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(header(&service.take(&id).headers, "urgency"), "high");
}

#[tokio::test]
async fn statuses_map_to_outcomes() {
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap());
    let browser = Browser::new();
    for (status, expected) in [
        (200, Some(PushOutcome::Accepted)),
        (201, Some(PushOutcome::Accepted)),
        (202, Some(PushOutcome::Accepted)),
        (404, Some(PushOutcome::Gone)),
        (410, Some(PushOutcome::Gone)),
        (400, None),
        (403, None),
        (413, None),
        (429, None),
        (500, None),
        (503, None),
    ] {
        let (endpoint, id) = service.endpoint(status);
        let result = sender
            .send(&browser.target(endpoint), b"hello", Duration::from_secs(60))
            .await;
        assert_eq!(service.count(&id), 1, "{status}: one request");
        match (result, expected) {
            (Ok(outcome), Some(expected)) => assert_eq!(outcome, expected, "{status}"),
            (Err(e), None) => {
                let message = e.to_string();
                assert!(message.contains(&status.to_string()), "{status}: {message}");
                assert!(
                    message.contains("the push service says no"),
                    "{status}: {message}"
                );
                let retryable = status >= 500 || status == 429;
                assert_eq!(
                    matches!(e, Error::Unavailable { .. }),
                    retryable,
                    "{status}: {e:?}"
                );
            }
            (result, expected) => panic!("{status}: got {result:?}, expected {expected:?}"),
        }
    }
}

#[tokio::test]
async fn dead_endpoint_fails_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = sender(&VapidKey::generate().unwrap());
    let started = Instant::now();
    let err = sender
        .send(
            &Browser::new().target(format!("http://127.0.0.1:{port}/push/1")),
            b"hello",
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_endpoint_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sender = sender(&VapidKey::generate().unwrap())
        .with_timeout(Duration::from_millis(500))
        .unwrap();
    let started = Instant::now();
    let err = sender
        .send(
            &Browser::new().target(format!("http://{addr}/push/1")),
            b"hello",
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused() {
    let sender = sender(&VapidKey::generate().unwrap());
    let good = Browser::new().target("https://push.example.net/x".to_owned());
    let cases = [
        PushTarget {
            endpoint: "ftp://push.example.net/x".into(),
            ..good.clone()
        },
        PushTarget {
            endpoint: "no url".into(),
            ..good.clone()
        },
        PushTarget {
            p256dh: "AAAA".into(),
            ..good.clone()
        },
        // Right length and prefix, but not on the curve.
        PushTarget {
            p256dh: b64([[4u8].as_slice(), &[1; 64]].concat()),
            ..good.clone()
        },
        PushTarget {
            auth: b64([1u8; 15]),
            ..good.clone()
        },
        PushTarget {
            auth: "!!".into(),
            ..good.clone()
        },
    ];
    for target in cases {
        assert!(
            starling_adapters::push::validate_target(&target).is_err(),
            "{target:?}"
        );
        let err = sender
            .send(&target, b"x", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { .. }),
            "{target:?}: {err:?}"
        );
    }
    starling_adapters::push::validate_target(&good).unwrap();
}

// ---------------------------------------------------------------------------
// Where pushes may go
// ---------------------------------------------------------------------------

/// Without an allow-list, nothing but https to a public address is pushed
/// to: not the test's own push service on loopback, not the metadata
/// service, not Redis on [::1], not private, CGNAT, unique-local or
/// multicast addresses, however the address is spelled. Both the
/// subscribe-time check and the send refuse, and no request is made.
#[tokio::test]
async fn private_and_plain_http_endpoints_are_refused() {
    let service = PushService::start().await;
    let port = service.origin.rsplit(':').next().unwrap().to_owned();
    let sender = strict_sender();
    let browser = Browser::new();
    let (plain, plain_id) = service.endpoint(201);
    let mut endpoints = vec![plain];
    for host in [
        "127.0.0.1",
        "localhost", // a name: refused once resolved
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "2130706433", // 127.0.0.1 spelled as a number
        "0x7f.1",
        "[::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[ff02::1]",
    ] {
        endpoints.push(format!("https://{host}:{port}/push/201/{plain_id}"));
    }
    endpoints.push("https://[::1]:6379/".to_owned());
    endpoints.push("https://169.254.169.254/latest/meta-data/".to_owned());
    for endpoint in endpoints {
        let err = sender.check_endpoint(&endpoint).await.unwrap_err();
        assert!(is_invalid_endpoint(&err), "{endpoint}: {err:?}");
        let err = sender
            .send(
                &browser.target(endpoint.clone()),
                b"hi",
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert!(is_invalid_endpoint(&err), "{endpoint}: {err:?}");
    }
    assert_eq!(service.count(&plain_id), 0, "nothing reached the service");

    // Malformed ones are validation errors, as before.
    for endpoint in ["ftp://push.example.net/x", "not a url", "https://"] {
        let err = sender.check_endpoint(endpoint).await.unwrap_err();
        assert!(
            matches!(err, Error::Validation { .. }),
            "{endpoint}: {err:?}"
        );
    }
}

/// The allow-list lets a listed host (and only on its port, when one is
/// given) through, over http too.
#[tokio::test]
async fn the_allow_list_names_host_and_port() {
    let service = PushService::start().await;
    let addr = service.origin.strip_prefix("http://").unwrap().to_owned();
    let browser = Browser::new();
    let listed = strict_sender().with_allowed_hosts(parse_allowed_hosts(&addr).unwrap());
    let (endpoint, id) = service.endpoint(201);
    listed.check_endpoint(&endpoint).await.unwrap();
    let outcome = listed
        .send(&browser.target(endpoint), b"hi", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(outcome, PushOutcome::Accepted);
    assert_eq!(service.count(&id), 1);

    let other_port =
        strict_sender().with_allowed_hosts(parse_allowed_hosts("127.0.0.1:1").unwrap());
    let (endpoint, id) = service.endpoint(201);
    let err = other_port.check_endpoint(&endpoint).await.unwrap_err();
    assert!(is_invalid_endpoint(&err), "{err:?}");
    let err = other_port
        .send(&browser.target(endpoint), b"hi", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(is_invalid_endpoint(&err), "{err:?}");
    assert_eq!(service.count(&id), 0);
}

/// A name that resolved to a public address when the subscription was
/// checked and to loopback when the push is sent (DNS rebinding) is refused
/// at send time: the address connected to is the one checked.
#[tokio::test]
async fn a_name_rebound_to_a_private_address_is_refused_when_sending() {
    let service = PushService::start().await;
    let port = service.origin.rsplit(':').next().unwrap().to_owned();
    let dns = ScriptedDns::new("push.rebind.test", &[&["8.8.8.8"], &["127.0.0.1"]]);
    let sender = strict_sender().with_dns(dns.clone()).unwrap();
    let (_, id) = service.endpoint(201);
    let endpoint = format!("https://push.rebind.test:{port}/push/201/{id}");
    sender.check_endpoint(&endpoint).await.unwrap();
    let err = sender
        .send(
            &Browser::new().target(endpoint),
            b"hi",
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(is_invalid_endpoint(&err), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert_eq!(
        dns.lookups.load(Ordering::SeqCst),
        2,
        "resolved once per use"
    );
    assert_eq!(service.count(&id), 0);

    // One private address among public ones is enough to refuse.
    let dns = ScriptedDns::new("push.mixed.test", &[&["8.8.8.8", "10.0.0.1"]]);
    let sender = strict_sender().with_dns(dns).unwrap();
    let err = sender
        .check_endpoint("https://push.mixed.test/x")
        .await
        .unwrap_err();
    assert!(is_invalid_endpoint(&err), "{err:?}");
    // A name that does not resolve cannot be subscribed.
    let err = sender
        .check_endpoint("https://nowhere.test/x")
        .await
        .unwrap_err();
    assert!(is_invalid_endpoint(&err), "{err:?}");
}

/// The connection goes to the address the sender's resolver returned: an
/// allow-listed name only the scripted resolver knows reaches the service.
#[tokio::test]
async fn the_connection_uses_the_resolved_address() {
    let service = PushService::start().await;
    let port = service.origin.rsplit(':').next().unwrap().to_owned();
    let dns = ScriptedDns::new("push.internal.test", &[&["127.0.0.1"]]);
    let sender = strict_sender()
        .with_dns(dns)
        .unwrap()
        .with_allowed_hosts(parse_allowed_hosts("push.internal.test").unwrap());
    let (_, id) = service.endpoint(201);
    let endpoint = format!("http://push.internal.test:{port}/push/201/{id}");
    sender.check_endpoint(&endpoint).await.unwrap();
    let outcome = sender
        .send(
            &Browser::new().target(endpoint),
            b"hi",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(outcome, PushOutcome::Accepted);
    assert_eq!(service.count(&id), 1);
}

#[test]
fn subject_must_be_a_contact_uri() {
    let key = VapidKey::generate().unwrap();
    for subject in ["", "admin@example.org", "mailto:", "http://example.org"] {
        assert!(
            WebPushSender::new(&key, subject.to_owned()).is_err(),
            "{subject}"
        );
    }
    WebPushSender::new(&key, "https://example.org/contact".to_owned()).unwrap();
}

// ---------------------------------------------------------------------------
// The VAPID key
// ---------------------------------------------------------------------------

#[test]
fn vapid_key_string_round_trip() {
    let key = VapidKey::generate().unwrap();
    let s = key.to_base64url();
    assert_eq!(s.len(), 43, "32 bytes, base64url without padding");
    let again = VapidKey::from_base64url(&format!("{s}\n")).unwrap();
    assert_eq!(again, key);
    assert_eq!(again.public_key(), key.public_key());
    let parsed: VapidKey = s.parse().unwrap();
    assert_eq!(parsed, key);
    assert_ne!(VapidKey::generate().unwrap(), key);
    assert!(!format!("{key:?}").contains(&s), "Debug leaks the secret");

    // The public key is the scalar's point, checked with another library.
    let public = unb64(&key.public_key());
    assert_eq!(public.len(), 65);
    let secret = p256::SecretKey::from_slice(&unb64(&s)).unwrap();
    assert_eq!(
        public,
        secret.public_key().to_encoded_point(false).as_bytes()
    );

    // A known key: RFC 8291's application server key.
    let rfc = VapidKey::from_base64url("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw").unwrap();
    assert_eq!(
        rfc.public_key(),
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
    );

    for bad in [
        "",
        "not base64!",
        &b64([1u8; 31]),
        &b64([0u8; 32]),
        &b64([0xffu8; 32]),
    ] {
        assert!(VapidKey::from_base64url(bad).is_err(), "{bad}");
    }
}

#[test]
fn vapid_key_file_is_generated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("vapid.key");
    let first = VapidKey::load_or_generate(&path).unwrap();
    let second = VapidKey::load_or_generate(&path).unwrap();
    assert_eq!(first, second);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert_eq!(stored.trim(), first.to_base64url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Only the key file is left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["vapid.key"]);

    // A damaged file is an error, never silently replaced.
    std::fs::write(&path, "garbage").unwrap();
    assert!(VapidKey::load_or_generate(&path).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
}

// ---------------------------------------------------------------------------
// A second opinion: Python's http_ece
// ---------------------------------------------------------------------------

/// `Some(python)` when python3 with http_ece and cryptography is available;
/// otherwise `None` (skip), or a panic when `CI=true`.
fn python_with_http_ece(test: &str) -> Option<&'static str> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import http_ece, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3");
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test} needs python3 with http_ece and cryptography under CI=true (pip install http_ece cryptography)"
        );
    }
    starling_core::testing::skipped(format_args!(
        "{test}: python3 with http_ece and cryptography is not installed (pip install http_ece cryptography)"
    ));
    None
}

const HTTP_ECE_DECRYPT: &str = r#"
import sys, http_ece
from cryptography.hazmat.primitives.asymmetric import ec
body = open(sys.argv[1], "rb").read()
key = ec.derive_private_key(int(sys.argv[2], 16), ec.SECP256R1())
plain = http_ece.decrypt(body, private_key=key, auth_secret=bytes.fromhex(sys.argv[3]), version="aes128gcm")
sys.stdout.buffer.write(plain)
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn python_http_ece_decrypts_a_captured_push() {
    let Some(python) = python_with_http_ece("python_http_ece_decrypts_a_captured_push") else {
        return;
    };
    let service = PushService::start().await;
    let sender = sender(&VapidKey::generate().unwrap());
    let browser = Browser::new();
    let dir = tempfile::tempdir().unwrap();
    // An empty payload too: its one record is the shortest there is, and
    // http_ece refuses a record size announced below 18 (RFC 8188 §2.1).
    let payloads = [
        "Grüße from Starling: a push checked by a second implementation".as_bytes(),
        b"",
    ];
    for payload in payloads {
        let (endpoint, id) = service.endpoint(201);
        sender
            .send(&browser.target(endpoint), payload, Duration::from_secs(60))
            .await
            .unwrap();
        let body = service.take(&id).body;

        let body_path = dir.path().join(&id);
        std::fs::write(&body_path, &body).unwrap();
        let output = tokio::process::Command::new(python)
            .arg("-c")
            .arg(HTTP_ECE_DECRYPT)
            .arg(&body_path)
            .arg(hex(&browser.secret.to_bytes()))
            .arg(hex(&browser.auth))
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "http_ece failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, payload);
    }
}
