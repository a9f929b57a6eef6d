//! `xlmeta`: a lossless, byte-exact codec for MinIO's `xl.meta` and `format.json`.
//!
//! No I/O and no cryptography live here: callers hand in bytes read from a
//! drive and get back typed, zero-copy views, an edit API for one version, and
//! an encoder whose output MinIO accepts as its own.
//!
//! | module | what it owns (ONDISK section) |
//! |---|---|
//! | [`format`] | `format.json` model: deployment, sets, drive position (§2) |
//! | [`container`] | [`XlMeta`]: container versions 1.0–1.3, CRC, verification, edits, re-encode (§3, §6) |
//! | [`header`] | per-version header, flags, MinIO's version order (§4.1–4.3) |
//! | [`meta`] | typed `V2Obj` / `DelObj` / `V1Obj` views and the edit helpers (§5.1–5.4, §5.6) |
//! | [`encode`] | msgp-exact marshalling of version metas (§5.2–5.5) |
//! | [`signature`] | version signatures (§4.4) |
//! | [`inline`] | inline data section (§9) |
//! | [`fixup`] | MinIO's load-time repairs of old metas, applied when upgrading (§3.4) |
//! | [`builder`] | new files from scratch, as MinIO's `AddVersion` + `AppendTo` |
//! | [`minio_json`] | the JSON shape of MinIO's `xl-meta` debugging tool |
//! | [`msgp`] | tinylib/msgp-compatible msgpack primitives (§5.5) |
//! | [`uuid`], [`time`] | UUID text and the time formats the format uses |
//!
//! Typical use: `XlMeta::parse(&bytes)?`, `verify()`, read versions with
//! [`Version::meta`], change one object with [`XlMeta::edit_object`], and
//! write [`XlMeta::encode`] back. Untouched files encode to identical bytes.
//!
//! ```
//! use std::borrow::Cow;
//! use xlmeta::{ObjectV2, XlMeta, XlMetaBuilder};
//!
//! // A one-version file, as MinIO's AddVersion + AppendTo would write it.
//! let obj = ObjectV2 {
//!     version_id: [1; 16],
//!     data_dir: [2; 16],
//!     ec_algo: 1,
//!     ec_m: 2,
//!     ec_n: 2,
//!     ec_block_size: 1 << 20,
//!     ec_index: 1,
//!     ec_dist: vec![1, 2, 3, 4],
//!     checksum_algo: 1,
//!     part_numbers: vec![1],
//!     part_sizes: vec![5],
//!     part_actual_sizes: Some(vec![5]),
//!     size: 5,
//!     mod_time: 1_700_000_000_000_000_000,
//!     meta_sys: Some(vec![]),
//!     meta_usr: Some(vec![(Cow::Borrowed("etag"), Cow::Borrowed("5d41402abc4b2a76b9719d911017c592"))]),
//!     ..ObjectV2::default()
//! };
//! let mut builder = XlMetaBuilder::new();
//! builder.add_object(&obj, 1_770_854_400, None)?;
//! let bytes = builder.build()?;
//!
//! // Decode, verify, edit one MetaSys entry, write back.
//! let mut xl = XlMeta::parse(&bytes)?;
//! xl.verify()?;
//! assert_eq!(xl.encode()?, bytes);
//! xl.edit_object(0, |o| {
//!     o.set_meta_sys("X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id", b"key-2");
//!     Ok(())
//! })?;
//! let edited = xl.encode()?;
//! XlMeta::parse(&edited)?.verify()?;
//! # Ok::<(), xlmeta::Error>(())
//! ```

pub mod builder;
pub mod container;
pub mod encode;
pub mod error;
pub mod fixup;
pub mod format;
pub mod header;
pub mod inline;
pub mod meta;
pub mod minio_json;
pub mod msgp;
pub mod signature;
pub mod time;
pub mod uuid;

pub use builder::XlMetaBuilder;
pub use container::{Version, XlMeta};
pub use error::{Error, MsgpProblem, Result};
pub use format::FormatJson;
pub use header::{VersionHeader, VersionType};
pub use inline::InlineData;
pub use meta::{DeleteMarker, LegacyObject, MetaSys, MetaUsr, ObjectV2, VersionBody, VersionMeta};
