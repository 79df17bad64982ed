//! Subcommands other than `mine`: `embed`, `inspect`, `schema`.

pub mod embed;
pub mod inspect;
