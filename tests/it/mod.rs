mod embed;
mod errors;
mod mine;
mod util;
