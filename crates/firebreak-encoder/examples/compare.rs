//! Prints, for each reference sentence, the cosine of the exact path with the reference
//! model, and the correlation of pairwise cosines between the fast path and the
//! reference: `cargo run --release -p firebreak-encoder --example compare`.

fn main() {
    let encoder = firebreak_encoder::Encoder::shared();
    let mut refs = Vec::new();
    for line in include_str!("../tests/reference.jsonl").lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("reference line");
        let text = value["text"].as_str().unwrap_or_default().to_string();
        let reference: Vec<f32> = value["embedding"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_f64())
                    .map(|v| v as f32)
                    .collect()
            })
            .unwrap_or_default();
        let exact: f32 = encoder
            .embed_exact(&text)
            .as_slice()
            .iter()
            .zip(&reference)
            .map(|(a, b)| a * b)
            .sum();
        println!("{exact:.4}  {text}");
        refs.push((text, reference));
    }
    let fast: Vec<_> = refs.iter().map(|(t, _)| encoder.embed(t)).collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..refs.len() {
        for j in i + 1..refs.len() {
            xs.push(
                refs[i]
                    .1
                    .iter()
                    .zip(&refs[j].1)
                    .map(|(a, b)| a * b)
                    .sum::<f32>(),
            );
            ys.push(fast[i].cosine(&fast[j]));
        }
    }
    let n = xs.len() as f32;
    let (mx, my) = (xs.iter().sum::<f32>() / n, ys.iter().sum::<f32>() / n);
    let cov: f32 = xs.iter().zip(&ys).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f32 = xs.iter().map(|a| (a - mx) * (a - mx)).sum();
    let vy: f32 = ys.iter().map(|b| (b - my) * (b - my)).sum();
    println!(
        "fast-path pairwise-cosine correlation with the reference: {:.3}",
        cov / (vx.sqrt() * vy.sqrt())
    );
}
