//! Small wire helpers: timestamps as Svix writes them, fresh ids, tri-state patch fields,
//! integer fields that also take integral floats ([`integral`]), and the schema of header
//! pair lists.

use chrono::{SecondsFormat, Utc};
use hookd_core::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// The current time, truncated to milliseconds (what the store keeps).
pub fn now() -> Timestamp {
    let now = Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Fresh id material: milliseconds and 14 random bytes.
pub fn id_parts(at: Timestamp) -> (u64, [u8; 14]) {
    (at.timestamp_millis().max(0) as u64, rand::random())
}

/// Serialises a timestamp as RFC 3339 with milliseconds and `Z`.
pub fn timestamp<S: Serializer>(value: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Serialises an optional timestamp as [`timestamp`] does, or as `null`.
pub fn optional_timestamp<S: Serializer>(
    value: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(at) => timestamp(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A PATCH field: absent (`None`), explicitly null (`Some(None)`), or set.
pub fn patch_field<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `[name, value]` pairs of header lists: arrays of two strings. (`Vec<(String, String)>`
/// would be documented in the 3.0 tuple form, `items: [...]`, which 3.1 does not allow;
/// `prefixItems` would say the same as this, but tools that convert it back to the 3.0
/// form trip on it.)
pub fn header_pairs() -> utoipa::openapi::ArrayBuilder {
    use utoipa::openapi::schema::Type;
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder};
    ArrayBuilder::new()
        .description(Some("`[name, value]` pairs, names in lowercase, in order."))
        .items(
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .min_items(Some(2))
                .max_items(Some(2)),
        )
}

/// Integer fields of request bodies, read from any JSON number with an integral value:
/// `8883` and `8883.0` are the same value to JSON Schema (and to JavaScript), and clients
/// and fuzzers send either. A fractional or out-of-range number is refused with serde's
/// "invalid value" error, which the body extractor answers as a 422 naming the field.
///
/// Use on an `Option<T>` (with `#[serde(default)]`) or a PATCH field's
/// `Option<Option<T>>`, with `T` one of the integer types. Message payloads never go
/// through this: they are user data and are stored as published.
pub mod integral {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, Unexpected, Visitor};
    use serde::Deserialize;

    /// A `T` read from an integral JSON number.
    struct Integral<T>(T);

    impl<'de, T: TryFrom<i128>> Deserialize<'de> for Integral<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer
                .deserialize_any(IntegralVisitor(PhantomData))
                .map(Integral)
        }
    }

    struct IntegralVisitor<T>(PhantomData<T>);

    impl<T: TryFrom<i128>> IntegralVisitor<T> {
        fn fit<E: de::Error>(&self, value: i128, unexpected: Unexpected<'_>) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::invalid_value(unexpected, self))
        }
    }

    impl<T: TryFrom<i128>> Visitor<'_> for IntegralVisitor<T> {
        type Value = T;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                formatter,
                "an integer that fits {}",
                std::any::type_name::<T>()
            )
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
            self.fit(i128::from(value), Unexpected::Signed(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
            self.fit(i128::from(value), Unexpected::Unsigned(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
            // Integral values within ±2^127 convert exactly; anything larger does not fit
            // any of the field types either.
            if value.fract() != 0.0 || value.abs() >= 2f64.powi(127) {
                return Err(E::invalid_value(Unexpected::Float(value), &self));
            }
            self.fit(value as i128, Unexpected::Float(value))
        }
    }

    /// An optional integer field (`null` reads as `None`); pair with `#[serde(default)]`.
    pub fn option<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: TryFrom<i128>,
        D: Deserializer<'de>,
    {
        Option::<Integral<T>>::deserialize(deserializer).map(|value| value.map(|Integral(v)| v))
    }

    /// A PATCH integer field: absent (`None`, from `#[serde(default)]`), explicitly null
    /// (`Some(None)`), or set.
    pub fn patch<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: TryFrom<i128>,
        D: Deserializer<'de>,
    {
        option(deserializer).map(Some)
    }

    #[cfg(test)]
    mod tests {
        use serde::Deserialize;
        use serde_json::json;

        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Sample {
            #[serde(default, deserialize_with = "super::option")]
            rate: Option<u16>,
            #[serde(default, deserialize_with = "super::patch")]
            limit: Option<Option<u64>>,
            #[serde(default, deserialize_with = "super::option")]
            offset: Option<i64>,
        }

        fn read(value: serde_json::Value) -> Result<Sample, String> {
            crate::extract::parse_json::<Sample>(value.to_string().as_bytes())
                .map_err(|error| error.to_string())
        }

        #[test]
        fn integral_floats_read_as_integers() {
            let sample = read(json!({"rate": 8883.0, "limit": 1e3, "offset": -5.0})).unwrap();
            assert_eq!(sample.rate, Some(8883));
            assert_eq!(sample.limit, Some(Some(1000)));
            assert_eq!(sample.offset, Some(-5));
            let sample = read(json!({"rate": 7, "limit": 18446744073709551615u64})).unwrap();
            assert_eq!(sample.rate, Some(7));
            assert_eq!(sample.limit, Some(Some(u64::MAX)));
        }

        #[test]
        fn null_and_absent_keep_their_meaning() {
            let sample = read(json!({"limit": null, "rate": null})).unwrap();
            assert_eq!(sample.rate, None);
            assert_eq!(sample.limit, Some(None));
            let sample = read(json!({})).unwrap();
            assert_eq!(sample.limit, None);
        }

        #[test]
        fn fractions_out_of_range_values_and_other_types_are_refused_naming_the_field() {
            for (body, field) in [
                (json!({"rate": 1.5}), "rate"),
                (json!({"rate": 65536}), "rate"),
                (json!({"rate": 65536.0}), "rate"),
                (json!({"rate": -1}), "rate"),
                (json!({"limit": -1.0}), "limit"),
                (json!({"limit": 1.8446744073709552e19}), "limit"),
                (json!({"offset": 1e300}), "offset"),
                (json!({"offset": "5"}), "offset"),
                (json!({"offset": true}), "offset"),
            ] {
                let error = read(body.clone()).unwrap_err();
                assert!(
                    error.starts_with(&format!("{field}: invalid")),
                    "{body}: {error}"
                );
            }
        }
    }
}
