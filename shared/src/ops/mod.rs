//! What an operator does to a workspace, whichever face asks (`tapdocs`, the console): each
//! use case validated here once, so both answer the same way.

pub mod settings;
