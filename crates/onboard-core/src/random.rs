//! Injected randomness: codes and tokens draw from a [`Random`],
//! the OS CSPRNG in production and a predictable sequence in tests.

use std::sync::atomic::{AtomicU64, Ordering};

pub trait Random: Send + Sync + 'static {
    /// Fills `buf` with random bytes. Production sources are cryptographically secure.
    fn fill(&self, buf: &mut [u8]);

    /// A uniformly random number below `bound` (rejection sampling, no modulo bias).
    fn below(&self, bound: u32) -> u32 {
        let zone = u32::MAX - (u32::MAX % bound);
        loop {
            let mut bytes = [0u8; 4];
            self.fill(&mut bytes);
            let n = u32::from_le_bytes(bytes);
            if n < zone {
                return n % bound;
            }
        }
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator failing is unrecoverable: no secret may be made without it.
        getrandom::fill(buf).expect("the operating system's random generator failed");
    }
}

/// A deterministic, NOT secure source for tests: a counter run through SplitMix64.
#[derive(Debug, Default)]
pub struct SequenceRandom(AtomicU64);

impl SequenceRandom {
    pub fn new(seed: u64) -> Self {
        SequenceRandom(AtomicU64::new(seed))
    }
}

impl Random for SequenceRandom {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}
