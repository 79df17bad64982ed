mod counterfactuals;
mod embed;
mod errors;
mod false_negatives;
mod mine;
mod reliability;
mod stages;
mod util;
