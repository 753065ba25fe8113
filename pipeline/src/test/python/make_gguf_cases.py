"""GGUF test files for the Java reader (org.untwist.io.GgufFile) and the Q8_0 / Q4_K kernels, written by gguf-py (the
llama.cpp project's reference GGUF package, 0.19.0), which is also the reference for the dequantized values.

testdata/gguf/tensors.gguf
    one tensor of each type the reader maps (F32, F16, BF16, I32, Q8_0, Q4_K; a 3-D Q4_K one for the order of the
    dimensions), metadata of every GGUF value type (the eight integer types, both float types, bool, string, arrays of
    numbers, of strings and of arrays), general.alignment = 64.
    Q8_0 comes from gguf-py's own quantizer. gguf-py cannot quantize Q4_K, so the Q4_K blocks are random valid bytes
    (positive, zero, negative and subnormal binary16 scales among them): dequantization is defined for any bytes.
testdata/gguf/tensors-expected.safetensors
    every tensor of tensors.gguf as float32, dequantized by gguf-py (gguf.quants.dequantize), under the same names.
testdata/gguf/flux1-tiny-mixed.gguf
    testdata/flux-pipeline-tiny-single/flux1-tiny.safetensors (a FLUX.1-architecture transformer with BFL key names)
    as ComfyUI-GGUF's FLUX.1 files store one: architecture 'flux', 1-D tensors F32, the embedders' weights F16 or BF16,
    the other weights Q8_0 (gguf-py's quantizer), except those whose rows are whole Q4_K super-blocks (256), which this
    script quantizes to Q4_K with a plain min/max quantizer (any valid blocks do: the test compares against the same
    model's dequantized weights).

Run from the repository root (needs numpy, torch, safetensors and gguf 0.19.0):
    python3 pipeline/src/test/python/make_gguf_cases.py testdata/gguf
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261205)


def random_q4_k(rows, cols):
    """Random valid Q4_K super-blocks for a [rows, cols] tensor: bytes as uint8 [rows, cols / 256 * 144]."""
    assert cols % 256 == 0
    n = rows * cols // 256
    blocks = rng.integers(0, 256, size=(n, 144), dtype=np.uint8)
    d = rng.uniform(1e-3, 5e-2, size=n).astype(np.float16)
    dmin = rng.uniform(1e-3, 5e-2, size=n).astype(np.float16)
    d[0], dmin[0] = 0, 0.03             # no scale
    if n > 1:
        d[1], dmin[1] = 0.02, 0         # no min
    if n > 2:
        d[2], dmin[2] = -0.01, -0.002   # negative scales (the format does not forbid them)
    if n > 3:
        d[3] = np.float16(3e-6)         # a binary16 subnormal
    blocks[:, 0:2] = d.view(np.uint8).reshape(n, 2)
    blocks[:, 2:4] = dmin.view(np.uint8).reshape(n, 2)
    return blocks.reshape(rows, cols // 256 * 144)


def quantize_q4_k(x):
    """A plain Q4_K quantizer (not ggml's search): per 32-element sub-block, the scale (max - min) / 15 and the offset
    -min, both as 6-bit multiples of the super-block's binary16 d and dmin; quants rounded and clamped to 0..15."""
    rows, cols = x.shape
    sb = x.reshape(-1, 8, 32).astype(np.float32)
    lo = np.minimum(sb.min(axis=2), 0)
    hi = sb.max(axis=2)
    scale = (hi - lo) / 15
    offset = -lo
    d = (scale.max(axis=1) / 63).astype(np.float16)
    dmin = (offset.max(axis=1) / 63).astype(np.float16)
    d32, dmin32 = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(scale, d32, out=np.zeros_like(scale), where=d32 > 0)), 0, 63).astype(np.uint8)
    m = np.clip(np.round(np.divide(offset, dmin32, out=np.zeros_like(offset), where=dmin32 > 0)), 0, 63).astype(np.uint8)
    step = (d32 * sc)[:, :, None]
    base = (dmin32 * m)[:, :, None]
    q = np.clip(np.round(np.divide(sb + base, step, out=np.zeros_like(sb), where=step > 0)), 0, 15).astype(np.uint8)
    n = sb.shape[0]
    packed = np.zeros((n, 12), dtype=np.uint8)
    packed[:, 0:4] = (sc[:, 0:4] & 0x3F) | ((sc[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = (m[:, 0:4] & 0x3F) | ((m[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    quants = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(n, 128)  # sub-block 2p in the low nibbles, 2p+1 in the high
    blocks = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), packed, quants], axis=1)
    return blocks.reshape(rows, cols // 256 * 144)


def check_read_back(path, expected):
    """gguf-py's own reader must see the tensors as written, and dequantize them to the expected values."""
    reader = gguf.GGUFReader(path)
    for t in reader.tensors:
        got = t.data if t.tensor_type == T.I32 else gguf.quants.dequantize(t.data, t.tensor_type)
        want = expected[t.name]
        assert got.shape == want.shape, (t.name, got.shape, want.shape)
        assert np.array_equal(got.astype(np.float32).view(np.uint32), want.view(np.uint32)), t.name


# ---- tensors.gguf ---------------------------------------------------------------------------------------------------
path = os.path.join(out, "tensors.gguf")
w = gguf.GGUFWriter(path, arch="untwist-test")
w.add_custom_alignment(64)
w.add_uint8("test.uint8", 200)
w.add_int8("test.int8", -100)
w.add_uint16("test.uint16", 60000)
w.add_int16("test.int16", -30000)
w.add_uint32("test.uint32", 4000000000)
w.add_int32("test.int32", -2000000000)
w.add_uint64("test.uint64", 18000000000000000000)
w.add_int64("test.int64", -9000000000000000000)
w.add_float32("test.float32", 1.5)
w.add_float64("test.float64", -2.25e-300)
w.add_bool("test.bool", True)
w.add_string("test.string", "grüße, 世界")
w.add_array("test.ints", [1, -2, 3])
w.add_array("test.strings", ["a", "", "ccc"])
w.add_key_value("test.nested", [[1, 2], [3]], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.ARRAY)

stored = {}  # name -> (array as written, GGML type)
stored["f32"] = (rng.standard_normal((3, 5)).astype(np.float32), T.F32)
stored["f16"] = (rng.standard_normal((4, 7)).astype(np.float16), T.F16)
bf16 = (rng.standard_normal((2, 9)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
stored["bf16"] = (bf16.view(np.uint8).reshape(2, 18), T.BF16)
stored["i32"] = (np.array([7, -1, 2147483647, -2147483648], dtype=np.int32), T.I32)
stored["q8_0"] = (gguf.quants.quantize(rng.standard_normal((5, 96)).astype(np.float32) * 3, T.Q8_0), T.Q8_0)
stored["q4_k"] = (random_q4_k(3, 512), T.Q4_K)
stored["q4_k_3d"] = (random_q4_k(4, 256).reshape(2, 2, 144), T.Q4_K)
for name, (data, qtype) in stored.items():
    w.add_tensor(name, data, raw_dtype=None if qtype in (T.F32, T.F16, T.I32) else qtype)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

expected = {}
for name, (data, qtype) in stored.items():
    if qtype == T.I32:
        expected[name] = data.astype(np.float32)
    else:
        expected[name] = np.ascontiguousarray(gguf.quants.dequantize(data, qtype).astype(np.float32))
check_read_back(path, expected)
save_file(expected, os.path.join(out, "tensors-expected.safetensors"))

# ---- flux1-tiny-mixed.gguf ------------------------------------------------------------------------------------------
source = load_file("testdata/flux-pipeline-tiny-single/flux1-tiny.safetensors")  # BF16: widened exactly below
path = os.path.join(out, "flux1-tiny-mixed.gguf")
w = gguf.GGUFWriter(path, arch="flux")
w.add_quantization_version(gguf.GGML_QUANT_VERSION)
w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
counts = {}
for name in sorted(source):
    x = source[name].to(torch.float32).numpy()
    if x.ndim == 1:
        data, qtype = x, T.F32
    elif name.startswith(("img_in.", "txt_in.")):
        data, qtype = x.astype(np.float16), T.F16
    elif name.startswith("final_layer.linear."):
        data, qtype = (x.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(x.shape[0], -1), T.BF16
    elif x.shape[-1] % 256 == 0:
        data, qtype = quantize_q4_k(x), T.Q4_K
    else:
        data, qtype = gguf.quants.quantize(x, T.Q8_0), T.Q8_0
    counts[qtype.name] = counts.get(qtype.name, 0) + 1
    w.add_tensor(name, data, raw_dtype=None if qtype in (T.F32, T.F16) else qtype)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("flux1-tiny-mixed.gguf:", counts)
