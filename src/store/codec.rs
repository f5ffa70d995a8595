//! Versioned record encoding for everything the daemon keeps in sled.
//!
//! A record is one format byte followed by its body. Format 1 is JSON
//! (records hold free-form JSON attributes and properties, which bincode's
//! non-self-describing format cannot carry). A newer binary reads every
//! older format it knows; an unknown format is reported, never guessed.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format byte written by this binary.
pub const FORMAT_JSON_V1: u8 = 1;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty: no format byte.
    #[error("empty record")]
    Empty,
    /// Written by a newer binary (or corrupted).
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    /// The body does not parse as the expected record.
    #[error("undecodable record: {0}")]
    Body(#[from] serde_json::Error),
}

/// Encodes a record with the current format byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(FORMAT_JSON_V1);
    // Serializing our own record types to JSON cannot fail: they hold no
    // maps with non-string keys and no non-finite floats we produce.
    if let Err(e) = serde_json::to_writer(&mut out, value) {
        tracing::error!(error = %e, "record failed to encode");
    }
    out
}

/// Decodes a record written by [`encode`] (any known format).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
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
            b: serde_json::json!({"x":[1,2]}),
        };
        let bytes = encode(&r);
        assert_eq!(bytes[0], FORMAT_JSON_V1);
        let back: Rec = decode(&bytes).expect("decodes");
        assert_eq!(back, r);
    }

    #[test]
    fn unknown_format_and_garbage_are_errors() {
        assert!(matches!(decode::<Rec>(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode::<Rec>(&[9, b'{', b'}']),
            Err(CodecError::UnknownFormat(9))
        ));
        assert!(matches!(
            decode::<Rec>(&[1, b'x']),
            Err(CodecError::Body(_))
        ));
    }
}
