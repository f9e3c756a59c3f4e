//! Redis keys. Each operation touches keys of one hash tag only, so everything runs
//! unchanged on Redis Cluster. Tags match the store's (`{m:ID}`, `{t:channel:thread}`).

use firebreak_core::{Channel, Language, Message, Visibility};

/// The thread's tag body, shared with the case store's open-case key.
pub fn thread(message: &Message) -> String {
    format!("{}:{}", message.channel.as_str(), message.thread_id)
}

/// The queued budget of a channel.
pub fn channel_budget(channel: Channel) -> String {
    format!("channel:{}", channel.as_str())
}

pub const GLOBAL_BUDGET: &str = "global";

/// The chat a reply to `message` is posted in, which platforms pace: a group or a
/// public thread as a whole (its thread id), the person of a private chat.
pub fn recipient(message: &Message) -> String {
    match message.visibility {
        Visibility::Public => message.thread_id.clone(),
        Visibility::Private => message.author.id.clone(),
    }
}

/// The pace budget of one chat on one channel.
pub fn recipient_budget(channel: Channel, chat: &str) -> String {
    format!("recipient:{}:{chat}", channel.as_str())
}

/// The author's cooldown for one key question.
pub fn author(message: &Message, key_question: &str) -> String {
    format!(
        "{}:{}:{key_question}",
        message.channel.as_str(),
        message.author.id
    )
}

/// The ring of recent public variants of one key question on one channel.
pub fn ring(channel: Channel, key_question: &str, language: Language) -> String {
    format!("{}:{key_question}:{}", channel.as_str(), language.as_str())
}

/// The variant family inside a thread: variants of different questions or languages
/// are different texts.
pub fn group(key_question: &str, language: Language) -> String {
    format!("{key_question}.{}", language.as_str())
}

pub(crate) mod redis {
    /// The channels' lines and the global budget share one tag, so that one script
    /// takes a channel's slot and a global one together (every reply touches the
    /// global key anyway, so the shared tag adds no hot spot on a cluster). A
    /// recipient's pace has a tag of its own.
    fn budget(key: &str, part: &str) -> String {
        if key == super::GLOBAL_BUDGET || key.starts_with("channel:") {
            format!("fb:{{budget}}:{key}:{part}")
        } else {
            format!("fb:{{budget:{key}}}:{part}")
        }
    }
    pub fn budget_tat(key: &str) -> String {
        budget(key, "tat")
    }
    pub fn budget_queue(key: &str) -> String {
        budget(key, "queue")
    }
    pub fn budget_seen(key: &str) -> String {
        budget(key, "seen")
    }
    pub fn author(key: &str) -> String {
        format!("fb:{{a:{key}}}:cooldown")
    }
    pub fn thread(key: &str) -> String {
        format!("fb:{{t:{key}}}:reply")
    }
    pub fn claim(message: &str) -> String {
        format!("fb:{{m:{message}}}:reply")
    }
    /// The message's record in the message log (`firebreak-store`'s key, read only for
    /// its `outcome` field, beside the claim of the same tag).
    pub fn record(message: &str) -> String {
        format!("fb:{{m:{message}}}")
    }
    pub fn ring(key: &str) -> String {
        format!("fb:{{ring:{key}}}")
    }
}
