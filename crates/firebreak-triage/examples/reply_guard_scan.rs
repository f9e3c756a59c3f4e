//! Development aid: for the development sets' messages that get an automatic reply,
//! how alarming the fast heads and the exact head find them, sensitive or not.
use firebreak_core::Route;
use firebreak_triage::semantic::{Features, SemanticModel, data, exact::ExactHead};

fn main() {
    let engine = firebreak_triage::TriageEngine::builtin();
    let model = SemanticModel::builtin();
    let head = ExactHead::builtin();
    let mut rows = data::heldout_rows();
    rows.extend(data::lookalike_rows());
    rows.extend(data::everyday_rows());
    rows.extend(data::key_question_dev_rows());
    let sensitive = |l: &str| {
        matches!(
            l,
            "self_harm" | "threat" | "hate" | "health_incident" | "legal" | "press"
        )
    };
    let mut points = Vec::new();
    for r in &rows {
        let msg = firebreak_triage::dry_run_message(&r.text, firebreak_core::Visibility::Private);
        let d = engine.classify_with(&msg, &firebreak_core::rules::TriageContext::default());
        if d.route != Route::Reply || d.first_line.is_some() {
            continue;
        }
        let embedding = model.embed(&r.text);
        let normalized = firebreak_triage::normalize::normalize(&r.text);
        let features = Features::new(embedding.as_slice(), &normalized);
        let fast = model
            .risks(&features)
            .iter()
            .filter(|r| std::env::var("KINDS").map_or(true, |k| k.split(',').any(|x| x == r.kind)))
            .map(|r| r.probability / r.threshold)
            .fold(0.0f32, f32::max);
        let exact = model.encoder().embed_exact(&r.text);
        let ex = head
            .verdicts(exact.as_slice())
            .iter()
            .map(|(_, v)| v.probability / v.threshold)
            .fold(0.0f32, f32::max);
        points.push((
            sensitive(&r.label),
            fast,
            ex,
            r.label.clone(),
            r.text.clone(),
        ));
    }
    let n_sens = points.iter().filter(|p| p.0).count();
    println!("replied: {} ({} sensitive)", points.len(), n_sens);
    for p in points.iter().filter(|p| p.0) {
        println!("SENS fast {:.2} exact {:.2} {} | {}", p.1, p.2, p.3, p.4);
    }
    for share in [0.3f32, 0.4, 0.45, 0.5, 0.6, 0.7] {
        let s = points.iter().filter(|p| p.0 && p.1 >= share).count();
        let b = points.iter().filter(|p| !p.0 && p.1 >= share).count();
        println!("fast alone >= {share}: sensitive held {s}/{n_sens}, others held {b}");
    }
    for fast_share in [0.1f32, 0.2, 0.3, 0.4] {
        for exact_share in [0.3f32, 0.5, 0.7, 1.0] {
            let held =
                |p: &(bool, f32, f32, String, String)| p.1 >= fast_share && p.2 >= exact_share;
            let s = points.iter().filter(|p| p.0 && held(p)).count();
            let b = points.iter().filter(|p| !p.0 && held(p)).count();
            println!(
                "fast >= {fast_share} and exact >= {exact_share}: sensitive held {s}/{n_sens}, others held {b}/{}",
                points.len() - n_sens
            );
        }
    }
}
