//! The Lua scripts of the Redis reply state. Each touches the keys of one hash tag,
//! and budgets read the clock from Redis (`TIME`), so replicas with skewed clocks
//! share one schedule.

use std::sync::LazyLock;

/// The start of a line script: Redis time, stale waiters pruned, how many older
/// messages wait (`ahead`) and when the line's rate allows the next (`allow_at`).
/// KEYS: the line's tat, queue and seen; ARGV: member, age, emission, tolerance, ahead
/// limit, stale after, line TTL.
const LINE_HEAD: &str = r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6]), 'LIMIT', 0, 100)
        for _, m in ipairs(stale) do
          redis.call('ZREM', KEYS[2], m)
          redis.call('ZREM', KEYS[3], m)
        end
        local emission = tonumber(ARGV[3])
        local ahead = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        local allow_at = tat - tonumber(ARGV[4])
";

/// The end of a line script, for a message the line does not serve now: it joins the
/// line by age and is told its estimated turn.
const LINE_WAIT: &str = r"
        local wait = allow_at - now
        if ahead * emission > wait then wait = ahead * emission end
        redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
        redis.call('ZADD', KEYS[3], string.format('%d', now), ARGV[1])
        redis.call('PEXPIRE', KEYS[2], ARGV[7])
        redis.call('PEXPIRE', KEYS[3], ARGV[7])
        if wait < 1 then wait = 1 end
        return wait";

fn line_script(served: &str) -> redis::Script {
    redis::Script::new(&[LINE_HEAD, served, LINE_WAIT].concat())
}

/// GCRA over a line of waiters ordered by age: a request is served only when fewer than
/// `ahead_limit` older messages wait, and only if the rate allows it now. Returns 0 when
/// granted, else the microseconds to wait.
pub(crate) static ACQUIRE_QUEUED: LazyLock<redis::Script> = LazyLock::new(|| {
    line_script(
        r"
        if ahead < tonumber(ARGV[5]) and now >= allow_at then
          local next = tat + emission
          redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1000)
          redis.call('ZREM', KEYS[2], ARGV[1])
          redis.call('ZREM', KEYS[3], ARGV[1])
          return 0
        end",
    )
});

/// [`ACQUIRE_QUEUED`] on a channel's line, then plain GCRA on the global budget
/// (KEYS[4], the same tag; ARGV[8] and [9] its emission and tolerance) only if the
/// line granted, atomically: a slot is taken from both or from neither. A message the
/// line served leaves it even when the global budget refuses, as it does when the two
/// are asked one after the other. Returns 0 when granted, else the microseconds to
/// wait.
pub(crate) static ACQUIRE_LINE_AND_GLOBAL: LazyLock<redis::Script> = LazyLock::new(|| {
    line_script(
        r"
        if ahead < tonumber(ARGV[5]) and now >= allow_at then
          local gtat = tonumber(redis.call('GET', KEYS[4]) or '0')
          if gtat < now then gtat = now end
          local gallow = gtat - tonumber(ARGV[9])
          -- Served by the line either way: it leaves it, as after a grant.
          redis.call('ZREM', KEYS[2], ARGV[1])
          redis.call('ZREM', KEYS[3], ARGV[1])
          if now < gallow then return gallow - now end
          local next = tat + emission
          redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1000)
          local gnext = gtat + tonumber(ARGV[8])
          redis.call('SET', KEYS[4], string.format('%d', gnext), 'PX', math.floor((gnext - now) / 1000) + 1000)
          return 0
        end",
    )
});

/// Plain GCRA on one key. Returns 0 when granted, else the microseconds to wait.
pub(crate) static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        local allow_at = tat - tonumber(ARGV[2])
        if now < allow_at then return allow_at - now end
        local next = tat + tonumber(ARGV[1])
        redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1000)
        return 0",
    )
});

pub(crate) static REFUND: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
        if tat <= now then redis.call('DEL', KEYS[1]) return 0 end
        redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
        return 1",
    )
});

/// The reservation scripts answer 0 (refused), 1 (already held by this message) or 2
/// (taken now): a merged lookup frees only what it took for a message that turned out
/// to be finished.
pub(crate) static RESERVE_AUTHOR: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then return 1 end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 2",
    )
});

pub(crate) static RELEASE_AUTHOR: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0",
    )
});

/// A thread hash holds `n` (slots taken), `r:<message>` (who holds one) and
/// `v:<group>:<variant>` (who sent that variant).
pub(crate) static RESERVE_THREAD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('HEXISTS', KEYS[1], 'r:' .. ARGV[1]) == 1 then return 1 end
        local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
        if n >= tonumber(ARGV[2]) then return 0 end
        redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], '1')
        redis.call('HINCRBY', KEYS[1], 'n', 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 2",
    )
});

pub(crate) static RELEASE_THREAD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1]) == 1 then
          redis.call('HINCRBY', KEYS[1], 'n', -1)
          return 1
        end
        return 0",
    )
});

pub(crate) static USE_THREAD_VARIANT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local holder = redis.call('HGET', KEYS[1], ARGV[1])
        if holder == ARGV[2] then return 1 end
        if holder then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1",
    )
});

/// Claims a message's reply: `state` is set only if absent. Returns the fields of the
/// claim that was there, or nothing when this call made it. The claim is stamped with
/// Redis's clock (`TIME`), the one clock every replica shares, so a lease is never
/// judged across two machines' clocks. (ARGV[4], the caller's time, is not used.)
pub(crate) static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('HSETNX', KEYS[1], 'state', ARGV[1]) == 0 then
          return redis.call('HMGET', KEYS[1], 'state', 'variant', 'text', 'claimed_at', 'connector')
        end
        local t = redis.call('TIME')
        local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('HSET', KEYS[1], 'variant', ARGV[2], 'text', ARGV[3], 'claimed_at', now_ms, 'connector', ARGV[5])
        redis.call('PEXPIRE', KEYS[1], ARGV[6])
        return {}",
    )
});

pub(crate) static SWAP_RECENT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local v = redis.call('HGET', KEYS[1], 'v') or '0'
        if v ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'ring', ARGV[2])
        redis.call('HINCRBY', KEYS[1], 'v', 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1",
    )
});
