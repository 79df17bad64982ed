"""What the model scripts share: passages from a JSONL corpus, padded batches, onnxruntime feeds."""
import json

import numpy as np


def read_passages(path, limit=None):
    """'title text' of each line of a JSONL corpus (BEIR layout), the first `limit` when given."""
    texts = []
    with open(path) as f:
        for line in f:
            if limit is not None and len(texts) == limit:
                break
            if line.strip():
                r = json.loads(line)
                texts.append(f"{r.get('title') or ''} {r.get('text') or ''}".strip())
    return texts


def padded(encodings):
    """input_ids and attention_mask of tokenizer encodings, padded to the longest."""
    ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), np.int64)
    mask = np.zeros_like(ids)
    for r, e in enumerate(encodings):
        ids[r, :len(e.ids)] = e.ids
        mask[r, :len(e.ids)] = 1
    return ids, mask


def feeds(ids, mask, input_names=("input_ids", "attention_mask", "token_type_ids")):
    """A session's inputs for a batch (token_type_ids all zero), limited to `input_names`."""
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {k: v for k, v in batch.items() if k in input_names}


def length_sorted_batches(tok, texts, size):
    """(row indices, input_ids, attention_mask) per batch, texts sorted by token count as hardneg
    batches them, so padding stays short."""
    encodings = tok.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    for b in range(0, len(order), size):
        rows = order[b:b + size]
        yield (rows, *padded([encodings[i] for i in rows]))


def session_options(threads=0, disable=""):
    """onnxruntime options as hardneg sets them on CPU: `threads` intra-op threads (0: onnxruntime's
    default), one inter-op, every graph optimization but those named in `disable` (hardneg disables
    SkipLayerNormFusion), and precise int8 matmuls (on x86 without VNNI the fast u8×s8 kernel
    saturates 16-bit sums; a no-op elsewhere)."""
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.x64quantprecision", "1")
    if disable:
        so.add_session_config_entry("optimization.disable_specified_optimizers", disable)
    return so
