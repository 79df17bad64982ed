//! Subcommands other than `mine`: `embed`, `eval`, `inspect`, `perturb`.

pub mod embed;
pub mod eval;
pub mod inspect;
pub mod perturb;
