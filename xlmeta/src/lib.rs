//! `xlmeta`: a lossless, byte-exact codec for MinIO's `xl.meta` and `format.json`.
//!
//! No I/O and no cryptography live here: callers hand in bytes read from a
//! drive and get back typed, zero-copy views, an edit API for one version, and
//! an encoder whose output MinIO accepts as its own.
