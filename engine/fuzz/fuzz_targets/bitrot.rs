//! Verify arbitrary bytes as one bitrot frame (`highway256(chunk) ‖ chunk`,
//! read from a part file on a drive): never panics; a frame that verifies
//! re-frames to the same bytes, and any single flipped bit is caught.

#![no_main]

use engine::erasure::bitrot::{frame_into, verify_frame, HASH_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(chunk) = verify_frame(data) {
        assert_eq!(chunk, &data[HASH_LEN..]);
        let mut again = Vec::new();
        frame_into(&mut again, chunk);
        assert_eq!(again, data);
    }
    // Frame the input as a chunk: it verifies, and a flipped bit at a
    // position picked by the input does not.
    let mut frame = Vec::new();
    frame_into(&mut frame, data);
    assert_eq!(verify_frame(&frame), Some(data));
    let at = data.first().map_or(0, |&b| usize::from(b)) % frame.len();
    frame[at] ^= 1 << (data.len() % 8);
    assert_eq!(verify_frame(&frame), None);
});
