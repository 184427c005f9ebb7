//! `achex`: serve the exchange, migrate its database, seed demo data, manage platform accounts.

use achex_core::{Clock, Role, SystemClock};
use achex_server::seed::{create_platform_user, seed_demo};
use achex_server::{Application, Settings, build_state, open_store};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "achex", version, about = "achex, the achievement exchange")]
struct Cli {
    /// Folder of configuration files (*.toml) layered over the defaults.
    #[arg(long, global = true, default_value = "config", env = "ACHEX_CONFIG_DIR")]
    config_dir: PathBuf,
    /// Data directory: SQLite database, attachments, JWT secret (overrides data.dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrates first).
    Serve {
        /// TCP port; 0 picks a free one. Overrides server.port.
        #[arg(long)]
        port: Option<u16>,
        /// Seed demo data first if the database has no listings.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill an empty database with data.
    Seed {
        /// Demo organisations, accounts and published listings from the shared corpora.
        #[arg(long, required = true)]
        demo: bool,
    },
    /// Replay every auction's bid log through the rules and check its hash chain.
    AuditBids {
        /// Only this auction.
        #[arg(long)]
        auction: Option<achex_core::AuctionId>,
    },
    /// Rebuild the search index from the database (run it with the server stopped when the index
    /// is embedded). Shows progress; the server keeps it current from then on.
    Reindex,
    /// Platform accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin or reviewer account (or reset an existing one's password and role).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "ACHEX_ADMIN_PASSWORD")]
        password: String,
        #[arg(long, value_enum)]
        role: PlatformRole,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformRole {
    Admin,
    Reviewer,
}

fn print_demo_logins(report: &achex_server::seed::SeedReport, password: &str) {
    if report.created {
        println!("Seeded {} published demo listings.", report.listings);
    } else {
        println!("Demo data present: {} published listings.", report.listings);
    }
    println!("Demo logins (password: {password}):");
    for login in &report.logins {
        println!("  {:<18} {:<36} {}", login.role.as_str(), login.email, login.organization);
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(&cli.config_dir).context("invalid configuration")?;
    if let Some(dir) = cli.data_dir {
        settings.data.dir = dir;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.filter));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    match cli.command {
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!("Database is up to date ({:?}).", store.backend());
        }
        Command::Seed { demo: _ } => {
            let store = open_store(&settings).await?;
            let report = seed_demo(&store, clock.clone(), &settings).await?;
            print_demo_logins(&report, settings.demo.password.expose());
        }
        Command::Admin { command: AdminCommand::Create { email, password, role } } => {
            let store = open_store(&settings).await?;
            let role = match role {
                PlatformRole::Admin => Role::Admin,
                PlatformRole::Reviewer => Role::Reviewer,
            };
            let user = create_platform_user(&store, clock.as_ref(), &email, &password, role).await?;
            println!("{} {} is ready.", user.role.as_str(), user.email);
        }
        Command::Reindex => {
            let store = open_store(&settings).await?;
            let indexed = achex_server::reindex::run(&settings, store).await?;
            println!("Indexed {indexed} public listings.");
        }
        Command::AuditBids { auction } => {
            let store = open_store(&settings).await?;
            let failures = achex_server::audit::audit_bids(&store, auction).await?;
            if failures > 0 {
                anyhow::bail!("{failures} auction(s) failed the audit");
            }
        }
        Command::Serve { port, demo } => {
            if let Some(port) = port {
                settings.server.port = port;
            }
            let store = open_store(&settings).await?;
            if demo {
                let report = seed_demo(&store, clock.clone(), &settings).await?;
                print_demo_logins(&report, settings.demo.password.expose());
            }
            let state = build_state(&settings, store, clock).await?;
            let app = Application::build(&settings, state)?;
            let recovered = app.start_engine(std::time::Duration::from_millis(250)).await?;
            if recovered > 0 {
                println!("Recovered {recovered} open auction(s) from their logs.");
            }
            let host = match settings.server.host.as_str() {
                "0.0.0.0" | "::" => "127.0.0.1",
                other => other,
            };
            println!(
                "achex is serving at http://{host}:{}/  (API docs: http://{host}:{}/api/docs/)",
                app.port(),
                app.port()
            );
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}
