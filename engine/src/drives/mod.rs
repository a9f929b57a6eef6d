//! The node's drives: MinIO endpoint syntax, `format.json` topology, object
//! placement and one I/O worker per drive.
//!
//! | module | what it owns |
//! |---|---|
//! | [`placement`] | object → set (`sipHashMod`/`crcHashMod`) and shard order (`hashOrder`) |

pub mod placement;
