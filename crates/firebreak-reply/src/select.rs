//! Which reply variant a message gets: a pure function of the thread's used variants,
//! the channel's recent public replies and a per-message seed, so the choice can be
//! replayed and property-tested. The state itself lives in the [`crate::Ledger`].

/// The variant to send, or `None` when every variant was already sent in this thread
/// (a human takes it from there).
///
/// Among the variants this thread has not seen, the one used least recently on the
/// channel wins (one never used recently beats any used one); ties are broken by
/// `seed`, so two messages arriving together on a quiet channel still differ.
/// `recent` lists the channel's last public replies, most recent first.
pub fn select_variant(
    variants: usize,
    used_in_thread: &[usize],
    recent: &[usize],
    seed: u64,
) -> Option<usize> {
    let recency = |variant: usize| {
        recent
            .iter()
            .position(|&r| r == variant)
            .unwrap_or(usize::MAX)
    };
    let candidates: Vec<usize> = (0..variants)
        .filter(|v| !used_in_thread.contains(v))
        .collect();
    let best = candidates.iter().map(|&v| recency(v)).max()?;
    let tied: Vec<usize> = candidates
        .into_iter()
        .filter(|&v| recency(v) == best)
        .collect();
    Some(tied[(seed % tied.len() as u64) as usize])
}

/// The ring of recent public replies after `variant` was sent: newest first, at most
/// `keep` long.
pub fn push_recent(recent: &[usize], variant: usize, keep: usize) -> Vec<usize> {
    std::iter::once(variant)
        .chain(recent.iter().copied())
        .take(keep.max(1))
        .collect()
}

/// A stable seed from a message id, so a redelivery picks what the first try picked.
pub fn seed_of(id: &str) -> u64 {
    // FNV-1a: stable across processes and releases, unlike `DefaultHasher`.
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_thread_that_saw_every_variant_gets_none() {
        assert_eq!(select_variant(3, &[0, 1, 2], &[], 7), None);
        assert_eq!(select_variant(0, &[], &[], 7), None);
    }

    #[test]
    fn the_least_recently_used_variant_wins() {
        // 2 was used longest ago among the used ones, and none is unused.
        assert_eq!(select_variant(3, &[], &[0, 1, 2], 0), Some(2));
        assert_eq!(select_variant(3, &[], &[0, 1, 2], 99), Some(2));
        // 2 never used: it wins over 1.
        assert_eq!(select_variant(3, &[], &[0, 1, 0, 1], 5), Some(2));
    }

    #[test]
    fn seed_of_is_stable() {
        assert_eq!(seed_of("abc"), seed_of("abc"));
        assert_ne!(seed_of("abc"), seed_of("abd"));
    }

    proptest! {
        #[test]
        fn never_reuses_a_variant_within_a_thread(
            variants in 1usize..8,
            used in proptest::collection::vec(0usize..8, 0..8),
            recent in proptest::collection::vec(0usize..8, 0..12),
            seed in any::<u64>(),
        ) {
            match select_variant(variants, &used, &recent, seed) {
                Some(v) => {
                    prop_assert!(v < variants);
                    prop_assert!(!used.contains(&v));
                }
                None => prop_assert!((0..variants).all(|v| used.contains(&v))),
            }
        }

        #[test]
        fn is_deterministic_given_the_state(
            variants in 1usize..8,
            used in proptest::collection::vec(0usize..8, 0..8),
            recent in proptest::collection::vec(0usize..8, 0..12),
            seed in any::<u64>(),
        ) {
            prop_assert_eq!(
                select_variant(variants, &used, &recent, seed),
                select_variant(variants, &used, &recent, seed)
            );
        }

        #[test]
        fn the_last_n_public_replies_are_never_identical(
            variants in 2usize..7,
            keep in 1usize..10,
            seeds in proptest::collection::vec(any::<u64>(), 1..200),
        ) {
            // A channel's sequence of public replies, each to a fresh thread.
            let mut recent = Vec::new();
            let mut sent = Vec::new();
            for seed in seeds {
                let v = select_variant(variants, &[], &recent, seed).unwrap();
                recent = push_recent(&recent, v, keep);
                sent.push(v);
            }
            // Any window of min(variants, keep + 1) consecutive replies is all distinct,
            // so in particular no two consecutive replies are the same.
            let window = variants.min(keep + 1);
            for w in sent.windows(window) {
                let mut distinct = w.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), w.len(), "{:?}", w);
            }
        }

        #[test]
        fn avoids_the_previous_reply_when_the_thread_allows(
            variants in 2usize..8,
            used in proptest::collection::vec(0usize..8, 0..8),
            last in 0usize..8,
            seed in any::<u64>(),
        ) {
            let free: Vec<usize> = (0..variants).filter(|v| !used.contains(v)).collect();
            prop_assume!(free.iter().any(|&v| v != last));
            let chosen = select_variant(variants, &used, &[last], seed).unwrap();
            prop_assert_ne!(chosen, last);
        }
    }
}
