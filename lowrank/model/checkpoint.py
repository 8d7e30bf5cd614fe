"""Read a user's checkpoint one tensor at a time: safetensors, PyTorch state dicts, ``.npz``.

``open_checkpoint(path)`` accepts a ``.safetensors`` file, a folder holding one or
several (a sharded model with its ``*.safetensors.index.json``), a PyTorch state dict
(``.pt``/``.pth``/``.bin``, loaded with ``weights_only=True``) or an ``.npz``. Listing
the tensors reads headers only; :meth:`Checkpoint.load` brings one tensor into memory
as a numpy array. safetensors files are read with the ``safetensors`` library's lazy
``safe_open``; nothing here parses a format by hand except the ``.npy`` headers
inside an ``.npz`` (numpy's own ``read_array_header``).

Every problem (no such path, no weights, a truncated or foreign file, a pickle that
``weights_only`` refuses, NaN/Inf in a tensor) raises :class:`CheckpointError`
naming the file or tensor and what is accepted.

>>> ckpt = open_checkpoint("model.safetensors")          # doctest: +SKIP
>>> [t.name for t in ckpt.tensors() if t.is_matrix][:2]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank.errors import LowRankValueError

SAFETENSORS_SUFFIX = ".safetensors"
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
NPZ_SUFFIX = ".npz"
ACCEPTED = "a .safetensors file, a folder of them (sharded with *.safetensors.index.json), a PyTorch state dict " \
           "(.pt/.pth/.bin) or an .npz"
# safetensors dtype codes and torch dtypes, by the names this package uses.
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
              "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
              "BOOL": "bool"}
FLOATING = ("float64", "float32", "float16", "bfloat16")


class CheckpointError(LowRankValueError):
    """A checkpoint (or one of its tensors) that cannot be read; the message names it and what is accepted."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a checkpoint, known from its header: name, shape, dtype and the file holding it."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: str
    # Known only where the model itself was read (a causal LM): whether the tensor is the weight of a
    # linear map (nn.Linear or Conv1D, given d×k), and whether it is shared with the input embedding.
    linear: bool | None = None
    tied: bool = False

    @property
    def is_matrix(self) -> bool:
        """A 2-D floating-point tensor: a candidate for factorization."""
        return len(self.shape) == 2 and self.dtype in FLOATING

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


class Checkpoint:
    """The tensors of one checkpoint (one file or several shards), loaded on demand."""

    def __init__(self, path: Path, files: list[Path], fmt: str):
        self.path, self.files, self.format = path, files, fmt
        self._infos: dict[str, TensorInfo] | None = None
        self._torch_cache: dict[Path, dict] = {}

    def tensors(self) -> list[TensorInfo]:
        """Every tensor, in file order, from the headers only."""
        if self._infos is None:
            infos: dict[str, TensorInfo] = {}
            for f in self.files:
                for info in _READERS[self.format][0](self, f):
                    infos.setdefault(info.name, info)
            self._infos = infos
        return list(self._infos.values())

    def info(self, name: str) -> TensorInfo:
        self.tensors()
        if name not in self._infos:
            raise CheckpointError(f"{self.path}: no tensor named {name!r}")
        return self._infos[name]

    def load(self, name: str, check_finite: bool = True) -> np.ndarray:
        """Tensor ``name`` as a numpy array (half precision widened to float32); NaN/Inf is an error."""
        info = self.info(name)
        array = _READERS[self.format][1](self, Path(info.file), name)
        if check_finite and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise CheckpointError(f"{info.file}: tensor {name!r} holds {bad} NaN/Inf value(s); a factorization needs "
                                  "finite weights")
        return array

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, format={self.format!r}, files={len(self.files)})"


def open_checkpoint(path) -> Checkpoint:
    """Open ``path`` (a file or a model folder); raises :class:`CheckpointError` when it holds no readable weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder; accepted: {ACCEPTED}")
    from lowrank.model import causal

    # A GGUF, or a causal LM's folder, is read through transformers (names as its modules name them, Conv1D
    # weights in the nn.Linear layout); a weights file named on its own is read tensor by tensor.
    if causal.gguf_file(path) is not None or (path.is_dir() and causal.is_causal(path)):
        gguf = causal.gguf_file(path)
        if gguf is not None:
            causal.check_gguf(gguf)
        return Checkpoint(path, [path], "gguf" if gguf is not None else "causal-lm")
    if path.is_dir():
        return _open_folder(path)
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        return Checkpoint(path, [path], "safetensors")
    if suffix in TORCH_SUFFIXES:
        return Checkpoint(path, [path], "torch")
    if suffix == NPZ_SUFFIX:
        return Checkpoint(path, [path], "npz")
    if path.name.endswith(".safetensors.index.json"):
        return _open_folder(path.parent, index=path)
    raise CheckpointError(f"{path}: unknown format {suffix or '(no suffix)'!r}; accepted: {ACCEPTED}")


def _open_folder(folder: Path, index: Path | None = None) -> Checkpoint:
    indexes = [index] if index else sorted(folder.glob("*.safetensors.index.json"))
    if indexes:
        try:
            weight_map = json.loads(indexes[0].read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{indexes[0]}: not a safetensors index (a JSON object with 'weight_map'): "
                                  f"{exc}") from None
        if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in weight_map.items()):
            raise CheckpointError(f"{indexes[0]}: 'weight_map' is {type(weight_map).__name__}; accepted: an object "
                                  "mapping each tensor name to its shard's file name")
        root = folder.resolve()
        for shard in dict.fromkeys(weight_map.values()):
            # A shard is a file of this folder: an index naming ../other.safetensors would read outside it.
            if Path(shard).is_absolute() or (folder / shard).resolve().parent != root:
                raise CheckpointError(f"{indexes[0]}: shard {shard!r} is not a file of the model folder {folder}; "
                                      "accepted: plain file names beside the index")
        files = [folder / name for name in dict.fromkeys(weight_map.values())]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{indexes[0]}: shard(s) {', '.join(missing)} listed in the index are missing")
        return Checkpoint(folder, files, "safetensors")
    for fmt, pattern in (("safetensors", "*.safetensors"), ("torch", "*.bin"), ("torch", "*.pt"), ("torch", "*.pth"),
                         ("npz", "*.npz")):
        files = sorted(folder.glob(pattern))
        if files:
            return Checkpoint(folder, files, fmt)
    raise CheckpointError(f"{folder}: the folder holds no weights; accepted: {ACCEPTED}")


# -- safetensors ---------------------------------------------------------------------------------
def _safe_open(path: Path, framework: str = "numpy"):
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - a dependency of the package
        raise CheckpointError("reading .safetensors needs the 'safetensors' package: pip install safetensors") from None
    try:
        return safe_open(str(path), framework=framework)
    except Exception as exc:  # SafetensorError, OSError: a truncated, corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); accepted: {ACCEPTED}") from None


def _safetensors_infos(ckpt: Checkpoint, path: Path) -> list[TensorInfo]:
    with _safe_open(path) as fh:
        out = []
        for name in fh.keys():
            sl = fh.get_slice(name)
            out.append(TensorInfo(name, tuple(int(n) for n in sl.get_shape()),
                                  _ST_DTYPES.get(sl.get_dtype(), sl.get_dtype().lower()), str(path)))
        return out


def _safetensors_load(ckpt: Checkpoint, path: Path, name: str) -> np.ndarray:
    dtype = ckpt.info(name).dtype
    if dtype == "bfloat16":  # numpy has no bfloat16: read through torch and widen
        with _safe_open(path, "pt") as fh:
            return fh.get_tensor(name).float().numpy()
    with _safe_open(path) as fh:
        try:
            return fh.get_tensor(name)
        except Exception as exc:  # the header promised bytes the file does not hold
            raise CheckpointError(f"{path}: tensor {name!r} cannot be read ({exc}); the file may be truncated") from None


# -- PyTorch state dicts -------------------------------------------------------------------------
def _torch_state(ckpt: Checkpoint, path: Path) -> dict:
    if path in ckpt._torch_cache:
        return ckpt._torch_cache[path]
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"{path}: reading a PyTorch checkpoint needs torch; convert it to .safetensors, or "
                              "install torch") from None
    import pickle

    try:
        try:  # mmap: tensors stay on disk until touched (zip-format files only)
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: torch.load(weights_only=True) refused it ({first}); only state dicts of "
                              "tensors are read, never arbitrary pickles") from None
    except Exception as exc:  # a truncated zip, a file of another format
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); accepted: "
                              f"{ACCEPTED}") from None
    flat = _flatten(state, path)
    ckpt._torch_cache = {path: flat}  # one file's tensors at a time (they are memory-mapped)
    return flat


def _flatten(obj, path: Path, prefix: str = "") -> dict:
    import torch

    if isinstance(obj, torch.Tensor):
        if not prefix:  # a bare tensor has no name to plan, save or report it by
            raise CheckpointError(f"{path}: holds a bare tensor, not a state dict; save it as "
                                  "torch.save({'name.weight': tensor}, ...) so that the layer has a name")
        return {prefix: obj}
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out.update(_flatten(value, path, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {}  # numbers, strings, optimizer steps: not weights


def _torch_infos(ckpt: Checkpoint, path: Path) -> list[TensorInfo]:
    state = _torch_state(ckpt, path)
    if not state:
        raise CheckpointError(f"{path}: holds no tensors (a PyTorch checkpoint should be a state dict)")
    return [TensorInfo(name, tuple(t.shape), str(t.dtype).removeprefix("torch."), str(path)) for name, t in state.items()]


def _torch_load(ckpt: Checkpoint, path: Path, name: str) -> np.ndarray:
    t = _torch_state(ckpt, path)[name]
    if t.dtype.is_floating_point and t.element_size() < 4:
        t = t.float()
    return t.detach().cpu().numpy()


# -- npz -----------------------------------------------------------------------------------------
def _npz_infos(ckpt: Checkpoint, path: Path) -> list[TensorInfo]:
    try:
        with zipfile.ZipFile(path) as zf:
            out = []
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                with zf.open(member) as fh:
                    major, _ = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(fh)
                out.append(TensorInfo(member[:-4], tuple(shape), np.dtype(dtype).name, str(path)))
            return out
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable .npz ({exc}); accepted: {ACCEPTED}") from None


def _npz_load(ckpt: Checkpoint, path: Path, name: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[name]
    except ValueError as exc:  # an object array: would need a pickle
        raise CheckpointError(f"{path}: array {name!r} cannot be read without pickle ({exc})") from None


# -- causal LMs (a GGUF or a Hugging Face causal LM folder), read through transformers -------------
def _model_infos(ckpt: Checkpoint, path: Path) -> list[TensorInfo]:
    """Every linear map's weight (d×k, a Conv1D's transposed), then the model's other parameters."""
    from lowrank.model import causal

    model = causal.load_model(path)
    linears = causal.linear_modules(model)
    tied = causal.tied_head_names(model)
    out = [TensorInfo(f"{name}.weight", tuple(causal.linear_weight(m).shape), str(m.weight.dtype).removeprefix("torch."),
                      str(path), linear=True, tied=name in tied) for name, m in linears.items()]
    seen = {f"{name}.weight" for name in linears}
    shared = {id(m.weight) for name, m in linears.items() if name not in tied}  # a tied head's is the embedding's
    for name, p in model.named_parameters():
        if name not in seen and id(p) not in shared:
            out.append(TensorInfo(name, tuple(p.shape), str(p.dtype).removeprefix("torch."), str(path), linear=False))
    return out


def _model_load(ckpt: Checkpoint, path: Path, name: str) -> np.ndarray:
    from lowrank.model import causal

    model = causal.load_model(path)
    module = causal.linear_modules(model).get(name.removesuffix(".weight"))
    tensor = causal.linear_weight(module) if module is not None else model.get_parameter(name).detach()
    return tensor.float().cpu().numpy()


_READERS = {
    "gguf": (_model_infos, _model_load),
    "causal-lm": (_model_infos, _model_load),
    "safetensors": (_safetensors_infos, _safetensors_load),
    "torch": (_torch_infos, _torch_load),
    "npz": (_npz_infos, _npz_load),
}
