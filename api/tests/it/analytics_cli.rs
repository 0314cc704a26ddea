//! `lux analytics …`: readable tables by default, the REST JSON with `--format json`, one-line errors.

use serde_json::Value;

use crate::support::{Scratch, cli_tests};

fn json(scratch: &Scratch, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let out = scratch.ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|error| panic!("{args:?}: {error}: {out}"))
}

async fn analytics_tables_and_json(scratch: &Scratch) {
    scratch.ok(&["demo", "--sessions", "8", "--seed", "2"]);

    let table = scratch.ok(&["analytics", "overview"]);
    assert!(table.contains("total") && table.contains("cost"), "{table}");
    let overview = json(scratch, &["analytics", "overview"]);
    assert_eq!(overview["totals"]["sessions"], 8, "{overview}");
    let series = overview["series"].as_array().unwrap();
    let sum = |field: &str| {
        series
            .iter()
            .map(|d| d[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(overview["totals"]["steps"].as_i64().unwrap(), sum("steps"));
    assert_eq!(
        overview["totals"]["cost_nusd"].as_i64().unwrap(),
        sum("cost_nusd")
    );

    // The same money, whichever way it is cut.
    let by_day = json(scratch, &["analytics", "costs", "--group-by", "day"]);
    assert_eq!(
        by_day["total"]["cost_nusd"],
        overview["totals"]["cost_nusd"]
    );
    let day_sum: i64 = by_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["cost_nusd"].as_i64().unwrap())
        .sum();
    assert_eq!(day_sum, overview["totals"]["cost_nusd"].as_i64().unwrap());
    let costs = scratch.ok(&["analytics", "costs", "--group-by", "tool"]);
    assert!(costs.contains("tool") && costs.contains("$"), "{costs}");

    let models = json(scratch, &["analytics", "models"]);
    let calls: i64 = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_calls"].as_i64().unwrap())
        .sum();
    assert_eq!(calls, overview["totals"]["model_calls"].as_i64().unwrap());
    let table = scratch.ok(&["analytics", "models"]);
    assert!(table.contains("mean conf"), "{table}");

    let rates = json(scratch, &["analytics", "bias-rates", "--group-by", "tool"]);
    assert_eq!(rates["group_by"], "tool");
    assert_eq!(rates["total"]["findings"], overview["totals"]["findings"]);
    let table = scratch.ok(&["analytics", "bias-rates", "--group-by", "bias_type"]);
    assert!(table.contains("bias type"), "{table}");

    let alerts = json(
        scratch,
        &[
            "analytics",
            "monitor",
            "--group-by",
            "day",
            "--since",
            "3650d",
        ],
    );
    assert_eq!(alerts["total"]["alerts"], overview["totals"]["alerts"]);
    let table = scratch.ok(&["analytics", "monitor"]);
    assert!(
        table.contains("kind") && table.contains("critical"),
        "{table}"
    );

    let advice = json(scratch, &["analytics", "recommendations"]);
    assert!(advice["items"].is_array(), "{advice}");
    scratch.ok(&["analytics", "recommendations"]);
}

async fn analytics_bad_input(scratch: &Scratch) {
    scratch.ok(&["migrate", "up"]);
    let empty = scratch.ok(&["analytics", "recommendations"]);
    assert!(empty.contains("no recommendations"), "{empty}");
    let since = scratch.fails(&["analytics", "overview", "--since", "yesterday"]);
    assert!(since.contains("--since"), "{since}");
    let inverted = scratch.fails(&[
        "analytics",
        "monitor",
        "--since",
        "2026-02-01",
        "--until",
        "2026-01-01",
    ]);
    assert!(inverted.contains("until"), "{inverted}");
    let limit = scratch.fails(&["analytics", "costs", "--limit", "0"]);
    assert!(limit.contains("limit"), "{limit}");
    let output = scratch.run(&["analytics", "monitor", "--group-by", "planet"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("planet"));
}

cli_tests!(analytics_tables_and_json, analytics_bad_input);
