//! `kms-client`: the key management interface keyrotate talks to.
//!
//! The same KMS, configured the same way, as the MinIO server on the node.
