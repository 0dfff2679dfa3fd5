//! `possim pos <provider>`: the reference POS clients as commands that follow the `exec` driver
//! contract — the action as JSON on stdin (or `--action FILE`), the provider's URL and
//! credentials from flags or `POSSIM_<PROVIDER>_*`, the result as one JSON line on stdout.

use std::path::PathBuf;

use anyhow::Context;
use possim_pos::PlantableDefect;
use possim_pos::{computop, loymax, payback, tyrios, zvt};
use serde_json::Value;

/// `possim pos` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PosCommand {
    /// A correct TYRIOS eCash till: identify, simulate (draft), execute.
    Tyrios(TyriosArgs),
    /// A correct PAYBACK loyalty till: collect with a kept transactionId, PIN never past the
    /// lock, redeem at most the basket.
    Payback(PaybackArgs),
    /// A correct cash register (ECR) for the virtual ZVT terminal: registers, acknowledges
    /// every terminal message, waits T4, reports only a completed payment.
    Zvt(ZvtArgs),
    /// A correct web shop paying with PAYBACK PAY through the Computop Paygate: checks every
    /// notify's MAC, ignores AUTHORIZE_REQUEST, books once, credits with the PayID in the MAC.
    Computop(ComputopArgs),
    /// A correct Loymax till (XML protocol 3.2): calculate → payment within the allowed
    /// write-off → discount → confirm, cancels what fails, retries a lost answer with the same
    /// OperationID, sells offline without points and uploads later, voids by refund, signs.
    Loymax(LoymaxArgs),
}

/// `possim pos loymax` arguments.
#[derive(Debug, clap::Args)]
pub struct LoymaxArgs {
    /// Processing base URL (the till posts to `<url>/XmlExchange/<project>/<login>/`).
    #[arg(long, env = "POSSIM_LOYMAX_URL", default_value = "http://127.0.0.1:7104")]
    pub url: String,
    /// Project.
    #[arg(long, env = "POSSIM_LOYMAX_PROJECT", default_value = "possim")]
    pub project: String,
    /// Device login.
    #[arg(long, env = "POSSIM_LOYMAX_LOGIN", default_value = "kassa-1")]
    pub login: String,
    /// Device password.
    #[arg(long, env = "POSSIM_LOYMAX_PASSWORD", default_value = "demo", hide_env_values = true)]
    pub password: String,
    /// The device's private key (PEM) to sign requests with; default: possim's committed test
    /// key for device kassa-2, none for other devices.
    #[arg(long, env = "POSSIM_LOYMAX_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The processing's public key (PEM) signed answers are checked with; default: possim's
    /// committed test key.
    #[arg(long, env = "POSSIM_LOYMAX_PROCESSING_KEY", value_name = "FILE")]
    pub processing_key: Option<PathBuf>,
    #[arg(long = "defect", value_name = "NAME", help = loymax::Defect::help("Plant an integration bug"))]
    pub defects: Vec<String>,
    /// The action as a JSON file (default: standard input).
    #[arg(long, value_name = "FILE")]
    pub action: Option<PathBuf>,
}

/// `possim pos computop` arguments.
#[derive(Debug, clap::Args)]
pub struct ComputopArgs {
    /// Paygate base URL.
    #[arg(long, env = "POSSIM_COMPUTOP_URL", default_value = "http://127.0.0.1:7102")]
    pub url: String,
    /// MerchantID.
    #[arg(long, env = "POSSIM_COMPUTOP_MERCHANT_ID", default_value = "your_merchant_id")]
    pub merchant_id: String,
    /// HMAC password (MAC).
    #[arg(
        long,
        env = "POSSIM_COMPUTOP_HMAC_PASSWORD",
        default_value = "mySecret",
        hide_env_values = true
    )]
    pub hmac_password: String,
    /// Blowfish or AES password (Data).
    #[arg(
        long,
        env = "POSSIM_COMPUTOP_CRYPT_PASSWORD",
        default_value = "16CharKeyLength!",
        hide_env_values = true
    )]
    pub crypt_password: String,
    /// `blowfish` or `aes`.
    #[arg(long, env = "POSSIM_COMPUTOP_CIPHER", default_value = "blowfish")]
    pub cipher: String,
    /// How long to wait for the payment's final status, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub wait_ms: u64,
    #[arg(long = "defect", value_name = "NAME", help = computop::Defect::help("Plant an integration bug"))]
    pub defects: Vec<String>,
    /// The action as a JSON file (default: standard input).
    #[arg(long, value_name = "FILE")]
    pub action: Option<PathBuf>,
}

/// `possim pos zvt` arguments.
#[derive(Debug, clap::Args)]
pub struct ZvtArgs {
    /// The terminal's TCP address (`tcp://` optional).
    #[arg(long, env = "POSSIM_ZVT_URL", default_value = "127.0.0.1:20007")]
    pub tcp: String,
    /// The terminal's serial port, used when the action says `link = "serial"`.
    #[arg(long, env = "POSSIM_ZVT_SERIAL_URL", default_value = "possim-zvt.tty")]
    pub serial: String,
    /// Terminal password (6 digits).
    #[arg(long, default_value = "000000")]
    pub password: String,
    #[arg(long = "defect", value_name = "NAME", help = zvt::Defect::help("Plant an ECR bug"))]
    pub defects: Vec<String>,
    /// The action as a JSON file (default: standard input).
    #[arg(long, value_name = "FILE")]
    pub action: Option<PathBuf>,
}

/// `possim pos payback` arguments.
#[derive(Debug, clap::Args)]
pub struct PaybackArgs {
    /// PAYBACK base URL.
    #[arg(long, env = "POSSIM_PAYBACK_URL", default_value = "http://127.0.0.1:7103")]
    pub url: String,
    /// Partner short name ("Kurzname des Partners").
    #[arg(long, env = "POSSIM_PAYBACK_PARTNER", default_value = "possim-optik")]
    pub partner: String,
    /// User.
    #[arg(long, env = "POSSIM_PAYBACK_LOGIN", default_value = "possim")]
    pub user: String,
    /// Password.
    #[arg(
        long,
        env = "POSSIM_PAYBACK_PASSWORD",
        default_value = "demo",
        hide_env_values = true
    )]
    pub password: String,
    /// The ZVT terminal for redemptions through the card terminal (Austria), `tcp://` optional.
    #[arg(long, env = "POSSIM_ZVT_URL", default_value = "127.0.0.1:20007")]
    pub zvt: String,
    #[arg(long = "defect", value_name = "NAME", help = payback::Defect::help("Plant an integration bug"))]
    pub defects: Vec<String>,
    /// The action as a JSON file (default: standard input).
    #[arg(long, value_name = "FILE")]
    pub action: Option<PathBuf>,
}

/// `possim pos tyrios` arguments.
#[derive(Debug, clap::Args)]
pub struct TyriosArgs {
    /// TYRIOS base URL.
    #[arg(long, env = "POSSIM_TYRIOS_URL", default_value = "http://127.0.0.1:7101")]
    pub url: String,
    /// Login.
    #[arg(long, env = "POSSIM_TYRIOS_LOGIN", default_value = "demo")]
    pub login: String,
    /// Password.
    #[arg(long, env = "POSSIM_TYRIOS_PASSWORD", default_value = "demo", hide_env_values = true)]
    pub password: String,
    #[arg(long = "defect", value_name = "NAME", help = tyrios::Defect::help("Plant an integration bug"))]
    pub defects: Vec<String>,
    /// The action as a JSON file (default: standard input).
    #[arg(long, value_name = "FILE")]
    pub action: Option<PathBuf>,
}

/// Runs the command; the result object goes to stdout.
pub async fn run(command: PosCommand) -> anyhow::Result<()> {
    match command {
        PosCommand::Tyrios(args) => {
            let defects = tyrios::Defect::parse_all(&args.defects).map_err(anyhow::Error::msg)?;
            let action = read_action(args.action.as_deref())?;
            let pos = tyrios::TyriosPos {
                url: args.url,
                login: args.login,
                password: args.password,
                defects,
            };
            let result = pos.perform(&action).await;
            println!("{result}");
            Ok(())
        }
        PosCommand::Payback(args) => {
            let defects = payback::Defect::parse_all(&args.defects).map_err(anyhow::Error::msg)?;
            let action = read_action(args.action.as_deref())?;
            let pos = payback::PaybackPos {
                url: args.url,
                partner: args.partner,
                user: args.user,
                password: args.password,
                defects,
                zvt: args.zvt,
                zvt_password: 0,
            };
            println!("{}", pos.perform(&action).await);
            Ok(())
        }
        PosCommand::Computop(args) => {
            let defects = computop::Defect::parse_all(&args.defects).map_err(anyhow::Error::msg)?;
            let cipher = computop::parse_cipher(&args.cipher).map_err(anyhow::Error::msg)?;
            let action = read_action(args.action.as_deref())?;
            let pos = computop::ComputopPos {
                url: args.url,
                account: possim_computop::client::Account {
                    merchant_id: args.merchant_id,
                    hmac_password: args.hmac_password,
                    crypt_password: args.crypt_password,
                    cipher,
                },
                wait: std::time::Duration::from_millis(args.wait_ms),
                defects,
            };
            println!("{}", pos.perform(&action).await);
            Ok(())
        }
        PosCommand::Loymax(args) => {
            let defects = loymax::Defect::parse_all(&args.defects).map_err(anyhow::Error::msg)?;
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let key = match &args.key {
                Some(path) => Some(read(path)?),
                None => loymax::LoymaxPos::default_key(&args.login),
            };
            let processing_key = match &args.processing_key {
                Some(path) => read(path)?,
                None => loymax::LoymaxPos::default_processing_key(),
            };
            let action = read_action(args.action.as_deref())?;
            let pos = loymax::LoymaxPos {
                url: args.url,
                project: args.project,
                login: args.login,
                password: args.password,
                key,
                processing_key: Some(processing_key),
                defects,
            };
            println!("{}", pos.perform(&action).await);
            Ok(())
        }
        PosCommand::Zvt(args) => {
            let defects = zvt::Defect::parse_all(&args.defects).map_err(anyhow::Error::msg)?;
            let password = args
                .password
                .parse::<u32>()
                .ok()
                .filter(|p| args.password.len() == 6 && *p <= 999_999)
                .context("--password must be 6 digits")?;
            let action = read_action(args.action.as_deref())?;
            let pos = zvt::ZvtPos {
                tcp: args.tcp,
                serial: Some(args.serial),
                password,
                defects,
            };
            println!("{}", pos.perform(&action).await);
            Ok(())
        }
    }
}

fn read_action(path: Option<&std::path::Path>) -> anyhow::Result<Value> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => std::io::read_to_string(std::io::stdin()).context("reading the action from standard input")?,
    };
    serde_json::from_str(&text).context("the action is not valid JSON")
}

/// The planted defects of the reference till `till` (`possim pos <till>`), by their `--defect`
/// names; `None` when there is no such till.
pub fn defect_names(till: &str) -> Option<Vec<String>> {
    Some(match till {
        "tyrios" => tyrios::Defect::names(),
        "payback" => payback::Defect::names(),
        "zvt" => zvt::Defect::names(),
        "computop" => computop::Defect::names(),
        "loymax" => loymax::Defect::names(),
        _ => return None,
    })
}
