//! Subcommands other than `mine`: `embed`, `eval`, `inspect`.

pub mod embed;
pub mod eval;
pub mod inspect;
