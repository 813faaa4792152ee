"""How localised and how oriented learned kernels are: the measures that the
convolutional PC streams and its tests check (a learned basis of natural-image
patches should become both)."""

from __future__ import annotations

import torch


def kernel_localisation(kernels: torch.Tensor) -> torch.Tensor:
    """(N,) spatial concentration of each kernel (N, h, w): 1 − s²/s²_uniform, with s²
    the spatial variance of the kernel's energy w² about its energy centroid and
    s²_uniform = ((h² − 1) + (w² − 1))/12 that of a kernel with equal energy everywhere.
    1 for a single pixel, 0 for energy spread evenly; about 0 for white noise."""
    k = kernels.detach().to(torch.float64)
    n, h, w = k.shape
    e = k.pow(2).reshape(n, -1)
    e = e / e.sum(1, keepdim=True).clamp(min=1e-300)  # (N, h*w)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=e.dtype), torch.arange(w, dtype=e.dtype), indexing="ij")
    yy, xx = yy.reshape(-1), xx.reshape(-1)
    cy, cx = e @ yy, e @ xx  # (N,)
    spread = (e * ((yy - cy[:, None]) ** 2 + (xx - cx[:, None]) ** 2)).sum(1)
    return 1.0 - spread / (((h * h - 1) + (w * w - 1)) / 12.0)


def kernel_orientation(kernels: torch.Tensor) -> torch.Tensor:
    """(N,) orientation concentration of each kernel (N, h, w): the resultant length
    |Σ_f P(f) e^{2iθ(f)}| / Σ_f P(f) of its Fourier power P over doubled angles θ(f)
    (P(f) = P(−f), so θ and θ + π count as one orientation), on an odd (2h+1)×(2w+1)
    frequency grid, symmetric under 90° turns, without the DC term. 1 for a grating,
    0 for an isotropic spectrum; white-noise kernels of 64 pixels give about 0.1-0.2."""
    k = kernels.detach().to(torch.float64)
    n, h, w = k.shape
    ny, nx = 2 * h + 1, 2 * w + 1
    power = torch.fft.fft2(k, s=(ny, nx)).abs().pow(2)  # (N, ny, nx)
    fy = torch.fft.fftfreq(ny, dtype=k.dtype)[:, None].expand(ny, nx)
    fx = torch.fft.fftfreq(nx, dtype=k.dtype)[None, :].expand(ny, nx)
    theta2 = 2 * torch.atan2(fy, fx)
    power[:, 0, 0] = 0.0
    total = power.sum((1, 2)).clamp(min=1e-300)
    c = (power * torch.cos(theta2)).sum((1, 2))
    s = (power * torch.sin(theta2)).sum((1, 2))
    return torch.sqrt(c * c + s * s) / total
