//! The data sets compiled into the binary, so `--data NAME` works from any directory.
//! A path (anything containing a `/` or naming an existing directory) is read from disk instead.

use std::path::Path;

use possim_engine::EngineError;
use possim_engine::dataset::DataSet;

use crate::registry::PROVIDERS;

/// A built-in set: its name, its `possim.toml`, and every provider's data file in registry
/// order (named by [`ProviderSpec::data_file`](crate::registry::ProviderSpec::data_file)).
type Builtin = (&'static str, &'static str, &'static [&'static str]);

/// One built-in set, compiled in from `mocks/datasets/<set>/`: `possim.toml` and the files the
/// registry's [`data_files!`](crate::registry::data_files) lists.
macro_rules! builtin_set {
    ($set:literal, $($file:literal),*) => {
        (
            $set,
            include_str!(concat!("../mocks/datasets/", $set, "/possim.toml")),
            &[$(include_str!(concat!("../mocks/datasets/", $set, "/", $file))),*],
        )
    };
}

/// Built-in sets.
const BUILTIN: &[Builtin] = &[
    crate::registry::data_files!(builtin_set!("default",)),
    crate::registry::data_files!(builtin_set!("seed-examples",)),
];

/// Names of the built-in sets.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _, _)| *n).collect()
}

/// Resolves a built-in name or a directory path.
pub fn resolve(name_or_path: &str) -> Result<DataSet, EngineError> {
    let path = Path::new(name_or_path);
    if name_or_path.contains('/') || path.is_dir() {
        let set = DataSet::from_dir(path)?;
        // A directory of unrelated TOML would load as a set where every login fails.
        if !PROVIDERS.iter().any(|p| set.file(p.data_file).is_some()) {
            let names: Vec<&str> = PROVIDERS.iter().map(|p| p.data_file).collect();
            return Err(EngineError::DataSet {
                name: set.name,
                message: format!("the directory holds none of the provider files ({})", names.join(", ")),
            });
        }
        return Ok(set);
    }
    match BUILTIN.iter().find(|(n, _, _)| *n == name_or_path) {
        Some((name, settings, providers)) => {
            let files = PROVIDERS.iter().map(|p| p.data_file).zip(providers.iter().copied());
            DataSet::from_files(name, std::iter::once(("possim.toml", *settings)).chain(files))
        }
        None => Err(EngineError::NotFound(format!(
            "no data set named {name_or_path:?}; built-in sets: {}; or give a directory path",
            builtin_names().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in set holds a file for every provider, under the registry's name.
    #[test]
    fn builtin_sets_have_every_providers_file() {
        for name in builtin_names() {
            let set = resolve(name).unwrap();
            for spec in PROVIDERS {
                assert!(set.file(spec.data_file).is_some(), "{name} lacks {}", spec.data_file);
            }
        }
    }
}
