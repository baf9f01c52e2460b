"""A cache of the MVHG log-normaliser's plan for an urn whose logits change a little between calls."""

from __future__ import annotations

from collections import OrderedDict

import torch

from pyro_drpm.distributions import _generating_polynomials as gp

__all__ = ["UrnPlanCache"]


class UrnPlanCache:
    """The plan of an urn whose logits change a little from one call to the next, such as a learned prior's.

    :meth:`plan` returns the stored plan of the urn (same ``class_sizes``, ``total_count``, shapes, dtype and
    device) while it still covers the new logits (every condition that makes a fresh plan exact holds at them:
    each window holds its tilted pmf's mass, the FFT length folds no mass onto the degrees read, the total stays
    near the tilted mode), and otherwise a fresh one with a margin of one standard deviation + 2 counts per
    window, which it stores. The log-normaliser and its gradient are exact to rounding with either. The cache
    belongs to its owner (a prior), not to the module, so what one model computes never depends on what another
    computed before; a copy or a pickle starts empty.

    Example::

        >>> from pyro_drpm.distributions import MVHG
        >>> cache = UrnPlanCache()
        >>> urn, total = torch.full((3,), 50.0), torch.tensor(50.0)
        >>> first = MVHG(urn, total, torch.tensor([0.0, 1.0, -1.0]), plan_cache=cache)
        >>> moved = MVHG(urn, total, torch.tensor([0.01, 1.0, -1.0]), plan_cache=cache)  # a step later
        >>> len({id(d._normalizer_plan) for d in (first, moved)})  # one plan serves both
        1
        >>> bool(torch.isclose(moved.log_normalizer(), MVHG(urn, total, moved.logits).log_normalizer()))
        True

    :param capacity: how many urns' plans to keep (least recently used dropped first).
    """

    def __init__(self, capacity: int = 4):
        self.capacity = int(capacity)
        self._plans: OrderedDict = OrderedDict()

    def __getstate__(self):  # plans are derived data: a copy or a pickle starts empty
        return {"capacity": self.capacity}

    def __setstate__(self, state):
        self.__init__(state["capacity"])

    def plan(self, logits: torch.Tensor, sizes: torch.Tensor, total: torch.Tensor):
        """The plan (an internal ``UrnPlan``) for float64 ``logits``/``sizes`` ``(..., K)`` and ``total``
        ``(...)``: the stored one while it still covers ``logits``, else a fresh one (see the class)."""
        try:
            with torch.no_grad():
                values = torch.cat([sizes.reshape(-1), total.reshape(-1)]).cpu().numpy().tobytes()
        except (RuntimeError, TypeError):
            return gp.make_plan(logits, sizes, total)
        key = (values, logits.shape, sizes.shape, total.shape, logits.dtype, str(logits.device))
        plan = self._plans.get(key)
        if plan is not None and gp.covers(plan, logits, sizes, total):
            self._plans.move_to_end(key)
            return plan
        plan = self._plans[key] = gp.make_plan(logits, sizes, total, margins=True)
        self._plans.move_to_end(key)
        while len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return plan
