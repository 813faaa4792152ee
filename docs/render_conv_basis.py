"""Render docs/images/conv-basis.png: layer 1's kernels of the patches-conv-pc preset
at initialisation and from the shipped checkpoint, with their localisation and
orientation (see pcviz.models.pc_conv). Run from the repository root:

    python docs/render_conv_basis.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from pcviz.models.kernel_measures import kernel_localisation, kernel_orientation
from pcviz.sim import Engine, load_preset

SCALE, GAP, LABEL = 16, 6, 22


def colour(k: np.ndarray) -> np.ndarray:
    """Blue (negative) - white - red (positive), symmetric about 0 per kernel."""
    v = k / (np.abs(k).max() + 1e-12)  # (h, w) in [-1, 1]
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    rgb = np.stack([1 - neg * 0.8, 1 - (pos + neg) * 0.8, 1 - pos * 0.8], -1)
    return (rgb * 255).astype(np.uint8)


def row(kernels: torch.Tensor, title: str) -> Image.Image:
    k = kernels.detach().cpu().numpy()
    n, h, w = k.shape
    loc, ori = kernel_localisation(kernels), kernel_orientation(kernels)
    img = Image.new("RGB", (n * (w * SCALE + GAP) + GAP, LABEL + h * SCALE + GAP + LABEL), "white")
    draw = ImageDraw.Draw(img)
    draw.text((GAP, 5), f"{title}: localisation {float(loc.mean()):.2f}, orientation {float(ori.mean()):.2f}",
              fill="black")
    for i in range(n):
        tile = Image.fromarray(colour(k[i])).resize((w * SCALE, h * SCALE), Image.NEAREST)
        x = GAP + i * (w * SCALE + GAP)
        img.paste(tile, (x, LABEL))
        draw.text((x, LABEL + h * SCALE + 4), f"{float(loc[i]):.2f} / {float(ori[i]):.2f}", fill="black")
    return img


def main(out: str = "docs/images/conv-basis.png") -> None:
    torch.set_num_threads(1)
    fresh = Engine(load_preset("patches-conv-pc", ["engine.checkpoint=''", "data.n_samples=100"]), "cpu").model
    trained = Engine(load_preset("patches-conv-pc", ["data.n_samples=100"]), "cpu").model
    rows = [row(fresh.kernels(), "initialisation"), row(trained.kernels(), "trained (shipped checkpoint)")]
    img = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        img.paste(r, (0, y))
        y += r.height
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
