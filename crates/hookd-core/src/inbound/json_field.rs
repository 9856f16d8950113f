//! Reading one field of a JSON body (a provider's event id or event type) without
//! building the whole document: the parser walks the body once, follows the keys of the
//! path, and skips everything else without allocating it.
//!
//! **Invariant:** [`body_text`] answers exactly what `json_text(&json_body(request)?,
//! path)` answers (`common`): `None` unless the whole body is JSON, the last of repeated
//! keys wins, a non-empty string is returned as it is and a number as
//! `serde_json::Number` prints it; anything else is `None`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::InboundRequest;

/// The string (or number, as text) at `path` in the request's JSON body.
pub fn body_text(request: &InboundRequest<'_>, path: &[&str]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(request.body);
    let found = AtPath(path).deserialize(&mut deserializer).ok()?;
    // Trailing bytes after the document make it not JSON, as `serde_json::from_slice` says.
    deserializer.end().ok()?;
    found
}

/// Follows `path` into the value being read; the text found at its end, if any.
struct AtPath<'p>(&'p [&'p str]);

impl<'de> DeserializeSeed<'de> for AtPath<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => deserializer.deserialize_any(Leaf),
            Some((key, rest)) => deserializer.deserialize_any(Object { key, rest }),
        }
    }
}

/// A value on the way: only an object with `key` leads on, to `rest`.
struct Object<'p> {
    key: &'p str,
    rest: &'p [&'p str],
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(self.key))? {
            if is_key {
                // A repeated key replaces what an earlier one held, as in a parsed Value.
                found = map.next_value_seed(AtPath(self.rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The value at the end of the path: a non-empty string or a number is the answer.
struct Leaf;

impl<'de> Visitor<'de> for Leaf {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
        Ok(Some(serde_json::Number::from(number).to_string()))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
        Ok(Some(serde_json::Number::from(number).to_string()))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(number).map(|number| number.to_string()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<String>, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(None)
}

/// Reads an object key and says whether it is the wanted one, without keeping it.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::body_text;
    use crate::inbound::common::{json_body, json_text};
    use crate::inbound::InboundRequest;

    /// The reference: parse the whole body, then look the path up.
    fn parsed(request: &InboundRequest<'_>, path: &[&str]) -> Option<String> {
        json_text(&json_body(request)?, path)
    }

    #[test]
    fn answers_what_parsing_the_whole_body_answers() {
        let bodies: &[&[u8]] = &[
            br#"{"type":"invoice.paid","id":"evt_1","data":{"object":{"id":"in_1"}}}"#,
            br#"{"id": 42, "type": "", "event": {"type": "message", "id": -7}}"#,
            br#"{"id": 1.5e3, "event": {"type": null}, "type": true}"#,
            br#"{"id": 1e21, "event": [1, {"type": "x"}], "type": {"a": 1}}"#,
            br#"{"type": 5, "type": "last wins", "event": "flat"}"#,
            br#"{"type": "first", "type": 5}"#,
            br#"{"ty\u0070e": "escaped key", "id": "caf\u00e9 \"quoted\""}"#,
            br#"{"event": {"type": "a"}, "event": 3}"#,
            br#"{"event": 3, "event": {"type": "b"}}"#,
            br#"[{"type": "in an array"}]"#,
            br#""a string""#,
            br#"12"#,
            br#"null"#,
            br#"{"type": "ok"} trailing"#,
            br#"{"type": "ok""#,
            br#"{"type": "ok",}"#,
            b"",
            b"type=form&id=1",
            &[0xff, 0xfe, b'{'],
            br#"  {"type" : "spaced" }  "#,
            br#"{"id": 18446744073709551615, "type": -9223372036854775808}"#,
            br#"{"id": 0.1, "type": -0.0}"#,
        ];
        let paths: &[&[&str]] = &[
            &["type"],
            &["id"],
            &["event", "type"],
            &["event", "id"],
            &["data", "object", "id"],
            &["missing"],
            &["type", "deeper"],
        ];
        for body in bodies {
            let request = InboundRequest {
                method: "POST",
                url: "http://hookd.test/in/src",
                headers: &[],
                body,
            };
            for path in paths {
                assert_eq!(
                    body_text(&request, path),
                    parsed(&request, path),
                    "{path:?} in {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
}
