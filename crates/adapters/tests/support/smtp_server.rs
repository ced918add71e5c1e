//! A real SMTP server for tests (aiosmtpd from PyPI, delivering into a
//! Maildir), shared by the adapter's tests and the server's end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// aiosmtpd on a free local port, writing what it receives to a Maildir.
/// Killed when dropped.
pub struct SmtpServer {
    pub child: tokio::process::Child,
    pub port: u16,
    pub maildir: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// `None` when python3 or aiosmtpd is missing (a panic under `CI=true`).
    pub async fn start(test: &str) -> Option<Self> {
        Self::start_with(test, &[]).await
    }

    /// Like `start`, with more aiosmtpd options.
    pub async fn start_with(test: &str, options: &[&str]) -> Option<Self> {
        let available = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !available {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test} needs python3 with aiosmtpd under CI=true (pip install aiosmtpd)");
            }
            starling_core::testing::skipped(format_args!(
                "{test}: python3 with aiosmtpd is not installed (pip install aiosmtpd)"
            ));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // The Mailbox handler creates the Maildir; it must not exist yet.
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = free_port();
        let log_file = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(options)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            port,
            maildir,
            log,
            _dir: dir,
        };
        server.wait_ready(options.contains(&"--smtpscert")).await;
        Some(server)
    }

    /// Waits for the SMTP greeting (or, for SMTPS, where the greeting comes
    /// after the TLS handshake, for the port to accept connections).
    pub async fn wait_ready(&mut self, tls_wrapped: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("aiosmtpd exited ({status}): {}", self.log());
            }
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                if tls_wrapped {
                    return;
                }
                let mut greeting = [0u8; 3];
                let read =
                    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut greeting))
                        .await;
                if matches!(read, Ok(Ok(_))) && &greeting == b"220" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not come up: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages delivered so far, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .map(|e| {
                let e = e.unwrap();
                (e.metadata().unwrap().modified().unwrap(), e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read(p).unwrap())
            .collect()
    }
}
