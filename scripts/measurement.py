"""What the measurement scripts record beside their figures: the checkout's commit.

One definition, the library's (:func:`lowrank.model.provenance.commit`, which model plans record too).
"""

from __future__ import annotations

from lowrank.model.provenance import commit

__all__ = ["commit"]
