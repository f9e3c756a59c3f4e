//! Field readers that accept what platforms really send, not only what their schemas
//! say: ids as numbers where strings are documented (older Graph payloads), counters as
//! strings where numbers are documented (Meta's own `num_edit` example). A value of the
//! documented kind in the wrong JSON type is coerced; anything else is still an error,
//! which [`crate::parsed::decode_event`] turns into one skipped event.
//!
//! Each coercion is counted on the parsing thread; a parser collects the count with
//! [`Coercions`] into [`crate::Parsed::coerced`], so operators see how often a
//! platform strays from its documented types.

use serde::de::{self, Deserializer, Visitor};
use std::cell::Cell;
use std::fmt;

thread_local! {
    static COERCED: Cell<usize> = const { Cell::new(0) };
}

fn note_coercion() {
    COERCED.with(|c| c.set(c.get() + 1));
}

/// Counts the coercions made between its creation and [`Coercions::finish`]. Parsing is
/// synchronous, so everything counted on this thread meanwhile is this parse's.
pub(crate) struct Coercions(usize);

impl Coercions {
    pub(crate) fn start() -> Self {
        Coercions(COERCED.with(Cell::get))
    }

    pub(crate) fn finish(self) -> usize {
        COERCED.with(Cell::get).saturating_sub(self.0)
    }
}

/// A string, or an integer written as its decimal string (counted as a coercion).
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(StringOrNumber { counted: true })
}

/// [`string_or_number`] for an optional field (`null` and absence are `None`).
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionOf(StringOrNumber { counted: true }))
}

/// An optional id the platform documents in either JSON type (X's `id`: a number on
/// tweets' users, a string in the DM `users` map): read as a string, not counted.
pub(crate) fn opt_id_of_either_type<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionOf(StringOrNumber { counted: false }))
}

/// A non-negative count, as a number or as a decimal string (`"1"`).
pub(crate) fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    d.deserialize_option(OptionalCount)
}

struct OptionalCount;

impl<'de> Visitor<'de> for OptionalCount {
    type Value = Option<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count, as a number or a decimal string")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        u32::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let count = v
            .trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Other("text"), &self))?;
        note_coercion();
        Ok(Some(count))
    }
}

struct StringOrNumber {
    /// Whether a number here strays from the documented type.
    counted: bool,
}

impl Visitor<'_> for StringOrNumber {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an integer")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        if self.counted {
            note_coercion();
        }
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        if self.counted {
            note_coercion();
        }
        Ok(v.to_string())
    }
}

struct OptionOf<V>(V);

impl<'de, V: Visitor<'de, Value = String>> Visitor<'de> for OptionOf<V> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "super::string_or_number")]
        id: String,
        #[serde(default, deserialize_with = "super::opt_count")]
        count: Option<u32>,
        #[serde(default, deserialize_with = "super::opt_string_or_number")]
        other: Option<String>,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn ids_and_counts_are_read_in_either_json_type() {
        let p = probe(r#"{"id":1234567890123456789,"count":"2","other":42}"#).unwrap();
        assert_eq!(p.id, "1234567890123456789");
        assert_eq!(p.count, Some(2));
        assert_eq!(p.other.as_deref(), Some("42"));
        let p = probe(r#"{"id":"abc","count":3,"other":null}"#).unwrap();
        assert_eq!((p.id.as_str(), p.count, p.other), ("abc", Some(3), None));
    }

    #[test]
    fn coercions_are_counted_and_documented_types_are_not() {
        let count = super::Coercions::start();
        probe(r#"{"id":"abc","count":3}"#).unwrap();
        assert_eq!(count.finish(), 0);
        let count = super::Coercions::start();
        probe(r#"{"id":12,"count":"3","other":7}"#).unwrap();
        assert_eq!(count.finish(), 3);
    }

    #[test]
    fn other_types_are_still_errors() {
        assert!(probe(r#"{"id":{"x":1}}"#).is_err());
        assert!(probe(r#"{"id":"a","count":"many"}"#).is_err());
        assert!(probe(r#"{"id":1.5}"#).is_err());
    }
}
