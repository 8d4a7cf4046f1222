"""One-off export of the ``deepfake-ecg`` Pulse2Pulse generator to ONNX (never run at run time).

The product runs the generator under onnxruntime (``host.data.learned``); PyTorch is only
needed here, once, to turn the package's checkpoint into ``assets/deepfake_ecg_g.onnx``.
Reproduce it in a throw-away virtualenv that has PyTorch, ``deepfake-ecg`` 1.1.2 (MIT),
``onnx`` and ``onnxruntime``::

    python -m host.data.learned_export           # writes host/data/assets/deepfake_ecg_g.onnx
    python -m host.data.learned_export x.onnx    # somewhere else

What is exported (read from the package's ``deepfakeecg/models/pulse2pulse.py`` and
``deepfakeecg/deepfakeecg.py``): ``Pulse2pulseGenerator()`` with its defaults
(model_size 50, 8 channels, nearest-neighbour upsampling + Conv1d decoder with U-Net skips
from a strided Conv1d encoder), weights from ``checkpoints/g_stat.pt`` key ``stat_dict``.
Input ``noise``: (batch, 8, 5000) float32, the package draws it uniform in [-1, 1).
Output ``ecg``: (batch, 8, 5000) float32 in [-1, 1] (tanh); the package multiplies it by
6000 and truncates to int (``host.data.learned`` documents the unit of that number).
Channel order I, II, V1, V2, V3, V4, V5, V6 (the package's README); 500 Hz, 10 s.

The graph is exported in float32 (opset 17, dynamic batch) and checked against PyTorch
on 4 seeded noise batches of 2; the largest absolute difference (in tanh units) and
the file's SHA-256 are written next to it in ``deepfake_ecg_g.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent / "assets"
OPSET = 17


def load_generator():
    """The package's generator in eval mode with its shipped checkpoint."""
    import importlib.metadata

    import deepfakeecg
    import torch

    root = Path(deepfakeecg.__file__).parent
    net = deepfakeecg.Generator()
    ckpt = torch.load(root / "checkpoints" / "g_stat.pt", map_location="cpu", weights_only=False)
    net.load_state_dict(ckpt["stat_dict"])
    net.eval()
    return net, importlib.metadata.version("deepfake-ecg")


def export(out: Path, n_check: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    net, version = load_generator()
    dummy = torch.zeros(1, 8, 5000)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(net, (dummy,), str(out), input_names=["noise"], output_names=["ecg"],
                      opset_version=OPSET, dynamic_axes={"noise": {0: "batch"}, "ecg": {0: "batch"}},
                      do_constant_folding=True, **export_kw)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed in range(n_check):
        noise = np.random.default_rng(seed).uniform(-1.0, 1.0, (2, 8, 5000)).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(noise)).numpy()
        got = sess.run(["ecg"], {"noise": noise})[0]
        worst = max(worst, float(np.max(np.abs(got - ref))))
    info = {
        "source": f"deepfake-ecg {version} (PyPI, MIT licence), checkpoints/g_stat.pt",
        "paper": "Thambawita et al., DeepFake electrocardiograms using generative adversarial "
                 "networks are the beginning of the end for privacy issues in medicine, "
                 "Scientific Reports 11, 21896 (2021)",
        "torch": torch.__version__, "opset": OPSET,
        "input": "noise (batch, 8, 5000) float32, uniform [-1, 1)",
        "output": "ecg (batch, 8, 5000) float32, tanh; leads I, II, V1-V6; 500 Hz",
        "check_batches": n_check, "max_abs_diff_vs_torch": worst,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info


if __name__ == "__main__":
    # No options worth a parser: an optional output path, the check count is fixed.
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ASSET_DIR / "deepfake_ecg_g.onnx"
    print(json.dumps(export(target, n_check=4)))
