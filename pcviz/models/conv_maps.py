"""The transposed convolution of the convolutional PC family's predictions, in the
form that is faster on each device.

On CPU, ``conv_transpose2d`` with large strided kernels (8×8, stride 4) goes through a
slow path; the same map as one matrix product (every input position's kernel-sized
patch of contributions) followed by ``fold`` (summing overlapping patches) measured
several times faster. On CUDA, cuDNN's ``conv_transpose2d`` is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def conv_transpose_fold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                        padding: int, output_padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)`` as a
    matmul and a fold. x: (B, C_in, H, W); weight: (C_in, C_out, k, k)."""
    B, c_in, h, w = x.shape
    _, c_out, k, _ = weight.shape
    h_out = (h - 1) * stride - 2 * padding + k + output_padding[0]
    w_out = (w - 1) * stride - 2 * padding + k + output_padding[1]
    cols = torch.matmul(weight.reshape(c_in, c_out * k * k).T, x.reshape(B, c_in, h * w))  # (B, C_out k k, H W)
    out = F.fold(cols, (h_out, w_out), kernel_size=k, stride=stride, padding=padding)  # (B, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                   padding: int, output_padding: tuple[int, int]) -> torch.Tensor:
    """The transposed convolution, by the form that is faster on ``x``'s device."""
    if x.device.type == "cpu":
        return conv_transpose_fold(x, weight, bias, stride, padding, output_padding)
    return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding)
