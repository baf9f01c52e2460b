"""Every row of the published bad-input contract (docs/bad_input_contract.md) is checked here.

A row is ``| `call` | invalid input | with validation | without validation |`` (or one result column for the
relaxations). The call is evaluated with ``V = True`` and ``V = False``; a result cell is one of: ``constructs``
(no error), ``-inf`` (every entry of the result), ``NaN`` (some entry of the result), or an exception type in
backticks, optionally ``naming `fragment``` and ``showing `fragment``` that its message must contain. A
distribution constructed without validation must not have read a tensor value on the host.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch.distributions import kl_divergence

from pyro_drpm.distributions import DRPM, MVHG, ChineseRestaurantProcess, PlackettLuce
from pyro_drpm.relaxations import gumbel_softmax, neural_sort, soft_sort
from pyro_drpm.relaxations.windows import soft_window_matrix, window_matrix
from tests.distributions.device_audit import host_reads

CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "bad_input_contract.md"
NAMESPACE = {
    "DRPM": DRPM,
    "MVHG": MVHG,
    "ChineseRestaurantProcess": ChineseRestaurantProcess,
    "PlackettLuce": PlackettLuce,
    "gumbel_softmax": gumbel_softmax,
    "neural_sort": neural_sort,
    "soft_sort": soft_sort,
    "window_matrix": window_matrix,
    "soft_window_matrix": soft_window_matrix,
    "kl_divergence": kl_divergence,
    "tensor": torch.tensor,
    "zeros": torch.zeros,
    "ones": torch.ones,
    "eye": torch.eye,
    "full": torch.full,
    "nan": math.nan,
    "inf": math.inf,
}


def _rows():
    rows, in_call_table = [], False
    for line in CONTRACT.read_text().splitlines():
        if line.startswith("| Call |"):
            in_call_table = True  # the tables of calls; the degenerate cases' table documents valid input
        elif not line.startswith("|"):
            in_call_table = False
        if not (in_call_table and line.startswith("| `")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        call = cells[0].strip("`")
        with_validation, without = (cells[2], cells[2]) if len(cells) == 3 else (cells[2], cells[3])
        rows.append(pytest.param(call, with_validation, without, id=f"{call[:60]}"))
    return rows


ROWS = _rows()


def test_the_contract_has_rows_for_every_public_constructor():
    calls = " ".join(row.values[0] for row in ROWS)
    for name in NAMESPACE:
        if name[0].isupper() or name.endswith(("sort", "softmax", "matrix")):
            assert f"{name}(" in calls, name
    assert len(ROWS) > 50


def _check(call: str, cell: str, validate: bool) -> None:
    namespace = dict(NAMESPACE, V=validate)
    error = re.match(r"`(\w+Error)`", cell)
    if error:
        expected = {"ValueError": ValueError, "TypeError": TypeError, "NotImplementedError": NotImplementedError}
        with pytest.raises(expected[error.group(1)]) as info:
            eval(call, namespace)
        for fragment in re.findall(r"(?:naming|showing) `([^`]+)`", cell):
            assert fragment in str(info.value), (fragment, str(info.value))
        return
    with host_reads() as reads:
        result = eval(call, namespace)
    if cell == "constructs":
        assert isinstance(result, torch.distributions.Distribution)
        assert validate or reads == [], reads  # without validation nothing is read back from the device
    elif cell == "`-inf`":
        assert (result == -math.inf).all()
    elif cell == "NaN":
        assert torch.isnan(result).any()
    else:
        raise AssertionError(f"unknown result cell {cell!r}")


@pytest.mark.parametrize(("call", "with_validation", "without"), ROWS)
def test_contract_row(call, with_validation, without):
    _check(call, with_validation, True)
    _check(call, without, False)
