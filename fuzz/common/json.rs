//! Arbitrary JSON text for the fuzz targets that feed stored records to a
//! decoder (`redis_hash`, `sql_row`).

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use serde_json::Value;

/// A JSON value the fuzzer builds, written as text by serde_json: so that
/// well-formed values (objects in particular) are common, and raw bytes
/// try the rest.
#[derive(Arbitrary, Debug)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn value(self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Int(n) => Value::from(n),
            Json::Float(x) => Value::from(x),
            Json::Str(s) => Value::String(s),
            Json::Array(items) => Value::Array(items.into_iter().map(Json::value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(key, value)| (key, value.value()))
                    .collect(),
            ),
        }
    }
}

/// A JSON text: serde_json's writing of a built value, or raw bytes.
#[derive(Arbitrary, Debug)]
pub enum JsonText {
    Built(Json),
    Raw(Vec<u8>),
}

impl JsonText {
    pub fn bytes(self) -> Vec<u8> {
        match self {
            JsonText::Built(json) => json.value().to_string().into_bytes(),
            JsonText::Raw(raw) => raw,
        }
    }
}
