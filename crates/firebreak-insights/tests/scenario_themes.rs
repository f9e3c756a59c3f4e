//! Themes on the surge scenarios' venting: the clusters the crisis team would name
//! (late recall, products still on shelves, unreachable hotline, boycott, quality)
//! come out as themes, each mostly about one thing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use firebreak_core::Channel;
use firebreak_encoder::Encoder;
use firebreak_insights::{Observation, Tracker};

fn venting(file: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../load-tests/scenarios")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.len() == 4 && fields[0] == "venting")
                .then(|| (fields[2].to_string(), fields[3].to_string()))
        })
        .collect()
}

/// Purity (the share of messages whose theme's majority label is their own) and the
/// labels that are the majority of a theme among the top `top`.
fn cluster(rows: &[(String, String)], top: usize) -> (f64, Vec<String>) {
    let encoder = Encoder::shared();
    let mut tracker = Tracker::default();
    let mut members: HashMap<u64, Vec<&str>> = HashMap::new();
    for (i, (label, text)) in rows.iter().enumerate() {
        let embedding = firebreak_insights::theme_vector(encoder.embed(text).as_slice(), text);
        let id = format!("m{i}");
        let theme = tracker
            .observe(&Observation {
                channel: Channel::X,
                at_ms: 1_000_000,
                message_id: &id,
                negative: true,
                embedding: Some(embedding.as_slice()),
                near_key_question: None,
                handling: "ignored",
            })
            .unwrap();
        members.entry(theme).or_default().push(label);
    }
    let mut themes: Vec<(usize, String, usize)> = members
        .values()
        .map(|labels| {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for l in labels {
                *counts.entry(l).or_default() += 1;
            }
            let (majority, n) = counts.into_iter().max_by_key(|(_, n)| *n).unwrap();
            (labels.len(), majority.to_string(), n)
        })
        .collect();
    themes.sort_by_key(|t| std::cmp::Reverse(t.0));
    let pure: usize = themes.iter().map(|t| t.2).sum();
    let purity = pure as f64 / rows.len() as f64;
    for (size, label, n) in themes.iter().take(top) {
        eprintln!("theme of {size}: {n} {label}");
    }
    let covered: usize = themes.iter().take(5).map(|t| t.0).sum();
    eprintln!(
        "{} themes; the top 5 hold {covered} of {} messages",
        themes.len(),
        rows.len()
    );
    let labels = themes.iter().take(top).map(|t| t.1.clone()).collect();
    (purity, labels)
}

#[test]
fn the_tuning_scenarios_venting_clusters_come_out_as_themes() {
    let rows = venting("recall_surge.tsv");
    let (purity, top) = cluster(&rows, 5);
    eprintln!("purity {purity:.2}, top labels {top:?}");
    assert!(purity >= 0.65, "purity {purity:.2}");
    let named: std::collections::BTreeSet<&String> = top.iter().collect();
    assert!(named.len() >= 4, "the five top themes cover only {named:?}");
}

#[test]
fn the_held_out_scenarios_venting_clusters_come_out_as_themes() {
    let rows = venting("recall_surge_heldout.tsv");
    let (purity, top) = cluster(&rows, 5);
    eprintln!("held-out purity {purity:.2}, top labels {top:?}");
    assert!(purity >= 0.6, "purity {purity:.2}");
    let named: std::collections::BTreeSet<&String> = top.iter().collect();
    assert!(named.len() >= 3, "the five top themes cover only {named:?}");
}
