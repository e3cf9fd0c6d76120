//! Registration validation (CONTRACT §3) as table tests, one binary (so it links
//! once): individuals, corporations, and what their tables share.

mod corporate;
mod individual;
mod support;
