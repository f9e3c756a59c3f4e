//! NATS subject matching, as the embedded bus needs it: which stream a publish lands in,
//! which consumer a message is for, and whether two consumers' filters collide.

/// `*` matches one token, `>` the rest (one token or more).
pub(super) fn matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some subject matches both patterns. JetStream refuses a consumer on a
/// work-queue stream whose filter collides with another consumer's, so that each
/// message has exactly one consumer.
pub(super) fn overlap(a: &str, b: &str) -> bool {
    let mut a_tokens = a.split('.');
    let mut b_tokens = b.split('.');
    loop {
        match (a_tokens.next(), b_tokens.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(x), Some(y)) if x == "*" || y == "*" || x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether two consumers' filters (none: the whole stream) can both match a subject.
pub(super) fn filters_overlap(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => overlap(a, b),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(matches("fb.in.>", "fb.in.x"));
        assert!(matches("fb.in.>", "fb.in.x.y"));
        assert!(!matches("fb.in.>", "fb.in"));
        assert!(matches("fb.*.x", "fb.in.x"));
        assert!(matches("fb.audit", "fb.audit"));
        assert!(!matches("fb.audit", "fb.audit.x"));
    }

    #[test]
    fn filters_collide_when_one_subject_matches_both() {
        assert!(overlap("fb.escalate.p1", "fb.escalate.p1"));
        assert!(!overlap("fb.escalate.p1", "fb.escalate.p2"));
        assert!(overlap("fb.escalate.*", "fb.escalate.p1"));
        assert!(overlap("fb.escalate.>", "fb.escalate.p1"));
        assert!(overlap("fb.*.p1", "fb.escalate.*"));
        assert!(!overlap("fb.escalate.*", "fb.escalate.p1.x"));
        assert!(!overlap("fb.escalate.>", "fb.escalate"));
        assert!(filters_overlap(None, Some("fb.escalate.p1")));
        assert!(!filters_overlap(
            Some("fb.escalate.p1"),
            Some("fb.escalate.p4")
        ));
    }
}
