#!/usr/bin/env python3
"""Torch-free exporter: all-MiniLM-L6-v2 (safetensors) -> ONNX, verified against numpy.

Builds the BERT encoder graph directly with onnx.helper (opset 17, IR 8). Inputs are int64
`input_ids`, `attention_mask`, `token_type_ids` with dynamic batch and sequence; outputs are
`last_hidden_state` and `sentence_embedding` (mean-pooled by the mask, L2-normalised).
The graph is checked against a float64 numpy forward pass of the same weights; set-up fails if any
sentence embedding differs by more than 1e-4.

With --int8 it also writes model.int8.onnx: onnxruntime dynamic quantization (int8 weights per
output channel, activations quantized at run time) of a graph laid out for it. The
activation channels with outlier ranges, found by running the fp32 graph on the calibration texts
(--calib plus the built-in check texts), would otherwise set one coarse range for the whole
tensor: the QKV and FFN inputs' outlier channels are divided down (a per-channel Mul, the weights'
rows multiplied back up) and the FFN channels with outlier GELU outputs take a small fp32 path.
The attention output's and the FFN's inputs then get one int8 range per token instead of one per
tensor (`per_token_ranges`). That graph is checked against the numpy reference like model.onnx,
and the quantized result for cosine >= 0.99 to it (0.978 min on real passages without the layout,
0.996 with it, 0.997 with per-token ranges; BENCHMARKS.md).

No fusion pass runs here: onnxruntime fuses GELU and MatMul+scale itself when the session opens,
and the transformer optimizer's SkipLayerNormalization ran slower on CPU than the Add +
LayerNormalization it replaces (see BENCHMARKS.md), so the plain graph is the fast one.

With --fp16 it also writes model.fp16.onnx: the encoder in float16 with float16 weights (what
CUDA runs), pooling and normalisation in float32, checked for cosine >= 0.999 to the reference on
onnxruntime's CPU provider.

usage: export_onnx.py SRC_MODEL_DIR OUT_DIR [--int8 [--calib PASSAGES.jsonl]] [--fp16]
"""
import argparse, json, math, re, shutil, sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from encode import feeds, padded, read_passages, session_options

MAX_LENGTH = 256
MASK_VALUE = -10000.0  # large negative, not -inf: stays finite in fp16


def load_weights(src):
    w = load_file(str(src / "model.safetensors"))
    # Checkpoints differ in whether names carry the "bert." prefix.
    return {k[5:] if k.startswith("bert.") else k: v.astype(np.float32) for k, v in w.items()}


def build_graph(w, cfg, plan=None, half=False):
    """The encoder as an ONNX graph. With `plan` (from `int8_plan`), the graph computes the same
    function but is laid out for dynamic int8 quantization: activation channels with outlier
    ranges are divided down before the matmuls that read them (the weights' rows multiplied back
    up), and the FFN channels whose GELU output is an outlier go through a small separate path
    whose `l{i}_x_*` matmuls stay fp32. With `half`, the encoder (embeddings, attention, FFN,
    LayerNormalization) runs in float16 with float16 weights, and its output is cast to float32
    for the pooling and normalisation, which stay float32 (the outputs keep their float32 types)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, eps = H // nh, cfg.get("layer_norm_eps", 1e-12)
    nodes, inits = [], []

    def const(name, arr, full=False):
        """An initializer; with `half`, float32 becomes float16 unless `full` (the fp32 tail)."""
        arr = np.asarray(arr)
        if half and not full and arr.dtype == np.float32:
            arr = arr.astype(np.float16)
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def linear(x, prefix, out, row_scale=None, cols=None, tag=""):
        """x @ W^T + b; row_scale multiplies W's input rows, cols keeps only those outputs."""
        wt, b = w[prefix + ".weight"].T, w[prefix + ".bias"]
        if row_scale is not None:
            wt = wt * row_scale[:, None]
        if cols is not None:
            wt, b = wt[:, cols], b[cols]
        wt, b = const(prefix + ".weight_t" + tag, np.ascontiguousarray(wt)), const(prefix + ".bias" + tag, b)
        return node("Add", [node("MatMul", [x, wt], out + "_mm"), b], out)

    def smoothed(x, scale, out):
        """x / scale per channel, or x itself when no channel needs it."""
        return x if scale is None else node("Mul", [x, const(out + "_inv_scale", (1.0 / scale).astype(np.float32))], out)

    def gelu(x, out):
        halved = node("Mul", [x, const(out + "_half", np.array(0.5, np.float32))], out + "_g_half")
        erf = node("Erf", [node("Div", [x, const(out + "_sqrt2", np.array(math.sqrt(2), np.float32))], out + "_g_div")], out + "_g_erf")
        return node("Mul", [halved, node("Add", [erf, "one_act"], out + "_g_1p")], out)

    def layer_norm(x, prefix, out):
        g, b = const(prefix + ".weight", w[prefix + ".weight"]), const(prefix + ".bias", w[prefix + ".bias"])
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    ax1, ax2, ax12 = const("ax1", np.array([1], np.int64)), const("ax2", np.array([2], np.int64)), const("ax12", np.array([1, 2], np.int64))
    # Embeddings: positions are 0..seq (the checkpoint's position_ids is only a buffer).
    seq = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("one_i", np.array(1, np.int64))], "seq_len")
    pos = node("Range", [const("zero_i", np.array(0, np.int64)), seq, "one_i"], "positions")
    emb = node("Add", [node("Add", [
        node("Gather", [const("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"], "e_word"),
        node("Gather", [const("pos_emb", w["embeddings.position_embeddings.weight"]), pos], "e_pos")], "e_wp"),
        node("Gather", [const("type_emb", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"], "e_type")], "e_sum")
    x = layer_norm(emb, "embeddings.LayerNorm", "e_ln")
    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    ext = node("Mul", [node("Sub", [const("one_f", np.array(1.0, np.float32), full=True), maskf], "mask_inv"),
                       const("mask_value", np.array(MASK_VALUE, np.float32), full=True)], "mask_add_2d")
    if half:
        ext = node("Cast", [ext], "mask_add_2d_h", to=TensorProto.FLOAT16)
    ext = node("Unsqueeze", [ext, ax12], "mask_add")  # [B,1,1,S]
    const("one_act", np.array(1.0, np.float32))  # GELU's 1 + erf, in the encoder's type
    split_shape = const("split_shape", np.array([0, 0, nh, hd], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, H], np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(hd), np.float32))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        qkv_scale, inter_scale, gelu_outliers = (plan[k][i] for k in ("qkv_scale", "inter_scale", "gelu_outliers")) if plan else (None,) * 3
        heads, qkv_in = {}, smoothed(x, qkv_scale, f"l{i}_qkv_in")
        for part, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
            t = linear(qkv_in, p + "attention.self." + part, f"l{i}_{part}", row_scale=qkv_scale)
            heads[part] = node("Transpose", [node("Reshape", [t, split_shape], f"l{i}_{part}_r")], f"l{i}_{part}_t", perm=perm)
        scores = node("Add", [node("Mul", [node("MatMul", [heads["query"], heads["key"]], f"l{i}_qk"), scale], f"l{i}_qk_s"), ext], f"l{i}_scores")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, heads["value"]], f"l{i}_ctx")], f"l{i}_ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape], f"l{i}_ctx_m")
        attn = linear(ctx, p + "attention.output.dense", f"l{i}_attn_out")
        x = layer_norm(node("Add", [attn, x], f"l{i}_attn_res"), p + "attention.output.LayerNorm", f"l{i}_attn_ln")
        inter_in = smoothed(x, inter_scale, f"l{i}_inter_in")
        if gelu_outliers is None or len(gelu_outliers) == 0:
            out = linear(gelu(linear(inter_in, p + "intermediate.dense", f"l{i}_inter", row_scale=inter_scale), f"l{i}_gelu"),
                         p + "output.dense", f"l{i}_out")
        else:
            # (x W1[:,M]) W2[M,:] + (x W1[:,X]) W2[X,:] over the usual channels M and outliers X.
            usual = np.setdiff1d(np.arange(w[p + "intermediate.dense.bias"].shape[0]), gelu_outliers)
            parts = []
            for tag, cols in (("", usual), ("_x", gelu_outliers)):
                name = f"l{i}{tag}"
                g = gelu(linear(inter_in, p + "intermediate.dense", f"{name}_inter", row_scale=inter_scale, cols=cols, tag=tag), f"{name}_gelu")
                w2 = const(p + "output.dense.weight_t" + tag, np.ascontiguousarray(w[p + "output.dense.weight"].T[cols]))
                parts.append(node("MatMul", [g, w2], f"{name}_out_mm"))
            # The bias right after the int8 matmul, where onnxruntime folds it into the kernel.
            usual_out = node("Add", [parts[0], const(p + "output.dense.bias", w[p + "output.dense.bias"])], f"l{i}_out_usual")
            out = node("Add", [usual_out, parts[1]], f"l{i}_out")
        x = layer_norm(node("Add", [out, x], f"l{i}_out_res"), p + "output.LayerNorm", f"l{i}_out_ln")
    if half:
        x = node("Cast", [x], "encoded_f32", to=TensorProto.FLOAT)
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    # Mean pooling by the mask, then L2 norm as Sqrt(ReduceSum(x*x)) (ReduceL2 changed at opset 18).
    m3 = node("Unsqueeze", [maskf, ax2], "mask_3d")
    summed = node("ReduceSum", [node("Mul", [x, m3], "masked"), ax1], "summed", keepdims=0)
    count = node("Max", [node("ReduceSum", [m3, ax1], "count_raw", keepdims=0), const("min_count", np.array(1e-9, np.float32), full=True)], "count")
    mean = node("Div", [summed, count], "mean_pooled")
    norm = node("Sqrt", [node("ReduceSum", [node("Mul", [mean, mean], "sq"), ax1], "sumsq", keepdims=1)], "norm_raw")
    norm = node("Max", [norm, const("min_norm", np.array(1e-12, np.float32), full=True)], "norm")
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="sentence_embedding"))
    dyn = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
    graph = helper.make_graph(nodes, "all-MiniLM-L6-v2", [dyn("input_ids"), dyn("attention_mask"), dyn("token_type_ids")],
                              [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", H]),
                               helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="hardneg-export")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_forward(w, cfg, ids, mask):
    """float64 numpy forward pass of the same weights: the exporter's ground truth."""
    from math import erf
    W = {k: v.astype(np.float64) for k, v in w.items()}
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, eps = H // nh, cfg.get("layer_norm_eps", 1e-12)
    verf = np.vectorize(erf)

    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * W[p + ".weight"] + W[p + ".bias"]

    lin = lambda x, p: x @ W[p + ".weight"].T + W[p + ".bias"]
    B, S = ids.shape
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:S] + W["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    ext = (1.0 - mask[:, None, None, :]) * MASK_VALUE
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, p + "attention.self." + n).reshape(B, S, nh, hd).transpose(0, 2, 1, 3) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + ext
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense"); h = 0.5 * h * (1.0 + verf(h / math.sqrt(2)))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    m = mask[:, :, None].astype(np.float64)
    mean = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


VERIFY_TEXTS = [
    "", "a", "Hello world.", "information retrieval", "Ünïcödé façade naïve café", "東京は日本の首都です。",
    "The quick brown fox jumps over the lazy dog.", "What is information science? Give definitions where possible.",
    "emoji 🙂 and symbols ©®™ ±≈≠", "1960 1976 3.14159 42%", "   leading and trailing spaces   ",
    "Mixed CASE Words And ACRONYMS like NASA, MARC, OCLC.", "line\nbreaks\tand tabs",
] + [" ".join(["indexing", "thesaurus", "citation", "library", "catalogue", "retrieval", "relevance"][j % 7] for j in range(n))
     for n in (3, 9, 27, 81, 200, 400)] + [
    f"Document {i}: a study of {topic} in {field} with {i * 7} samples and {i % 5} findings."
    for i, (topic, field) in enumerate([(t, f) for t in ("indexing", "classification", "search behaviour", "citation analysis",
                                                            "automatic abstracting", "query expansion", "relevance feedback", "thesauri")
                                          for f in ("libraries", "medicine", "law", "chemistry")])]


def batches(tok, texts, size):
    """(input_ids, attention_mask) of `texts` in padded batches of `size`, in order."""
    for b in range(0, len(texts), size):
        yield padded(tok.encode_batch(texts[b:b + size]))


def verify(model_path, w, cfg, tok, texts, tol):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), session_options(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for ids, mask in batches(tok, texts, 8):
        got = sess.run(["sentence_embedding"], feeds(ids, mask))[0]
        ref = reference_forward(w, cfg, ids, mask)
        worst = max(worst, float(np.abs(got - ref).max()))
    if worst > tol:
        sys.exit(f"export check failed: {model_path} differs from the numpy reference by {worst:.2e} (> {tol:g})")
    print(f"verified {model_path.name} on {len(texts)} texts: max |diff| {worst:.2e} (<= {tol:g})")


def check_cosine(model_path, w, cfg, tok, texts, floor):
    """For lossy graphs (int8, fp16): every sentence embedding's cosine to the reference >= floor,
    in hardneg's session options (so int8 runs the exact kernel hardneg runs)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), session_options(), providers=["CPUExecutionProvider"])
    worst = 1.0
    for t in texts:
        ids, mask = padded([tok.encode(t)])
        got = sess.run(["sentence_embedding"], feeds(ids, mask))[0][0]
        ref = reference_forward(w, cfg, ids, mask)[0]
        worst = min(worst, float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref))))
    if worst < floor:
        sys.exit(f"export check failed: {model_path} has cosine {worst:.4f} to the reference (< {floor})")
    print(f"verified {model_path.name} on {len(texts)} texts: min cosine {worst:.6f} (>= {floor})")


# A channel is an outlier when the largest |activation| it reaches on the calibration texts is over
# this many times the median channel's. Dynamic int8 quantizes a whole activation tensor with one
# range, so a few such channels (all-MiniLM-L6-v2 has 3-22 of 1,536 per FFN layer) coarsen the rest.
OUTLIER_RATIO = 3.0
INT8_COSINE_FLOOR = 0.99


def int8_plan(model_path, cfg, tok, texts):
    """The layout `build_graph(plan=...)` uses: per layer, the divisors of the QKV and FFN inputs'
    outlier channels (None where there is none) and the FFN channels whose GELU output is an
    outlier, from each channel's largest |activation| over `texts` in the fp32 graph."""
    import onnxruntime as ort
    n = cfg["num_hidden_layers"]
    groups = {"qkv_scale": ["e_ln"] + [f"l{i}_out_ln" for i in range(n - 1)],
              "inter_scale": [f"l{i}_attn_ln" for i in range(n)], "gelu_outliers": [f"l{i}_gelu" for i in range(n)]}
    names = [x for g in groups.values() for x in g]
    model = onnx.load(str(model_path))
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    amax = dict.fromkeys(names, 0.0)
    for ids, mask in batches(tok, texts, 16):
        for name, out in zip(names, sess.run(names, feeds(ids, mask))):
            amax[name] = np.maximum(amax[name], np.abs(out[mask.astype(bool)]).max(0))
    ratio = {name: a / (OUTLIER_RATIO * np.median(a)) for name, a in amax.items()}
    scale = lambda r: np.maximum(r, 1.0).astype(np.float32) if (r > 1).any() else None
    return {"qkv_scale": [scale(ratio[x]) for x in groups["qkv_scale"]],
            "inter_scale": [scale(ratio[x]) for x in groups["inter_scale"]],
            "gelu_outliers": [np.flatnonzero(ratio[x] > 1) for x in groups["gelu_outliers"]]}


def quantize(src, dst, fp32_nodes=()):
    """onnxruntime dynamic quantization of every MatMul but `fp32_nodes`: weights per output
    channel; quantizing the embeddings or other ops' activations too costs accuracy (measured min
    cosine 0.90 with the defaults)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     per_channel=True, nodes_to_exclude=list(fp32_nodes),
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


# GELU (erf form) is bounded below by -0.16997, so its int8 zero point can sit near the bottom.
GELU_FLOOR, GELU_ZERO_POINT = 0.17, 16


def per_token_ranges(model, kinds):
    """Rewrites onnxruntime's dynamic quantization of the activations named in `kinds` (tensor name
    -> "signed" or "gelu") from one int8 range per tensor to one per token, which halves their
    rounding error: a token's range is set by its own largest value, not by the batch's largest.

    The matmuls' integer kernel takes one activation zero point, so each row gets its own step and
    all share the zero point: "signed" tensors (LayerNorm outputs, attention context) are quantized
    symmetrically around 128; "gelu" tensors around GELU_ZERO_POINT, the step at least
    GELU_FLOOR / GELU_ZERO_POINT so that GELU's negative tail fits below it. Each
    `MatMulInteger -> Cast -> Mul` becomes MatMulIntegerToFloat (the weights' scales) and a Mul by
    the rows' steps."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    new_inits = {"pt_flat": np.array([-1], np.int64), "pt_one": np.array(1.0, np.float32),
                 "pt_zp128": np.array(128, np.uint8), "pt_inv127": np.array(1 / 127, np.float32),
                 "pt_tiny": np.array(1e-12, np.float32), "pt_zp_gelu": np.array(GELU_ZERO_POINT, np.uint8),
                 "pt_gelu_inv_span": np.array(1 / (255 - GELU_ZERO_POINT), np.float32),
                 "pt_gelu_min_step": np.array(GELU_FLOOR / GELU_ZERO_POINT, np.float32)}
    replace = {}  # node name -> the nodes taking its place ([] drops it)

    def mk(op, ins, out, **attrs):
        return helper.make_node(op, ins, [out], name=out, **attrs)

    for dq in [n for n in g.node if n.op_type == "DynamicQuantizeLinear" and n.input[0] in kinds]:
        x, (xq, step, _) = dq.input[0], dq.output
        p, gelu = x + "_pt", kinds[x] == "gelu"
        zero_point = "pt_zp_gelu" if gelu else "pt_zp128"
        if gelu:  # step = max(max x / (255 - zero point), GELU_FLOOR / zero point)
            nodes = [mk("ReduceMax", [x], p + "_max", axes=[-1], keepdims=1),
                     mk("Mul", [p + "_max", "pt_gelu_inv_span"], p + "_max_step"),
                     mk("Max", [p + "_max_step", "pt_gelu_min_step"], step)]
        else:  # step = max |x| / 127
            nodes = [mk("Abs", [x], p + "_abs"),
                     mk("ReduceMax", [p + "_abs"], p + "_absmax", axes=[-1], keepdims=1),
                     mk("Max", [p + "_absmax", "pt_tiny"], p + "_absmax_pos"),
                     mk("Mul", [p + "_absmax_pos", "pt_inv127"], step)]
        # QuantizeLinear takes one step (and zero point) per row of a 2-D tensor: [rows, K] in.
        nodes += [mk("Flatten", [x], p + "_x2d", axis=-1),
                  mk("Shape", [x], p + "_shape"),
                  mk("Reshape", [step, "pt_flat"], p + "_step_1d"),
                  mk("Shape", [p + "_step_1d"], p + "_rows"),
                  mk("Expand", [zero_point, p + "_rows"], p + "_zp_1d"),
                  mk("QuantizeLinear", [p + "_x2d", p + "_step_1d", p + "_zp_1d"], p + "_q2d", axis=0),
                  mk("Reshape", [p + "_q2d", p + "_shape"], xq)]
        replace[dq.name] = nodes
        for mm in consumers[xq]:
            cast = consumers[mm.output[0]][0]
            mul = consumers[cast.output[0]][0]
            scales = producer[mul.input[1]]  # Mul(activation step, weight scales)
            if (mm.op_type, cast.op_type, mul.op_type, scales.input[0]) != ("MatMulInteger", "Cast", "Mul", step):
                sys.exit(f"export failed: {mm.name} is not the MatMulInteger -> Cast -> Mul that onnxruntime's quantizer writes")
            w_scale, out = scales.input[1], mul.output[0]
            replace[scales.name], replace[cast.name] = [], []
            replace[mm.name] = [helper.make_node("MatMulIntegerToFloat", [xq, mm.input[1], "pt_one", w_scale, zero_point, mm.input[3]],
                                                 [out + "_per_column"], name=out + "_per_column", domain="com.microsoft")]
            replace[mul.name] = [mk("Mul", [out + "_per_column", step], out)]
    nodes = [m for n in g.node for m in replace.get(n.name, [n])]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in new_inits.items())
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def save_external(model, dest):
    """Saves `model` as `dest` with every initializer of 64 KiB or more in `dest`.data beside it.
    hardneg's sessions then share one copy of those weights, each parsing only the small graph
    file; onnxruntime elsewhere reads the data file by itself. `dest` lies in the export's fresh
    folder (see `main`): onnx appends to an existing data file."""
    data = dest.with_name(dest.name + ".data")
    onnx.save(model, str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
              location=data.name, size_threshold=64 * 1024)
    data.chmod(dest.stat().st_mode & 0o777)  # onnx creates it readable by its owner only


def write_int8(out, w, cfg, tok, calib):
    """model.int8.onnx: weights of every MatMul but the outlier path per channel int8 (activations
    quantized at run time, per token where `per_token_ranges` applies), from the graph `int8_plan`
    lays out on `calib` texts."""
    plan = int8_plan(out / "model.onnx", cfg, tok, calib)
    print("int8 layout: outlier channels per layer (QKV input, FFN input, FFN GELU):",
          [(0 if q is None else int((q > 1).sum()), 0 if f is None else int((f > 1).sum()), len(g))
           for q, f, g in zip(plan["qkv_scale"], plan["inter_scale"], plan["gelu_outliers"])])
    src, tmp = out / "model.int8-src.onnx.tmp", out / "model.int8.onnx.tmp"
    graph = build_graph(w, cfg, plan)
    onnx.save(graph, str(src))
    verify(src, w, cfg, tok, VERIFY_TEXTS, 1e-4)  # the same function as model.onnx before quantizing
    fp32_path = [n.name for n in graph.graph.node if n.op_type == "MatMul" and "_x_" in n.name]
    quantize(src, tmp, fp32_path)
    src.unlink()
    # Per-token ranges where they cost least (about 3% of int8 speed, within this machine's noise):
    # the attention output's and the FFN's inputs. The QKV input too would gain a little more and
    # cost about 5% more (BENCHMARKS.md).
    kinds = {}
    for n in graph.graph.node:
        if re.fullmatch(r"l\d+_(attn_out|inter)_mm", n.name):
            kinds[n.input[0]] = "signed"
        elif re.fullmatch(r"l\d+_out_mm", n.name):
            kinds[n.input[0]] = "gelu"
    dest = out / "model.int8.onnx"
    save_external(per_token_ranges(onnx.load(str(tmp)), kinds), dest)
    tmp.unlink()
    # The verify set holds adversarial texts (emoji, CJK, 400 repeated words); real passages
    # score higher (see BENCHMARKS.md).
    check_cosine(dest, w, cfg, tok, VERIFY_TEXTS, INT8_COSINE_FLOOR)
    print(f"int8 graph checked (dynamic int8 of model.onnx, {len(fp32_path)} outlier matmuls fp32)")


# fp16 keeps about three decimal digits: on real passages the cosine to the float64 reference is
# far above this floor (BENCHMARKS.md); the verify set's adversarial texts set it.
FP16_COSINE_FLOOR = 0.999


def write_fp16(out, w, cfg, tok):
    """model.fp16.onnx: the encoder in float16 (what CUDA runs), pooling and normalisation in
    float32. onnxruntime's CPU provider runs it too (inserting casts where it has no float16
    kernel), which is how CI checks the graph a GPU will run."""
    dest = out / "model.fp16.onnx"
    save_external(build_graph(w, cfg, half=True), dest)
    check_cosine(dest, w, cfg, tok, VERIFY_TEXTS, FP16_COSINE_FLOOR)


def replace_folder(new, dest):
    """Puts the finished folder `new` where `dest` is (the old one is removed): between the two
    renames `dest` is briefly missing, never half written."""
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path); ap.add_argument("out", type=Path)
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx (dynamic quantization)")
    ap.add_argument("--fp16", action="store_true", help="also write model.fp16.onnx (float16 encoder, for GPUs)")
    ap.add_argument("--calib", type=Path, help="JSONL passages whose activation ranges lay out the int8 graph "
                                               "(with --int8; the built-in check texts are always used too)")
    a = ap.parse_args()
    cfg = json.loads((a.src / "config.json").read_text())
    w = load_weights(a.src)
    # Everything is written to a fresh folder beside OUT that replaces it at the end, so an export
    # stopped midway (killed, out of disk) leaves the old model folder, never a mix of two exports.
    out = a.out.resolve().with_name(a.out.resolve().name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tok = Tokenizer.from_file(str(a.src / "tokenizer.json"))
    # The shipped tokenizer pads and truncates at a fixed 128; sentence-transformers uses 256, no fixed pad.
    tok.enable_truncation(MAX_LENGTH); tok.no_padding()
    save_external(build_graph(w, cfg), out / "model.onnx")
    verify(out / "model.onnx", w, cfg, tok, VERIFY_TEXTS, 1e-4)
    if a.int8:
        write_int8(out, w, cfg, tok, VERIFY_TEXTS + (read_passages(a.calib) if a.calib else []))
    if a.fp16:
        write_fp16(out, w, cfg, tok)
    tok.save(str(out / "tokenizer.json"))
    shutil.copy(a.src / "config.json", out / "config.json")
    if (a.src / "1_Pooling" / "config.json").exists():
        (out / "1_Pooling").mkdir(exist_ok=True)
        shutil.copy(a.src / "1_Pooling" / "config.json", out / "1_Pooling" / "config.json")
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": MAX_LENGTH, "do_lower_case": False}))
    replace_folder(out, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
