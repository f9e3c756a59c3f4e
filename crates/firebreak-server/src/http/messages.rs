//! `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages?channel&external_id`
//! and the `POST /v1/classify` dry run.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use firebreak_core::rules::{Triage, TriageContext};
use firebreak_core::wire::Submission;
use firebreak_core::{
    Attachment, Author, Channel, Classification, FirebreakError, MailHeaders, MessageId, Visibility,
};
use serde::Deserialize;

use super::{parse_json, read_body, require};
use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorBody {
    id: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    followers: u64,
    #[serde(default)]
    verified: bool,
    #[serde(default)]
    is_bot: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    channel: Channel,
    external_id: String,
    thread_id: String,
    author: AuthorBody,
    visibility: Visibility,
    text: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    sent_at: Option<time::OffsetDateTime>,
    #[serde(default)]
    language_hint: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
    /// Email gateways pass the headers that forbid auto-replies.
    #[serde(default)]
    mail: Option<MailHeaders>,
    #[serde(default)]
    edit_of: Option<String>,
}

impl From<AuthorBody> for Author {
    fn from(a: AuthorBody) -> Self {
        Author {
            id: a.id,
            handle: a.handle,
            name: a.name,
            followers: a.followers,
            verified: a.verified,
            is_bot: a.is_bot,
        }
    }
}

impl From<SubmitBody> for Submission {
    fn from(b: SubmitBody) -> Self {
        Submission {
            channel: b.channel,
            external_id: b.external_id,
            thread_id: b.thread_id,
            visibility: b.visibility,
            author: b.author.into(),
            text: b.text,
            language_hint: b.language_hint,
            attachments: b.attachments,
            sent_at: b.sent_at,
            mail: b.mail,
            edit_of: b.edit_of,
        }
    }
}

/// 202 for a new message, 200 with `duplicate: true` for a platform retry.
pub fn accepted_response(accepted: firebreak_pipeline::ingest::Accepted) -> Response {
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (
        status,
        Json(serde_json::json!({"id": accepted.id.to_string(), "duplicate": accepted.duplicate})),
    )
        .into_response()
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Ingest)?;
    let bytes = read_body(body)
        .await
        .inspect_err(|_| state.metrics.rejected("api", "too_large"))?;
    let parsed: SubmitBody =
        parse_json(&bytes).inspect_err(|_| state.metrics.rejected("api", "malformed"))?;
    let accepted = state.ingestor.submit(parsed.into(), "api").await?;
    Ok(accepted_response(accepted))
}

pub async fn get_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let id =
        MessageId::parse(&id).ok_or_else(|| FirebreakError::invalid("id", "not a message id"))?;
    record_response(&state, id).await
}

#[derive(Debug, Deserialize)]
pub struct FindQuery {
    channel: String,
    external_id: String,
}

pub async fn find(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FindQuery>,
) -> Result<Response, ApiError> {
    require(&state, &headers, Role::Viewer)?;
    let channel = Channel::parse(&query.channel)
        .ok_or_else(|| FirebreakError::invalid("channel", "unknown channel"))?;
    record_response(&state, MessageId::derive(channel, &query.external_id)).await
}

async fn record_response(state: &AppState, id: MessageId) -> Result<Response, ApiError> {
    let record = state
        .log
        .get(id)
        .await
        .map_err(firebreak_pipeline::ingest::store_error)?
        .ok_or_else(|| FirebreakError::not_found(format!("no message {id}")))?;
    Ok(Json(record).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyBody {
    text: String,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    visibility: Option<Visibility>,
    #[serde(default)]
    author: Option<AuthorBody>,
    /// Classify as if crisis mode were on or off; unset uses the current mode.
    #[serde(default)]
    crisis: Option<bool>,
}

pub async fn classify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = require(&state, &headers, Role::Viewer)?;
    crate::ratelimit::charge_classify(&state, &who.name)?;
    let bytes = read_body(body).await?;
    let body: ClassifyBody = parse_json(&bytes)?;
    let crisis = body.crisis;
    let submission = Submission {
        channel: body.channel.unwrap_or(Channel::Web),
        external_id: "dry-run".into(),
        thread_id: "dry-run".into(),
        visibility: body.visibility.unwrap_or(Visibility::Public),
        author: body.author.map(Author::from).unwrap_or_else(|| Author {
            id: "dry-run".into(),
            ..Author::default()
        }),
        text: body.text,
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: None,
        mail: None,
        edit_of: None,
    };
    let preview = dry_run_preview(&state, submission, crisis)?;
    let mut json = decision_json(&preview.decision);
    json["replies"] = replies_json(&preview.replies);
    Ok(Json(json).into_response())
}

/// Classifies without side effects; shared by HTTP and gRPC.
pub fn dry_run(
    state: &AppState,
    submission: Submission,
    crisis: Option<bool>,
) -> Result<Classification, FirebreakError> {
    Ok(dry_run_preview(state, submission, crisis)?.decision)
}

/// A dry run's decision, and the reply each variant would be for this author.
#[derive(Debug)]
pub struct Preview {
    pub decision: Classification,
    /// `(variant, rendered text)`, empty unless the decision is an automatic reply.
    pub replies: Vec<(usize, String)>,
}

/// Classifies without side effects and renders every reply variant the author would
/// get, so a crisis team sees the words before a playbook goes live.
pub fn dry_run_preview(
    state: &AppState,
    submission: Submission,
    crisis: Option<bool>,
) -> Result<Preview, FirebreakError> {
    let message = submission.into_message(time::OffsetDateTime::now_utc())?;
    let settings = state.settings.current();
    let crisis_active = crisis.unwrap_or_else(|| settings.crisis_active());
    let context = TriageContext {
        crisis_active,
        ..TriageContext::default()
    };
    let decision = settings.engine.classify(&message, &context);
    let replies =
        firebreak_reply::render::preview(settings.playbook(), crisis_active, &message, &decision);
    Ok(Preview { decision, replies })
}

/// `[{"variant": 0, "text": "..."}, ...]`.
pub fn replies_json(replies: &[(usize, String)]) -> serde_json::Value {
    replies
        .iter()
        .map(|(variant, text)| serde_json::json!({"variant": variant, "text": text}))
        .collect()
}

/// The contract's shape: `route` and `priority` as strings, `key_question` null if none.
pub fn decision_json(c: &Classification) -> serde_json::Value {
    serde_json::json!({
        "language": c.language.as_str(),
        "language_confidence": c.language_confidence,
        "sentiment": c.sentiment,
        "route": c.route.as_str(),
        "priority": c.priority.as_str(),
        "key_question": c.key_question,
        "key_question_confidence": c.key_question_confidence,
        "flags": c.flags,
        "reasons": c.reasons,
        "confidence": c.confidence,
        "linked_case_id": c.linked_case_id,
        "playbook_version": c.playbook_version,
    })
}
