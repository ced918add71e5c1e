//! The mail adapters against real peers: `FileMailer`'s files are read back
//! with an independent parser (mail-parser), and `SmtpMailer` talks to a real
//! SMTP server, aiosmtpd (`pip install aiosmtpd`), started by the test on a
//! free port and storing what it receives in a Maildir. Without python3 and
//! aiosmtpd the SMTP tests are skipped, except when `CI=true`, where they fail.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mail_parser::{MessageParser, MimeHeaders};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use starling_adapters::{FileMailer, SmtpMailer};
use starling_core::Error;
use starling_core::messaging::{Email, Mailer};

#[path = "support/smtp_server.rs"]
mod smtp_server;
use smtp_server::*;

const FROM: &str = "Starling <noreply@example.org>";

fn email(to: &str, subject: &str, text: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: text.to_owned(),
    }
}

/// The `.eml` files in `dir`, by name.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(!name.starts_with('.'), "temporary file left behind: {name}");
        assert!(name.ends_with(".eml"), "unexpected file {name}");
    }
    files
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Checks the headers and body of one message as a mail reader would see them.
fn check_message(raw: &[u8], to: &str, subject: &str, text: &str) {
    let message = MessageParser::default()
        .parse(raw)
        .expect("a parseable message");

    let from = message.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("noreply@example.org"));
    assert_eq!(from.name(), Some("Starling"));
    let rcpt = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(rcpt.address(), Some(to));
    assert_eq!(message.subject(), Some(subject));

    let date = message.date().expect("Date").to_timestamp();
    assert!((date - unix_now()).abs() < 300, "Date {date} is now");
    let id = message.message_id().expect("Message-ID");
    assert!(
        id.ends_with("@example.org"),
        "Message-ID {id} is in the sender's domain"
    );
    assert!(
        id.len() > "@example.org".len() + 8,
        "Message-ID {id} has a unique part"
    );

    let ctype = message.content_type().expect("Content-Type");
    assert_eq!(ctype.ctype(), "text");
    assert_eq!(ctype.subtype(), Some("plain"));
    assert_eq!(
        ctype
            .attribute("charset")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("utf-8")
    );
    assert!(message.header_raw("MIME-Version").is_some(), "MIME-Version");

    let body = message.body_text(0).expect("a text body");
    assert_eq!(body.replace("\r\n", "\n").trim_end(), text.trim_end());
}

// ---------------------------------------------------------------------------
// FileMailer
// ---------------------------------------------------------------------------

#[tokio::test]
async fn file_mailer_writes_a_parseable_eml() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data").join("mail"); // not there yet
    let mailer = FileMailer::new(outbox.clone(), FROM).unwrap();
    let subject = "Bienvenue sur Starling, Zoë ✨";
    let text = "Hello Zoë,\n\nconfirm your address: https://starling.example.org/confirm?t=abc\n\n-- \nStarling\n";

    mailer
        .send(&email("zoe@example.net", subject, text))
        .await
        .unwrap();

    let files = eml_files(&outbox);
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    check_message(&raw, "zoe@example.net", subject, text);
    // Non-ASCII header text is encoded, not sent raw.
    assert!(raw.is_ascii(), "{}", String::from_utf8_lossy(&raw));
}

#[tokio::test]
async fn file_mailer_names_sort_by_time_and_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path().to_owned(), FROM).unwrap();
    for i in 0..5 {
        mailer
            .send(&email("a@example.net", &format!("n{i}"), "x"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // Many at once: same millisecond, different names.
    let sends = (0..20).map(|i| {
        let mailer = mailer.clone();
        async move {
            mailer
                .send(&email("b@example.net", &format!("burst {i}"), "y"))
                .await
        }
    });
    for result in futures::future::join_all(sends).await {
        result.unwrap();
    }

    let files = eml_files(dir.path());
    assert_eq!(files.len(), 25);
    let mut subjects = Vec::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        let (millis, random) = name.split_once('-').expect("{millis}-{random}");
        assert_eq!(millis.len(), 13, "{name}");
        assert!(millis.bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert_eq!(random.len(), 16, "{name}");
        assert!(random.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let raw = std::fs::read(f).unwrap();
        let message = MessageParser::default().parse(&raw).unwrap();
        subjects.push(message.subject().unwrap().to_owned());
    }
    assert_eq!(
        subjects[..5],
        ["n0", "n1", "n2", "n3", "n4"],
        "sorted by time"
    );
}

#[tokio::test]
async fn invalid_addresses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path().to_owned(), FROM).unwrap();
    for to in [
        "",
        "not an address",
        "a@example.org, b@example.org",
        "a@",
        "@example.org",
        "a@exa mple.org",
    ] {
        let err = mailer.send(&email(to, "s", "t")).await.unwrap_err();
        match &err {
            Error::Validation { fields, .. } => assert!(fields.contains_key("to"), "{to:?}: {err}"),
            other => panic!("{to:?}: expected a validation error, got {other:?}"),
        }
    }
    assert!(eml_files(dir.path()).is_empty());

    for from in ["", "nobody", "Starling <noreply@>"] {
        assert!(matches!(
            FileMailer::new(dir.path().to_owned(), from),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            SmtpMailer::from_url("smtp://127.0.0.1:25", from),
            Err(Error::Validation { .. })
        ));
    }
    for url in ["", "not a url", "http://mail.example.org", "smtp://"] {
        assert!(
            matches!(
                SmtpMailer::from_url(url, FROM),
                Err(Error::Validation { .. })
            ),
            "{url}"
        );
    }
    // TLS flavours are accepted (nothing connects until a send).
    for url in [
        "smtps://user:pass@mail.example.org",
        "smtp://mail.example.org:587?tls=required",
        "smtp://mail.example.org?tls=opportunistic",
    ] {
        SmtpMailer::from_url(url, FROM).unwrap();
    }
}

#[tokio::test]
async fn subject_cannot_inject_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path().to_owned(), FROM).unwrap();
    mailer
        .send(&email(
            "a@example.net",
            "Hi\r\nBcc: evil@example.com\r\n\r\nowned",
            "body",
        ))
        .await
        .unwrap();
    let raw = std::fs::read(&eml_files(dir.path())[0]).unwrap();
    let message = MessageParser::default().parse(&raw).unwrap();
    assert!(message.bcc().is_none());
    assert!(message.header_raw("Bcc").is_none());
    assert!(message.subject().unwrap().starts_with("Hi"));
    assert_eq!(message.body_text(0).unwrap().trim_end(), "body");
}

// ---------------------------------------------------------------------------
// SmtpMailer against aiosmtpd
// ---------------------------------------------------------------------------

#[tokio::test]
async fn smtp_mailer_delivers_to_a_real_server() {
    let Some(server) = SmtpServer::start("smtp_mailer_delivers_to_a_real_server").await else {
        return;
    };
    let mailer = SmtpMailer::from_url(&server.url(), FROM).unwrap();
    let subject = "Your Starling sign-in code: 424242 ✓";
    let text = "Hi Ada,\n\nyour code is 424242.\nIt expires in 10 minutes.\n\n.\n.. a line starting with dots\n";

    mailer
        .send(&email("ada@example.net", subject, text))
        .await
        .unwrap_or_else(|e| panic!("{e}; server log: {}", server.log()));

    let received = server.received();
    assert_eq!(received.len(), 1, "server log: {}", server.log());
    let raw = &received[0];
    check_message(raw, "ada@example.net", subject, text);
    // The envelope, as the server recorded it.
    let message = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        message.header_raw("X-MailFrom").map(str::trim),
        Some("noreply@example.org")
    );
    assert_eq!(
        message.header_raw("X-RcptTo").map(str::trim),
        Some("ada@example.net")
    );

    // The transport is reusable.
    mailer
        .send(&email("bob@example.net", "second", "two"))
        .await
        .unwrap();
    let received = server.received();
    assert_eq!(received.len(), 2);
    check_message(&received[1], "bob@example.net", "second", "two");
}

#[tokio::test]
async fn smtp_mailer_refuses_invalid_recipient_without_connecting() {
    let Some(server) =
        SmtpServer::start("smtp_mailer_refuses_invalid_recipient_without_connecting").await
    else {
        return;
    };
    let mailer = SmtpMailer::from_url(&server.url(), FROM).unwrap();
    let err = mailer.send(&email("nobody", "s", "t")).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn smtp_mailer_reports_a_permanent_refusal() {
    // The server takes at most 300 bytes and answers 552 to more.
    let Some(server) =
        SmtpServer::start_with("smtp_mailer_reports_a_permanent_refusal", &["-s", "300"]).await
    else {
        return;
    };
    let mailer = SmtpMailer::from_url(&server.url(), FROM).unwrap();
    let err = mailer
        .send(&email("ada@example.net", "big", &"many words ".repeat(100)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unprocessable {
                code: "mail_rejected",
                ..
            }
        ),
        "{err:?}; server log: {}",
        server.log()
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn smtp_mailer_fails_fast_when_the_server_is_down() {
    let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{}", free_port()), FROM).unwrap();
    let started = Instant::now();
    let err = mailer
        .send(&email("a@example.net", "s", "t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// SmtpMailer over TLS
// ---------------------------------------------------------------------------

/// A throwaway CA and a server certificate it signed for 127.0.0.1.
struct TestPki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    _dir: tempfile::TempDir,
}

fn test_pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Starling test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki {
        ca: dir.path().join("ca.pem"),
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
        _dir: dir,
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

/// The sending half of `smtp_mailer_speaks_tls`, run by it in a child process
/// whose only trusted root is the test CA (`SSL_CERT_FILE`: the trust store
/// is the operating system's, read once per process).
#[tokio::test]
#[ignore = "run by smtp_mailer_speaks_tls in a child process"]
async fn tls_child() {
    let Ok(url) = std::env::var("STARLING_TEST_SMTP_TLS_URL") else {
        eprintln!("tls_child: STARLING_TEST_SMTP_TLS_URL is not set; nothing to do");
        return;
    };
    let mailer = SmtpMailer::from_url(&url, FROM).unwrap();
    mailer
        .send(&email("tls@example.net", "over TLS", "sealed words"))
        .await
        .unwrap();
}

#[tokio::test]
async fn smtp_mailer_speaks_tls() {
    let test = "smtp_mailer_speaks_tls";
    let pki = test_pki();
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    for (options, url) in [
        // TLS from the first byte.
        (
            ["--smtpscert", cert, "--smtpskey", key],
            "smtps://127.0.0.1:{port}",
        ),
        // STARTTLS; the server also refuses mail before it.
        (
            ["--tlscert", cert, "--tlskey", key],
            "smtp://127.0.0.1:{port}?tls=required",
        ),
    ] {
        let Some(server) = SmtpServer::start_with(test, &options).await else {
            return;
        };
        let url = url.replace("{port}", &server.port.to_string());

        // The system trust store does not know the test CA: refused.
        let err = SmtpMailer::from_url(&url, FROM)
            .unwrap()
            .send(&email("tls@example.net", "over TLS", "sealed words"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{url}: {err:?}");
        assert!(err.to_string().contains("certificate"), "{url}: {err}");
        assert!(server.received().is_empty());

        // Trusting the test CA, the message goes through.
        let output = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["tls_child", "--exact", "--ignored", "--nocapture"])
            .env("SSL_CERT_FILE", &pki.ca)
            .env_remove("SSL_CERT_DIR")
            .env("STARLING_TEST_SMTP_TLS_URL", &url)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{url}: {stdout}{}; server log: {}",
            String::from_utf8_lossy(&output.stderr),
            server.log()
        );
        let received = server.received();
        assert_eq!(received.len(), 1, "{url}");
        check_message(&received[0], "tls@example.net", "over TLS", "sealed words");
    }
}
