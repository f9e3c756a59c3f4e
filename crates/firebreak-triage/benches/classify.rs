//! Classifications per second on 280-character messages with the built-in playbook.
//! Run: `cargo bench -p firebreak-triage --bench classify -- --measurement-time 5`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use firebreak_core::Visibility;
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_triage::{TriageEngine, dry_run_message};

/// Realistic mixes of FR and EN, each padded or cut to exactly 280 characters.
const SEEDS: &[&str] = &[
    "Bonjour, ça fait maintenant trois semaines que j'attends ma commande et toujours rien, le suivi ne bouge plus depuis le dépôt. Je commence vraiment à perdre patience, est-ce que quelqu'un peut enfin me dire où est mon colis ? Merci de me répondre rapidement.",
    "Hi, I bought two packs of your chocolate biscuits last week and I just saw the news about the recall. Are they affected? The lot number on the box is hard to read. My kids already ate half of one pack, should I be worried? Please let me know asap, thanks a lot.",
    "Honestly this is the worst customer service I have ever dealt with, you keep ignoring my messages and my refund is still not here after a month. I am going to talk to a lawyer if this isn't sorted by Friday. Absolutely unacceptable from a brand like yours!!!",
    "Franchement vous êtes des guignols, trois appels, deux mails, et personne n'est capable de me dire quand je serai remboursée. Je vais en parler à tout le monde autour de moi et sur les réseaux. #BoycottDupre @MaisonDupre https://example.com/thread/12345 voilà.",
];

fn messages() -> Vec<String> {
    SEEDS
        .iter()
        .map(|seed| {
            let mut text: String = seed.chars().cycle().take(280).collect();
            text.truncate(text.char_indices().nth(280).map_or(text.len(), |(i, _)| i));
            text
        })
        .collect()
}

fn classify(c: &mut Criterion) {
    let engine = TriageEngine::builtin();
    let context = TriageContext::default();
    let messages: Vec<_> = messages()
        .iter()
        .map(|t| dry_run_message(t, Visibility::Public))
        .collect();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("280_chars_default_playbook", |b| {
        b.iter(|| {
            for message in &messages {
                std::hint::black_box(engine.classify(message, &context));
            }
        })
    });
    // Everyday crisis traffic as it comes (the held-out recall-surge scenario, 380
    // messages of every kind, 20–300 characters): here the second stage reads the few
    // messages the fast path finds plausibly self-harm or a threat.
    let surge: Vec<_> = include_str!("../../../load-tests/scenarios/recall_surge_heldout.tsv")
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').nth(3))
        .map(|t| dry_run_message(t, Visibility::Private))
        .collect();
    group.throughput(Throughput::Elements(surge.len() as u64));
    group.bench_function("recall_surge_mix", |b| {
        b.iter(|| {
            for message in &surge {
                std::hint::black_box(engine.classify(message, &context));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
