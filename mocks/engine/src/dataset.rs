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
                message: format!("possim.toml: {}", toml_error(text, &e)),
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

    /// Reads every `*.toml` file of a directory: regular files only (no FIFOs or devices),
    /// symlinks only when they stay inside the directory, each within [`MAX_FILE_BYTES`] and
    /// at most [`MAX_FILES`] of them. Blocking I/O: call it off the async workers.
    pub fn from_dir(dir: &Path) -> Result<Self, EngineError> {
        let name = dir.display().to_string();
        let refuse = |message: String| EngineError::DataSet {
            name: name.clone(),
            message,
        };
        let root = dir
            .canonicalize()
            .map_err(|e| refuse(format!("cannot read directory: {e}")))?;
        let entries = std::fs::read_dir(&root).map_err(|e| refuse(format!("cannot read directory: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| refuse(format!("cannot read directory: {e}")))?;
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let file = entry.file_name().to_string_lossy().into_owned();
            if files.len() == MAX_FILES {
                return Err(refuse(format!("more than {MAX_FILES} .toml files")));
            }
            let text = read_data_file(&root, &path).map_err(|why| refuse(format!("{file}: {why}")))?;
            files.push((file, text));
        }
        if files.is_empty() {
            return Err(refuse(
                "the directory holds no .toml files (expected possim.toml and one file per provider, e.g. tyrios.toml)"
                    .into(),
            ));
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
                    message: format!("{file}: {}", toml_error(text, &e)),
                })
            })
            .transpose()
    }
}

/// Largest data set file read; a data set is hand-written fixtures, not a database.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most `.toml` files read from one directory.
pub const MAX_FILES: usize = 64;

/// One file of a data set directory, or why it is refused. Never follows a symlink out of
/// `root`, never opens anything but a regular file (a FIFO would block the reader forever),
/// never reads more than [`MAX_FILE_BYTES`].
fn read_data_file(root: &Path, path: &Path) -> Result<String, String> {
    use std::io::Read;
    let resolved = path.canonicalize().map_err(|e| format!("cannot open: {e}"))?;
    if !resolved.starts_with(root) {
        return Err("a symlink leading out of the data set directory; copy the file in instead".into());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // Opening a FIFO for reading waits for a writer unless non-blocking; the file type is
        // checked on the open handle, so a file swapped after the path check is caught too.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(&resolved).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot open: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, device or directory is never read)".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_FILE_BYTES} a data set file may have",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("more than the {MAX_FILE_BYTES} bytes a data set file may have"));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()))
}

/// A TOML error as `line L, column C: message`, without the quoted source line toml adds.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
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

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("possim-dataset-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn toml_errors_name_line_and_column_without_quoting_the_file() {
        let err =
            DataSet::from_files("demo", [("possim.toml", "description = \"x\"\nsecret-line = = 1\n")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("data set demo: possim.toml: line 2, column "),
            "{text}"
        );
        assert!(!text.contains("secret-line"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_inside_the_directory_are_read() {
        let outside = TempDir::new("outside");
        std::fs::write(outside.0.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        let set = TempDir::new("set");
        std::fs::write(set.0.join("possim.toml"), "description = \"d\"\n").unwrap();
        std::fs::write(set.0.join("real.txt"), "x = 1\n").unwrap();

        // A symlink inside the directory is fine.
        std::os::unix::fs::symlink(set.0.join("real.txt"), set.0.join("tyrios.toml")).unwrap();
        let loaded = DataSet::from_dir(&set.0).unwrap();
        assert_eq!(loaded.file("tyrios.toml"), Some("x = 1\n"));

        // One leading out is refused, naming the file and nothing of the target's content.
        std::fs::remove_file(set.0.join("tyrios.toml")).unwrap();
        std::os::unix::fs::symlink(outside.0.join("passwd"), set.0.join("tyrios.toml")).unwrap();
        let err = DataSet::from_dir(&set.0).unwrap_err().to_string();
        assert!(err.contains("tyrios.toml: a symlink leading out"), "{err}");
        assert!(!err.contains("root"), "{err}");
        std::fs::remove_file(set.0.join("tyrios.toml")).unwrap();

        // A FIFO is refused at once instead of blocking the reader.
        let made = std::process::Command::new("mkfifo")
            .arg(set.0.join("payback.toml"))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let err = DataSet::from_dir(&set.0).unwrap_err().to_string();
        assert!(err.contains("payback.toml: not a regular file"), "{err}");
    }
}
