#!/usr/bin/env python3
"""This machine's matrix-multiply rate through ONNX Runtime, fp32 (MatMul) and int8 (MatMulInteger,
the kernel dynamic quantization runs), on the model's own shapes: a batch of 2,048 tokens times a
384×1536 weight (the feed-forward layer, two thirds of all-MiniLM-L6-v2's arithmetic). The model's
floor in tokens/s is this rate divided by its FLOPs per token; `make bench` prints both.

usage: gemm_rate.py [--threads 2] [--seconds 3]   (prints JSON: {"fp32_gflops": …, "int8_gops": …})
"""
import argparse, json, time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from encode import session_options

M, K, N = 2048, 384, 1536


def session(model, threads):
    """A session with hardneg's options, so int8 runs the kernel hardneg runs."""
    return ort.InferenceSession(model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"])


def rate(sess, feeds, seconds):
    sess.run(None, feeds)  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sess.run(None, feeds)
        runs += 1
    return 2 * M * K * N * runs / (time.perf_counter() - start) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    w32 = helper.make_tensor("w", TensorProto.FLOAT, [K, N], rng.standard_normal((K, N), np.float32).ravel())
    fp32 = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "fp32",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])], [w32]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    w8 = helper.make_tensor("w", TensorProto.INT8, [K, N], rng.integers(-127, 128, (K, N), dtype=np.int8).ravel())
    int8 = helper.make_model(helper.make_graph(
        [helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "int8",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [M, K])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [M, N])], [w8]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(fp32)
    onnx.checker.check_model(int8)
    x32 = rng.standard_normal((M, K), np.float32)
    x8 = rng.integers(0, 256, (M, K), dtype=np.uint8)
    print(json.dumps({
        "threads": a.threads,
        "fp32_gflops": round(rate(session(fp32, a.threads), {"x": x32}, a.seconds), 1),
        "int8_gops": round(rate(session(int8, a.threads), {"x": x8}, a.seconds), 1),
    }))


if __name__ == "__main__":
    main()
