//! Outgoing mail: [`SmtpMailer`] hands messages to an SMTP server (lettre,
//! async, rustls); [`FileMailer`] writes them as `.eml` files, for
//! deployments without a mail server and for development.
//!
//! Both build the same message: `From` (the configured sender), `To`,
//! `Subject`, `Date`, `Message-ID` (`<random@sender-domain>`), `MIME-Version`
//! and a `text/plain; charset=utf-8` body.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use starling_core::messaging::{Email, Mailer};
use starling_core::{Error, Result};
use tokio::io::AsyncWriteExt;

/// Bounds each SMTP command (connecting included).
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds one whole delivery, however many commands it takes.
const SMTP_SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn parse_from(from: &str) -> Result<Mailbox> {
    from.trim().parse().map_err(|e| {
        Error::field(
            "mail_from",
            format!("is not a valid address ({e}): expected `name@example.org` or `Name <name@example.org>`"),
        )
    })
}

/// Builds the RFC 5322 message for `email`, sent by `from`.
fn build_message(from: &Mailbox, email: &Email) -> Result<Message> {
    let to: Mailbox = email
        .to
        .trim()
        .parse()
        .map_err(|e| Error::field("to", format!("is not a valid email address: {e}")))?;
    // Header values are single lines; lettre encodes the rest.
    let subject = email.subject.replace(['\r', '\n'], " ");
    let message_id = format!(
        "<{:016x}{:016x}@{}>",
        rand::random::<u64>(),
        rand::random::<u64>(),
        from.email.domain()
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .date_now()
        .message_id(Some(message_id))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(email.text.clone())
        .map_err(|e| Error::internal(format!("cannot build the email: {e}")))
}

// ---------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------

/// Sends mail through an SMTP server.
///
/// Delivery failures map to [`Error::Unprocessable`] (code `mail_rejected`)
/// when the server refuses the message for good (a 5xx reply, such as an
/// unknown recipient), and to [`Error::Unavailable`] otherwise (connection,
/// TLS, timeout, 4xx): worth retrying.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url` is lettre's connection URL:
    ///
    /// - `smtp://host:port`: plain SMTP, no TLS (a local relay; port 25 by default);
    /// - `smtp://host:port?tls=required`: STARTTLS, refusing servers without it
    ///   (port 587 by default); `?tls=opportunistic` uses it when offered;
    /// - `smtps://host:port`: TLS from the first byte (port 465 by default).
    ///
    /// `user:password@` before the host authenticates (percent-encode special
    /// characters), and a path names the EHLO host: `smtp://host/mail.example.org`.
    /// Certificates are checked against the operating system's trust store.
    ///
    /// `from` is the sender, `name@example.org` or `Name <name@example.org>`.
    /// Nothing is connected here: the first send does.
    pub fn from_url(url: &str, from: &str) -> Result<Self> {
        let from = parse_from(from)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::field("smtp_url", format!("is not a usable SMTP URL: {e}")))?
            .timeout(Some(SMTP_COMMAND_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<()> {
        let message = build_message(&self.from, email)?;
        match tokio::time::timeout(SMTP_SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(Error::unprocessable(
                "mail_rejected",
                format!("the SMTP server refused the message: {e}"),
            )),
            Ok(Err(e)) => Err(Error::Unavailable {
                message: format!("smtp: {e}"),
            }),
            Err(_) => Err(Error::Unavailable {
                message: format!("smtp: no delivery within {} s", SMTP_SEND_TIMEOUT.as_secs()),
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// Writes each message as an RFC 5322 `.eml` file into one directory.
///
/// Names are `{unix millis, 13 digits}-{16 random hex digits}.eml`, so they
/// sort by time and never collide. A message is written to a dot-prefixed
/// `.tmp` name first and renamed when complete, so whatever lists `*.eml`
/// never sees half a message. The directory is created when missing.
#[derive(Clone, Debug)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    pub fn new(dir: PathBuf, from: &str) -> Result<Self> {
        Ok(Self {
            dir,
            from: parse_from(from)?,
        })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<()> {
        let message = build_message(&self.from, email)?;
        let io_err = |what: &str, e: std::io::Error| {
            Error::internal(format!("cannot {what} in {}: {e}", self.dir.display()))
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_err("create the mail directory", e))?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::internal("the clock is before 1970"))?
            .as_millis();
        let name = format!("{millis:013}-{:016x}.eml", rand::random::<u64>());
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));

        let written = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .await?;
            file.write_all(&message.formatted()).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_err("write a message", e));
        }
        Ok(())
    }
}
