#!/usr/bin/env python3
"""Where the model's time goes: onnxruntime's profiler, summed per operator type.

Runs MODEL.onnx on the first N texts of a JSONL corpus the way hardneg batches them (sorted by
length, padded to the batch's longest), with the given intra-op threads, and prints docs/s and
the kernel time of each operator type. --disable lists onnxruntime optimizers to switch off
(hardneg switches off SkipLayerNormFusion on CPU), so a graph change can be measured before it
is made.

usage: op_profile.py MODEL.onnx TOKENIZER.json CORPUS.jsonl [--n 1000] [--threads 2]
                     [--batch 64] [--disable SkipLayerNormFusion] [--no-profile]
"""
import argparse, collections, json, os, tempfile, time

import onnxruntime as ort
from tokenizers import Tokenizer

from encode import feeds, length_sorted_batches, read_passages, session_options


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model"); ap.add_argument("tokenizer"); ap.add_argument("corpus")
    ap.add_argument("--n", type=int, default=1000); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--disable", default="")
    ap.add_argument("--no-profile", action="store_true", help="time only (the profiler adds a little overhead)")
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    texts = read_passages(a.corpus, a.n)
    so = session_options(a.threads, a.disable)
    so.enable_profiling = not a.no_profile
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "hardneg_op_profile")
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    start, tokens = time.perf_counter(), 0
    for _, ids, mask in length_sorted_batches(tok, texts, a.batch):
        tokens += int(mask.sum())
        sess.run(None, feeds(ids, mask, inputs))
    took = time.perf_counter() - start
    print(f"{a.model}: {len(texts) / took:.1f} docs/s, {tokens / took:.0f} tokens/s "
          f"({a.threads} threads, batch {a.batch}, disabled: {a.disable or 'none'})")
    if a.no_profile:
        return
    per_op = collections.Counter()
    trace = sess.end_profiling()
    with open(trace) as f:
        for e in json.load(f):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op[e["args"]["op_name"]] += e["dur"]
    os.remove(trace)
    total = sum(per_op.values())
    print("| operator | kernel s | share |\n|---|---|---|")
    for op, us in per_op.most_common(12):
        print(f"| {op} | {us / 1e6:.2f} | {100 * us / total:.1f}% |")


if __name__ == "__main__":
    main()
