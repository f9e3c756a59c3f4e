//! Insights for crisis teams: what the brand is being told, beyond the messages that
//! were answered or escalated one by one.
//!
//! - [`buckets`]: counts per minute over a rolling hour;
//! - [`vector`]: what a message is clustered by (its meaning and hashed content words);
//! - [`themes`]: online clustering of those vectors into themes, each with a count, a
//!   trend and a representative message id;
//! - [`tracker`]: one replica's view per channel, and its compact [`Snapshot`];
//! - [`merge`]: every replica's snapshots into the [`Insights`] served by
//!   `GET /v1/insights`.
//!
//! Pure: no I/O. Built from aggregates and message ids, never from message text: a
//! theme is a centroid, counts and the id of its most typical message.

pub mod buckets;
pub mod merge;
pub mod themes;
pub mod tracker;
pub mod vector;

pub use merge::{ChannelInsights, Insights, NearMiss, ThemeView, merge};
pub use tracker::{Observation, Snapshot, Tracker};
pub use vector::theme_vector;

/// The rolling window every figure covers.
pub const WINDOW_MINUTES: usize = 60;

/// A trend compares the last this-many minutes with the same span before them.
pub const TREND_MINUTES: usize = 5;
