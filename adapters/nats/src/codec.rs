//! How requests and replies become message payloads: serde, with JSON by default (any
//! language's NATS client can call an rsvp service) and postcard behind the `postcard`
//! feature (compact, and what firmware speaks).

use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A serde format for payloads. Callers and responders of one subject must use the same one.
pub trait Codec: Clone + Send + Sync + 'static {
    /// Writes `value` as a payload.
    ///
    /// # Errors
    ///
    /// When serde refuses the value (e.g. a map with non-string keys, in JSON).
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError>;

    /// Reads a payload as a `T`.
    ///
    /// # Errors
    ///
    /// When the payload is not a `T` in this format.
    fn decode<T: DeserializeOwned>(&self, payload: &[u8]) -> Result<T, CodecError>;
}

/// JSON (serde_json): the default, readable by any language's client.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| CodecError(format!("json: {e}")))
    }

    fn decode<T: DeserializeOwned>(&self, payload: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(payload).map_err(|e| CodecError(format!("json: {e}")))
    }
}

/// postcard: compact, non-self-describing, and the format firmware can speak (feature
/// `postcard`).
#[cfg(feature = "postcard")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError> {
        postcard::to_allocvec(value)
            .map(Bytes::from)
            .map_err(|e| CodecError(format!("postcard: {e}")))
    }

    fn decode<T: DeserializeOwned>(&self, payload: &[u8]) -> Result<T, CodecError> {
        postcard::from_bytes(payload).map_err(|e| CodecError(format!("postcard: {e}")))
    }
}

/// A value that could not be written, or a payload that could not be read, with serde's
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(pub(crate) String);

impl CodecError {
    /// What serde said.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_clear_errors() {
        let bytes = Json.encode(&(7u32, "seven")).unwrap();
        assert_eq!(&bytes[..], br#"[7,"seven"]"#);
        assert_eq!(
            Json.decode::<(u32, String)>(&bytes).unwrap(),
            (7, "seven".into())
        );
        let err = Json.decode::<u64>(b"\"seven\"").unwrap_err();
        assert!(
            err.message().starts_with("json: invalid type: string"),
            "{err}"
        );
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_round_trip_and_clear_errors() {
        let bytes = Postcard.encode(&(7u32, "seven")).unwrap();
        assert_eq!(&bytes[..], b"\x07\x05seven");
        assert_eq!(
            Postcard.decode::<(u32, String)>(&bytes).unwrap(),
            (7, "seven".into())
        );
        let err = Postcard.decode::<(u32, String)>(b"\x07").unwrap_err();
        assert!(err.message().starts_with("postcard: "), "{err}");
    }
}
