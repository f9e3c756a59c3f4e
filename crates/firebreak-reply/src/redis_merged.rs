//! The Redis adapter's merged steps: several of the ports' operations sent as one
//! pipeline, so that a reply costs a few round trips rather than one per step. Each
//! command or script in a pipeline still touches one hash tag, so a pipeline spanning
//! tags runs on Redis Cluster too (a cluster client splits it by node); what a
//! pipeline does not give is atomicity across tags, so each merged step says how it
//! settles a partial answer (usually by undoing the part that went through, which only
//! happens on the paths that do not send).
//!
//! A pipeline cannot fall back from EVALSHA to EVAL by itself, so each one loads its
//! scripts first (a no-op once they are cached), in the same round trip.

use std::collections::HashMap;

use redis::{FromRedisValue, Value};

use crate::keys::redis as k;
use crate::port::{
    Ledger, Lookup, Rate, Reserve, Reserved, Take, Taken, VariantQuery, VariantView,
};
use crate::redis_state::{
    ACQUIRE, CLAIM, RELEASE_AUTHOR, RESERVE_AUTHOR, RESERVE_THREAD, RedisReplyState, SWAP_RECENT,
    USE_THREAD_VARIANT, claim_from, grant, ring_text, state_name, ttl_ms, unavailable,
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
        pipe.load_script(&ACQUIRE).ignore();
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

    /// The thread slot and the author's cooldown asked together. An author
    /// reservation made for a thread that was full is freed at once (one more round
    /// trip, on a path that escalates anyway): this message never held the thread, so
    /// it held no author reservation before either.
    pub(crate) async fn reserve_both_at_once(
        &self,
        reserve: &Reserve<'_>,
    ) -> Result<Reserved, StateError> {
        let (thread, author): (i64, i64) = redis::pipe()
            .load_script(&RESERVE_THREAD)
            .ignore()
            .load_script(&RESERVE_AUTHOR)
            .ignore()
            .invoke_script(
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
            )
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        match (thread == 1, author == 1) {
            (true, true) => Ok(Reserved::Both),
            (true, false) => Ok(Reserved::AuthorCooling),
            (false, held) => {
                if held {
                    let _: i64 = RELEASE_AUTHOR
                        .key(k::author(reserve.author))
                        .arg(reserve.message)
                        .invoke_async(&mut self.conn())
                        .await
                        .map_err(unavailable)?;
                }
                Ok(Reserved::ThreadFull)
            }
        }
    }

    /// The record's outcome flag and the claim share the message's tag (`{m:ID}`); the
    /// variant view's keys are read in the same pipeline.
    pub(crate) async fn lookup_at_once(
        &self,
        message: &str,
        variants: Option<VariantQuery<'_>>,
    ) -> Result<Lookup, StateError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HEXISTS").arg(k::record(message)).arg("outcome");
        pipe.cmd("HMGET").arg(k::claim(message)).arg(&CLAIM_FIELDS);
        if let Some(query) = &variants {
            view_into(&mut pipe, query);
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
        Ok(Lookup {
            finished: Some(finished),
            claim,
            variants,
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
        if swap.is_some() {
            pipe.load_script(&SWAP_RECENT).ignore();
        }
        pipe.load_script(&USE_THREAD_VARIANT)
            .ignore()
            .load_script(&CLAIM)
            .ignore();
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
