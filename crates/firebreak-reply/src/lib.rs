//! The reply service: the first line of answers that absorbs a surge.
//!
//! - [`engine::ReplyEngine::decide`] says whether a classified message gets an
//!   automatic reply now: loop and spam guards and messaging windows
//!   ([`policy`]), the per-thread cap and per-author cooldown, the channel and global
//!   budgets (in-process `governor` fast path in [`local`], cluster-wide GCRA behind the
//!   [`Budget`] port, and each chat's pace, [`engine::Recipient`], on the same port),
//!   then a variant ([`select`], pure) rendered from the live playbook with redacted
//!   variables ([`render`]), claimed in the same round trip as the variant.
//! - [`stage::ReplyStage`] runs it on `FB_REPLY`: it claims the reply before sending,
//!   defers what is over budget (nak with a delay, never a drop), escalates what a
//!   human must take, and records an outcome for everything.
//! - [`manual::ManualReplier`] sends moderators' replies through the same connectors
//!   and budgets.
//!
//! State lives behind [`Budget`] and [`Ledger`], with a Redis adapter
//! ([`redis_state`]) and an in-memory one ([`memory_state`]).

pub mod config;
pub mod engine;
pub mod gcra;
pub mod keys;
pub mod local;
pub mod manual;
pub mod memory_state;
pub mod policy;
mod port;
mod redis_merged;
mod redis_scripts;
pub mod redis_state;
pub mod render;
pub mod select;
pub mod stage;

pub use config::ReplyConfig;
pub use engine::{Decision, ReplyEngine};
pub use manual::{ManualReplier, ManualReplies, ManualReply, ManualReplyError, ManualReplySent};
pub use memory_state::MemoryReplyState;
pub use port::{
    Budget, Claim, ClaimState, Grant, Ledger, Line, Lookup, Rate, Recent, ReplyState, Reserve,
    Reserved, STATE_TTL, StateError, Take, Taken, Ticket, VariantQuery, VariantView,
};
pub use redis_state::RedisReplyState;
pub use stage::ReplyStage;
