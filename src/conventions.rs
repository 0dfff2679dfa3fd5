//! What a user of an installed command-line tool expects beside its real work: shell
//! completions (`possim completions SHELL`), a man page (`possim man`), the JSON Schemas of the
//! files and lines a vendor writes (`possim schema …`), and the exit codes and environment
//! variables at the end of `--help`. All of it is generated from the clap definition and the
//! serde types, so it cannot drift from what the binary accepts.

use std::io::Write;

use anyhow::Context;

/// Printed after `possim --help` (and in the man page).
pub const EXIT_CODES_AND_ENVIRONMENT: &str = "\
Exit codes:
  0  success; for `certify` every required scenario passed (with --defects: and every planted
     defect was caught)
  1  a failure: for `certify` a required scenario did not pass (with --defects: a planted defect
     was not caught); for the other commands any error
  2  usage or configuration error of `certify`, `record` or `pos` (a broken golden flow, a POS
     command that cannot be started, a missing file); clap's usage errors are 2 everywhere

Environment:
  RUST_LOG         log filter for diagnostics on stderr (default `warn`), e.g. RUST_LOG=debug
  NO_COLOR         when set to a non-empty value, `certify` prints its verdict without colour;
                   colour is used only when standard output is a terminal anyway
  CI               when set, `certify` draws no live progress lines
  POSSIM_*         the reference tills (`possim pos …`) read their provider URLs and credentials
                   from the variables the exec driver sets (POSSIM_TYRIOS_URL, …); see
                   `possim pos <till> --help`
";

/// The command line as `possim` parses and documents it: clap's derived definition, with the
/// terminal-link options (`--tcp`, `--serial`, `--password`, the `--tls…` family, global to
/// `possim zvt`) hidden from
/// the help of the subcommands that never open a link (`decode`, `console`). Still accepted
/// there, so no command line that worked stops working.
pub fn command(derived: clap::Command) -> clap::Command {
    // clap copies a global option into a subcommand only where the subcommand has none of that
    // id, so a hidden one of the same id takes its place in that subcommand's help.
    let hide_link = |sub: clap::Command| {
        let with_values = [
            ("tcp", "tcp"),
            ("serial", "serial"),
            ("password", "password"),
            ("tls_ca", "tls-ca"),
            ("tls_name", "tls-name"),
            ("tls_cert", "tls-cert"),
            ("tls_key", "tls-key"),
        ];
        let sub = with_values.into_iter().fold(sub, |sub, (id, long)| {
            sub.arg(clap::Arg::new(id).long(long).value_name("IGNORED").hide(true))
        });
        sub.arg(
            clap::Arg::new("tls")
                .long("tls")
                .action(clap::ArgAction::SetTrue)
                .hide(true),
        )
    };
    derived.mut_subcommand("zvt", |zvt| {
        zvt.mut_subcommand("decode", hide_link)
            .mut_subcommand("console", hide_link)
    })
}

/// Whether to colour what goes to standard output: only on a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn colour_stdout() -> bool {
    use std::io::IsTerminal as _;
    wants_colour(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
}

fn wants_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// The Markdown summary with its verdict (`— CERTIFIED`, `— NOT CERTIFIED` in the first line) in
/// bold green or red; everything else as it was.
pub fn paint_verdict(summary: &str) -> String {
    let (headline, rest) = summary.split_once('\n').unwrap_or((summary, ""));
    let painted = ["NOT CERTIFIED", "CERTIFIED"].into_iter().find_map(|verdict| {
        let at = headline.rfind(&format!("— {verdict}"))? + "— ".len();
        let colour = if verdict == "CERTIFIED" { "32" } else { "31" };
        Some(format!(
            "{}\x1b[1;{colour}m{verdict}\x1b[0m{}",
            &headline[..at],
            &headline[at + verdict.len()..]
        ))
    });
    match painted {
        Some(headline) if summary.contains('\n') => format!("{headline}\n{rest}"),
        Some(headline) => headline,
        None => summary.to_owned(),
    }
}

/// The shells `possim completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// bash (source it, or put it in /usr/share/bash-completion/completions/possim).
    Bash,
    /// zsh (put it as `_possim` in a directory of `$fpath`).
    Zsh,
    /// fish (put it in ~/.config/fish/completions/possim.fish).
    Fish,
    /// PowerShell (dot-source it from your profile).
    Powershell,
}

/// Which schema `possim schema` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SchemaKind {
    /// A golden flow file (scenarios/**/*.toml read as JSON), actions included.
    Scenario,
    /// The action object the exec driver hands to a POS (stdin, POSSIM_ACTION).
    Action,
    /// The result line a POS prints on stdout.
    Result,
}

/// Writes the completion script of `command` for `shell`.
pub fn completions(mut command: clap::Command, shell: Shell, out: &mut dyn Write) -> anyhow::Result<()> {
    use clap_complete::shells;
    let name = command.get_name().to_owned();
    // Into memory first: clap_complete panics on a failed write (a closed pipe); ours reports it.
    let mut script = Vec::new();
    match shell {
        Shell::Bash => clap_complete::generate(shells::Bash, &mut command, name, &mut script),
        Shell::Zsh => clap_complete::generate(shells::Zsh, &mut command, name, &mut script),
        Shell::Fish => clap_complete::generate(shells::Fish, &mut command, name, &mut script),
        Shell::Powershell => clap_complete::generate(shells::PowerShell, &mut command, name, &mut script),
    }
    out.write_all(&script).context("writing the completion script")?;
    Ok(())
}

/// Writes the man page (roff) of `command`, its subcommands' options included.
pub fn man(command: clap::Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut command = command.after_help(EXIT_CODES_AND_ENVIRONMENT);
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    // One section per subcommand (and theirs: `zvt pay`, `pos tyrios`) with its options, so
    // `man possim` answers `possim certify --help` too.
    command.build();
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        subcommand_section(out, "POSSIM", &command, sub)?;
    }
    writeln!(out, ".SH \"EXIT STATUS AND ENVIRONMENT\"\n.nf")?;
    writeln!(out, "{}", roff_text(EXIT_CODES_AND_ENVIRONMENT))?;
    writeln!(out, ".fi")?;
    man.render_version_section(out)?;
    Ok(())
}

/// A `.SH` section for `sub` with its options (not those it inherits from `parent` as global
/// ones, shown there), then one for each of its own subcommands.
fn subcommand_section(
    out: &mut dyn Write,
    parent_title: &str,
    parent: &clap::Command,
    sub: &clap::Command,
) -> anyhow::Result<()> {
    let title = format!("{parent_title} {}", sub.get_name().to_uppercase());
    let inherited = |arg: &clap::Arg| arg.is_global_set() && parent.get_arguments().any(|p| p.get_id() == arg.get_id());
    writeln!(out, ".SH \"{title}\"")?;
    if let Some(about) = sub.get_about() {
        writeln!(out, "{}", roff_text(&about.to_string()))?;
    }
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && !inherited(a)) {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("\\-{s}, \\-\\-{l}"),
            (None, Some(l)) => format!("\\-\\-{l}"),
            (Some(s), None) => format!("\\-{s}"),
            (None, None) => arg.get_id().to_string().to_uppercase(),
        };
        writeln!(out, ".TP\n\\fB{flag}\\fR")?;
        if let Some(help) = arg.get_help() {
            writeln!(out, "{}", roff_text(&help.to_string()))?;
        }
    }
    for nested in sub.get_subcommands().filter(|s| s.get_name() != "help") {
        subcommand_section(out, &title, sub, nested)?;
    }
    Ok(())
}

/// Text as roff: backslashes and hyphens escaped, characters beyond ASCII as `\[uXXXX]` (troff
/// reads bytes), no line starting with a control character.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let escaped: String = line
                .chars()
                .map(|c| match c {
                    '\\' => "\\e".to_owned(),
                    '-' => "\\-".to_owned(),
                    c if c.is_ascii() => c.to_string(),
                    c => format!("\\[u{:04X}]", u32::from(c)),
                })
                .collect();
            if escaped.starts_with('.') || escaped.starts_with('\'') {
                format!("\\&{escaped}")
            } else {
                escaped
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints the schema, pretty.
pub fn schema(kind: SchemaKind, out: &mut dyn Write) -> anyhow::Result<()> {
    use possim_conformance::schema;
    let value = match kind {
        SchemaKind::Scenario => schema::scenario(),
        SchemaKind::Action => schema::action(),
        SchemaKind::Result => schema::result(),
    };
    let text = serde_json::to_string_pretty(&value).context("printing the schema")?;
    writeln!(out, "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(wants_colour(true, None));
        assert!(wants_colour(true, Some(OsStr::new(""))), "an empty NO_COLOR is unset");
        assert!(!wants_colour(true, Some(OsStr::new("1"))));
        assert!(!wants_colour(false, None));
    }

    #[test]
    fn the_verdict_alone_is_painted() {
        assert_eq!(
            paint_verdict("## TYRIOS — CERTIFIED\n\nCERTIFIED stays\n"),
            "## TYRIOS — \x1b[1;32mCERTIFIED\x1b[0m\n\nCERTIFIED stays\n"
        );
        assert_eq!(
            paint_verdict("## TYRIOS — NOT CERTIFIED\n"),
            "## TYRIOS — \x1b[1;31mNOT CERTIFIED\x1b[0m\n"
        );
        assert_eq!(paint_verdict("no verdict here\n"), "no verdict here\n");
    }

    #[test]
    fn roff_text_escapes_control_lines_and_hyphens() {
        assert_eq!(
            roff_text(".start\n'quote\nplain-text"),
            "\\&.start\n\\&'quote\nplain\\-text"
        );
        assert_eq!(roff_text("a … b"), "a \\[u2026] b");
    }
}
