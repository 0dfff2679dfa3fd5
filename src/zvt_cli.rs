//! `possim zvt register|pay|reverse|refund|end-of-day|status|abort`: a correct ECR at the command line,
//! to poke the virtual terminal (or a real one on the LAN, over TLS, or a COM port). Prints every
//! terminal message decoded, then one JSON line with the outcome as the driver contract spells a ZVT
//! result (status, the authorised amount and the receipt number where the terminal reported them);
//! exits 1 when the terminal aborted or refused.

use anyhow::Context;
use possim_terminal::ecr::{Ecr, IssueGoods, Outcome};
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
    /// Speak TLS to the --tcp address (a terminal's TLS port, e.g. the `zvt-tls` of `possim serve`).
    #[arg(long, global = true)]
    pub tls: bool,
    /// CA certificate(s), PEM, the terminal's certificate must chain to [default: possim's test CA].
    #[arg(long, value_name = "FILE", global = true, requires = "tls")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Name the terminal's certificate is checked against and sent as SNI [default: the host of --tcp].
    #[arg(long, value_name = "NAME", global = true, requires = "tls")]
    pub tls_name: Option<String>,
    /// Client certificate chain, PEM (with --tls-key), for a terminal that asks for one.
    #[arg(long, value_name = "FILE", global = true, requires_all = ["tls", "tls_key"])]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The client certificate's private key, PEM.
    #[arg(long, value_name = "FILE", global = true, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
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
        #[arg(long, value_name = "MS", conflicts_with = "issue_goods")]
        abort_after_ms: Option<u64>,
        /// Act as an unattended machine (vending, fuel) whose issue of goods goes so:
        /// ok, later:N (N times "not yet", 84 9C), partial:AMOUNT (84 9D), fail (84 66) or
        /// silent (no answer). The Authorisation then carries BMP 01 <timeout>.
        #[arg(long, value_name = "OUTCOME")]
        issue_goods: Option<IssueGoods>,
        /// Seconds the terminal waits for the answer during issue of goods (BMP 01).
        #[arg(long, value_name = "S", default_value_t = 30, requires = "issue_goods")]
        goods_timeout: u8,
        /// How many "not yet" answers the terminal accepts (BMP 02) [default: unlimited].
        #[arg(long, value_name = "N", requires = "issue_goods")]
        max_status_infos: Option<u8>,
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
    /// Abort (06 B0) of the payment that waits for the customer, e.g. one `possim zvt pay`
    /// started in another shell.
    Abort,
}

/// `possim zvt console`: play the customer at the virtual terminal by hand.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// Admin API of the running possim.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7100")]
    pub admin: String,
}

const CONSOLE_HELP: &str =
    "  insert <card>   put a card in (girocard, mastercard, visa, visa-low-limit, maestro, payback in the default data;
                  payback for a PAYBACK redemption, which redeems all points up to the basket)
  pin <digits>    type a PIN (wrong ones count against the try limit)
  abort           press the abort key
  help            this text
  quit            give the customers back to the data set (also Ctrl-D)";

/// Runs the console until `quit` or end of input. While it runs, every unscripted customer of
/// the virtual terminal waits for the operator; what the terminal shows is printed as it happens.
pub async fn console(args: ConsoleArgs) -> anyhow::Result<bool> {
    use tokio::io::AsyncBufReadExt;
    let client = possim_conformance::admin::AdminClient::new(&args.admin);
    client
        .zvt_operator_mode(true)
        .await
        .with_context(|| format!("taking over the customers at {}", args.admin))?;
    println!("possim zvt console: you are the customer now. Start a payment at the till, then:\n{CONSOLE_HELP}");
    // What the terminal shows and does, from the journal, as it happens.
    let watcher = {
        let client = possim_conformance::admin::AdminClient::new(&args.admin);
        tokio::spawn(async move {
            let mut seen = client
                .journal(0)
                .await
                .ok()
                .and_then(|e| e.last().map(|e| e.id))
                .unwrap_or(0);
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let Ok(entries) = client.journal(seen).await else {
                    continue;
                };
                for entry in entries {
                    seen = seen.max(entry.id);
                    if let possim_engine::journal::Exchange::Zvt { direction, text, .. } = &entry.exchange {
                        use possim_engine::journal::ZvtDirection;
                        let first = text.lines().next().unwrap_or("");
                        match direction {
                            ZvtDirection::Note => println!("  terminal: {first}"),
                            ZvtDirection::PtToEcr if !first.starts_with("80 00") => {
                                let detail = text.lines().nth(1).map(str::trim).unwrap_or("");
                                println!("  terminal -> till: {first} {detail}");
                            }
                            _ => {}
                        }
                    }
                }
            }
        })
    };
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        let action = match words.as_slice() {
            [] => continue,
            ["quit" | "exit"] => break,
            ["help"] => {
                println!("{CONSOLE_HELP}");
                continue;
            }
            ["insert", card] => serde_json::json!({"insert": card}),
            ["pin", pin] => serde_json::json!({"pin": pin}),
            ["abort"] => serde_json::json!("abort"),
            _ => {
                println!("  ? {line:?} — type help");
                continue;
            }
        };
        if let Err(e) = client.zvt_operator(action).await {
            println!("  ! {e}");
        }
    }
    watcher.abort();
    client.zvt_operator_mode(false).await?;
    println!("possim zvt console: the data set's customers are back.");
    Ok(true)
}

fn cents(text: &str) -> anyhow::Result<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        anyhow::bail!("{text:?} is not an amount like 12.50");
    }
    Ok(whole.parse::<u64>()? * 100 + format!("{frac:0<2}").parse::<u64>()?)
}

async fn connect_tls(link: &Link, password: u32) -> anyhow::Result<Ecr> {
    let read =
        |path: &std::path::Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let ca = match &link.tls_ca {
        Some(path) => read(path)?,
        None => crate::terminal::TEST_CA_PEM.to_owned(),
    };
    let client = match (&link.tls_cert, &link.tls_key) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    let connector = possim_terminal::tls::connector(&ca, client.as_ref().map(|(c, k)| (c.as_str(), k.as_str())))?;
    let host = match &link.tls_name {
        Some(name) => name.clone(),
        // `[::1]:22001` → `::1`; `localhost:22001` → `localhost`.
        None => link
            .tcp
            .rsplit_once(':')
            .map_or(link.tcp.as_str(), |(host, _)| host)
            .trim_matches(['[', ']'])
            .to_owned(),
    };
    let name = possim_terminal::tls::server_name(&host)?;
    Ecr::connect_tls(&link.tcp, &connector, name, password)
        .await
        .with_context(|| format!("connecting to the terminal at {} over TLS (as {host})", link.tcp))
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
        None if link.tls => connect_tls(&link, password).await?,
        None => Ecr::connect(&link.tcp, password)
            .await
            .with_context(|| format!("connecting to the terminal at {}", link.tcp))?,
    };
    let transcript = match command {
        EcrCommand::Register { config } => {
            let byte = u8::from_str_radix(&config, 16).with_context(|| format!("config byte {config:?} is not hex"))?;
            ecr.register(byte).await
        }
        EcrCommand::Pay {
            amount,
            abort_after_ms,
            issue_goods,
            goods_timeout,
            max_status_infos,
        } => match (abort_after_ms, issue_goods) {
            (Some(ms), _) => {
                ecr.pay_then_abort(cents(&amount)?, std::time::Duration::from_millis(ms))
                    .await
            }
            (None, Some(plan)) => {
                ecr.pay_issuing_goods(cents(&amount)?, plan, goods_timeout, max_status_infos)
                    .await
            }
            (None, None) => ecr.pay(cents(&amount)?).await,
        },
        EcrCommand::Reverse { receipt } => ecr.reverse(receipt).await,
        EcrCommand::Refund { amount } => ecr.refund(cents(&amount)?).await,
        EcrCommand::EndOfDay => ecr.end_of_day().await,
        EcrCommand::Status => ecr.status().await,
        EcrCommand::Abort => ecr.abort().await,
    }
    .context("the transaction did not complete")?;
    for message in &transcript.messages {
        print!("{message}");
    }
    println!("{}", possim_pos::zvt::report(&transcript));
    Ok(transcript.outcome == Outcome::Completed)
}
