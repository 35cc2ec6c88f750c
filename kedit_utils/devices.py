"""Device selection: one parameter, ``device``, in every chapter ("auto", "cpu" or "cuda")."""
from __future__ import annotations

import torch

from .validation import ParameterError, check_choice

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu. "cuda" without a GPU is an error."""
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", device, "no CUDA device is available: use 'auto' or 'cpu'")
    return torch.device(device)


def configure_fast_math(device: torch.device) -> None:
    """TF32 matmuls on CUDA (changes results only at float noise level); nothing on CPU."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
