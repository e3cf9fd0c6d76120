//! What a run prints: one [`Row`] per figure, with the floor measured in the same
//! run and the ratio between them, as a table on stdout and as JSON.
//!
//! The ratio always reads "how much of the floor we reach": `ours / floor` for
//! rates (higher is better), `floor / ours` for times and sizes (lower is better).
//! 1.0 means as fast as the floor.

use serde::Serialize;

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// A benchmark target and whether this figure meets it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub text: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub unit: String,
    pub better: Better,
    pub ours: f64,
    pub floor: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// What the floor is, or anything a reader needs to trust the figure.
    pub note: String,
}

impl Row {
    pub fn new(scenario: &str, metric: &str, unit: &str, better: Better, ours: f64) -> Self {
        Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            unit: unit.to_owned(),
            better,
            ours,
            floor: None,
            ratio: None,
            target: None,
            note: String::new(),
        }
    }

    pub fn floor(mut self, floor: f64) -> Self {
        self.floor = Some(floor);
        self.ratio = ratio(self.better, self.ours, floor);
        self
    }

    /// The ratio must reach `min`.
    pub fn ratio_target(mut self, min: f64) -> Self {
        let met = self.ratio.is_some_and(|r| r >= min);
        self.target = Some(Target {
            text: format!("ratio >= {min}"),
            met,
        });
        self
    }

    /// Our figure must stay at or under `max` (in the row's unit).
    pub fn at_most(mut self, max: f64) -> Self {
        self.target = Some(Target {
            text: format!("<= {} {}", human(max), self.unit),
            met: self.ours <= max,
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

fn ratio(better: Better, ours: f64, floor: f64) -> Option<f64> {
    let (num, den) = match better {
        Better::Higher => (ours, floor),
        Better::Lower => (floor, ours),
    };
    (den > 0.0 && num.is_finite()).then(|| num / den)
}

/// A whole run: where and when it ran, and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub size: String,
    pub database: String,
    pub machine: Machine,
    pub rows: Vec<Row>,
    /// Scenarios that failed, with why; their rows are missing.
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    /// `/proc/loadavg` when the run began: other work on the machine skews figures.
    pub load_at_start: String,
    pub nofile_limit: u64,
    /// Which cores the server (and floors) and the bench ran on.
    pub pinning: crate::pin::Pinning,
}

impl Machine {
    pub fn describe(nofile_limit: u64, pinning: crate::pin::Pinning) -> Machine {
        // The machine's, not this process's: the bench may be pinned to fewer.
        let cores = crate::pin::online_cores();
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| onboard_testkit::process::kib_field(&m, "MemTotal:"))
            .unwrap_or(0);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Machine {
            cores,
            memory_gib: (memory_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            load_at_start: load
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            nofile_limit,
            pinning,
        }
    }
}

/// A number with a sensible number of digits for a table.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

impl Report {
    /// The table: scenario, metric, ours, floor, ratio, target; notes below.
    pub fn table(&self) -> String {
        let mut lines =
            vec![["scenario", "metric", "ours", "floor", "ratio", "target"].map(str::to_owned)];
        for r in &self.rows {
            lines.push([
                r.scenario.clone(),
                r.metric.clone(),
                format!("{} {}", human(r.ours), r.unit),
                r.floor
                    .map_or("-".into(), |f| format!("{} {}", human(f), r.unit)),
                r.ratio.map_or("-".into(), |x| format!("{x:.2}")),
                r.target.as_ref().map_or("-".into(), |t| {
                    format!("{} ({})", t.text, if t.met { "met" } else { "MISSED" })
                }),
            ]);
        }
        let mut out = render(&lines);
        for r in self.rows.iter().filter(|r| !r.note.is_empty()) {
            out.push_str(&format!("\n* {} / {}: {}", r.scenario, r.metric, r.note));
        }
        for f in &self.failures {
            out.push_str(&format!("\n! {f}"));
        }
        out.push_str(&format!("\ncores: {}", self.machine.pinning.describe()));
        out.push('\n');
        out
    }
}

fn render(lines: &[[String; 6]]) -> String {
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join(" | ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("-|-"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_reads_as_a_share_of_the_floor_both_ways() {
        let rate = Row::new("s", "rate", "req/s", Better::Higher, 700.0).floor(1000.0);
        assert_eq!(rate.ratio, Some(0.7));
        let time = Row::new("s", "p99", "ms", Better::Lower, 2.0).floor(1.0);
        assert_eq!(time.ratio, Some(0.5));
        assert!(rate.ratio_target(0.7).target.unwrap().met);
    }

    #[test]
    fn the_table_lines_up_and_marks_missed_targets() {
        let report = Report {
            date: "d".into(),
            size: "tiny".into(),
            database: "sqlite".into(),
            machine: Machine::describe(1024, crate::pin::current()),
            rows: vec![Row::new("a", "b", "ms", Better::Lower, 20.0).at_most(10.0)],
            failures: vec![],
        };
        let table = report.table();
        assert!(table.contains("<= 10.0 ms (MISSED)"), "{table}");
        assert_eq!(table.lines().next().unwrap().find('|'), Some(9));
    }
}
