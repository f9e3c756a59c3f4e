//! Firebreak's domain, free of I/O: what a message is, what the pipeline decides about
//! it, what outcome it reaches, and the error codes every API speaks.
//!
//! Services depend on these types; the wire types in `firebreak-proto` are converted at
//! the edges (see [`wire`]).

pub mod classification;
pub mod crisis;
pub mod error;
pub mod message;
pub mod outcome;
pub mod rules;
pub mod subjects;
pub mod wire;

pub use classification::{Classification, FirstLine, Flag, Language, Priority, Route};
pub use crisis::CrisisMode;
pub use error::{ErrorCode, FirebreakError};
pub use message::{Attachment, Author, Channel, MailHeaders, Message, MessageId, Visibility};
pub use outcome::{HistoryEntry, MessageRecord, Outcome, Stage};
