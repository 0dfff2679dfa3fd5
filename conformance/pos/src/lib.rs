//! Reference POS clients: correct till-side implementations of each provider's integration,
//! used as the `exec` driver's POS (`possim pos <provider>`) to record golden flows and to prove
//! that a suite passes a correct till and fails a defective one (`--defect`).
//!
//! They take the action vocabulary of `possim_conformance::action` (the contract between runner
//! and till) and speak each provider's protocol like a real till would, so this crate depends on
//! the runner and on the provider client code; the runner never depends on it.
//!
//! Every till's planted bugs are an enum deriving [`clap::ValueEnum`] (its kebab-case variant
//! names are the `--defect` names) marked [`PlantableDefect`], which gives listing, parsing and
//! help text in one place.

pub mod computop;
pub mod loymax;
pub mod payback;
pub mod tyrios;
pub mod zvt;

use clap::ValueEnum;

/// A till's planted integration bugs, named on the command line (`--defect NAME`) by their
/// `clap::ValueEnum` names.
pub trait PlantableDefect: ValueEnum + Copy {
    /// Every defect's command-line name, in declaration order.
    fn names() -> Vec<String> {
        Self::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|value| value.get_name().to_owned())
            .collect()
    }

    /// Looks a defect up by its command-line name (exactly), naming the known ones when it is not
    /// there.
    fn parse(name: &str) -> Result<Self, String> {
        Self::value_variants()
            .iter()
            .copied()
            .find(|defect| defect.to_possible_value().is_some_and(|value| value.get_name() == name))
            .ok_or_else(|| format!("unknown defect {name:?} (known: {})", Self::names().join(", ")))
    }

    /// Parses every name given, failing on the first unknown one.
    fn parse_all(names: &[String]) -> Result<Vec<Self>, String> {
        names.iter().map(|name| Self::parse(name)).collect()
    }

    /// The `--defect` option's help: `"<lead>: name, name, … (repeatable)"`.
    fn help(lead: &str) -> String {
        format!("{lead}: {} (repeatable)", Self::names().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in till's defects: the mechanism, independent of any real till.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
    enum Toy {
        /// First.
        SkipDraft,
        /// Second.
        RefundMacWithoutPayid,
    }

    impl PlantableDefect for Toy {}

    #[test]
    fn names_are_kebab_case_in_declaration_order() {
        assert_eq!(Toy::names(), ["skip-draft", "refund-mac-without-payid"]);
        assert_eq!(
            Toy::help("Plant a bug"),
            "Plant a bug: skip-draft, refund-mac-without-payid (repeatable)"
        );
    }

    #[test]
    fn parsing_is_exact_and_names_the_known_defects() {
        assert_eq!(Toy::parse("refund-mac-without-payid"), Ok(Toy::RefundMacWithoutPayid));
        assert_eq!(
            Toy::parse("Skip-Draft"),
            Err("unknown defect \"Skip-Draft\" (known: skip-draft, refund-mac-without-payid)".to_owned())
        );
        assert_eq!(
            Toy::parse_all(&["skip-draft".into(), "skip-draft".into()]),
            Ok(vec![Toy::SkipDraft, Toy::SkipDraft])
        );
        assert!(Toy::parse_all(&["skip-draft".into(), "x".into()]).is_err());
    }
}
