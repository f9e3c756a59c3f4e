//! How long an abusive playbook takes to be refused: the target is 100 ms each
//! (a 56 KB alias bomb took seconds and 267 MB; three nested template loops 1.1 s;
//! 200 × `\w{100}` 3.5 s).
//! Run: `cargo bench -p firebreak-triage --bench playbook_limits -- --measurement-time 5`.

use criterion::{Criterion, criterion_group, criterion_main};
use firebreak_triage::Playbook;
use firebreak_triage::playbook::abuse::{alias_bomb, patterns, template_loops};

fn refusals(c: &mut Criterion) {
    let mut group = c.benchmark_group("playbook_refused");
    for (name, yaml) in [
        ("alias_amplification", alias_bomb()),
        ("template_loops", template_loops()),
        ("regex_count", patterns(200)),
        ("regex_size", patterns(25)),
    ] {
        assert!(Playbook::load(&yaml).is_err(), "{name} is refused");
        group.bench_function(name, |b| {
            b.iter(|| std::hint::black_box(Playbook::load(&yaml).is_err()))
        });
    }
    group.finish();
}

criterion_group!(benches, refusals);
criterion_main!(benches);
