"""The peer of T5LayerBenchmark: one T5-XXL-shaped encoder layer (transformers' T5Block: d_model 4096, 64 heads of
64, d_ff 10240, gated-GELU, relative position bias) in PyTorch on the CPU, at the same token counts and thread count.
Prints one JSON line per configuration with every timing in milliseconds.

    python3 jmh/peers/t5_layer_torch.py --threads 2 --tokens 256 512 --repeats 5
"""
import argparse
import json
import time

import torch
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5Block


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = T5Config(d_model=4096, d_kv=64, d_ff=10240, num_heads=64, num_layers=1, feed_forward_proj="gated-gelu",
                      is_decoder=False, use_cache=False, relative_attention_num_buckets=32, relative_attention_max_distance=128)
    block = T5Block(config, has_relative_attention_bias=True).eval()
    with torch.no_grad():
        for p in block.parameters():  # BF16 values as the checkpoint stores them
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        model = block.to(dtype)
        for tokens in args.tokens:
            x = torch.randn(1, tokens, 4096, dtype=dtype)
            with torch.inference_mode():
                model(x)  # warm-up (one-time allocations, oneDNN primitive creation)
                model(x)
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    model(x)
                    times.append((time.perf_counter() - t0) * 1e3)
            print(json.dumps({"peer": "pytorch " + torch.__version__ + " T5Block " + dtype_name, "tokens": tokens,
                              "threads": args.threads, "ms": times}), flush=True)


if __name__ == "__main__":
    main()
