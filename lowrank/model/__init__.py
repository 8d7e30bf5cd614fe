"""Your own model: a checkpoint read tensor by tensor, its spectra, a rank plan, its timing and its report.

``lowrank-bench model`` is this package's pipeline (:mod:`lowrank.model.pipeline`).
"""
