"""Test-wide settings: one torch thread. The test models are tiny, and on a busy 2-core
machine two OpenMP threads spin-wait against other processes (measured: up to 20x slower)."""
import torch

torch.set_num_threads(1)
