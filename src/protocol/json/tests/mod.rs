//! The scanner through each of its readers, checked by hand and against
//! serde_json.

mod check;
mod fields;
mod members;
mod values;
