"""Device-to-host copies of frame tensors: one flat transfer per frame, through a
reused pinned buffer when the tensors live on a CUDA device."""

from __future__ import annotations

import numpy as np
import torch


class HostCopier:
    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self._pinned: torch.Tensor | None = None

    def to_host(self, tensors: list[torch.Tensor]) -> list[np.ndarray]:
        """Fresh float32 numpy arrays (same shapes), safe to keep after the state moves on."""
        if not tensors:
            return []
        shapes = [tuple(t.shape) for t in tensors]
        flat = torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])  # (K,)
        if flat.device.type == "cuda":
            n = flat.numel()
            if self._pinned is None or self._pinned.numel() < n:
                self._pinned = torch.empty(max(n, 1024), dtype=torch.float32, pin_memory=True)
            buf = self._pinned[:n]
            buf.copy_(flat, non_blocking=True)
            torch.cuda.current_stream(flat.device).synchronize()
            host = buf.numpy().copy()
        elif flat.device.type == "cpu":
            host = flat.numpy()  # torch.cat made fresh memory: no aliasing of the state
        else:
            host = flat.cpu().numpy()
        out, off = [], 0
        for shape in shapes:
            n = int(np.prod(shape)) if shape else 1
            out.append(host[off : off + n].reshape(shape))
            off += n
        return out
