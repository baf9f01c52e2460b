"""Clustering metrics against hand-computed cases."""

import math

import numpy as np
import pytest

from pyro_drpm.models.clustering.metrics import (
    adjusted_rand_index,
    cluster_accuracy,
    clustering_scores,
    contingency_table,
    n_clusters_used,
    normalized_mutual_info,
)


def test_perfect_clustering_up_to_relabelling():
    y = [0, 0, 1, 1, 2, 2]
    pred = [5, 5, 3, 3, 9, 9]
    assert clustering_scores(y, pred) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0}


def test_accuracy_hand_computed():
    # contingency rows = true {0, 1, 2}, columns = predicted {0, 1}:
    # [[2, 0], [0, 2], [1, 0]] -> best matching 0->0, 1->1 covers 4 of 5 points
    assert cluster_accuracy([0, 0, 1, 1, 2], [0, 0, 1, 1, 0]) == pytest.approx(0.8)
    # one cluster for everything: the largest class wins
    assert cluster_accuracy([0, 0, 0, 1], [7, 7, 7, 7]) == pytest.approx(0.75)


def test_accuracy_with_more_clusters_than_classes_counts_surplus_as_errors():
    # the Hungarian matching is one-to-one: cluster 2 is matched to nothing
    assert cluster_accuracy([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.75)


def test_accuracy_is_hungarian_not_greedy():
    # cluster 0 holds 3 of class 0 and 2 of class 1, cluster 1 holds 2 of class 0. One-to-one, the best matching is
    # cluster 0 -> class 1 and cluster 1 -> class 0 (2 + 2 of 7); greedy one-to-one (largest cell first) gives
    # 3 / 7 and per-cluster majority (both clusters -> class 0, not one-to-one) 5 / 7
    y = [0, 0, 0, 0, 0, 1, 1]
    pred = [0, 0, 0, 1, 1, 0, 0]
    assert cluster_accuracy(y, pred) == pytest.approx(4 / 7)


def test_contingency_table():
    table = contingency_table(["a", "a", "b"], [1, 0, 0])
    np.testing.assert_array_equal(table, [[1, 1], [1, 0]])


def test_nmi_hand_computed():
    # y = [0, 0, 1, 1], pred = [0, 0, 0, 1]: H(y) = log 2, H(pred) = H(3/4, 1/4),
    # I = H(y) - H(y | pred) = log 2 - 3/4 * H(2/3, 1/3)
    def entropy(*p):
        return -sum(q * math.log(q) for q in p)

    mutual = math.log(2) - 0.75 * entropy(2 / 3, 1 / 3)
    expected = mutual / ((math.log(2) + entropy(0.75, 0.25)) / 2)
    assert normalized_mutual_info([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expected, abs=1e-12)


def test_ari_hand_computed():
    # y = [0, 0, 1, 1], pred = [0, 0, 0, 1]: sum_ij C(n_ij, 2) = 1 + 0 + 0 = 1, a = C(2,2)*2 = 2,
    # b = C(3,2) + C(1,2) = 3, C(4,2) = 6; expected = a b / 6 = 1; max = (a + b) / 2 = 2.5
    expected = (1 - 1) / (2.5 - 1)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expected, abs=1e-12)
    # a clearly better-than-chance case
    ari = adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    # pairs: same-same C(2,2)+C(1,2)+C(1,2)... computed by hand: index = 1 + 3 = 4, a = 3 + 3 = 6,
    # b = 1 + 6 = 7, expected = 6 * 7 / 15 = 2.8, max = 6.5 -> (4 - 2.8) / (6.5 - 2.8)
    assert ari == pytest.approx((4 - 2.8) / (6.5 - 2.8), abs=1e-12)


def test_n_clusters_used():
    assert n_clusters_used([3, 3, 7, 1]) == 3


@pytest.mark.parametrize(
    "y, pred, match",
    [
        ([0, 1], [0], "differ in length"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([], [], "empty"),
        ([0.0, float("nan")], [0, 1], "NaN"),
    ],
)
def test_bad_input(y, pred, match):
    with pytest.raises(ValueError, match=match):
        clustering_scores(y, pred)
