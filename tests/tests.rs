//! Integration tests: the real `hardneg` binary, the real ONNX model and ONNX Runtime (prepared by
//! `make setup`), on fixtures the repository ships.

mod it;
