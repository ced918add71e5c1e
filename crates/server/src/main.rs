//! `starling`: the whole social network in one binary.

// jemalloc returns freed memory to the system. With glibc's allocator, the
// 19 MiB blocks that each argon2 hash allocates on blocking threads stayed in
// per-thread arenas: 200 registrations left the server at 1.8 GB resident.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use starling_server::config::{self, Overrides, Settings};
use starling_server::{Server, open_store};

/// Said under `--help`: the flags are only the few settings one changes per
/// run; the rest live in the settings file and the environment.
const OTHER_SETTINGS: &str = "\
Every other setting (database, Redis, RabbitMQ, S3, mail, limits, ...) comes from
starling.toml or a STARLING_* environment variable. `starling config` prints all of
them with the values in force, secrets hidden; the README's Configuration table
describes each.";

#[derive(Parser)]
#[command(
    name = "starling",
    version,
    about = "Starling: a self-hosted social network in one binary",
    after_help = OTHER_SETTINGS
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone, Default)]
struct Common {
    /// Settings file (default: ./starling.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env: STARLING_BIND] [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    bind: Option<String>,
    /// Data directory [env: STARLING_DATA_DIR] [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Roles to run: api, realtime, worker [env: STARLING_ROLES] [default: all].
    #[arg(long, global = true, value_name = "ROLES")]
    roles: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    #[command(after_help = OTHER_SETTINGS)]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective settings, secrets hidden.
    Config,
    /// Fill an empty database with synthetic users, follows and posts, for
    /// benchmarks at scale (users seed1..seedN, password "seed password").
    Seed(SeedArgs),
    /// Manage accounts and roles (the first admin, recovery).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account with a role. The password comes from
    /// --password-file, or is asked for twice on the terminal (not echoed).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// user, moderator or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// A file holding the password (its first line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Set the role of USER (a username or an id) to ROLE (user, moderator or admin).
    SetRole { user: String, role: String },
}

/// The password from a file (its first line), or asked twice on the terminal.
fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the password: use --password-file");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if first != again {
        anyhow::bail!("the passwords do not match");
    }
    Ok(first)
}

#[derive(Args)]
struct SeedArgs {
    /// Users to create.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Posts to create, spread over the users.
    #[arg(long, default_value_t = 10_000)]
    posts: u64,
    /// Followers of seed1 (the "celebrity"): seed2, seed3, ...
    #[arg(long, default_value_t = 0)]
    star_followers: u64,
    /// Every user also follows the next N users.
    #[arg(long, default_value_t = 20)]
    follows_per_user: u64,
}

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout is for what a command prints (`migrate`, `config`).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log_format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The password of every seeded user.
const SEED_PASSWORD: &str = "seed password";

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let server = Server::start(settings).await?;
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            server.shutdown().await
        }
        Command::Seed(args) => {
            let (store, _) = open_store(&settings).await?;
            let password_hash = starling_services::passwords::hash(
                &starling_services::passwords::Hashing::new(),
                starling_core::types::Password::parse(SEED_PASSWORD)?,
            )
            .await?;
            let ids = starling_core::IdGenerator::new(settings.node_id)?;
            let started = std::time::Instant::now();
            let report = store
                .seed_bulk(&starling_store::SeedSpec {
                    users: args.users,
                    posts: args.posts,
                    star_followers: args.star_followers,
                    follows_per_user: args.follows_per_user,
                    password_hash,
                    id_ceiling: ids.next().0,
                })
                .await?;
            let mut out = serde_json::to_value(&report)?;
            out["password"] = SEED_PASSWORD.into();
            out["seconds"] = started.elapsed().as_secs_f64().into();
            println!("{out}");
            store.close().await;
            Ok(())
        }
        Command::Migrate => {
            let (store, applied) = open_store(&settings).await?;
            if applied.is_empty() {
                println!("database is up to date ({})", store.dialect().name());
            } else {
                println!(
                    "applied migrations {applied:?} ({})",
                    store.dialect().name()
                );
            }
            store.close().await;
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser {
            username,
            email,
            role,
            password_file,
        }) => {
            let password = read_password(password_file.as_deref())?;
            let user = starling_server::admin::create_user(
                &settings,
                starling_server::admin::NewAccount {
                    username,
                    email,
                    role,
                    password,
                },
            )
            .await?;
            println!(
                "created @{} (id {}, role {})",
                user.username,
                user.id,
                user.role.as_str()
            );
            Ok(())
        }
        Command::Admin(AdminCommand::SetRole { user, role }) => {
            let user = starling_server::admin::set_role(&settings, &user, &role).await?;
            println!(
                "@{} (id {}) is now {}",
                user.username,
                user.id,
                user.role.as_str()
            );
            Ok(())
        }
        Command::Config => {
            let shown = toml_like(&settings.redacted())?;
            print!("{shown}");
            Ok(())
        }
    }
}

/// Renders settings as `key = value` lines (TOML syntax), unset ones commented.
fn toml_like(s: &Settings) -> anyhow::Result<String> {
    let serde_json::Value::Object(map) = serde_json::to_value(s)? else {
        anyhow::bail!("settings did not serialise to a map");
    };
    let mut out = String::new();
    for (k, v) in map {
        match v {
            serde_json::Value::Null => out.push_str(&format!("# {k} = (not set)\n")),
            other => out.push_str(&format!("{k} = {other}\n")),
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        bind: cli.common.bind.clone(),
        data_dir: cli.common.data_dir.clone(),
        roles: cli.common.roles.clone(),
    };
    let settings = match config::load(cli.common.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("starling: {e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(cli.command, Some(Command::Config)) {
        init_logging(&settings);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("starling: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling: {e:#}");
            ExitCode::FAILURE
        }
    }
}
