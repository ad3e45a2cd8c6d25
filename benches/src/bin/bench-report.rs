//! Prints the latest criterion results of the tracker benches as a markdown
//! table: ns per event for acktrack and both baselines, and how many times
//! slower each baseline is. Run it after `cargo bench -p acktrack-benches`:
//!
//! `cargo run --release -p acktrack-benches --bin bench-report [-- path/to/target/criterion]`
//!
//! It reads each benchmark's `new/benchmark.json` (id, throughput) and
//! `new/estimates.json` (the median time per iteration).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use acktrack_benches::scenario::parse_size;
use serde_json::Value;

const IMPLEMENTATIONS: [&str; 3] = ["acktrack", "hashmap_heap", "tokio_delayqueue"];
const GROUPS: [&str; 6] = [
    "lifecycle_in_order",
    "lifecycle_random_acks",
    "retry_storm",
    "expiry",
    "lifecycle_in_order_batched",
    "lifecycle_random_acks_batched",
];

/// One benchmark's median, in ns per element.
struct Result {
    group: String,
    function: String,
    value: String,
    ns_per_element: f64,
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn collect(dir: &Path, out: &mut Vec<Result>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(r) = read_result(&path) {
                out.push(r);
            }
        } else if path.file_name().is_some_and(|n| n != "base" && n != "report") {
            collect(&path, out);
        }
    }
}

fn read_result(new: &Path) -> Option<Result> {
    let bench = read_json(&new.join("benchmark.json"))?;
    let estimates = read_json(&new.join("estimates.json"))?;
    let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
    let median = estimates["median"]["point_estimate"].as_f64()?;
    Some(Result {
        group: bench["group_id"].as_str()?.to_string(),
        function: bench["function_id"].as_str().unwrap_or("").to_string(),
        value: bench["value_str"].as_str().unwrap_or("").to_string(),
        ns_per_element: median / elements,
    })
}

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        Path::new(&target).join("criterion")
    });
    let mut results = Vec::new();
    collect(&dir, &mut results);
    if results.is_empty() {
        eprintln!(
            "no criterion results under {}; run `cargo bench -p acktrack-benches` first",
            dir.display()
        );
        std::process::exit(1);
    }

    // (group, size) → implementation → ns per event.
    let mut table: BTreeMap<(usize, u64, String), BTreeMap<String, f64>> = BTreeMap::new();
    let mut others = Vec::new();
    for r in &results {
        match GROUPS.iter().position(|g| *g == r.group) {
            Some(g) => {
                let size = parse_size(&r.value).unwrap_or(0);
                table
                    .entry((g, size, r.value.clone()))
                    .or_default()
                    .insert(r.function.clone(), r.ns_per_element);
            }
            None => others.push(r),
        }
    }
    println!("Median ns per event (criterion's `new` estimates in {}):\n", dir.display());
    println!(
        "| group | in flight | acktrack | hashmap_heap | tokio_delayqueue | hashmap_heap / acktrack | tokio_delayqueue / acktrack |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let cell = |v: Option<&f64>| v.map_or("–".to_string(), |ns| format!("{ns:.1}"));
    for ((g, _, value), row) in &table {
        let [ours, map, tokio] = IMPLEMENTATIONS.map(|name| row.get(name));
        let ratio = |base: Option<&f64>| match (base, ours) {
            (Some(b), Some(o)) => format!("{:.2}×", b / o),
            _ => "–".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            GROUPS[*g],
            value,
            cell(ours),
            cell(map),
            cell(tokio),
            ratio(map),
            ratio(tokio),
        );
    }
    if !others.is_empty() {
        others.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
        println!("\n| benchmark | ns per element |");
        println!("|---|---:|");
        for r in others {
            let id = [r.group.as_str(), r.function.as_str(), r.value.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            println!("| {id} | {:.1} |", r.ns_per_element);
        }
    }
}
