//! The node's drives: MinIO endpoint syntax, `format.json` topology, object
//! placement and one I/O worker per drive.
//!
//! | module | what it owns |
//! |---|---|
//! | [`endpoints`] | `/mnt/disk{1...4}` argument expansion into pools |
//! | [`topology`] | format.json, pools, sets, drive positions, discovery errors |
//! | [`placement`] | object → set (`sipHashMod`/`crcHashMod`) and shard order (`hashOrder`) |

pub mod endpoints;
pub mod placement;
pub mod topology;
