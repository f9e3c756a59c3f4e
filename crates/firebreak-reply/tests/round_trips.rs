//! Redis round trips per message, stage by stage, on a real redis-server and the real
//! adapters: ingest, classify, then reply or escalation, driven through the stages'
//! handlers the way the workers drive them (the bus is the in-process one; only Redis
//! is counted). A round trip is one request waited on: a command, a script call or a
//! pipeline (`firebreak_store::redis_conn`). The count is deterministic, so it is held
//! to a budget here; a change that adds a round trip to the hot path fails this test.

use std::sync::Arc;
use std::time::Duration;

use firebreak_bus::memory::MemoryBus;
use firebreak_bus::{Bus, ConsumerOptions, Delivery};
use firebreak_connectors::{Connector, DryRunConnector};
use firebreak_core::wire::Submission;
use firebreak_core::{Author, Channel, MessageId, Outcome, Visibility, subjects};
use firebreak_escalation::redis_repo::RedisCases;
use firebreak_escalation::stage::EscalateStage;
use firebreak_escalation::{Cases, FixedSla, MemoryAudit, SlaTarget};
use firebreak_pipeline::classify::ClassifyStage;
use firebreak_pipeline::ingest::Ingestor;
use firebreak_pipeline::insights::InsightsRecorder;
use firebreak_pipeline::rates::RateRecorder;
use firebreak_pipeline::settings::LiveSettings;
use firebreak_pipeline::spill_index::{SpillIndex, TRUST_MARGIN};
use firebreak_pipeline::worker::Handler;
use firebreak_reply::{RedisReplyState, ReplyConfig, ReplyEngine, ReplyStage};
use firebreak_store::MessageLog;
use firebreak_store::redis_store::RedisStore;
use firebreak_telemetry::Metrics;
use firebreak_testkit::RedisServer;
use firebreak_triage::{Playbook, TriageEngine};
use tokio_util::sync::CancellationToken;

/// Round trips per message this pipeline holds to (ingest + classify + reply or
/// escalation), one message alone. They were 22, 14 and 16 before the stages merged
/// their steps, then 11, 7 and 8; the reply now reserves with its first read and takes
/// its channel, global and recipient budgets in one round trip. Issue 11 asks for at
/// most 8 and 6 measured over a surge, where ingest's record is one round trip per
/// batch: that leaves replied 8 and escalated 6 (private) or 7 (public) per message
/// (see ARCHITECTURE.md, "Round trips are budgeted").
const REPLIED_BUDGET: u64 = 9;
const ESCALATED_PRIVATE_BUDGET: u64 = 7;
const ESCALATED_PUBLIC_BUDGET: u64 = 8;

struct Pipeline {
    _server: RedisServer,
    shutdown: CancellationToken,
    bus: Arc<MemoryBus>,
    store: RedisStore,
    state: RedisReplyState,
    cases: Arc<RedisCases>,
    ingest: Ingestor,
    classify: ClassifyStage,
    reply: ReplyStage,
    escalate: EscalateStage,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Round trips per stage for one message.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    ingest: u64,
    classify: u64,
    last: u64,
}

impl Count {
    fn total(&self) -> u64 {
        self.ingest + self.classify + self.last
    }
}

impl Pipeline {
    async fn start() -> anyhow::Result<Self> {
        let server = RedisServer::start().await?;
        let shutdown = CancellationToken::new();
        let bus = Arc::new(MemoryBus::new());
        let store = RedisStore::connect(&server.url()).await?;
        let state = RedisReplyState::connect(&server.url()).await?;
        let cases = Arc::new(RedisCases::connect(&server.url(), shutdown.clone()).await?);
        let metrics = Metrics::new();
        let settings = LiveSettings::new(TriageEngine::new(Playbook::builtin()));
        let service = |repo: Arc<RedisCases>| {
            Arc::new(Cases::new(
                repo,
                Arc::new(FixedSla(SlaTarget {
                    claim: Duration::from_secs(600),
                    ack: Duration::from_secs(3600),
                    tiers: vec!["oncall".into()],
                })),
                Arc::new(MemoryAudit::default()),
                metrics.clone(),
            ))
        };
        let case_service = service(cases.clone());
        // Classify's copy of the open private cases, fed as in a running process; the
        // feed reads through a connection of its own, outside the count (in a process
        // it is one reader per process, not a cost per message).
        let spill_index = Arc::new(SpillIndex::new());
        let feed_cases = service(Arc::new(
            RedisCases::connect(&server.url(), shutdown.clone()).await?,
        ));
        tokio::spawn(firebreak_escalation::spill_feed::run(
            feed_cases,
            spill_index.clone(),
            shutdown.clone(),
        ));
        let log: Arc<dyn MessageLog> = Arc::new(store.clone());
        let ingest = Ingestor::new(bus.clone(), log.clone(), metrics.clone());
        let classify = ClassifyStage {
            bus: bus.clone(),
            log: log.clone(),
            settings: settings.clone(),
            memory: Arc::new(store.clone()),
            open_cases: case_service.clone(),
            spill_index: Some(spill_index),
            metrics: metrics.clone(),
            rates: RateRecorder::new(),
            insights: InsightsRecorder::new(),
            priority: Default::default(),
        };
        let engine = Arc::new(ReplyEngine::new(
            Arc::new(state.clone()),
            settings,
            ReplyConfig::new(Default::default(), Duration::from_secs(30)),
        ));
        let reply = ReplyStage {
            engine,
            bus: bus.clone(),
            log: log.clone(),
            connector: Arc::new(DryRunConnector::new(100)) as Arc<dyn Connector>,
            metrics: metrics.clone(),
        };
        let escalate = EscalateStage {
            log,
            cases: case_service,
            metrics,
        };
        Ok(Pipeline {
            _server: server,
            shutdown,
            bus,
            store,
            state,
            cases,
            ingest,
            classify,
            reply,
            escalate,
        })
    }

    fn round_trips(&self) -> u64 {
        self.store.round_trips() + self.state.round_trips() + self.cases.round_trips()
    }

    async fn next(&self, stream: &str, durable: &str) -> anyhow::Result<Delivery> {
        let mut consumer = self
            .bus
            .consumer(stream, durable, ConsumerOptions::default())
            .await?;
        let mut batch = consumer.fetch(1, Duration::from_secs(2)).await?;
        anyhow::ensure!(batch.len() == 1, "nothing on {stream}");
        Ok(batch.remove(0))
    }

    /// Runs one submission through every stage and counts each stage's round trips.
    async fn run(&self, submission: Submission, then: &str) -> anyhow::Result<(MessageId, Count)> {
        self.run_after(submission, then, Duration::ZERO).await
    }

    /// As [`Pipeline::run`], the message waiting `queued` between ingest and classify,
    /// as it does behind a surge's backlog.
    async fn run_after(
        &self,
        submission: Submission,
        then: &str,
        queued: Duration,
    ) -> anyhow::Result<(MessageId, Count)> {
        let mut count = Count::default();
        let before = self.round_trips();
        let accepted = self.ingest.submit(submission, "test").await?;
        anyhow::ensure!(!accepted.duplicate);
        count.ingest = self.round_trips() - before;
        tokio::time::sleep(queued).await;

        let delivery = self
            .next(subjects::STREAM_INBOUND, subjects::CONSUMER_CLASSIFY)
            .await?;
        let before = self.round_trips();
        self.classify
            .handle(&delivery)
            .await
            .map_err(|e| anyhow::anyhow!("classify: {e:?}"))?;
        count.classify = self.round_trips() - before;

        let (stream, durable, handler): (_, _, &dyn Handler) = if then == "reply" {
            (
                subjects::STREAM_REPLY,
                subjects::CONSUMER_REPLY,
                &self.reply,
            )
        } else {
            (
                subjects::STREAM_ESCALATE,
                "round_trips_escalations", // one unfiltered consumer: the test reads every lane
                &self.escalate,
            )
        };
        let delivery = self.next(stream, durable).await?;
        let before = self.round_trips();
        handler
            .handle(&delivery)
            .await
            .map_err(|e| anyhow::anyhow!("{then}: {e:?}"))?;
        count.last = self.round_trips() - before;
        Ok((accepted.id, count))
    }
}

fn submission(n: u32, visibility: Visibility, text: &str) -> Submission {
    Submission {
        channel: Channel::Telegram,
        external_id: format!("m{n}"),
        thread_id: format!("thread-{n}"),
        visibility,
        author: Author {
            id: format!("user-{n}"),
            handle: format!("user{n}"),
            ..Author::default()
        },
        text: text.into(),
        language_hint: String::new(),
        attachments: Vec::new(),
        sent_at: None,
        mail: None,
        edit_of: None,
    }
}

const QUESTION: &str = "How do I get a refund?";
const LEGAL: &str = "My lawyer will take you to court over this, expect a lawsuit.";

#[tokio::test]
async fn a_message_costs_at_most_its_round_trip_budget() -> anyhow::Result<()> {
    let pipeline = Pipeline::start().await?;
    // The first message of each route loads the scripts (a NOSCRIPT answer and a
    // SCRIPT LOAD): that is once per server, not per message, so it is not counted.
    pipeline
        .run(submission(1, Visibility::Public, QUESTION), "reply")
        .await?;
    pipeline
        .run(submission(2, Visibility::Private, LEGAL), "escalation")
        .await?;
    pipeline
        .run(submission(3, Visibility::Public, LEGAL), "escalation")
        .await?;

    let (replied_id, replied) = pipeline
        .run(submission(11, Visibility::Public, QUESTION), "reply")
        .await?;
    let (private_id, private) = pipeline
        .run(submission(12, Visibility::Private, LEGAL), "escalation")
        .await?;
    let (public_id, public) = pipeline
        .run(submission(13, Visibility::Public, LEGAL), "escalation")
        .await?;
    // Behind a backlog the case feed has caught up past the message: classify's copy of
    // the open private cases rules a spill-over out without a lookup.
    let backlog = TRUST_MARGIN + Duration::from_millis(700);
    let (queued_id, queued) = pipeline
        .run_after(
            submission(14, Visibility::Public, LEGAL),
            "escalation",
            backlog,
        )
        .await?;
    // The author of the private message (12) writing in public: the index knows the
    // case, so classify looks it up and links it, backlog or not.
    let mut spilling = submission(15, Visibility::Public, QUESTION);
    spilling.author.id = "user-12".into();
    let (spilling_id, _) = pipeline.run_after(spilling, "escalation", backlog).await?;
    println!("round trips per message (ingest + classify + last stage = total)");
    for (route, c) in [
        ("replied, public", replied),
        ("escalated, private", private),
        ("escalated, public", public),
        ("escalated, public, queued", queued),
    ] {
        println!(
            "{route:>20}: {} + {} + {} = {}",
            c.ingest,
            c.classify,
            c.last,
            c.total()
        );
    }

    // The counts are only worth something if the messages went where they should.
    let store = &pipeline.store;
    let outcome = |id| async move { store.get(id).await.map(|r| r.and_then(|r| r.outcome)) };
    assert!(matches!(
        outcome(replied_id).await?,
        Some(Outcome::Replied { .. })
    ));
    assert!(matches!(
        outcome(private_id).await?,
        Some(Outcome::Escalated { .. })
    ));
    assert!(matches!(
        outcome(public_id).await?,
        Some(Outcome::Escalated { .. })
    ));
    assert!(matches!(
        outcome(queued_id).await?,
        Some(Outcome::Escalated { .. })
    ));
    let spilled = store.get(spilling_id).await?.and_then(|r| r.classification);
    assert!(
        spilled.as_ref().is_some_and(
            |c| c.linked_case_id.is_some() && c.priority == firebreak_core::Priority::P1
        ),
        "the spill-over was not linked to its private case: {spilled:?}"
    );

    assert!(
        replied.total() <= REPLIED_BUDGET,
        "a replied message took {replied:?}"
    );
    assert!(
        private.total() <= ESCALATED_PRIVATE_BUDGET,
        "an escalated private message took {private:?}"
    );
    assert!(
        public.total() <= ESCALATED_PUBLIC_BUDGET,
        "an escalated public message took {public:?}"
    );
    assert_eq!(
        queued.classify + 1,
        public.classify,
        "a queued public message skips the open-case lookup: {queued:?} against {public:?}"
    );
    assert!(
        queued.total() <= ESCALATED_PRIVATE_BUDGET,
        "a queued escalated public message took {queued:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_burst_at_ingest_records_in_batches() -> anyhow::Result<()> {
    let pipeline = Pipeline::start().await?;
    // Loads the script once, outside the count.
    pipeline
        .ingest
        .submit(submission(1, Visibility::Private, QUESTION), "test")
        .await?;
    let burst = 64u32;
    let before = pipeline.round_trips();
    let answers = futures::future::join_all((0..burst).map(|n| {
        pipeline
            .ingest
            .submit(submission(100 + n, Visibility::Private, QUESTION), "test")
    }))
    .await;
    let used = pipeline.round_trips() - before;
    for answer in answers {
        anyhow::ensure!(!answer?.duplicate);
    }
    // One dedup check each, and the records in far fewer round trips than messages.
    let records = used - u64::from(burst);
    println!("{burst} messages at once: {used} round trips, {records} for the records");
    assert!(
        records <= u64::from(burst / 4),
        "{records} record round trips"
    );
    // Every record landed before its answer: a retry now is a duplicate.
    let again = pipeline
        .ingest
        .submit(submission(100, Visibility::Private, QUESTION), "test")
        .await?;
    assert!(again.duplicate);
    Ok(())
}
