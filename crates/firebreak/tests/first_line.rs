//! The first line end to end: acknowledgements that go out once and lead to a person
//! when the author writes again, ignored messages with a reason in their record, and the
//! insights a crisis team reads after a surge, against the embedded adapters and
//! against real NATS and Redis.

#[macro_use]
mod support;

use std::time::Duration;

use firebreak_proto::v1 as pb;
use firebreak_server::auth::Role;
use serde_json::{Value, json};
use support::{Adapters, Harness};

fn body(external_id: &str, author: &str, channel: &str, visibility: &str, text: &str) -> Value {
    json!({
        "channel": channel,
        "external_id": external_id,
        "thread_id": format!("thread-{author}"),
        "author": {"id": author, "handle": author, "followers": 30},
        "visibility": visibility,
        "text": text,
    })
}

async fn post(h: &Harness, body: Value) -> String {
    h.submit(&body).await
}

async fn post_and_finish(h: &Harness, body: Value) -> Value {
    let id = post(h, body).await;
    h.terminal(&id).await
}

/// "Not understood" in private: one acknowledgement, then the messages are counted,
/// and the third one after it reaches a person.
async fn an_author_who_writes_again_after_the_acknowledgement_reaches_a_person(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    let texts = [
        "bonjour, vous faites aussi des gâteaux sans gluten ?",
        "et des biscuits sans lactose alors ?",
        "vous pouvez me répondre pour le sans gluten ?",
        "bon, j'attends une vraie réponse sur le sans gluten",
    ];
    let mut records = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        records.push(
            post_and_finish(
                &h,
                body(
                    &format!("ack-{i}"),
                    "ack-author",
                    "messenger",
                    "private",
                    text,
                ),
            )
            .await,
        );
    }
    assert_eq!(records[0]["status"], "replied", "{}", records[0]);
    assert_eq!(
        records[0]["classification"]["first_line"],
        "acknowledgement"
    );
    assert!(
        records[0]["outcome"]["variant"]
            .as_str()
            .unwrap()
            .starts_with("first_line.acknowledgement"),
        "{}",
        records[0]
    );
    for record in &records[1..3] {
        assert_eq!(record["status"], "ignored", "{record}");
        assert!(
            record["outcome"]["reason"]
                .as_str()
                .unwrap()
                .starts_with("already acknowledged"),
            "{record}"
        );
    }
    assert_eq!(records[3]["status"], "escalated", "{}", records[3]);
    assert_eq!(records[3]["classification"]["priority"], "P3");
    h.stop().await;
}

/// Ignored messages say why, in words a crisis team reads, in their record.
async fn ignored_messages_carry_their_reason(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    for (i, (text, reason)) in [
        (
            "you knew for weeks and said nothing, shameful",
            "without risk",
        ),
        ("lol", "without risk"),
        ("!!!", "noise"),
        (&*"a".repeat(5000), "noise"),
        (
            "Wo finde ich Ihre Filiale in Berlin? Ich möchte dort einkaufen.",
            "language",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let record = post_and_finish(
            &h,
            body(
                &format!("ign-{i}"),
                &format!("ign-{i}"),
                "x",
                "public",
                text,
            ),
        )
        .await;
        assert_eq!(record["status"], "ignored", "{record}");
        let why = record["outcome"]["reason"].as_str().unwrap();
        assert!(why.contains(reason), "{text:.30}: {why}");
    }
    h.stop().await;
}

/// After a small surge of three complaints told many ways, the insights show them as
/// the top themes, with counts, a representative message and the near misses; over
/// HTTP and gRPC, for viewers and above only.
async fn insights_show_the_surge_themes_and_near_misses(adapters: Adapters) {
    let h = Harness::start(adapters).await;
    // People copy each other in a surge: each complaint comes in close variants.
    let clusters: [(&str, &[&str]); 3] = [
        (
            "shelves",
            &[
                "the recalled biscuits are still on the shelves at my Carrefour",
                "recalled biscuits still on the shelves at Lidl this morning",
                "your recalled biscuits are still on the shelves in my supermarket",
                "still seeing the recalled biscuits on the shelves at Auchan",
                "the recalled biscuits are STILL on the shelves at Tesco",
                "recalled biscuits still on sale on the shelves at my local shop",
            ],
        ),
        (
            "hotline",
            &[
                "your hotline is always busy, nobody ever picks up the phone",
                "the hotline has been busy all day, nobody picks up",
                "called your hotline ten times, always busy, nobody answers",
                "hotline busy again, nobody picks up the phone at all",
                "your customer hotline is constantly busy and nobody answers",
                "tried the hotline all morning, busy every time, nobody picks up",
            ],
        ),
        (
            "boycott",
            &[
                "never buying anything from this brand again, boycott",
                "boycott this brand, I am never buying from them again",
                "I will never buy this brand again, total boycott",
                "our family is boycotting this brand, never buying again",
                "never again, I'm boycotting this brand for good",
                "boycott: I'll never buy anything from this brand again",
            ],
        ),
    ];
    let mut ids = Vec::new();
    for (name, texts) in clusters {
        for (i, text) in texts.iter().enumerate() {
            let author = format!("{name}-{i}");
            ids.push((
                name,
                post(
                    &h,
                    body(
                        &format!("ins-{author}"),
                        &author,
                        "facebook",
                        "public",
                        text,
                    ),
                )
                .await,
            ));
        }
    }
    // A question near a key question, short of its threshold.
    let near = post(
        &h,
        body(
            "ins-near",
            "near-1",
            "facebook",
            "public",
            "any news about the delivery",
        ),
    )
    .await;
    for (_, id) in &ids {
        h.terminal(id).await;
    }
    h.terminal(&near).await;

    let url = format!("{}/v1/insights", h.base);
    let unauthenticated = h.http.get(&url).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let viewer = h.token(Role::Viewer);
    // Classify publishes its snapshot every few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let insights = loop {
        let response = h.http.get(&url).bearer_auth(&viewer).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let insights: Value = response.json().await.unwrap();
        if insights["all"]["volume"].as_u64() == Some(19) {
            break insights;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "insights never caught up: {insights}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let themes = insights["all"]["themes"].as_array().unwrap().clone();
    assert!(themes.len() >= 3, "{insights}");
    // Each of the three top themes is one complaint: its representative is from it.
    let mut named = std::collections::BTreeSet::new();
    for theme in &themes[..3] {
        let id = theme["representative_message_id"].as_str().unwrap();
        let (name, _) = ids.iter().find(|(_, i)| i == id).expect("a surge message");
        named.insert(*name);
        assert!(theme["count"].as_u64().unwrap() >= 3, "{theme}");
        assert!(theme["trend"].is_string());
    }
    assert_eq!(named.len(), 3, "{themes:?}");
    let facebook = insights["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "facebook")
        .unwrap();
    assert_eq!(facebook["volume"], 19);
    assert!(facebook["negative"].as_u64().unwrap() >= 3, "{facebook}");
    let near_misses = insights["all"]["near_misses"].as_array().unwrap();
    assert!(
        near_misses
            .iter()
            .any(|n| n["key_question"] == "order_status" && n["count"] == 1),
        "{near_misses:?}"
    );
    assert!(
        insights["all"]["handling"]["ignored"].as_u64().unwrap() >= 10,
        "{insights}"
    );

    let mut grpc =
        pb::insights_client::InsightsClient::connect(format!("http://{}", h.app().grpc_addr))
            .await
            .unwrap();
    let reply = grpc
        .get_insights(h.authed(Role::Viewer, pb::GetInsightsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.all.unwrap().volume, 19);
    let refused = grpc
        .get_insights(tonic::Request::new(pb::GetInsightsRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    h.stop().await;
}

both_adapters!(
    an_author_who_writes_again_after_the_acknowledgement_reaches_a_person,
    ignored_messages_carry_their_reason,
    insights_show_the_surge_themes_and_near_misses,
);
