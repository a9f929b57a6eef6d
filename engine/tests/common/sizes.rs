//! The plaintext sizes issue 8 names: DARE package and erasure block
//! boundaries, and a multipart object (the fixture's every 9th object).

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

/// Object `i` of a fixture gets `BOUNDARY_SIZES[i]`; with `multipart_every`
/// 9 the last one is a 3-part upload.
pub const BOUNDARY_SIZES: [u64; 9] = [
    0,
    1,
    64 * KIB - 1,
    64 * KIB,
    64 * KIB + 1,
    MIB,
    MIB + 1,
    10 * MIB + 3,
    5 * MIB + 7,
];
