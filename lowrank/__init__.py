"""lowrank: when does W ≈ B @ A pay off, and at what cost?

Factorize a weight matrix W (d×k) into B (d×r) and A (r×k), apply it as
``B @ (A @ x)``, and know its error against the Eckart–Young optimum and its cost
in parameters, bytes and FLOPs — on numpy, torch CPU or torch CUDA.

Importing this package does not import torch; the torch backends load it on
first use.

>>> import numpy as np, lowrank
>>> W = lowrank.generators.power_law(64, 48, seed=0)
>>> f = lowrank.factorize(W, rank=8)
>>> round(lowrank.relative_error(W, f) / lowrank.optimal_error(W, 8), 6)
1.0
"""

from . import cost, generators, lora
from .backends import BACKEND_NAMES, Backend, available_backends, get_backend, infer_backend
from .cost import Cost, break_even_rank, dense_cost, factored_cost
from .errors import BackendUnavailableError, LowRankError, LowRankTypeError, LowRankValueError
from .factorize import METHODS, factorize, from_svd
from .lora import LoRAAdapter, lora_scaling
from .metrics import (
                      eckart_young_error,
                      error_ratio,
                      optimal_error,
                      optimal_weighted_error,
                      output_error,
                      relative_error,
                      weighted_error,
)
from .operator import LowRankOperator

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "METHODS",
    "Backend",
    "BackendUnavailableError",
    "Cost",
    "LoRAAdapter",
    "LowRankError",
    "LowRankOperator",
    "LowRankTypeError",
    "LowRankValueError",
    "available_backends",
    "break_even_rank",
    "cost",
    "dense_cost",
    "eckart_young_error",
    "error_ratio",
    "factored_cost",
    "factorize",
    "from_svd",
    "generators",
    "get_backend",
    "infer_backend",
    "lora",
    "lora_scaling",
    "optimal_error",
    "optimal_weighted_error",
    "output_error",
    "relative_error",
    "weighted_error",
]
