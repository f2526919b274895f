"""The hand-built ONNX graph must compute what all-MiniLM-L6-v2 computes."""

import threading

import numpy as np

from batchsvc.engines.classify import model as model_mod
from batchsvc.engines.classify.model import get_encoder, load_encoder

SENTENCES = [
    "The quarterly results beat expectations and the shares rose.",
    "A short one.",
    "Paris is the capital of France, and its museums draw millions of visitors every year "
    "to see paintings, sculpture and the river that runs through the middle of the city.",
]


def _numpy_reference(texts):
    """Plain-numpy BERT forward pass + mean pooling: an independent check of the graph."""
    from safetensors.numpy import load_file

    w = load_file(str(model_mod.model_dir() / "model.safetensors"))
    enc = get_encoder()
    out = []
    for ids in enc.tokenize(texts):
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings."
             "weight"][:n] + w["embeddings.token_type_embeddings.weight"][0])

        def ln(v, p):
            mu = v.mean(-1, keepdims=True)
            var = v.var(-1, keepdims=True)
            return (v - mu) / np.sqrt(var + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

        def lin(v, p):
            return v @ w[p + ".weight"].T + w[p + ".bias"]

        x = ln(x, "embeddings.LayerNorm")
        for i in range(6):
            p = f"encoder.layer.{i}."
            q, k, v = (lin(x, p + f"attention.self.{t}").reshape(n, 12, 32).transpose(1, 0, 2)
                       for t in ("query", "key", "value"))
            s = q @ k.transpose(0, 2, 1) / np.sqrt(32)
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = (s / s.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(1, 0, 2).reshape(n, 384)
            x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = lin(x, p + "intermediate.dense")
            from math import erf
            h = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
            x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        e = x.mean(0)
        out.append(e / np.linalg.norm(e))
    return np.array(out)


def test_fp32_graphs_match_a_numpy_forward_pass():
    ref = _numpy_reference(SENTENCES)
    for fused in (False, True):
        got = load_encoder(quantize=False, fused=fused).encode(SENTENCES)
        assert np.allclose(got, ref, atol=2e-4), fused


def test_int8_model_stays_close_to_fp32():
    fp32 = load_encoder(quantize=False, fused=True).encode(SENTENCES)
    int8 = get_encoder().encode(SENTENCES)
    cos = np.sum(fp32 * int8, axis=1)
    assert (cos > 0.97).all(), cos


def test_padding_in_a_batch_does_not_change_embeddings():
    # fp32: masking must make padded and unpadded runs identical.
    enc = load_encoder(quantize=False, fused=True)
    together = enc.encode(SENTENCES)
    alone = np.vstack([enc.encode([s]) for s in SENTENCES])
    assert np.allclose(together, alone, atol=1e-4)
    # int8 quantises activations per batch, so batch-mates shift results slightly, no more.
    enc = get_encoder()
    together = enc.encode(SENTENCES)
    alone = np.vstack([enc.encode([s]) for s in SENTENCES])
    assert np.sum(together * alone, axis=1).min() > 0.98


def test_encoder_is_loaded_once_per_process():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(id(get_encoder()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 1
