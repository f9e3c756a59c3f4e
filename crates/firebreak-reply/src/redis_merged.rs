//! The Redis adapter's merged steps: several of the ports' operations sent as one
//! pipeline, so that a reply costs a few round trips rather than one per step. Each
//! command or script in a pipeline still touches one hash tag, so a pipeline spanning
//! tags runs on Redis Cluster too (a cluster client splits it by node); what a
//! pipeline does not give is atomicity across tags, so each merged step says how it
//! settles a partial answer (usually by undoing the part that went through, which only
//! happens on the paths that do not send).
//!
//! Scripts are called by hash: the connection loaded them at start and loads them
//! again when the server answers NOSCRIPT (`firebreak_store::redis_conn`).

use std::collections::HashMap;

use redis::{FromRedisValue, Value};

use crate::keys::redis as k;
use crate::port::{
    Ledger, Line, Lookup, Rate, Reserve, Reserved, Take, Taken, VariantQuery, VariantView,
};
use crate::redis_scripts::{
    ACQUIRE, ACQUIRE_LINE_AND_GLOBAL, CLAIM, REFUND, RELEASE_AUTHOR, RELEASE_THREAD,
    RESERVE_AUTHOR, RESERVE_THREAD, SWAP_RECENT, USE_THREAD_VARIANT,
};
use crate::redis_state::{
    RedisReplyState, STALE_WAITER, claim_from, grant, ring_text, state_name, ttl_ms, unavailable,
};
use crate::{Grant, Recent, StateError};

const CLAIM_FIELDS: [&str; 5] = ["state", "variant", "text", "claimed_at", "connector"];

fn parse<T: FromRedisValue>(value: Value) -> Result<T, StateError> {
    redis::from_redis_value(value).map_err(|e| StateError::Corrupt(e.to_string()))
}

/// The variants of `group` a thread hash holds (`v:<group>:<variant>` → holder).
fn taken_in(fields: HashMap<String, String>, group: &str) -> Vec<(usize, String)> {
    let prefix = format!("v:{group}:");
    fields
        .into_iter()
        .filter_map(|(field, holder)| {
            let index = field.strip_prefix(&prefix)?.parse().ok()?;
            Some((index, holder))
        })
        .collect()
}

fn recent_from(version: Option<u64>, text: Option<String>) -> Recent {
    Recent {
        version: version.unwrap_or(0),
        variants: text
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect(),
    }
}

/// Adds the reads of a variant view to `pipe`: the thread hash, and the ring if asked.
fn view_into(pipe: &mut redis::Pipeline, query: &VariantQuery<'_>) {
    pipe.cmd("HGETALL").arg(k::thread(query.thread));
    if let Some(ring) = query.ring {
        pipe.cmd("HMGET").arg(k::ring(ring)).arg(&["v", "ring"]);
    }
}

/// A key's hash tag, the part between its first braces.
fn tag(key: &str) -> &str {
    key.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map_or(key, |(tag, _)| tag)
}

/// Adds the thread slot and the author's cooldown reservations to `pipe`.
fn reserve_into(pipe: &mut redis::Pipeline, reserve: &Reserve<'_>) {
    pipe.invoke_script(
        RESERVE_THREAD
            .key(k::thread(reserve.thread))
            .arg(reserve.message)
            .arg(reserve.thread_cap)
            .arg(ttl_ms()),
    )
    .invoke_script(
        RESERVE_AUTHOR
            .key(k::author(reserve.author))
            .arg(reserve.message)
            .arg(reserve.cooldown.as_millis().max(1) as u64),
    );
}

/// Reads back what [`view_into`] asked, from the pipeline's answers.
fn view_from(
    answers: &mut impl Iterator<Item = Value>,
    query: &VariantQuery<'_>,
) -> Result<VariantView, StateError> {
    let mut next = || {
        answers
            .next()
            .ok_or_else(|| StateError::Corrupt("short pipeline".into()))
    };
    let fields: HashMap<String, String> = parse(next()?)?;
    let recent = match query.ring {
        Some(_) => {
            let (version, text): (Option<u64>, Option<String>) = parse(next()?)?;
            recent_from(version, text)
        }
        None => Recent::default(),
    };
    Ok(VariantView {
        taken: taken_in(fields, query.group),
        recent,
    })
}

impl RedisReplyState {
    pub(crate) async fn acquire_all_at_once(
        &self,
        budgets: &[(&str, Rate)],
    ) -> Result<Vec<Grant>, StateError> {
        let mut pipe = redis::pipe();
        for (key, rate) in budgets {
            pipe.invoke_script(
                ACQUIRE
                    .key(k::budget_tat(key))
                    .arg(rate.emission_us)
                    .arg(rate.tolerance_us),
            );
        }
        let waits: Vec<u64> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(waits.into_iter().map(grant).collect())
    }

    /// The thread slot and the author's cooldown asked together.
    pub(crate) async fn reserve_both_at_once(
        &self,
        reserve: &Reserve<'_>,
    ) -> Result<Reserved, StateError> {
        let mut pipe = redis::pipe();
        reserve_into(&mut pipe, reserve);
        let (thread, author): (i64, i64) = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        self.settle_reservation(reserve, thread, author).await
    }

    /// The record's outcome flag and the claim share the message's tag (`{m:ID}`); the
    /// variant view's keys are read in the same pipeline.
    pub(crate) async fn lookup_at_once(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
    ) -> Result<Lookup, StateError> {
        Ok(self
            .lookup_and_reserve_at_once(message, variants, None)
            .await?
            .0)
    }

    /// [`Self::lookup_at_once`] and, in the same pipeline, the thread slot and the
    /// author's cooldown. Reserving before knowing whether the message is finished
    /// saves a round trip on every message; the rare redelivery of a finished or
    /// claimed message frees what this call took (a script answers 2 for a slot taken
    /// now, 1 for one the message already held) and gets no reservation back.
    pub(crate) async fn lookup_and_reserve_at_once(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
        reserve: Option<&Reserve<'_>>,
    ) -> Result<(Lookup, Option<Reserved>), StateError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HEXISTS").arg(k::record(message)).arg("outcome");
        pipe.cmd("HMGET").arg(k::claim(message)).arg(&CLAIM_FIELDS);
        if let Some(query) = &variants {
            view_into(&mut pipe, query);
        }
        if let Some(reserve) = reserve {
            reserve_into(&mut pipe, reserve);
        }
        let answers: Vec<Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut answers = answers.into_iter();
        let mut next = || {
            answers
                .next()
                .ok_or_else(|| StateError::Corrupt("short pipeline".into()))
        };
        let finished: bool = parse(next()?)?;
        let claim = claim_from(parse(next()?)?)?;
        let variants = match &variants {
            Some(query) => Some(view_from(&mut answers, query)?),
            None => None,
        };
        let lookup = Lookup {
            finished: Some(finished),
            claim,
            variants,
        };
        let Some(reserve) = reserve else {
            return Ok((lookup, None));
        };
        let mut next = || {
            answers
                .next()
                .ok_or_else(|| StateError::Corrupt("short pipeline".into()))
        };
        let thread: i64 = parse(next()?)?;
        let author: i64 = parse(next()?)?;
        if finished || lookup.claim.is_some() {
            // Whatever this call took, the message will not use.
            self.release_taken(reserve, thread == 2, author == 2)
                .await?;
            return Ok((lookup, None));
        }
        let reserved = self.settle_reservation(reserve, thread, author).await?;
        Ok((lookup, Some(reserved)))
    }

    /// Frees the thread slot and the author reservation this message took now.
    async fn release_taken(
        &self,
        reserve: &Reserve<'_>,
        thread: bool,
        author: bool,
    ) -> Result<(), StateError> {
        if !thread && !author {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        if thread {
            pipe.invoke_script(
                RELEASE_THREAD
                    .key(k::thread(reserve.thread))
                    .arg(reserve.message),
            )
            .ignore();
        }
        if author {
            pipe.invoke_script(
                RELEASE_AUTHOR
                    .key(k::author(reserve.author))
                    .arg(reserve.message),
            )
            .ignore();
        }
        pipe.exec_async(&mut self.conn()).await.map_err(unavailable)
    }

    /// What a pair of reservation answers means. An author reservation made for a
    /// thread that was full is freed at once (one more round trip, on a path that
    /// escalates anyway): this message never held the thread, so it held no author
    /// reservation before either.
    async fn settle_reservation(
        &self,
        reserve: &Reserve<'_>,
        thread: i64,
        author: i64,
    ) -> Result<Reserved, StateError> {
        match (thread >= 1, author >= 1) {
            (true, true) => Ok(Reserved::Both),
            (true, false) => Ok(Reserved::AuthorCooling),
            (false, held) => {
                self.release_taken(reserve, false, held).await?;
                Ok(Reserved::ThreadFull)
            }
        }
    }

    /// A channel's line and the global budget in one script (they share a tag), the
    /// recipient's pace beside it in the same pipeline. The pace is taken before the
    /// line's answer is known, so when the line or the global budget says wait, the
    /// pace is refunded (one more round trip, on a path that defers anyway); when the
    /// pace says wait, the channel and global slots are.
    pub(crate) async fn acquire_for_reply_at_once(
        &self,
        line: &Line<'_>,
        global: (&str, Rate),
        recipient: (&str, Rate),
    ) -> Result<Grant, StateError> {
        // One script over both: they must share a tag (a cluster refuses it otherwise).
        debug_assert_eq!(
            tag(&k::budget_tat(line.key)),
            tag(&k::budget_tat(global.0)),
            "a channel's line and the global budget share a tag"
        );
        let (budgets, pace): (u64, u64) = redis::pipe()
            .invoke_script(
                ACQUIRE_LINE_AND_GLOBAL
                    .key(k::budget_tat(line.key))
                    .key(k::budget_queue(line.key))
                    .key(k::budget_seen(line.key))
                    .key(k::budget_tat(global.0))
                    .arg(&line.ticket.member)
                    .arg(line.ticket.age_us)
                    .arg(line.rate.emission_us)
                    .arg(line.rate.tolerance_us)
                    .arg(line.ahead_limit)
                    .arg(STALE_WAITER.as_micros() as u64)
                    .arg(ttl_ms())
                    .arg(global.1.emission_us)
                    .arg(global.1.tolerance_us),
            )
            .invoke_script(
                ACQUIRE
                    .key(k::budget_tat(recipient.0))
                    .arg(recipient.1.emission_us)
                    .arg(recipient.1.tolerance_us),
            )
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let (budgets, pace) = (grant(budgets), grant(pace));
        let refunds: Vec<(&str, Rate)> = match (budgets, pace) {
            (Grant::Granted, Grant::Granted) => return Ok(Grant::Granted),
            (Grant::Granted, Grant::Wait(_)) => vec![(line.key, line.rate), global],
            (Grant::Wait(_), Grant::Granted) => vec![recipient],
            (Grant::Wait(_), Grant::Wait(_)) => Vec::new(),
        };
        if !refunds.is_empty() {
            let mut pipe = redis::pipe();
            for (key, rate) in refunds {
                pipe.invoke_script(REFUND.key(k::budget_tat(key)).arg(rate.emission_us))
                    .ignore();
            }
            pipe.exec_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
        }
        Ok(match budgets {
            Grant::Wait(wait) => Grant::Wait(wait),
            Grant::Granted => pace,
        })
    }

    pub(crate) async fn variant_view_at_once(
        &self,
        query: VariantQuery<'_>,
    ) -> Result<VariantView, StateError> {
        let mut pipe = redis::pipe();
        view_into(&mut pipe, &query);
        let answers: Vec<Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        view_from(&mut answers.into_iter(), &query)
    }

    /// Ring swap, thread variant and claim in one pipeline. A claim found already
    /// there wins over everything (a redelivery got there first); a claim this call
    /// made for a pick that lost its race is dropped again before picking anew.
    pub(crate) async fn take_and_claim_at_once(
        &self,
        take: &Take<'_>,
    ) -> Result<Taken, StateError> {
        let swap = take.query.ring.zip(take.ring_after.as_ref());
        let mut pipe = redis::pipe();
        if let Some((ring, (version, after))) = swap {
            pipe.invoke_script(
                SWAP_RECENT
                    .key(k::ring(ring))
                    .arg(version)
                    .arg(ring_text(after))
                    .arg(ttl_ms()),
            );
        }
        pipe.invoke_script(
            USE_THREAD_VARIANT
                .key(k::thread(take.query.thread))
                .arg(format!("v:{}:{}", take.query.group, take.variant))
                .arg(take.message)
                .arg(ttl_ms()),
        )
        .invoke_script(
            CLAIM
                .key(k::claim(take.message))
                .arg(state_name(&take.claim.state))
                .arg(&take.claim.variant)
                .arg(&take.claim.text)
                .arg(take.claim.claimed_at_ms)
                .arg(&take.claim.connector)
                .arg(ttl_ms()),
        );
        let answers: Vec<Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut answers = answers.into_iter();
        let mut next = || {
            answers
                .next()
                .ok_or_else(|| StateError::Corrupt("short pipeline".into()))
        };
        let swapped = match swap {
            Some(_) => parse::<i64>(next()?)? == 1,
            None => true,
        };
        let used = parse::<i64>(next()?)? == 1;
        if let Some(existing) = claim_from(parse(next()?)?)? {
            return Ok(Taken::Existing(existing));
        }
        if swapped && used {
            return Ok(Taken::Claimed);
        }
        self.drop_claim(take.message).await?;
        Ok(Taken::Lost)
    }
}
