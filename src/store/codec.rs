//! Versioned record encoding for everything the daemon keeps in sled.
//!
//! A record is one format byte followed by its body:
//! - format 1: JSON (written by binaries up to 0.1's first releases);
//! - format 2: MessagePack with field names (`rmp-serde`), written now.
//!   It is self-describing like JSON, so it carries the free-form JSON
//!   attributes and event properties that bincode's non-self-describing
//!   format cannot, and optional fields can be added later with
//!   `#[serde(default)]`; records are smaller and cheaper to write and
//!   read, which is what the store spends its time on under ingest.
//!
//! A newer binary reads every older format it knows; an unknown format is
//! reported, never guessed.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON records of older data dirs.
pub const FORMAT_JSON_V1: u8 = 1;
/// MessagePack records with named fields (the format written now).
pub const FORMAT_MSGPACK_V2: u8 = 2;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty: no format byte.
    #[error("empty record")]
    Empty,
    /// Written by a newer binary (or corrupted).
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    /// A JSON body does not parse as the expected record.
    #[error("undecodable record: {0}")]
    Json(#[from] serde_json::Error),
    /// A MessagePack body does not parse as the expected record.
    #[error("undecodable record: {0}")]
    MsgPack(#[from] rmp_serde::decode::Error),
    /// A value stored in pieces lost some of them.
    #[error("undecodable record: {0}")]
    Incomplete(#[from] super::spill::Incomplete),
}

/// Encodes a record with the current format byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(FORMAT_MSGPACK_V2);
    // Serializing our own record types cannot fail: MessagePack takes any
    // serde data model value, and the writer is a Vec.
    if let Err(e) = value.serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map()) {
        tracing::error!(error = %e, "record failed to encode");
    }
    out
}

/// Decodes a record written by [`encode`] or by an older binary.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&FORMAT_MSGPACK_V2, body)) => Ok(rmp_serde::from_slice(body)?),
        Some((&FORMAT_JSON_V1, body)) => Ok(serde_json::from_slice(body)?),
        Some((&other, _)) => Err(CodecError::UnknownFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        a: u32,
        b: serde_json::Value,
    }

    #[test]
    fn round_trip_with_format_byte() {
        let r = Rec {
            a: 7,
            b: serde_json::json!({"x":[1,2.5,"s",null,true,{"y":-3}], "big": u64::MAX}),
        };
        let bytes = encode(&r);
        assert_eq!(bytes[0], FORMAT_MSGPACK_V2);
        let back: Rec = decode(&bytes).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn json_records_of_older_data_dirs_still_decode() {
        let mut bytes = vec![FORMAT_JSON_V1];
        bytes.extend_from_slice(br#"{"a":7,"b":{"x":[1,2]}}"#);
        let back: Rec = decode(&bytes).expect("decodes");
        assert_eq!(
            back,
            Rec {
                a: 7,
                b: serde_json::json!({"x":[1,2]})
            }
        );
    }

    #[test]
    fn unknown_format_and_garbage_are_errors() {
        assert!(matches!(decode::<Rec>(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode::<Rec>(&[9, b'{', b'}']),
            Err(CodecError::UnknownFormat(9))
        ));
        assert!(matches!(
            decode::<Rec>(&[FORMAT_JSON_V1, b'x']),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            decode::<Rec>(&[FORMAT_MSGPACK_V2, 0xc1]),
            Err(CodecError::MsgPack(_))
        ));
    }
}
