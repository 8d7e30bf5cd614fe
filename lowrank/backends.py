"""Array backends, named by string and imported lazily.

A backend is the small set of array operations the library needs from one
framework: conversion, SVD, QR, norms, random-free constructors and a device
synchronisation point. Three are provided:

``"numpy"``
    CPU arrays, float32 and float64.
``"torch-cpu"``
    ``torch.Tensor`` on the CPU, float32, float64, float16 and bfloat16.
``"torch-cuda"``
    ``torch.Tensor`` on the current CUDA device, same dtypes.

torch is imported only when a torch backend is first asked for (the einops
pattern): ``import lowrank`` and everything numpy-only never load it, and a
machine without torch can still use the numpy backend. :func:`infer_backend`
looks in ``sys.modules`` before testing ``isinstance(x, torch.Tensor)`` so that
checking the type of an array never imports torch either.

Randomness never comes from the backend: generators and the randomized SVD draw
from a seeded :class:`numpy.random.Generator` and convert, so the same seed
gives the same matrices on every backend (cross-backend agreement is testable).
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from .errors import BackendUnavailableError, LowRankTypeError, LowRankValueError, format_choices

BACKEND_NAMES = ("numpy", "torch-cpu", "torch-cuda")
TORCH_DTYPES = ("float32", "float64", "float16", "bfloat16")
NUMPY_DTYPES = ("float32", "float64")
# The SVD and QR of LAPACK/cuSOLVER have no half-precision kernels: factorizations
# of float16/bfloat16 matrices run in float32 and cast the factors back.
FACTORIZATION_DTYPES = ("float32", "float64")
ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


class Backend:
    """Operations on the arrays of one framework and device.

    Subclasses implement the methods below; instances are obtained with
    :func:`get_backend` (cached, so identity comparison works).
    """

    name: str = ""
    dtypes: tuple[str, ...] = ()

    # -- types and conversion ---------------------------------------------------------
    def owns(self, x) -> bool:
        """True when ``x`` is an array of this backend (framework and device)."""
        raise NotImplementedError

    def dtype_name(self, x) -> str:
        """The dtype of ``x`` as a plain string such as ``"float32"``."""
        raise NotImplementedError

    def asarray(self, x, dtype: str | None = None):
        """Convert ``x`` (numpy array, scalar list or array of this backend) to this backend."""
        raise NotImplementedError

    def to_numpy(self, x) -> np.ndarray:
        """Copy ``x`` to a numpy array (half precision becomes float32)."""
        raise NotImplementedError

    def check_dtype(self, dtype: str) -> str:
        """Return ``dtype`` if this backend supports it, else raise naming the accepted ones."""
        if dtype not in self.dtypes:
            raise LowRankValueError(
                f"dtype={dtype!r} is not supported by backend {self.name!r}; "
                f"accepted: {format_choices(self.dtypes)}"
            )
        return dtype

    # -- linear algebra -----------------------------------------------------------------
    def svd(self, x):
        """Thin SVD ``(U, s, Vt)`` with ``s`` descending; half precision runs in float32."""
        raise NotImplementedError

    def svdvals(self, x) -> np.ndarray:
        """Singular values of ``x`` as a float64 numpy array, descending."""
        raise NotImplementedError

    def qr_q(self, x):
        """The orthonormal factor Q of a thin QR decomposition."""
        raise NotImplementedError

    def eigh(self, x):
        """Eigenvalues (ascending) and eigenvectors ``(w, V)`` of a small symmetric matrix, on this backend."""
        raise NotImplementedError

    def cholesky(self, x):
        """Lower-triangular L with L Lᵀ = x for a small symmetric matrix, or None when x is not
        (numerically) positive definite."""
        raise NotImplementedError

    def inv(self, x):
        """Inverse of a small square matrix."""
        raise NotImplementedError

    def zeros(self, shape, dtype: str):
        """An array of zeros."""
        raise NotImplementedError

    def norm(self, x, ord: str) -> float:
        """Frobenius (``"fro"``) or spectral (``"spectral"``) norm as a Python float."""
        raise NotImplementedError

    def all_finite(self, x) -> bool:
        """True when ``x`` holds no NaN or Inf."""
        raise NotImplementedError

    # -- the factored product ---------------------------------------------------------------
    def factor_layout(self, B, A, *, copy: bool = False):
        """``(B, A)`` stored as the factored product ``B @ (A @ x)`` runs fastest: B column-major, A row-major.

        For one vector, ``B @ y`` with B (d×r) column-major is r scaled column additions
        over B, BLAS's fast matrix-vector kernel; stored row-major it is d dot products of
        length r, the slow one at small r. A (r×k) row-major makes ``A @ x`` r long dot
        products, the fast form for a wide matrix. Values and shapes are unchanged; an array
        already in its layout is returned as it is unless ``copy`` (a fresh array that owns
        its memory, never a view of a larger one).
        """
        raise NotImplementedError

    def matmul(self, a, b):
        """``a @ b`` by the kernel this backend's factored product uses (see :meth:`factor_layout`)."""
        return a @ b

    def factored_product(self, B, A, x):
        """``B @ (A @ x)`` for factors stored by :meth:`factor_layout`, by the fastest kernels for that layout.

        What :meth:`lowrank.LowRankOperator.apply` runs and what the benchmark suite times: the
        same values and shape as ``B @ (A @ x)``, possibly as a transposed view.
        """
        return self.matmul(B, self.matmul(A, x))

    # -- device -------------------------------------------------------------------------
    def synchronize(self) -> None:
        """Wait until queued work is done (a no-op on CPU backends)."""

    def device_name(self) -> str:
        """Human-readable name of the device the arrays live on."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<lowrank backend {self.name!r}>"


class NumpyBackend(Backend):
    """numpy arrays on the CPU (BLAS/LAPACK from numpy's own build)."""

    name = "numpy"
    dtypes = NUMPY_DTYPES

    def owns(self, x) -> bool:
        return isinstance(x, np.ndarray)

    def dtype_name(self, x) -> str:
        return x.dtype.name

    def asarray(self, x, dtype=None):
        if dtype is not None:
            self.check_dtype(dtype)
        if not isinstance(x, np.ndarray) and _is_torch_tensor(x):
            x = x.detach().cpu()
            if x.dtype.is_floating_point and x.element_size() == 2:
                x = x.float()
            x = x.numpy()
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def svd(self, x):
        return np.linalg.svd(x, full_matrices=False)

    def svdvals(self, x):
        return np.linalg.svd(np.asarray(x, dtype=np.float64), compute_uv=False)

    def qr_q(self, x):
        return np.linalg.qr(x, mode="reduced")[0]

    def eigh(self, x):
        return np.linalg.eigh(x)

    def cholesky(self, x):
        try:
            return np.linalg.cholesky(x)
        except np.linalg.LinAlgError:
            return None

    def inv(self, x):
        return np.linalg.inv(x)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=self.check_dtype(dtype))

    def norm(self, x, ord):
        if ord == "fro":
            return float(np.linalg.norm(x))
        return float(np.linalg.norm(x, 2))

    def all_finite(self, x):
        return bool(np.isfinite(x).all())

    def device_name(self):
        return cpu_name()

    def factor_layout(self, B, A, *, copy=False):
        if copy:
            return np.array(B, order="F"), np.array(A, order="C")
        return np.asfortranarray(B), np.ascontiguousarray(A)

    @staticmethod
    def matmul(a, b):
        # np.dot for a vector (its call costs less than matmul's ufunc dispatch, which shows in a
        # call of a few us) and for an inner dimension of 1 (a rank-1 B @ y, where numpy's matmul
        # runs its own loop instead of BLAS); matmul for a batch otherwise (faster at small rank).
        return np.dot(a, b) if b.ndim == 1 or a.shape[-1] == 1 else a @ b


class TorchBackend(Backend):
    """torch tensors on one device (``"cpu"`` or ``"cuda"``); imports torch on creation."""

    dtypes = TORCH_DTYPES

    def __init__(self, device: str):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - exercised only without torch
            raise BackendUnavailableError(
                f"backend 'torch-{device}' needs PyTorch, which is not installed "
                "(pip install torch); the 'numpy' backend works without it"
            ) from exc
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                "backend 'torch-cuda' needs a CUDA GPU, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                "use 'torch-cpu' or 'numpy' on this machine"
            )
        self.torch = torch
        self.device = torch.device(device)
        self.name = f"torch-{device}"
        self._dtypes = {name: getattr(torch, name) for name in TORCH_DTYPES}

    def torch_dtype(self, dtype: str):
        return self._dtypes[self.check_dtype(dtype)]

    def owns(self, x) -> bool:
        return isinstance(x, self.torch.Tensor) and x.device.type == self.device.type

    def dtype_name(self, x) -> str:
        return str(x.dtype).removeprefix("torch.")

    def asarray(self, x, dtype=None):
        torch = self.torch
        tdtype = self.torch_dtype(dtype) if dtype is not None else None
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=tdtype or x.dtype)
        x = np.asarray(x)
        if tdtype is None and x.dtype.name not in TORCH_DTYPES:
            tdtype = torch.float64
        tensor = torch.as_tensor(x, device=self.device)
        return tensor if tdtype is None else tensor.to(tdtype)

    def factor_layout(self, B, A, *, copy=False):
        # A column-major B is the transpose of a row-major Bᵀ; contiguous() copies only when needed.
        # Sparse (non-strided) factors have no memory layout to choose: they stay as given.
        if B.layout != self.torch.strided or A.layout != self.torch.strided:
            return (B.clone(), A.clone()) if copy else (B, A)
        if copy:
            return B.t().clone(memory_format=self.torch.contiguous_format).t(), A.clone(
                memory_format=self.torch.contiguous_format)
        return B.t().contiguous().t(), A.contiguous()

    # A small CPU batch (2 to BATCH_FIRST_MAX_BATCH columns) from BATCH_FIRST_MIN_RANK up runs faster
    # batch-first, ((xᵀ Aᵀ) Bᵀ)ᵀ, than B @ (A @ x) with B column-major; a larger batch runs slower
    # that way (up to several times at n = 512 in float64), and so does a smaller rank at n >= 32.
    # The figures: docs/machine.md, "Factor layout" (scripts/measure_layouts.py).
    BATCH_FIRST_MIN_RANK = 64
    BATCH_FIRST_MAX_BATCH = 64

    def factored_product(self, B, A, x):
        if (x.ndim == 2 and 1 < x.shape[1] <= self.BATCH_FIRST_MAX_BATCH and B.shape[1] >= self.BATCH_FIRST_MIN_RANK
                and self.device.type == "cpu"):
            return ((x.T @ A.T) @ B.T).T
        return B @ (A @ x)

    def to_numpy(self, x):
        x = x.detach().cpu()
        if x.dtype in (self.torch.float16, self.torch.bfloat16):
            x = x.float()
        return x.numpy()

    def _upcast(self, x):
        if x.dtype in (self.torch.float16, self.torch.bfloat16):
            return x.float()
        return x

    def svd(self, x):
        U, s, Vt = self.torch.linalg.svd(self._upcast(x), full_matrices=False)
        return U.to(x.dtype), s.to(x.dtype), Vt.to(x.dtype)

    def svdvals(self, x):
        return self.torch.linalg.svdvals(x.to(self.torch.float64)).cpu().numpy()

    def qr_q(self, x):
        return self.torch.linalg.qr(self._upcast(x), mode="reduced")[0].to(x.dtype)

    def eigh(self, x):
        w, V = self.torch.linalg.eigh(self._upcast(x))
        return w.to(x.dtype), V.to(x.dtype)

    def cholesky(self, x):
        L, info = self.torch.linalg.cholesky_ex(self._upcast(x))
        return L.to(x.dtype) if int(info) == 0 else None

    def inv(self, x):
        return self.torch.linalg.inv(self._upcast(x)).to(x.dtype)

    def zeros(self, shape, dtype):
        return self.torch.zeros(shape, dtype=self.torch_dtype(dtype), device=self.device)

    def norm(self, x, ord):
        x = self._upcast(x)
        return float(self.torch.linalg.matrix_norm(x, ord="fro" if ord == "fro" else 2))

    def all_finite(self, x):
        # One reduction, no temporaries: a sum is finite only if every term is (inf and
        # NaN propagate), while isfinite(x).all() builds full-size masks and costs about
        # ten times more (50 ms at 4096² float32 on 2 cores). A non-finite sum may be an
        # overflow of finite values, so that case is settled by the exact test.
        if bool(self.torch.isfinite(x.sum())):
            return True
        return bool(self.torch.isfinite(x).all())

    def synchronize(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def device_name(self):
        if self.device.type == "cuda":
            return self.torch.cuda.get_device_name(self.device)
        return cpu_name()


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), else what platform reports."""
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _is_torch_tensor(x) -> bool:
    # Only ask torch about x if torch is already loaded: x cannot be a tensor otherwise,
    # and importing torch (about a second) just to answer "no" is what we must avoid.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def get_backend(name: str) -> Backend:
    """Return the backend called ``name`` (cached).

    Parameters
    ----------
    name : {"numpy", "torch-cpu", "torch-cuda"}

    Raises
    ------
    LowRankValueError
        ``name`` is not one of the accepted names.
    BackendUnavailableError
        torch is not installed, or ``"torch-cuda"`` was asked for without a GPU.
    """
    if not isinstance(name, str) or name not in BACKEND_NAMES:
        raise LowRankValueError(
            f"backend={name!r} is not a known backend; accepted: {format_choices(BACKEND_NAMES)}"
        )
    return _make_backend(name)


@functools.lru_cache(maxsize=None)
def _make_backend(name: str) -> Backend:
    # Cached after validation, so an unhashable or unknown name gets the error above.
    if name == "numpy":
        return NumpyBackend()
    return TorchBackend(name.removeprefix("torch-"))


def infer_backend(x) -> Backend:
    """The backend that owns array ``x``: numpy arrays, torch CPU or CUDA tensors.

    Never imports torch: a tensor can only exist if torch is already loaded.
    """
    if isinstance(x, np.ndarray):
        return get_backend("numpy")
    if _is_torch_tensor(x):
        kind = x.device.type
        if kind not in ("cpu", "cuda"):
            raise LowRankValueError(
                f"tensors on device {kind!r} are not supported; accepted devices: 'cpu', 'cuda'"
            )
        return get_backend(f"torch-{kind}")
    raise LowRankTypeError(
        f"expected a numpy.ndarray or torch.Tensor, got {type(x).__module__}.{type(x).__qualname__}"
    )


def available_backends(names=BACKEND_NAMES) -> dict[str, str | None]:
    """Map every backend name of ``names`` (default: all) to ``None`` when usable here, else to the reason
    it is not. Asking for ``numpy`` alone never imports torch."""
    status: dict[str, str | None] = {}
    for name in names:
        try:
            get_backend(name)
            status[name] = None
        except BackendUnavailableError as exc:
            status[name] = str(exc)
    return status
