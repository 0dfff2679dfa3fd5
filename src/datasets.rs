//! The data sets compiled into the binary, so `--data NAME` works from any directory.
//! A path (anything containing a `/` or naming an existing directory) is read from disk instead.

use std::path::Path;

use possim_engine::EngineError;
use possim_engine::dataset::DataSet;

/// Built-in sets: name and files.
const BUILTIN: &[(&str, &[(&str, &str)])] = &[
    (
        "default",
        &[
            ("possim.toml", include_str!("../mocks/datasets/default/possim.toml")),
            ("tyrios.toml", include_str!("../mocks/datasets/default/tyrios.toml")),
            ("payback.toml", include_str!("../mocks/datasets/default/payback.toml")),
            ("zvt.toml", include_str!("../mocks/datasets/default/zvt.toml")),
            ("computop.toml", include_str!("../mocks/datasets/default/computop.toml")),
            ("loymax.toml", include_str!("../mocks/datasets/default/loymax.toml")),
        ],
    ),
    (
        "seed-examples",
        &[
            (
                "possim.toml",
                include_str!("../mocks/datasets/seed-examples/possim.toml"),
            ),
            (
                "tyrios.toml",
                include_str!("../mocks/datasets/seed-examples/tyrios.toml"),
            ),
            (
                "payback.toml",
                include_str!("../mocks/datasets/seed-examples/payback.toml"),
            ),
            ("zvt.toml", include_str!("../mocks/datasets/seed-examples/zvt.toml")),
            (
                "computop.toml",
                include_str!("../mocks/datasets/seed-examples/computop.toml"),
            ),
            (
                "loymax.toml",
                include_str!("../mocks/datasets/seed-examples/loymax.toml"),
            ),
        ],
    ),
];

/// Names of the built-in sets.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Resolves a built-in name or a directory path.
pub fn resolve(name_or_path: &str) -> Result<DataSet, EngineError> {
    let path = Path::new(name_or_path);
    if name_or_path.contains('/') || path.is_dir() {
        return DataSet::from_dir(path);
    }
    match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        Some((name, files)) => DataSet::from_files(name, files.iter().copied()),
        None => Err(EngineError::NotFound(format!(
            "no data set named {name_or_path:?}; built-in sets: {}; or give a directory path",
            builtin_names().join(", ")
        ))),
    }
}
