//! The built-in conformance suites, compiled into the binary like the data sets (`build.rs`
//! embeds every `conformance/<suite>/` holding a `suite.toml` and everything under
//! `scenarios/`), so `possim certify tyrios` works from any directory; `possim suites` lists them
//! and `possim suites export` writes one out for reading or extending.
//!
//! The runner reads golden flows and their data directories from disk (a flow's `setup.data` is
//! a directory relative to the flow, and an attached possim loads it by path), so the embedded
//! tree is written to a private temporary directory on first use and removed when the command
//! ends. A user's suite (`suite.toml` anywhere) may `include` built-in suites or single built-in
//! flows beside its own; [`expand_includes`] resolves them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use possim_conformance::scenario::{self, Scenario, Suite};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/builtin_suites.rs"));
}

use generated::FILES;

/// Names of the built-in suites (`conformance/<name>/suite.toml` in the embedded tree), sorted.
pub fn names() -> Vec<&'static str> {
    FILES
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("conformance/")?.strip_suffix("/suite.toml"))
        .filter(|name| !name.contains('/'))
        .collect()
}

/// The embedded tree, written out on first use; removed again when dropped.
#[derive(Debug, Default)]
pub struct Builtin {
    root: OnceLock<PathBuf>,
}

impl Builtin {
    /// Nothing is written until a suite is used.
    pub fn new() -> Self {
        Self::default()
    }

    /// The directory holding the embedded tree (`conformance/…`, `scenarios/…`).
    fn root(&self) -> anyhow::Result<&Path> {
        if let Some(root) = self.root.get() {
            return Ok(root);
        }
        let root = private_dir()?;
        for (path, bytes) in FILES {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(self.root.get_or_init(|| root))
    }

    /// The directory of built-in suite `name`, if there is one.
    pub fn suite_dir(&self, name: &str) -> anyhow::Result<Option<PathBuf>> {
        if !names().contains(&name) {
            return Ok(None);
        }
        Ok(Some(self.root()?.join("conformance").join(name)))
    }

    /// Loads built-in suite `name` (with the binary's checks).
    pub fn load(&self, name: &str) -> anyhow::Result<Suite> {
        let dir = self
            .suite_dir(name)?
            .with_context(|| format!("no built-in suite {name:?} (built-in: {})", names().join(", ")))?;
        Ok(crate::certify::golden_flows().load_suite(&dir)?)
    }

    /// The built-in flow with this id, with its file and its suite's name.
    pub fn scenario(&self, id: &str) -> anyhow::Result<Option<(PathBuf, Scenario, String)>> {
        for name in names() {
            let suite = self.load(name)?;
            if let Some((path, found)) = suite.scenarios.into_iter().find(|(_, s)| s.id == id) {
                return Ok(Some((path, found, suite.def.name)));
            }
        }
        Ok(None)
    }
}

impl Drop for Builtin {
    fn drop(&mut self) {
        if let Some(root) = self.root.get() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// A new directory only this process uses.
fn private_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("possim-suites-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!(
        "no free temporary directory for the built-in suites under {}",
        base.display()
    )
}

/// Adds the flows a user suite's `include` names (built-in suites, or ids of built-in flows) to
/// it, in level order after its own, and refuses an include that names nothing, a level the
/// suite does not declare, or an id twice.
pub fn expand_includes(suite: &mut Suite, builtin: &Builtin) -> anyhow::Result<()> {
    let file = suite.dir.join("suite.toml");
    for entry in suite.def.include.clone() {
        let picked: Vec<(PathBuf, Scenario)> = if names().contains(&entry.as_str()) {
            builtin.load(&entry)?.scenarios
        } else if let Some((path, found, _)) = builtin.scenario(&entry)? {
            vec![(path, found)]
        } else {
            bail!(
                "{}: include {entry:?} is neither a built-in suite ({}) nor the id of a built-in flow (`possim certify SUITE --list` lists them)",
                file.display(),
                names().join(", ")
            );
        };
        for (path, found) in picked {
            if !suite.def.levels.iter().any(|l| l.name == found.level) {
                let levels: Vec<&str> = suite.def.levels.iter().map(|l| l.name.as_str()).collect();
                bail!(
                    "{}: the included flow {} has level {:?}, which suite {:?} does not declare (levels: {}); add it under [[levels]]",
                    file.display(),
                    found.id,
                    found.level,
                    suite.def.name,
                    levels.join(", ")
                );
            }
            suite.scenarios.push((path, found));
        }
    }
    let levels = suite.def.levels.clone();
    let rank = |level: &str| levels.iter().position(|l| l.name == level).unwrap_or(usize::MAX);
    suite.scenarios.sort_by_key(|(_, s)| rank(&s.level));
    scenario::check_unique(suite.scenarios.iter().map(|(p, s)| (p.as_path(), s)))?;
    Ok(())
}

/// `possim suites`: per built-in suite a line with its name, flow count, providers and levels,
/// and one with its title.
pub fn list() -> anyhow::Result<String> {
    let builtin = Builtin::new();
    let mut out = String::new();
    for name in names() {
        let suite = builtin.load(name)?;
        let levels: Vec<&str> = suite.def.levels.iter().map(|l| l.name.as_str()).collect();
        let mut providers: Vec<&str> = Vec::new();
        for (_, s) in &suite.scenarios {
            for p in &s.providers {
                if !providers.contains(&p.as_str()) {
                    providers.push(p);
                }
            }
        }
        out.push_str(&format!(
            "{name:22} {:>3} scenarios  providers: {:18} levels: {}\n{:22} {}\n",
            suite.scenarios.len(),
            providers.join(","),
            levels.join(","),
            "",
            suite.def.title
        ));
    }
    Ok(out)
}

/// `possim suites export NAME DIR`: writes a self-contained copy of a built-in suite, its
/// `suite.toml` (pointing at `scenarios/` beside it), its other files, and its flows with their
/// data directories under `DIR/scenarios/`. Refuses to overwrite an existing suite file.
/// Returns the number of files written.
pub fn export(name: &str, dir: &Path) -> anyhow::Result<usize> {
    let prefix = format!("conformance/{name}/");
    let suite_file = FILES
        .iter()
        .find(|(path, _)| path.strip_prefix(&prefix) == Some("suite.toml"))
        .with_context(|| format!("no built-in suite {name:?} (built-in: {})", names().join(", ")))?;
    let text = std::str::from_utf8(suite_file.1).context("the built-in suite.toml is not UTF-8")?;
    let def: scenario::SuiteFile = toml::from_str(text).context("the built-in suite.toml does not parse")?;
    let flows = def
        .scenarios
        .as_deref()
        .map(|rel| format!("{}/", normalise(&format!("{prefix}{rel}"))));
    if dir.join("suite.toml").exists() {
        bail!(
            "{} already holds a suite.toml; export into a new directory",
            dir.display()
        );
    }
    let mut files: BTreeMap<PathBuf, &[u8]> = BTreeMap::new();
    let exported_suite = rewrite_scenarios_key(text, name);
    for (path, bytes) in FILES {
        if let Some(rest) = path.strip_prefix(&prefix) {
            if rest != "suite.toml" {
                files.insert(dir.join(rest), bytes);
            }
        } else if let Some(rest) = flows.as_deref().and_then(|f| path.strip_prefix(f)) {
            files.insert(dir.join("scenarios").join(rest), bytes);
        }
    }
    for (path, bytes) in files
        .iter()
        .map(|(p, b)| (p.clone(), *b))
        .chain(std::iter::once((dir.join("suite.toml"), exported_suite.as_bytes())))
    {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.len() + 1)
}

/// The suite file with its `scenarios` key pointing at `scenarios/` beside it.
fn rewrite_scenarios_key(text: &str, name: &str) -> String {
    let mut out = format!(
        "# Exported from possim {}'s built-in suite {name:?} (`possim suites export`).\n",
        env!("CARGO_PKG_VERSION")
    );
    for line in text.lines() {
        if line.trim_start().starts_with("scenarios") && line.contains('=') {
            out.push_str("scenarios = \"scenarios\"\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `conformance/tyrios/../../scenarios/tyrios` → `scenarios/tyrios` (embedded paths only).
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// `possim record --out`: refuses a file inside the built-in suites of a possim checkout
/// (`scenarios/` or `conformance/` beside possim's own Cargo.toml), where an unreviewed flow
/// would change the official suites; `into_builtin` is the maintainers' way to add one.
pub fn check_record_target(out: &Path, into_builtin: bool) -> anyhow::Result<()> {
    if into_builtin {
        return Ok(());
    }
    let absolute = std::path::absolute(out).with_context(|| format!("resolving {}", out.display()))?;
    let absolute: PathBuf = absolute
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    for checkout in absolute.ancestors().skip(1) {
        let manifest = checkout.join("Cargo.toml");
        let is_possim =
            std::fs::read_to_string(&manifest).is_ok_and(|text| text.lines().any(|l| l.trim() == "name = \"possim\""));
        if !is_possim {
            continue;
        }
        for builtin in ["scenarios", "conformance"] {
            if absolute.starts_with(checkout.join(builtin)) {
                bail!(
                    "{} is inside possim's built-in suites ({}): an unreviewed recording there changes the official suites. \
                     Record into your own suite directory (e.g. `possim suites export tyrios my-suite`, or a suite.toml that \
                     includes the built-in one), or pass --into-builtin if you are adding a reviewed flow to possim itself",
                    out.display(),
                    checkout.join(builtin).display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every suite directory under `conformance/` is built in, none is invented.
    #[test]
    fn every_suite_of_the_checkout_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
        let mut on_disk: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("suite.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        assert_eq!(names(), on_disk);
        assert!(names().contains(&"tyrios"), "{:?}", names());
    }

    #[test]
    fn paths_normalise_like_the_loader_resolves_them() {
        assert_eq!(
            normalise("conformance/tyrios/../../scenarios/tyrios"),
            "scenarios/tyrios"
        );
        assert_eq!(normalise("conformance/x/./flows"), "conformance/x/flows");
    }

    #[test]
    fn the_exported_suite_points_at_its_own_flows() {
        let text = "# c\nname = \"t\"\nscenarios = \"../../scenarios/t\"\n[[levels]]\nname = \"m\"\n";
        let out = rewrite_scenarios_key(text, "t");
        assert!(out.contains("\nscenarios = \"scenarios\"\n"), "{out}");
        assert!(!out.contains("../../"), "{out}");
        assert!(out.contains("name = \"t\""), "{out}");
    }

    #[test]
    fn recording_into_the_checkouts_suites_is_refused_unless_asked_for() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let inside = root.join("scenarios/tyrios/my-sale.toml");
        let err = check_record_target(&inside, false).unwrap_err().to_string();
        assert!(err.contains("built-in suites"), "{err}");
        assert!(check_record_target(&inside, true).is_ok());
        assert!(check_record_target(&root.join("conformance/tyrios/x.toml"), false).is_err());
        let elsewhere = std::env::temp_dir().join("my-suite/flows/sale.toml");
        assert!(check_record_target(&elsewhere, false).is_ok());
    }
}
