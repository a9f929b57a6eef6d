//! The node's drives: MinIO endpoint syntax, `format.json` topology, object
//! placement and one I/O worker per drive.
//!
//! | module | what it owns |
//! |---|---|
//! | [`endpoints`] | `/mnt/disk{1...4}` argument expansion into pools |
//! | [`walk`] | bucket/prefix listing in MinIO order, per drive and merged per set |
//! | [`topology`] | format.json, pools, sets, drive positions, discovery errors |
//! | [`io`] | one io_uring worker thread per drive: reads, listing, the odd single write |
//! | [`write`] | the drive's writer thread: crash-safe batched writes that reuse inodes |
//! | [`lock`] | one `run` at a time on a drive (shared for `plan`/`verify`), held by the process |
//! | [`placement`] | object → set (`sipHashMod`/`crcHashMod`) and shard order (`hashOrder`) |

pub mod endpoints;
pub mod io;
pub mod lock;
pub mod placement;
pub mod topology;
pub mod walk;
pub mod write;
