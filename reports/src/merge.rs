//! Puts the reports of a sharded run (`possim certify --shard K/N`, one per CI job) back
//! together into the report one unsharded run would have written: the same scenarios in the same
//! order, the same counts per level and overall, the same verdict. Pure; `possim report merge`
//! reads and writes the files.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{LevelSummary, RunReport, ScenarioReport, Summary};

/// Why shard reports do not make one run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    /// Nothing given.
    #[error("no reports to merge")]
    Empty,
    /// A report was not written with `--shard`.
    #[error("report {0} was not written by a sharded run (possim certify --shard K/N)")]
    NotSharded(usize),
    /// The shards were cut from different selections or a different N.
    #[error(
        "the reports are not shards of one run: {0} (every shard needs the same targets, filters and --durations file)"
    )]
    Mismatch(String),
    /// Some of the N shards are missing or given twice.
    #[error("shards {missing:?} of {total} are missing{twice}")]
    Incomplete {
        /// Missing indices (from 1).
        missing: Vec<usize>,
        /// N.
        total: usize,
        /// Indices given more than once, as text.
        twice: String,
    },
    /// A `--defects` audit cannot be split.
    #[error("report {0} holds a --defects audit; audits are not sharded")]
    Audit(usize),
}

/// Merges the reports of shards 1..=N (in any order) into one.
pub fn merge(reports: &[RunReport]) -> Result<RunReport, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let mut shards = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        if report.detection.is_some() {
            return Err(MergeError::Audit(i + 1));
        }
        shards.push((report.shard.as_ref().ok_or(MergeError::NotSharded(i + 1))?, report));
    }
    let (shard, _) = shards[0];
    let total = shard.total;
    if let Some((other, _)) = shards.iter().find(|(s, _)| s.total != total || s.plan != shard.plan) {
        let what = if other.total != total {
            format!(
                "shard {} is one of {}, shard {} one of {total}",
                other.index, other.total, shard.index
            )
        } else {
            format!(
                "shards {} and {} selected different scenarios",
                shard.index, other.index
            )
        };
        return Err(MergeError::Mismatch(what));
    }
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for (s, _) in &shards {
        *seen.entry(s.index).or_default() += 1;
    }
    let missing: Vec<usize> = (1..=total).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| i.to_string())
        .collect();
    let stray = seen.keys().any(|i| *i == 0 || *i > total);
    if !missing.is_empty() || !twice.is_empty() || stray {
        return Err(MergeError::Incomplete {
            missing,
            total,
            twice: if twice.is_empty() {
                String::new()
            } else {
                format!(", shards {} given more than once", twice.join(", "))
            },
        });
    }
    let mut by_id: BTreeMap<&str, &ScenarioReport> = BTreeMap::new();
    for (s, report) in &shards {
        for scenario in &report.scenarios {
            if by_id.insert(&scenario.id, scenario).is_some() {
                return Err(MergeError::Mismatch(format!(
                    "scenario {} ran in more than one shard (shard {})",
                    scenario.id, s.index
                )));
            }
        }
    }
    let planned: BTreeSet<&str> = shard.plan.iter().map(String::as_str).collect();
    if let Some(extra) = by_id.keys().find(|id| !planned.contains(*id)) {
        return Err(MergeError::Mismatch(format!(
            "scenario {extra} is not in the shards' plan"
        )));
    }
    let mut scenarios = Vec::new();
    for id in &shard.plan {
        match by_id.get(id.as_str()) {
            Some(scenario) => scenarios.push((*scenario).clone()),
            None => return Err(MergeError::Mismatch(format!("no shard ran scenario {id}"))),
        }
    }
    let levels = merged_levels(reports, &scenarios);
    let mut environment = first.environment.clone();
    environment.suites.clear();
    for report in reports {
        for suite in &report.environment.suites {
            if !environment.suites.contains(suite) {
                environment.suites.push(suite.clone());
            }
        }
    }
    Ok(RunReport {
        schema: first.schema.clone(),
        title: first.title.clone(),
        // The shards ran side by side: the run started with the first and took as long as the
        // slowest.
        started_at: reports.iter().map(|r| r.started_at.clone()).min().unwrap_or_default(),
        duration_ms: reports.iter().map(|r| r.duration_ms).max().unwrap_or_default(),
        environment,
        summary: Summary::of(&scenarios),
        levels,
        scenarios,
        detection: None,
        shard: None,
    })
}

/// The per-level counts of the merged scenarios, in the unsharded run's order: suites in the
/// order their first scenario ran, levels within a suite likewise (a suite's scenarios run in
/// level order).
fn merged_levels(reports: &[RunReport], scenarios: &[ScenarioReport]) -> Vec<LevelSummary> {
    let mut descriptions: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for level in reports.iter().flat_map(|r| &r.levels) {
        descriptions.insert((&level.suite, &level.name), &level.description);
    }
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut suites: Vec<&str> = Vec::new();
    for scenario in scenarios {
        if !suites.contains(&scenario.suite.as_str()) {
            suites.push(&scenario.suite);
        }
        let key = (scenario.suite.as_str(), scenario.level.as_str());
        if !order.contains(&key) {
            order.push(key);
        }
    }
    order.sort_by_key(|(suite, _)| suites.iter().position(|s| s == suite));
    order
        .into_iter()
        .filter(|key| descriptions.contains_key(key))
        .map(|(suite, name)| LevelSummary {
            suite: suite.to_owned(),
            name: name.to_owned(),
            description: descriptions[&(suite, name)].to_owned(),
            counts: Summary::of(scenarios.iter().filter(|s| s.suite == suite && s.level == name)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Environment, Shard, Verdict};

    fn scenario(id: &str, suite: &str, level: &str, verdict: Verdict) -> ScenarioReport {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": id, "suite": suite, "level": level, "required": true, "tags": [],
            "verdict": verdict, "durationMs": 5, "action": {}, "diffs": [], "exchanges": []
        }))
        .unwrap()
    }

    fn report(scenarios: Vec<ScenarioReport>, shard: Option<Shard>) -> RunReport {
        let mut levels: Vec<LevelSummary> = Vec::new();
        for s in &scenarios {
            if !levels.iter().any(|l| l.suite == s.suite && l.name == s.level) {
                levels.push(LevelSummary {
                    suite: s.suite.clone(),
                    name: s.level.clone(),
                    description: format!("{} level", s.level),
                    counts: Summary::of(scenarios.iter().filter(|x| x.suite == s.suite && x.level == s.level)),
                });
            }
        }
        RunReport {
            schema: crate::model::SCHEMA.into(),
            title: "t".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 10,
            environment: Environment {
                possim_version: "0".into(),
                platform: "p".into(),
                driver: "exec".into(),
                pos: "pos".into(),
                target: "in-process".into(),
                suites: vec!["a".into(), "b".into()],
                providers: vec![],
            },
            summary: Summary::of(&scenarios),
            levels,
            scenarios,
            detection: None,
            shard,
        }
    }

    /// The whole run: suite a (two levels), then suite b; one required failure.
    fn whole() -> Vec<ScenarioReport> {
        vec![
            scenario("a/1", "a", "minimum", Verdict::Pass),
            scenario("a/2", "a", "minimum", Verdict::Fail),
            scenario("a/3", "a", "full", Verdict::Pass),
            scenario("b/1", "b", "basic", Verdict::Pass),
            scenario("b/2", "b", "basic", Verdict::Error),
        ]
    }

    fn shards(split: &[&[usize]]) -> Vec<RunReport> {
        let all = whole();
        let plan: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
        split
            .iter()
            .enumerate()
            .map(|(k, members)| {
                let shard = Shard {
                    index: k + 1,
                    total: split.len(),
                    plan: plan.clone(),
                };
                report(members.iter().map(|i| all[*i].clone()).collect(), Some(shard))
            })
            .collect()
    }

    #[test]
    fn merged_shards_equal_the_unsharded_run_in_any_order() {
        let mut parts = shards(&[&[1, 4], &[0, 3], &[2]]);
        parts.reverse();
        let merged = merge(&parts).unwrap();
        let unsharded = report(whole(), None);
        assert_eq!(merged.scenarios, unsharded.scenarios);
        assert_eq!(merged.levels, unsharded.levels);
        assert_eq!(merged.summary, unsharded.summary);
        assert_eq!(merged.summary.verdict, Verdict::Fail);
        assert_eq!(merged.shard, None);
    }

    #[test]
    fn missing_twice_and_foreign_shards_are_refused() {
        let parts = shards(&[&[0, 1], &[2], &[3, 4]]);
        let err = merge(&parts[..2]).unwrap_err();
        assert!(
            matches!(&err, MergeError::Incomplete { missing, .. } if missing == &vec![3]),
            "{err}"
        );
        let twice = [parts[0].clone(), parts[0].clone(), parts[1].clone(), parts[2].clone()];
        assert!(merge(&twice).unwrap_err().to_string().contains("given more than once"));
        let mut other = parts.clone();
        other[1].shard.as_mut().unwrap().plan.pop();
        assert!(matches!(merge(&other), Err(MergeError::Mismatch(_))));
        let plain = report(whole(), None);
        assert_eq!(merge(&[plain]), Err(MergeError::NotSharded(1)));
        assert_eq!(merge(&[]), Err(MergeError::Empty));
    }
}
