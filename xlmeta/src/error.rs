//! Typed errors of the codec. Every failure on untrusted bytes ends up here,
//! with enough context (what was being read, at which offset) to be
//! actionable in a report; nothing in this crate panics on input.

use thiserror::Error;

/// What can go wrong decoding, verifying, editing or encoding an `xl.meta`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Fewer than the 9 bytes every container needs.
    #[error("xl.meta too short ({len} bytes)")]
    TooShort {
        /// Length of the input.
        len: usize,
    },
    /// The content starts like a JSON document: an `xl.json` v1 object.
    #[error("unsupported legacy format: xl.json (v1 JSON metadata); let MinIO heal/convert the object first")]
    LegacyXlJson,
    /// Neither `XL2 ` nor JSON.
    #[error("not an xl.meta file (bad magic {magic:02x?})")]
    BadMagic {
        /// The first four bytes.
        magic: [u8; 4],
    },
    /// Container version this codec does not understand.
    #[error("unsupported xl.meta container version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version (LE u16 at offset 4).
        major: u16,
        /// Minor version (LE u16 at offset 6).
        minor: u16,
    },
    /// Header version (first value of a 1.3 body) above 3.
    #[error("unsupported version header version {0}")]
    UnsupportedHeaderVersion(u64),
    /// Meta version (second value of a 1.3 body) above 3.
    #[error("unsupported version meta version {0}")]
    UnsupportedMetaVersion(u64),
    /// Malformed msgpack, or a value of the wrong kind or size.
    #[error("malformed msgpack at offset {offset} reading {what}: {problem}")]
    Msgp {
        /// Byte offset inside the region being decoded.
        offset: usize,
        /// Which field or structure was being read.
        what: &'static str,
        /// What was wrong.
        problem: MsgpProblem,
    },
    /// The stored CRC does not match the body.
    #[error("CRC mismatch: stored {stored:08x}, computed {computed:08x}")]
    CrcMismatch {
        /// CRC stored after the body.
        stored: u32,
        /// Low 32 bits of xxh64 of the body.
        computed: u32,
    },
    /// A version's stored header signature does not match its metadata.
    #[error("signature mismatch in version {index}: stored {stored}, computed {computed}")]
    SignatureMismatch {
        /// Position of the version (newest first).
        index: usize,
        /// Hex of the stored signature.
        stored: String,
        /// Hex of the recomputed signature.
        computed: String,
    },
    /// A version's header disagrees with its metadata in a field other than the signature.
    #[error("version {index}: header {field} disagrees with the version metadata")]
    HeaderMismatch {
        /// Position of the version.
        index: usize,
        /// Which header field.
        field: &'static str,
    },
    /// A version type outside 1..=3, or a meta without the body its type needs.
    #[error("version {index}: invalid version type {vtype}")]
    InvalidVersionType {
        /// Position of the version.
        index: usize,
        /// The type value found.
        vtype: u64,
    },
    /// The inline data section is malformed.
    #[error("malformed inline data section: {0}")]
    InlineData(&'static str),
    /// A version index past the end of the version list.
    #[error("no version at index {index} (file has {count})")]
    NoSuchVersion {
        /// Requested index.
        index: usize,
        /// Number of versions.
        count: usize,
    },
    /// The version's metadata carries keys this codec does not know; re-encoding it
    /// would drop them (DESIGN invariant 5 / ONDISK pitfall 21), so it is refused.
    #[error("version {index} carries unknown metadata keys ({keys}); refusing to re-encode it")]
    UnknownKeys {
        /// Position of the version.
        index: usize,
        /// The unknown keys, comma separated.
        keys: String,
    },
    /// The requested edit does not apply to this kind of version.
    #[error("version {index} is not an object (type {vtype}); only object versions can be edited")]
    NotAnObject {
        /// Position of the version.
        index: usize,
        /// Its type.
        vtype: u8,
    },
    /// An edit tried to change a field that identifies the version.
    #[error("edit changes immutable field {field} of version {index}")]
    ImmutableField {
        /// Position of the version.
        index: usize,
        /// Which field.
        field: &'static str,
    },
    /// A value does not fit the on-disk encoding (for example more than 2^32-1 entries).
    #[error("{what} too large to encode")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
    /// A builder input is invalid.
    #[error("invalid version for the builder: {0}")]
    InvalidInput(&'static str),
    /// A UUID string could not be parsed.
    #[error("invalid UUID {0:?}")]
    InvalidUuid(String),
    /// `format.json` could not be parsed or is inconsistent.
    #[error("invalid format.json: {0}")]
    Format(String),
}

/// The precise problem behind [`Error::Msgp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgpProblem {
    /// Input ended inside a value.
    Eof,
    /// A value of another kind than expected; carries the marker byte found.
    UnexpectedMarker(u8),
    /// An integer that does not fit the target type.
    IntOverflow,
    /// A fixed-size byte field of the wrong length.
    BadLength(usize),
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// An array of the wrong element count.
    BadArrayLen(u32),
    /// Bytes left over where the value should have ended.
    TrailingBytes,
    /// Nesting deeper than any MinIO structure.
    TooDeep,
}

impl std::fmt::Display for MsgpProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MsgpProblem::Eof => write!(f, "unexpected end of input"),
            MsgpProblem::UnexpectedMarker(m) => write!(f, "unexpected marker 0x{m:02x}"),
            MsgpProblem::IntOverflow => write!(f, "integer out of range"),
            MsgpProblem::BadLength(n) => write!(f, "wrong length {n}"),
            MsgpProblem::InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            MsgpProblem::BadArrayLen(n) => write!(f, "wrong array length {n}"),
            MsgpProblem::TrailingBytes => write!(f, "trailing bytes"),
            MsgpProblem::TooDeep => write!(f, "nesting too deep"),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
