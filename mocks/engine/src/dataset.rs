//! Data sets: named bundles of human-editable fixture files, one file per provider.
//!
//! A data set is a directory (`mocks/datasets/<name>/`) holding `possim.toml` (engine settings such
//! as a frozen clock) and one TOML file per provider (`tyrios.toml`, ...). The built-in sets are
//! compiled into the binary so `--data seed-examples` works from any directory; `--data PATH`
//! reads a directory of the same shape, so users can copy a built-in set and edit it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::clock::{Millis, parse_rfc3339};
use crate::error::EngineError;

/// Engine-level settings of a data set (`possim.toml`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSetSettings {
    /// One line saying what the set is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Freeze the clock at this RFC 3339 instant; real time when absent.
    #[serde(default)]
    pub clock: Option<String>,
    /// How much history the providers keep (`[retention]`).
    #[serde(default)]
    pub retention: crate::retention::Retention,
}

/// A loaded data set: its name, where it came from and its files' text.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// Name (built-in) or the directory path.
    pub name: String,
    /// Parsed `possim.toml`.
    pub settings: DataSetSettings,
    files: BTreeMap<String, String>,
}

impl DataSet {
    /// Builds a data set from file names and contents (used for the compiled-in sets).
    pub fn from_files<'a>(
        name: &str,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, EngineError> {
        let files: BTreeMap<String, String> = files.into_iter().map(|(n, t)| (n.to_owned(), t.to_owned())).collect();
        let settings = match files.get("possim.toml") {
            Some(text) => toml::from_str(text).map_err(|e| EngineError::DataSet {
                name: name.to_owned(),
                message: format!("possim.toml: {e}"),
            })?,
            None => DataSetSettings::default(),
        };
        let set = Self {
            name: name.to_owned(),
            settings,
            files,
        };
        set.clock_ms()?;
        Ok(set)
    }

    /// Reads every `*.toml` file of a directory.
    pub fn from_dir(dir: &Path) -> Result<Self, EngineError> {
        let name = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| EngineError::DataSet {
            name: name.clone(),
            message: format!("cannot read directory: {e}"),
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| EngineError::io(format!("reading {name}"), e))?;
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| EngineError::io(format!("reading {}", path.display()), e))?;
                let file = entry.file_name().to_string_lossy().into_owned();
                files.push((file, text));
            }
        }
        if files.is_empty() {
            return Err(EngineError::DataSet {
                name,
                message: "the directory holds no .toml files (expected possim.toml and one file per provider, e.g. tyrios.toml)".into(),
            });
        }
        Self::from_files(&name, files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Text of one file of the set, e.g. `tyrios.toml`.
    pub fn file(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(String::as_str)
    }

    /// The frozen clock instant the set asks for, if any.
    pub fn clock_ms(&self) -> Result<Option<Millis>, EngineError> {
        self.settings
            .clock
            .as_deref()
            .map(|c| {
                parse_rfc3339(c).map_err(|e| EngineError::DataSet {
                    name: self.name.clone(),
                    message: format!("possim.toml: clock: {e}"),
                })
            })
            .transpose()
    }

    /// A provider file parsed as TOML into `T`, with the set and file named in errors.
    pub fn parse_file<T: serde::de::DeserializeOwned>(&self, file: &str) -> Result<Option<T>, EngineError> {
        self.file(file)
            .map(|text| {
                toml::from_str(text).map_err(|e| EngineError::DataSet {
                    name: self.name.clone(),
                    message: format!("{file}: {e}"),
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_clock_come_from_possim_toml() {
        let set = DataSet::from_files(
            "t",
            [
                ("possim.toml", "clock = \"2019-10-29T12:24:04Z\"\n"),
                ("tyrios.toml", "x = 1\n"),
            ],
        )
        .unwrap();
        assert_eq!(set.clock_ms().unwrap(), Some(1_572_351_844_000));
        assert_eq!(set.file("tyrios.toml"), Some("x = 1\n"));
    }

    #[test]
    fn errors_name_the_set_and_file() {
        let err = DataSet::from_files("demo", [("possim.toml", "clock = \"soon\"")]).unwrap_err();
        assert!(
            err.to_string().starts_with("data set demo: possim.toml: clock:"),
            "{err}"
        );
        let err = DataSet::from_files("demo", [("possim.toml", "colck = 1")]).unwrap_err();
        assert!(err.to_string().contains("colck"), "{err}");
        let err = DataSet::from_dir(Path::new("/nonexistent/possim-set")).unwrap_err();
        assert!(err.to_string().contains("cannot read directory"), "{err}");
    }
}
