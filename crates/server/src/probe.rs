//! Readiness probe for the AMQP broker: opens a TCP connection, sends the AMQP
//! 0-9-1 protocol header and expects the broker's `Connection.Start` frame.
//! The event bus itself arrives with the notifications work.

use std::time::Duration;

use async_trait::async_trait;
use starling_core::ports::Health;
use starling_core::{Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct AmqpProbe {
    host: String,
    port: u16,
}

impl AmqpProbe {
    pub fn new(url: &str) -> Result<Self> {
        let u = url::Url::parse(url)
            .map_err(|e| Error::field("broker_url", format!("is not a URL: {e}")))?;
        let host = u
            .host_str()
            .ok_or_else(|| Error::field("broker_url", "names no host"))?
            .to_owned();
        let port = u
            .port()
            .unwrap_or(if u.scheme() == "amqps" { 5671 } else { 5672 });
        Ok(AmqpProbe { host, port })
    }
}

#[async_trait]
impl Health for AmqpProbe {
    async fn check(&self) -> Result<()> {
        let down = |m: String| Error::Unavailable {
            message: format!("broker {}:{}: {m}", self.host, self.port),
        };
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| down(e.to_string()))?;
            s.write_all(b"AMQP\x00\x00\x09\x01")
                .await
                .map_err(|e| down(e.to_string()))?;
            let mut frame = [0u8; 7];
            s.read_exact(&mut frame)
                .await
                .map_err(|e| down(e.to_string()))?;
            // Frame type 1 (method) on channel 0: Connection.Start.
            if frame[0] == 1 && frame[1] == 0 && frame[2] == 0 {
                Ok(())
            } else {
                Err(down("did not answer as an AMQP 0-9-1 broker".into()))
            }
        };
        tokio::time::timeout(Duration::from_secs(2), attempt)
            .await
            .map_err(|_| down("timed out".into()))?
    }
}
