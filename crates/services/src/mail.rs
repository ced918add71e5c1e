//! Email sent by the worker: the welcome message on registration, or on
//! approval when a moderator approves each new account.

use std::sync::Arc;

use async_trait::async_trait;
use starling_core::events::DomainEvent;
use starling_core::messaging::{Email, Envelope, EventHandler, Mailer};
use starling_core::ports::UserStore;
use starling_core::{Error, Result};

/// The consumer group that sends the welcome email.
pub struct WelcomeMailer {
    users: Arc<dyn UserStore>,
    mailer: Arc<dyn Mailer>,
    site_name: String,
    public_url: String,
    /// Under approval mode the approval mail is the welcome: none on registration.
    welcome_on_register: bool,
}

impl WelcomeMailer {
    pub const GROUP: &'static str = "email";
    pub const PATTERNS: &'static [&'static str] = &["user.registered", "user.approved"];

    pub fn new(
        users: Arc<dyn UserStore>,
        mailer: Arc<dyn Mailer>,
        site_name: String,
        public_url: String,
    ) -> Self {
        WelcomeMailer {
            users,
            mailer,
            site_name,
            public_url,
            welcome_on_register: true,
        }
    }

    /// Under approval mode, no mail on registration (the account may not be
    /// marked pending yet when the event is handled): the approval mail
    /// welcomes the user instead.
    pub fn welcome_on_register(mut self, on: bool) -> Self {
        self.welcome_on_register = on;
        self
    }
}

#[async_trait]
impl EventHandler for WelcomeMailer {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        let (user, approved) = match DomainEvent::decode(event)? {
            DomainEvent::UserRegistered { user } if self.welcome_on_register => (user, false),
            DomainEvent::UserApproved { user } => (user, true),
            _ => return Ok(()),
        };
        let user = match self.users.user_by_id(user).await {
            Ok(u) => u,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let name = user.display_name.as_deref().unwrap_or(&user.username);
        let site = &self.site_name;
        let url = self.public_url.trim_end_matches('/');
        if user.is_pending() {
            // Waiting for approval: the approval mail welcomes them.
            return Ok(());
        }
        if approved {
            let email = Email {
                to: user.email.clone(),
                subject: format!("Your {site} account was approved"),
                text: format!(
                    "Hello {name},\n\n\
                     a moderator approved your account at {site}. You can sign in now\n\
                     as @{username}: {url}/\n",
                    username = user.username,
                ),
            };
            self.mailer.send(&email).await?;
            tracing::info!(user_id = %user.id, "approval email sent");
            return Ok(());
        }
        let email = Email {
            to: user.email.clone(),
            subject: format!("Welcome to {site}, {name}!"),
            text: format!(
                "Hello {name},\n\n\
                 welcome to {site}. Your username is @{username}.\n\n\
                 Find people to follow, share a post, and say hello: {url}/\n\n\
                 You are receiving this because you registered at {url}.\n",
                username = user.username,
            ),
        };
        self.mailer.send(&email).await?;
        tracing::info!(user_id = %user.id, "welcome email sent");
        Ok(())
    }
}
