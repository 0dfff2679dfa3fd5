//! `possim zvt register|pay|reverse|refund|end-of-day|status`: a correct ECR at the command line,
//! to poke the virtual terminal (or a real one on the LAN or a COM port). Prints every terminal message decoded,
//! then one JSON line with the outcome; exits 1 when the terminal aborted or refused.

use anyhow::Context;
use possim_terminal::ecr::{Ecr, Outcome};
use possim_terminal::link::{LinkTimers, SerialQuirks};

/// Where the terminal is.
#[derive(Debug, clap::Args)]
pub struct Link {
    /// The terminal's TCP address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:20007", global = true)]
    pub tcp: String,
    /// The terminal's serial port instead (e.g. the path `possim serve` printed as zvt-serial,
    /// or ./possim-zvt.tty).
    #[arg(long, value_name = "PATH", global = true)]
    pub serial: Option<String>,
    /// Terminal password (6 digits).
    #[arg(long, default_value = "000000", global = true)]
    pub password: String,
}

/// The ECR commands.
#[derive(Debug, clap::Subcommand)]
pub enum EcrCommand {
    /// Registration (06 00) with a config byte in hex [default: BE: receipts and intermediate status to the ECR].
    Register {
        /// Config byte, hex.
        #[arg(default_value = "BE")]
        config: String,
    },
    /// Authorisation (06 01) of an amount in euros, e.g. 12.50.
    Pay {
        /// Amount.
        amount: String,
        /// Send Abort (06 B0) after this many milliseconds instead of waiting for the result.
        #[arg(long, value_name = "MS")]
        abort_after_ms: Option<u64>,
    },
    /// Reversal (06 30) of a receipt number.
    Reverse {
        /// Receipt number.
        receipt: u16,
    },
    /// Refund (06 31) of an amount in euros.
    Refund {
        /// Amount.
        amount: String,
    },
    /// End-of-Day (06 50).
    EndOfDay,
    /// Status Enquiry (05 01).
    Status,
}

fn cents(text: &str) -> anyhow::Result<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        anyhow::bail!("{text:?} is not an amount like 12.50");
    }
    Ok(whole.parse::<u64>()? * 100 + format!("{frac:0<2}").parse::<u64>()?)
}

/// Runs one command; `Ok(false)` when the terminal aborted or refused.
pub async fn run(link: Link, command: EcrCommand) -> anyhow::Result<bool> {
    let password = link
        .password
        .parse::<u32>()
        .ok()
        .filter(|p| link.password.len() == 6 && *p <= 999_999)
        .context("--password must be 6 digits")?;
    let mut ecr = match &link.serial {
        Some(path) => Ecr::open_serial(path, password, LinkTimers::default(), SerialQuirks::default())
            .with_context(|| format!("opening the terminal's serial port {path}"))?,
        None => Ecr::connect(&link.tcp, password)
            .await
            .with_context(|| format!("connecting to the terminal at {}", link.tcp))?,
    };
    let transcript = match command {
        EcrCommand::Register { config } => {
            let byte = u8::from_str_radix(&config, 16).with_context(|| format!("config byte {config:?} is not hex"))?;
            ecr.register(byte).await
        }
        EcrCommand::Pay { amount, abort_after_ms } => match abort_after_ms {
            Some(ms) => {
                ecr.pay_then_abort(cents(&amount)?, std::time::Duration::from_millis(ms))
                    .await
            }
            None => ecr.pay(cents(&amount)?).await,
        },
        EcrCommand::Reverse { receipt } => ecr.reverse(receipt).await,
        EcrCommand::Refund { amount } => ecr.refund(cents(&amount)?).await,
        EcrCommand::EndOfDay => ecr.end_of_day().await,
        EcrCommand::Status => ecr.status().await,
    }
    .context("the transaction did not complete")?;
    for message in &transcript.messages {
        print!("{message}");
    }
    println!("{}", serde_json::to_string(&transcript.outcome)?);
    Ok(transcript.outcome == Outcome::Completed)
}
