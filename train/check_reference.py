"""Checks flux.py against the golden tensors of the reference FLUX code: loads the golden model's
weights into flux.Flux and compares its prediction with outputs.safetensors' `pred`.
Usage: python3 check_reference.py [golden folder] (default: ../testdata/golden/flux-tiny-f32)."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

import flux
import st


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "../testdata/golden/flux-tiny-f32")
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("weight_dtype", None)
    model = flux.Flux(flux.FluxParams(**cfg))
    weights, _ = st.read(folder / "weights.safetensors")
    missing = model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    inp, _ = st.read(folder / "inputs.safetensors")
    out, _ = st.read(folder / "outputs.safetensors")
    t = {k: torch.from_numpy(v) for k, v in inp.items()}
    with torch.no_grad():
        pred = model(t["img"], t["img_ids"], t["txt"], t["txt_ids"], t["timesteps"], t["y"], t["guidance"]).numpy()
    ref = out["pred"]
    err = np.abs(pred - ref).max() / np.sqrt(np.mean(ref ** 2))
    print(f"flux.py vs golden pred: max |diff| / RMS = {err:.3e} ({missing})")
    if err > 1e-4:
        sys.exit("flux.py does not reproduce the reference model")


if __name__ == "__main__":
    main()
