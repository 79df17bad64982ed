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

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model"); ap.add_argument("tokenizer"); ap.add_argument("corpus")
    ap.add_argument("--n", type=int, default=1000); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--disable", default="")
    ap.add_argument("--no-profile", action="store_true", help="time only (the profiler adds a little overhead)")
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    texts = []
    with open(a.corpus) as f:
        for line in f:
            if len(texts) == a.n:
                break
            r = json.loads(line)
            texts.append(f"{r['title']} {r['text']}" if r.get("title") else r["text"])
    so = ort.SessionOptions(); so.intra_op_num_threads = a.threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if a.disable:
        so.add_session_config_entry("optimization.disable_specified_optimizers", a.disable)
    so.enable_profiling = not a.no_profile
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "hardneg_op_profile")
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    encs = sorted(tok.encode_batch(texts), key=lambda e: len(e.ids))
    start, tokens = time.perf_counter(), 0
    for b in range(0, len(encs), a.batch):
        batch = encs[b:b + a.batch]
        ids = np.zeros((len(batch), max(len(e.ids) for e in batch)), np.int64); mask = np.zeros_like(ids)
        for i, e in enumerate(batch):
            ids[i, :len(e.ids)] = e.ids; mask[i, :len(e.ids)] = 1
        tokens += int(mask.sum())
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        sess.run(None, feed)
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
