"""`import lowrank` must not import torch (it costs a second and may not be installed)."""

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_does_not_load_torch():
    assert _run("import sys, lowrank; print('torch' in sys.modules)") == "False"


def test_numpy_work_does_not_load_torch():
    code = (
        "import sys, numpy as np, lowrank\n"
        "W = lowrank.generators.power_law(20, 10, seed=0)\n"
        "f = lowrank.factorize(W, 3, 'randomized', seed=0)\n"
        "lowrank.relative_error(W, f); lowrank.infer_backend(W); f.apply(np.ones(10))\n"
        "print('torch' in sys.modules)"
    )
    assert _run(code) == "False"


def test_numpy_backend_works_when_torch_cannot_be_imported():
    # A None entry in sys.modules makes `import torch` raise ImportError, as on a machine without torch.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import lowrank\n"
        "W = lowrank.generators.exact_rank(8, 8, rank=2, seed=0)\n"
        "f = lowrank.factorize(W, 2)\n"
        "print(round(lowrank.relative_error(W, f), 12), lowrank.available_backends()['torch-cpu'] is not None)\n"
        "try:\n    lowrank.get_backend('torch-cpu')\nexcept lowrank.BackendUnavailableError as e:\n    print('pip install torch' in str(e))"
    )
    assert _run(code).split() == ["0.0", "True", "True"]
