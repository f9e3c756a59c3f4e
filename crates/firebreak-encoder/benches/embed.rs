//! Embedding throughput on one core, on 280-character messages.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firebreak_encoder::Encoder;

const MESSAGE: &str = "Ça fait trois semaines que j'attends mon colis et personne ne répond, \
    votre service client est une honte. I want my money back now or I'm going to the press, \
    this is the worst experience I've had with any brand, never again!! Où est ma commande ???";

fn bench(c: &mut Criterion) {
    let encoder = Encoder::shared();
    let text: String = MESSAGE.chars().take(280).collect();
    let mut group = c.benchmark_group("encoder");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tokenize_280", |b| b.iter(|| encoder.tokenize(&text)));
    group.bench_function("embed_fast_280", |b| b.iter(|| encoder.embed(&text)));
    group.sample_size(10);
    group.bench_function("embed_exact_280", |b| b.iter(|| encoder.embed_exact(&text)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
