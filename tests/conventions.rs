//! What an installed command-line tool offers beside its work: shell completions, the man page,
//! `--help` with exit codes and environment, the example config file, and the JSON Schemas of
//! golden flows, actions and results — checked by outside tools (bash, groff, Python's
//! `jsonschema`), not by possim's own code.
//!
//! The schema tests need `python3` with `jsonschema` (PyPI; `.ci/run` installs it): without it
//! they fail with the install command, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::Possim;

fn possim(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(args)
        .output()
        .expect("possim starts");
    assert!(
        output.status.success(),
        "possim {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of this test's own under the target directory (tests run in parallel).
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).expect("write scratch file");
    path
}

#[test]
fn bash_completion_parses_and_knows_the_subcommands() {
    let script = possim(&["completions", "bash"]).stdout;
    let text = String::from_utf8(script.clone()).unwrap();
    for word in ["certify", "serve", "completions", "schema", "--attach"] {
        assert!(text.contains(word), "bash completion lacks {word}");
    }
    let path = scratch("possim.bash", &script);
    let check = Command::new("bash").arg("-n").arg(&path).output().expect("bash starts");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn every_shell_gets_a_completion_script() {
    for (shell, marker) in [
        ("zsh", "#compdef possim"),
        ("fish", "complete -c possim"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let text = String::from_utf8(possim(&["completions", shell]).stdout).unwrap();
        assert!(text.contains(marker), "{shell}: no {marker:?} in\n{text}");
    }
}

#[test]
fn man_page_renders_without_warnings_and_covers_the_subcommands() {
    let page = possim(&["man"]).stdout;
    let text = String::from_utf8(page.clone()).unwrap();
    assert!(
        text.starts_with(".ie") || text.starts_with(".TH"),
        "not roff: {}",
        &text[..80.min(text.len())]
    );
    let path = scratch("possim.1", &page);
    // -ww: every warning; -z: parse and format, print nothing.
    let render = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .output()
        .expect("groff starts (Debian package groff-base)");
    assert!(render.status.success(), "groff failed");
    assert_eq!(String::from_utf8_lossy(&render.stderr), "", "groff warnings");
    let plain = Command::new("groff")
        .args(["-man", "-Tascii", "-P-cbou"])
        .arg(&path)
        .output()
        .expect("groff starts");
    let plain = String::from_utf8_lossy(&plain.stdout);
    for heading in [
        "POSSIM CERTIFY",
        "POSSIM SERVE",
        "POSSIM ZVT PAY",
        "POSSIM POS TYRIOS",
        "EXIT STATUS AND ENVIRONMENT",
        "NO_COLOR",
    ] {
        assert!(plain.contains(heading), "man page lacks {heading}:\n{plain}");
    }
    assert!(plain.contains("--attach"), "certify's options missing:\n{plain}");
}

#[test]
fn help_states_exit_codes_and_environment() {
    let help = String::from_utf8(possim(&["--help"]).stdout).unwrap();
    for needle in [
        "Exit codes:",
        "  2  usage or configuration error",
        "Environment:",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

/// `possim serve --config possim.example.toml`, every address overridden by a flag (port 0):
/// the file's data set, frozen clock and journal settings are in force.
#[tokio::test]
async fn serve_runs_with_the_example_config() {
    let config = repo().join("possim.example.toml");
    let possim = Possim::start("", &["--config", config.to_str().unwrap()]).await;
    let (status, health) = possim.admin("GET", "/__admin/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["dataset"], "default");
    assert_eq!(health["clock"]["iso"], "2024-06-03T09:30:00Z");
    assert_eq!(health["clock"]["frozen"], true);
    let (_, journal) = possim.admin("GET", "/__admin/journal", None).await;
    assert_eq!(journal["stats"]["capacity"], 10000, "{journal}");
    assert_eq!(journal["stats"]["enabled"], true, "{journal}");
}

/// Runs `tests/clients/validate_json_schema.py` on a schema printed by `possim schema KIND`.
fn validate(kind: &str, files: &[PathBuf]) -> (bool, String) {
    let schema = scratch(&format!("schema-{kind}.json"), &possim(&["schema", kind]).stdout);
    let mut args = vec![repo().join("tests/clients/validate_json_schema.py"), schema];
    args.extend(files.iter().cloned());
    python(&args, "jsonschema", "jsonschema")
}

/// Runs `python3 ARGS`; its success and stdout + stderr. Fails with the install line when the
/// validator package (`module`, from PyPI as `package`) is missing, so a missing tool is never
/// mistaken for an invalid document.
fn python<S: AsRef<std::ffi::OsStr>>(args: &[S], module: &str, package: &str) -> (bool, String) {
    let output = Command::new(crate::util::python3())
        .args(args)
        .output()
        .expect("python3 starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains(&format!("No module named '{module}'")),
        "python3 with {package} is needed: python3 -m pip install {package}"
    );
    (output.status.success(), text)
}

/// The golden flows under `dir`: every TOML file except the data sets flows load (`data/`).
fn toml_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() && path.file_name().is_some_and(|n| n == "data") {
            continue;
        }
        if path.is_dir() {
            toml_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "toml") {
            into.push(path);
        }
    }
}

#[test]
fn every_shipped_scenario_file_is_valid_against_the_scenario_schema() {
    let mut files = Vec::new();
    toml_files(&repo().join("scenarios"), &mut files);
    assert!(files.len() >= 70, "only {} scenario files found", files.len());
    let (ok, text) = validate("scenario", &files);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("checked {}, invalid 0", files.len())), "{text}");
}

#[test]
fn the_scenario_schema_refuses_what_the_loader_refuses() {
    let good = repo().join("scenarios/tyrios/sale-card-points.toml");
    let text = std::fs::read_to_string(&good).unwrap();
    // A typo in a top-level key, an action field the vocabulary lacks, an unknown action type.
    let broken = [
        text.replacen("title = ", "titel = ", 1),
        text.replacen("[action]", "[action]\ncolour = 1", 1),
        text.replacen("type = \"sale\"", "type = \"sell\"", 1),
    ];
    for (n, flow) in broken.iter().enumerate() {
        assert_ne!(flow, &text, "case {n} changed nothing");
        let path = scratch(&format!("broken-{n}.toml"), flow.as_bytes());
        let (ok, output) = validate("scenario", &[path]);
        assert!(!ok, "case {n} passed the schema: {output}");
        assert!(output.contains("invalid 1"), "case {n}: {output}");
    }
}

#[test]
fn reference_till_lines_are_valid_actions_and_results() {
    // The contract's own examples (conformance/README.md) as the exec driver's lines.
    let actions = scratch(
        "actions.jsonl",
        br#"{"type": "sale", "amount": "33.00", "productGroup": "Brillen", "customer": {"card": "UQBUFDJALK4WXYC"}}
{"type": "zvt-pay", "amount": "12.50"}
{"type": "payback-redeem", "customer": {"card": "4711"}, "basket": "30.00", "pinEntries": ["1234"], "receipt": "1"}
"#,
    );
    let (ok, text) = validate("action", &[actions]);
    assert!(ok, "{text}");
    let results = scratch(
        "results.jsonl",
        br#"{"status": "completed", "amountDue": "30.87", "redeemedPoints": 213, "obtainedPoints": 62}
{"status": "completed", "amount": "12.50", "receipt": 1}
{"status": "aborted", "resultCode": 5}
{"status": "error", "reason": "configuration"}
{"status": "refused", "stage": "payment", "error": "NotEnoughMoney"}
{"status": "cancelled"}
"#,
    );
    let (ok, text) = validate("result", &[results]);
    assert!(ok, "{text}");
    let wrong = scratch(
        "wrong-result.jsonl",
        b"{\"status\": \"done\"}\n{\"amountDue\": \"1.00\"}\n",
    );
    let (ok, text) = validate("result", &[wrong]);
    assert!(!ok && text.contains("invalid 2"), "{text}");
}

/// `GET /__admin/openapi.json` is a valid OpenAPI 3.1 document by `openapi-spec-validator`
/// (PyPI), and what it promises holds for a real request.
#[tokio::test]
async fn admin_api_serves_a_valid_openapi_description() {
    let possim = Possim::start("", &["--zvt-serial", "off"]).await;
    let (status, doc) = possim.admin("GET", "/__admin/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let path = scratch("openapi.json", doc.to_string().as_bytes());
    let script = "import json, sys\nfrom openapi_spec_validator import validate\n\
                  from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator\n\
                  validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\nprint('valid')";
    let (ok, text) = python(
        &[std::ffi::OsStr::new("-c"), script.as_ref(), path.as_os_str()],
        "openapi_spec_validator",
        "openapi-spec-validator",
    );
    assert!(ok && text.trim() == "valid", "{text}");
    let paths = doc["paths"].as_object().expect("paths");
    // The routes providers and the console add under `/__admin/<name>/` are described too, each
    // under its mount point (the lists are the `admin_router`s' and the console's routes).
    for (method, path) in [
        ("get", "/__admin/tyrios/outbox"),
        ("post", "/__admin/loymax/qr"),
        ("post", "/__admin/computop/decision"),
        ("post", "/__admin/computop/next-decisions"),
        ("get", "/__admin/computop/payments"),
        ("post", "/__admin/computop/seal"),
        ("post", "/__admin/computop/open"),
        ("post", "/__admin/zvt/operator"),
        ("put", "/__admin/zvt/operator"),
        ("post", "/__admin/zvt/customer"),
        ("get", "/__admin/console/events"),
        ("get", "/__admin/console/entries"),
        ("get", "/__admin/console/entry/{id}"),
        ("get", "/__admin/console/export"),
        ("get", "/__admin/console/cards"),
        ("post", "/__admin/console/run"),
        ("get", "/__admin/console/runs"),
        ("get", "/__admin/console/reports/{n}"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    // Every described path is served with exactly the described methods: a method no route has
    // (OPTIONS) reaches the route without running a handler, and axum answers 405 with the
    // methods the route has in `Allow` (an unknown path would get the admin API's 404).
    for (path, described) in paths {
        let url = path.replace("{provider}", "tyrios").replace(['{', '}'], "");
        let resp = possim
            .client()
            .request(reqwest::Method::OPTIONS, format!("{}{url}", possim.admin))
            .send()
            .await
            .expect("admin answers");
        assert_eq!(resp.status().as_u16(), 405, "{path} is described but not served");
        let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut served: Vec<String> = allow
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty() && m != "head")
            .collect();
        let mut documented: Vec<String> = described.as_object().expect("methods").keys().cloned().collect();
        served.sort();
        documented.sort();
        assert_eq!(served, documented, "methods of {path}");
    }
    // The health answer has the properties the description names, and no others.
    let (_, health) = possim.admin("GET", "/__admin/health", None).await;
    let mut described: Vec<&String> = doc["components"]["schemas"]["Health"]["properties"]
        .as_object()
        .expect("Health schema")
        .keys()
        .collect();
    let mut answered: Vec<&String> = health.as_object().unwrap().keys().collect();
    described.sort();
    answered.sort();
    assert_eq!(described, answered);
}

/// `possim zvt pay` ends with the result the driver contract documents for a ZVT payment
/// (conformance/README.md: status, the authorised amount, the receipt number).
#[tokio::test]
async fn zvt_pay_prints_the_documented_result() {
    let possim = Possim::start("", &["--zvt-serial", "off"]).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["zvt", "--tcp", &possim.zvt, "pay", "12.50"])
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("possim zvt pay finished within a minute")
        .expect("possim zvt pay ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON line last");
    assert_eq!(last["status"], "completed", "{stdout}");
    assert_eq!(last["amount"], "12.50", "{stdout}");
    assert!(last["receipt"].as_u64().is_some_and(|n| n >= 1), "{stdout}");
}

#[test]
fn zvt_decode_help_shows_only_what_decoding_uses() {
    let help = String::from_utf8(possim(&["zvt", "decode", "--help"]).stdout).unwrap();
    for link_option in ["--tcp", "--serial", "--password", "--tls"] {
        assert!(
            !help.contains(link_option),
            "decode --help shows {link_option}:\n{help}"
        );
    }
    assert!(help.contains("[HEX]..."), "{help}");
    // Still accepted (a script that passed them keeps working), and still shown where used.
    let decoded = possim(&["zvt", "--tcp", "127.0.0.1:1", "decode", "06", "00", "00"]).stdout;
    assert!(String::from_utf8_lossy(&decoded).contains("06 00"));
    let pay_help = String::from_utf8(possim(&["zvt", "pay", "--help"]).stdout).unwrap();
    assert!(pay_help.contains("--tcp"), "{pay_help}");
}

/// `certify` colours its verdict on a terminal only, and not at all with `NO_COLOR`. The
/// terminal is `script`'s pseudo-terminal (util-linux).
#[test]
fn certify_colours_its_verdict_on_a_terminal_unless_no_color() {
    let flow = repo().join("scenarios/tyrios/lookup-card.toml");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("colour-report");
    let certify = format!(
        "{} certify {} --out {} -- possim pos tyrios",
        env!("CARGO_BIN_EXE_possim"),
        flow.display(),
        out.display()
    );
    let run = |on_terminal: bool, no_color: Option<&str>| {
        let mut command = if on_terminal {
            let mut c = Command::new("script");
            c.args(["-qec", &certify, "/dev/null"]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &certify]);
            c
        };
        command.env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = command.output().expect("script/sh starts");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let green = "\u{1b}[1;32mCERTIFIED\u{1b}[0m";
    let coloured = run(true, None);
    assert!(coloured.contains(green), "{coloured:?}");
    for (on_terminal, no_color) in [(true, Some("1")), (false, None)] {
        let plain = run(on_terminal, no_color);
        assert!(
            !plain.contains(green) && plain.contains("— CERTIFIED"),
            "terminal {on_terminal}, NO_COLOR {no_color:?}: {plain:?}"
        );
    }
}
