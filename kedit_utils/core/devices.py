"""Device selection: one parameter, ``device``, in every chapter ("auto", "cpu" or "cuda")."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from kedit_utils.core.validation import ParameterError, check_choice, check_int

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


@contextmanager
def torch_threads(n: int | None):
    """Context: ``torch.set_num_threads(n)`` inside, the previous count restored after.

    ``None`` leaves torch's setting alone. The models here are small: on a shared or busy CPU
    one thread avoids the spin-waiting of oversubscribed OpenMP threads (measured up to 7x
    slower with 2 threads on a loaded 2-core machine).
    """
    if n is None:
        yield
        return
    check_int("threads", n, minimum=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
