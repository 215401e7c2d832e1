//! The native command line's commands, as library code so that they are tested with
//! `cargo test`; `src/bin/cxr.rs` only parses the subcommand and prints. Native only: the page
//! has no files or paths.

pub mod compare;
pub mod predict;
pub mod train;
