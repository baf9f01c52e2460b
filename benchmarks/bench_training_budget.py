"""What halving the training budget costs: 100/50 against 200/100 pretraining/SVI epochs on the digits.

The estimators' defaults are 200 pretraining and 100 SVI epochs, which the main job
(``benchmarks/clustering_comparison.py``) uses; an earlier main job halved both to fit into 15 minutes on two
cores. This measures, seed by seed on the same data, DRPM-VC (``DRPMClustering(n_clusters=20)``, the DRPM prior, the
main job's first row), the VaDE-style mixture with K = 10 and KMeans (K = 10) on the pretrained embedding, under
both budgets, and reports the paired difference (default budget minus halved) with a 95% t interval.
Usage: ``python benchmarks/bench_training_budget.py [--quick] [--seeds N]``; writes ``results/training_budget.md``.
"""

import datetime
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from _digits import pretrain_digits
from _machine import describe_machine
from _results import write_section
from _seeds import seed_arguments, t_interval

from pyro_drpm.datasets import load_digits_01
from pyro_drpm.models.clustering import (
    DRPMClustering,
    EmbeddingClustering,
    VaDEClustering,
    clustering_scores,
    n_clusters_used,
)

BUDGETS = {"halved": (100, 50), "default (main job)": (200, 100)}
UPPER_BOUND = 20  # DRPM-VC's upper bound on the number of clusters, as in the main job
METHODS = ("DRPM-VC (DRPM prior), K <= 20", "VaDE-style mixture, K = 10", "KMeans on the embedding, K = 10")


def run_seed(seed: int, quick: bool) -> list[dict]:
    from sklearn.cluster import KMeans

    torch.set_num_threads(1)
    X, y = load_digits_01()
    rows = []
    for budget, (pretrain_epochs, epochs) in BUDGETS.items():
        if quick:
            pretrain_epochs, epochs = 2, 1
        pretrained = pretrain_digits(X, seed, pretrain_epochs, n_clusters=UPPER_BOUND)
        common = dict(pretrained=pretrained, epochs=epochs, random_state=seed, progress=False)
        estimators = dict(
            zip(
                METHODS,
                (
                    DRPMClustering(UPPER_BOUND, **common),
                    VaDEClustering(10, **common),
                    EmbeddingClustering(KMeans(10, n_init=10, random_state=seed), pretrained),
                ),
                strict=True,
            )
        )
        for method, estimator in estimators.items():
            labels = estimator.fit_predict(X)
            row = {"budget": budget, "method": method, "seed": seed, **clustering_scores(y, labels)}
            row["clusters"] = n_clusters_used(labels)
            rows.append(row)
            print(seed, budget, method, {k: round(v, 3) for k, v in row.items() if isinstance(v, float)}, flush=True)
    return rows


def main():
    args = seed_arguments(__doc__, default_seeds=6)
    seeds = args.seeds
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_seed, range(seeds), [args.quick] * seeds))
    rows = [row for seed_rows in results for row in seed_rows]
    lines = []
    for method in METHODS:
        cells = []
        for budget in BUDGETS:
            mine = [r for r in rows if r["method"] == method and r["budget"] == budget]
            clusters = [r["clusters"] for r in mine]
            cells.append(
                f"{np.mean([r['acc'] for r in mine]):.3f} ± {np.std([r['acc'] for r in mine]):.3f} / "
                f"{np.mean([r['ari'] for r in mine]):.3f} / {np.mean(clusters):.1f}"
            )
        differences = []
        for metric in ("acc", "ari"):
            halved, default = (
                np.array([r[metric] for r in rows if r["method"] == method and r["budget"] == budget])
                for budget in BUDGETS
            )
            differences.append(t_interval(default - halved))
        lines.append(f"| {method} | {' | '.join(cells)} | {' | '.join(differences)} |")
    halved, default = BUDGETS.values()
    write_section(
        "training_budget",
        [
            "## The training budget: halved against the estimators' defaults (the main job's)",
            "",
            f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; "
            f"`python benchmarks/bench_training_budget.py{' --quick' if args.quick else ''}`. Digits (1797), "
            f"{seeds} seed(s); each budget pretrains its own contrastive autoencoder per seed (cluster "
            f"contrastive loss over {UPPER_BOUND} columns, the main job's upper bound). Halved: "
            f"{halved[0]} pretraining / {halved[1]} SVI epochs; default (the main job's): {default[0]} / "
            f"{default[1]}. Cells: ACC mean ± std / ARI mean / clusters used; the last two columns are the paired "
            "differences (default minus halved) with a 95% t interval over seeds.",
            "",
            "| method | halved: ACC / ARI / clusters | default: ACC / ARI / clusters | ACC: default - halved | "
            "ARI: default - halved |",
            "|---|---|---|---|---|",
            *lines,
        ],
    )


if __name__ == "__main__":
    main()
