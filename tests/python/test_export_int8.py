"""The exporter's int8 layout on a small random BERT with planted outlier channels: the calibration
finds them, the laid-out graph computes the same function as the numpy reference, and its int8
quantization stays closer to fp32 than quantizing the plain graph does."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import export_onnx as ex  # noqa: E402
from encode import feeds, session_options  # noqa: E402

H, FF, LAYERS = 32, 128, 2
CFG = {"hidden_size": H, "num_attention_heads": 4, "num_hidden_layers": LAYERS, "layer_norm_eps": 1e-12}
LN_OUTLIER, GELU_OUTLIER = 5, 17  # planted channels
TEXTS = ex.VERIFY_TEXTS + [f"Passage {i} about {t} and its {u}." for i, (t, u) in
                           enumerate([("bees", "pollen"), ("rivers", "floods"), ("markets", "prices")] * 10)]


@pytest.fixture(scope="module")
def tok():
    t = Tokenizer.from_file(str(ROOT / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"))
    t.enable_truncation(64)
    t.no_padding()
    return t


@pytest.fixture(scope="module")
def weights(tok):
    rng = np.random.default_rng(7)
    r = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float32)
    w = {"embeddings.word_embeddings.weight": r(tok.get_vocab_size(), H), "embeddings.position_embeddings.weight": r(64, H),
         "embeddings.token_type_embeddings.weight": r(2, H), "embeddings.LayerNorm.weight": np.ones(H, np.float32),
         "embeddings.LayerNorm.bias": np.zeros(H, np.float32)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name, (o, n) in {"attention.self.query": (H, H), "attention.self.key": (H, H), "attention.self.value": (H, H),
                             "attention.output.dense": (H, H), "intermediate.dense": (FF, H), "output.dense": (H, FF)}.items():
            w[p + name + ".weight"], w[p + name + ".bias"] = r(o, n), r(o)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + name + ".weight"], w[p + name + ".bias"] = np.ones(H, np.float32), np.zeros(H, np.float32)
        # Outliers like the real model's, each with its weights onward scaled down so that it does
        # not swamp the rest: one residual channel scaled up, one FFN unit always on.
        w[p + "attention.output.LayerNorm.weight"][LN_OUTLIER] = 25.0
        w[p + "intermediate.dense.weight"][:, LN_OUTLIER] /= 25.0
        w[p + "intermediate.dense.bias"][GELU_OUTLIER] = 30.0
        w[p + "output.dense.weight"][:, GELU_OUTLIER] /= 30.0
    return w


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory, weights):
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    ex.onnx.save(ex.build_graph(weights, CFG), str(path))
    return path


def embed(path, tok, texts):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["sentence_embedding"], feeds(ids, mask))[0] for ids, mask in ex.batches(tok, texts, 8)])


def test_calibration_finds_the_planted_channels(fp32_model, tok):
    plan = ex.int8_plan(fp32_model, CFG, tok, TEXTS)
    for i in range(LAYERS):
        assert GELU_OUTLIER in plan["gelu_outliers"][i]
        assert len(plan["gelu_outliers"][i]) < FF // 4
        scale = plan["inter_scale"][i]
        assert scale is not None and scale[LN_OUTLIER] > 1 and np.sum(scale > 1) < H // 4


def test_laid_out_graph_is_the_same_function(fp32_model, weights, tok, tmp_path):
    path = tmp_path / "laid-out.onnx"
    ex.onnx.save(ex.build_graph(weights, CFG, ex.int8_plan(fp32_model, CFG, tok, TEXTS)), str(path))
    reference = np.concatenate([ex.reference_forward(weights, CFG, ids, mask) for ids, mask in ex.batches(tok, TEXTS, 8)])
    np.testing.assert_allclose(embed(path, tok, TEXTS), reference, atol=1e-4)


def test_int8_of_the_layout_is_closer_to_fp32_than_plain_int8(fp32_model, weights, tok, tmp_path):
    (tmp_path / "laid").mkdir()
    shutil.copy(fp32_model, tmp_path / "laid" / "model.onnx")
    ex.write_int8(tmp_path / "laid", weights, CFG, tok, TEXTS)
    plain = tmp_path / "plain.int8.onnx"
    ex.quantize(fp32_model, plain)
    ref = embed(fp32_model, tok, TEXTS)
    cos = lambda p: (embed(p, tok, TEXTS) * ref).sum(1)
    laid, flat = cos(tmp_path / "laid" / "model.int8.onnx"), cos(plain)
    assert laid.mean() > flat.mean() and laid.min() > flat.min(), (laid.min(), flat.min())


def matmul_model(tmp_path, kind, weights, bias):
    """x @ weights + bias as onnxruntime quantizes it, then with `kind` per-token ranges on x."""
    from onnx import TensorProto, helper, numpy_helper
    k, n = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"), helper.make_node("Add", ["mm", "b"], ["y"], name="y")], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", n])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    ex.onnx.save(model, str(tmp_path / "fp32.onnx"))
    ex.quantize(tmp_path / "fp32.onnx", tmp_path / "per_tensor.onnx")
    ex.onnx.save(ex.per_token_ranges(ex.onnx.load(str(tmp_path / "per_tensor.onnx")), {"x": kind}), str(tmp_path / "per_token.onnx"))
    return tmp_path / "per_tensor.onnx", tmp_path / "per_token.onnx"


@pytest.mark.parametrize("kind", ["signed", "gelu"])
def test_per_token_ranges_keep_small_tokens_precise_beside_a_large_one(tmp_path, kind):
    import onnxruntime as ort
    rng = np.random.default_rng(3)
    weights, bias = (rng.standard_normal((48, 24)) * 0.1).astype(np.float32), rng.standard_normal(24).astype(np.float32)
    x = rng.standard_normal((2, 5, 48)).astype(np.float32)
    x[0, 0] *= 40  # one token with a range 40x the others'
    if kind == "gelu":  # GELU outputs: nothing below -0.17
        x = np.maximum(x, -0.16997).astype(np.float32)
    want = x @ weights + bias
    run = lambda path: ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]
    per_tensor, per_token = (np.abs(run(p) - want) for p in matmul_model(tmp_path, kind, weights, bias))
    small = np.ones(x.shape[:2], bool)
    small[0, 0] = False
    # The small tokens' error shrinks with their own range; the large token's stays within its step.
    assert per_token[small].max() < per_tensor[small].max() / 8, (per_token[small].max(), per_tensor[small].max())
    assert per_token[0, 0].max() < 0.02 * np.abs(want[0, 0]).max()
