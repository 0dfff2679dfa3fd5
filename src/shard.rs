//! `possim certify --shard K/N`: which slice of the selected scenarios one CI job runs, and
//! `possim report merge`, which puts the shards' reports back together
//! (`possim_reports::merge`).
//!
//! The split is a pure function of the selection and the durations file, so N jobs given the
//! same targets, filters and durations agree on it without talking to each other: longest
//! scenarios first, each to the shard with the least work so far (ties to the lower shard).
//! Durations come from an earlier run's `report.json` (`--durations`); a scenario it does not
//! know weighs the median of those it does (every scenario the same without a file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use possim_conformance::runner::Planned;
use possim_reports::RunReport;

use crate::certify::CertifyArgs;

/// Shard K of N (K from 1, as GitLab's `CI_NODE_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K.
    pub index: usize,
    /// N.
    pub total: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?}: expected K/N with 1 ≤ K ≤ N, e.g. 2/4");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let total: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

/// The shard to run: `--shard` if given, else GitLab's `CI_NODE_INDEX`/`CI_NODE_TOTAL` when
/// both are set (a `parallel:` job), else none.
pub fn from_flag_or_env(flag: Option<Shard>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Shard>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match (env("CI_NODE_INDEX"), env("CI_NODE_TOTAL")) {
        (Some(index), Some(total)) => {
            let shard: Shard = format!("{index}/{total}")
                .parse()
                .map_err(|e| anyhow::anyhow!("CI_NODE_INDEX/CI_NODE_TOTAL: {e}"))?;
            Ok(Some(shard))
        }
        _ => Ok(None),
    }
}

/// `possim certify` with a shard (flag or GitLab's variables): keeps only the shard's scenarios
/// of `planned` and returns what its report records; `None` without sharding.
pub fn apply(args: &CertifyArgs, planned: &mut Vec<Planned>) -> anyhow::Result<Option<possim_reports::Shard>> {
    let Some(shard) = from_flag_or_env(args.shard, |name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    if args.defects {
        bail!("--defects audits are not sharded; run the audit in one job");
    }
    let durations = match &args.durations {
        Some(path) => read_durations(path).context("--durations")?,
        None => BTreeMap::new(),
    };
    let ids: Vec<&str> = planned.iter().map(|p| p.scenario.id.as_str()).collect();
    let mine = select(&ids, &durations, shard);
    let info = possim_reports::Shard {
        index: shard.index,
        total: shard.total,
        plan: ids.iter().map(|id| id.to_string()).collect(),
    };
    let mut position = 0;
    planned.retain(|_| {
        position += 1;
        mine.binary_search(&(position - 1)).is_ok()
    });
    if !args.quiet {
        eprintln!(
            "possim: shard {}/{}: {} of {} scenarios",
            shard.index,
            shard.total,
            planned.len(),
            info.plan.len()
        );
    }
    Ok(Some(info))
}

/// Scenario durations (ms) by id from an earlier run's `report.json` (or its directory).
pub fn read_durations(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let report = read_report(path)?;
    Ok(report.scenarios.into_iter().map(|s| (s.id, s.duration_ms)).collect())
}

/// Reads a `report.json`, given as the file or its directory.
pub fn read_report(path: &Path) -> anyhow::Result<RunReport> {
    let file: PathBuf = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a possim report.json", file.display()))
}

/// The positions (into `ids`, ascending: run order is kept) of the scenarios shard `shard` runs.
pub fn select(ids: &[&str], durations: &BTreeMap<String, u64>, shard: Shard) -> Vec<usize> {
    let mut known: Vec<u64> = ids.iter().filter_map(|id| durations.get(*id).copied()).collect();
    known.sort_unstable();
    let default = known.get(known.len() / 2).copied().unwrap_or(1).max(1);
    let weight = |i: usize| durations.get(ids[i]).copied().unwrap_or(default).max(1);
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|a, b| weight(*b).cmp(&weight(*a)).then_with(|| ids[*a].cmp(ids[*b])));
    let mut load = vec![0u64; shard.total];
    let mut mine = Vec::new();
    for i in order {
        let target = (0..shard.total).min_by_key(|k| (load[*k], *k)).unwrap_or(0);
        load[target] += weight(i);
        if target + 1 == shard.index {
            mine.push(i);
        }
    }
    mine.sort_unstable();
    mine
}

/// `possim report merge DIR… --out DIR`: `Ok(true)` when the merged run is certified.
pub fn merge_command(dirs: &[PathBuf], out: &Path) -> anyhow::Result<bool> {
    if dirs.is_empty() {
        bail!("give the report directories of every shard");
    }
    let reports = dirs
        .iter()
        .map(|d| read_report(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = possim_reports::merge::merge(&reports)?;
    let written = possim_reports::write_all(&merged, out)
        .with_context(|| format!("writing the merged reports to {}", out.display()))?;
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    crate::certify::print_out(&format!(
        "{}\nReports: {}\n",
        possim_reports::markdown::render(&merged),
        names.join(", ")
    ));
    Ok(merged.summary.verdict == possim_reports::Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: usize, total: usize) -> Shard {
        Shard { index, total }
    }

    #[test]
    fn shard_numbers_parse_like_gitlab_counts_them() {
        assert_eq!("2/4".parse::<Shard>(), Ok(shard(2, 4)));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let env = |name: &str| match name {
            "CI_NODE_INDEX" => Some("3".to_owned()),
            "CI_NODE_TOTAL" => Some("5".to_owned()),
            _ => None,
        };
        assert_eq!(from_flag_or_env(None, env).unwrap(), Some(shard(3, 5)));
        assert_eq!(from_flag_or_env(Some(shard(1, 2)), env).unwrap(), Some(shard(1, 2)));
        assert_eq!(from_flag_or_env(None, |_| None).unwrap(), None);
        assert!(
            from_flag_or_env(None, |n| (n == "CI_NODE_INDEX")
                .then(|| "7".into())
                .or(Some("2".into())))
            .is_err()
        );
    }

    proptest::proptest! {
        /// The shards partition the selection, each in run order, whatever the durations.
        #[test]
        fn shards_partition_the_selection(count in 0usize..40, total in 1usize..7, seed in proptest::collection::vec(0u64..5000, 40)) {
            let names: Vec<String> = (0..count).map(|i| format!("s/{i:02}")).collect();
            let ids: Vec<&str> = names.iter().map(String::as_str).collect();
            let durations: BTreeMap<String, u64> = names.iter().zip(&seed).filter(|(_, d)| **d % 3 != 0).map(|(n, d)| (n.clone(), *d)).collect();
            let mut all: Vec<usize> = Vec::new();
            for k in 1..=total {
                let part = select(&ids, &durations, shard(k, total));
                proptest::prop_assert!(part.windows(2).all(|w| w[0] < w[1]));
                proptest::prop_assert_eq!(&part, &select(&ids, &durations, shard(k, total)));
                all.extend(part);
            }
            all.sort_unstable();
            proptest::prop_assert_eq!(all, (0..count).collect::<Vec<_>>());
        }
    }

    /// Balanced by duration: one long scenario gets a shard to itself, the short ones share.
    #[test]
    fn long_scenarios_are_spread_first() {
        let ids = ["a", "b", "c", "d", "e"];
        let durations: BTreeMap<String, u64> = [("a", 100), ("b", 10), ("c", 10), ("d", 10), ("e", 10)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(select(&ids, &durations, shard(1, 2)), vec![0]);
        assert_eq!(select(&ids, &durations, shard(2, 2)), vec![1, 2, 3, 4]);
        // Without durations: equal weights, counts differ by at most one.
        let none = BTreeMap::new();
        let sizes: Vec<usize> = (1..=3).map(|k| select(&ids, &none, shard(k, 3)).len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }
}
