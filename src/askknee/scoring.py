"""The fused score, written once for numpy (serving) and torch (fitting the query adapter).

`xp` is the array module: the same formulas run in `retrieval.py` and, with gradients, in
`askknee.tuning.adapter`, so the two cannot drift apart.
"""

from __future__ import annotations

import numpy as np


def blend_centred(sims, qm, m2, view_mean, view_norm, center: float, xp=np):
    """(1 - center) * cos(q, v) + center * cos(q - m, v - m), from q·v, q·m, |m|², v·m and |v - m|
    (unit q and v), without storing centred vectors."""
    qnorm = xp.sqrt(xp.clip(1.0 - 2.0 * qm + m2, 1e-12, None))
    centred = (sims - qm - view_mean + m2) / (qnorm * view_norm)
    return (1 - center) * sims + center * centred


def saturate(raw, halfpoint: float):
    """A BM25 score mapped into [0, 1): half at `halfpoint`."""
    return raw / (raw + halfpoint)


def fuse(dense, lexical, dense_weight: float):
    """The fused score from the dense score and the saturated lexical one."""
    return dense_weight * dense + (1 - dense_weight) * lexical


def lift(scores, cosine, floor: float, weight: float, xp=np):
    """Each score raised by up to `weight` of its gap to 1, in proportion to how far its `cosine`
    is above `floor` (nothing at or below it)."""
    return scores + (1 - scores) * weight * xp.clip((cosine - floor) / (1 - floor), 0.0, None)
