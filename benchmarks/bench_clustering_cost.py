"""The cost of DRPM-VC training against the VaDE-style baseline: one SVI step, and one epoch of the estimators.

First table: models built on the digits' network sizes (64 features, hidden 256 x 256, latent 10; the encoder's
trunk frozen as in the estimators, which train only its heads, the decoder and the clusters), the same mini-batch
of 256 points, Pyro's ``Trace_ELBO`` and the training loop's optimiser (:func:`pyro_drpm.infer.svi_optimizer`,
clipped Adam); a step is ``SVI.step`` (model, guide, backward, update). DRPM-VC is timed with its partition
(prior and guide) in float64 and in float32, and in float32 with the partition's kernels compiled
(``pyro_drpm.compilation_enabled()``, opt-in; the first step's compile time is reported apart).
The other table, what the issue's goal (one epoch within 2x of VaDE's) is about: training epochs of the
estimators themselves (``VaDEClustering``, ``DRPMClustering`` with either prior, no pruning) on the digits, each
from its mixture initialisation after one shared pretraining, run as their ``fit`` runs them (``train_svi``'s
loop: its optimiser, ELBO, random mini-batches of the whole set and schedules, here over EPOCHS = 21 epochs), the
estimators' steps taken in turn on the same batches; the ratio is formed epoch by epoch.
Usage: ``python benchmarks/bench_clustering_cost.py [--quick]``; writes ``results/clustering_cost.md``.
"""

import argparse
import copy
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import pyro
import torch
from _machine import describe_machine
from _timing import median_ms

import pyro_drpm
from pyro_drpm.infer import ELBOS, minibatches, svi_optimizer
from pyro_drpm.models.clustering import DRPMVC, IIDMixtureVAE
from pyro_drpm.nn import MLPDecoder, MLPEncoder, freeze_
from pyro_drpm.partitions import ClusterOrderedDRPM, CRPPrior, DRPMPrior, FullUrn

FEATURES, HIDDEN, LATENT, BATCH = 64, (256, 256), 10, 256


def _networks():
    """The estimators' networks as they train: the encoder's trunk frozen after pretraining (their default
    ``freeze_encoder=True``), its mean and scale heads, the decoder and the clusters trained by SVI."""
    encoder = MLPEncoder(FEATURES, LATENT, HIDDEN)
    freeze_(encoder.trunk)
    return encoder, MLPDecoder(LATENT, FEATURES, HIDDEN[::-1])


#: the label suffix of the models whose steps run with the partition's kernels compiled
COMPILED = ", kernels compiled"
#: the estimator whose guide has random sizes (the full urn), trained by the size stage's score function
RANDOM_SIZES = "DRPMClustering (DRPM prior), random guide sizes (score gradient)"
#: the step whose parts the third table times alone
PARTS_MODEL = "DRPM-VC, DRPM prior, partition in float32"
#: SVI epochs of the estimators' timed training (the first is a warm-up)
EPOCHS = 21


def _models(k: int) -> dict:
    models = {"VaDE-style mixture": IIDMixtureVAE(*_networks(), k)}
    for dtype, suffix in ((torch.float64, ""), (torch.float32, ""), (torch.float32, COMPILED)):
        for name, prior in (("DRPM prior", DRPMPrior(k, dtype=dtype)), ("CRP prior", CRPPrior(k, dtype=dtype))):
            guide = ClusterOrderedDRPM(k, dtype=dtype)
            label = f"DRPM-VC, {name}, partition in {str(dtype).split('.')[-1]}{suffix}"
            models[label] = DRPMVC(*_networks(), k, prior=prior, partition_guide=guide)
    # random guide sizes (the full urn) trained by the score function: the size stage and a baseline fill cost more
    guide = ClusterOrderedDRPM(k, urn=FullUrn(), size_offsets=True, dtype=torch.float32)
    models["DRPM-VC, DRPM prior, random sizes (score gradient), partition in float32"] = DRPMVC(
        *_networks(), k, prior=DRPMPrior(k, dtype=torch.float32), partition_guide=guide, size_gradient="score"
    )
    return models


def _time_interleaved(models: dict, x, steps: int) -> tuple[dict, dict]:
    """Median ms per ``SVI.step`` of every model, the models' steps taken in turn (round robin), so that a change
    in the machine's load during the run reaches every model alike; each model keeps its own parameter store, and
    those labelled ``COMPILED`` step with compilation enabled. Also the seconds of every model's first step (for
    the compiled ones, the compilation)."""
    runs = {}
    for name, model in models.items():
        kwargs = {} if isinstance(model, IIDMixtureVAE) else {"temperature": 0.5}
        svi = pyro.infer.SVI(model.model, model.guide, svi_optimizer(1e-3), pyro.infer.Trace_ELBO())
        runs[name] = {"svi": svi, "kwargs": kwargs, "state": None, "times": [], "compiled": name.endswith(COMPILED)}
    first = {}
    for step in range(steps + 2):  # two warm-up rounds
        for name, run in runs.items():
            with pyro_drpm.compilation_enabled(run["compiled"]), pyro.get_param_store().scope(run["state"]) as state:
                start = time.perf_counter()
                run["svi"].step(x, **run["kwargs"])
                elapsed = time.perf_counter() - start
            run["state"] = state
            if step == 0:
                first[name] = elapsed
            if step >= 2:
                run["times"].append(elapsed)
    return {name: 1000 * statistics.median(run["times"]) for name, run in runs.items()}, first


#: the parts of a DRPM-VC step timed alone by :func:`_time_parts`
PARTS = (
    "responsibilities (encoder output to r, the guide's input)",
    "guide: straight-through sample (scores, Gumbel noise, sort, fill)",
    "guide: log q(Y), the ordered-blocks race integral",
    "prior: log p(Y), DRPM prior (MVHG sizes, closed-form ordering)",
)


def _time_parts(model: DRPMVC, x: torch.Tensor, repeats: int) -> dict:
    """ms of each of :data:`PARTS` alone, forward and backward, at the inputs of one step of ``model`` on ``x``
    (the guide's deterministic sizes, the partition in the model's dtype); each part starts from detached leaves
    so that only its own graph is built and differentiated. The guide's ``log q(Y)`` is the sample-and-score time
    minus the sample time (its value needs a sample's graph to carry a gradient into ``Y``)."""
    with torch.no_grad():
        loc, scale = model.encoder(x)
    loc, scale = loc.requires_grad_(), scale.requires_grad_()

    def responsibilities():
        model.responsibilities(loc, scale).sum().backward()

    r = model.responsibilities(loc, scale).detach()
    direction = torch.randn(model.n_components, x.shape[0], dtype=model.prior.dtype)

    def sample():
        leaf = r.clone().requires_grad_()
        Y = model.partition_guide(leaf, temperature=0.5).rsample()
        (Y * direction).sum().backward()

    def sample_and_score():
        leaf = r.clone().requires_grad_()
        posterior = model.partition_guide(leaf, temperature=0.5)
        Y = posterior.rsample()
        ((Y * direction).sum() + posterior.log_prob(Y)).backward()

    Y = model.partition_guide(r, temperature=0.5).sample()

    def prior():
        leaf = Y.clone().requires_grad_()
        model.prior(x.shape[0], temperature=0.5).log_prob(leaf).backward()

    sampled = median_ms(sample, repeats, warmup=2)
    return dict(
        zip(
            PARTS,
            (
                median_ms(responsibilities, repeats, warmup=2),
                sampled,
                median_ms(sample_and_score, repeats, warmup=2) - sampled,
                median_ms(prior, repeats, warmup=2),
            ),
            strict=True,
        )
    )


def _estimators(k: int, quick: bool) -> tuple[dict, torch.Tensor]:
    """The estimators at upper bound ``k`` (no pruning: ``k`` subsets throughout) initialised on the digits from
    one shared short pretraining (``fit`` with no SVI epoch), and the digits as their networks see them; those
    whose name ends in ``COMPILED`` train with the partition's kernels compiled."""
    from _digits import pretrain_digits

    from pyro_drpm.datasets import load_digits_01
    from pyro_drpm.models.clustering import DRPMClustering, VaDEClustering

    X, _ = load_digits_01()
    pretrained = pretrain_digits(X, seed=0, epochs=1 if quick else 5, n_clusters=10)
    common = dict(epochs=0, pretrained=pretrained, random_state=0, progress=False)
    estimators = {
        "VaDEClustering": VaDEClustering(k, **common),
        "DRPMClustering (DRPM prior)": DRPMClustering(k, prune=False, **common),
        "DRPMClustering (CRP prior)": DRPMClustering(k, prune=False, partition_prior="crp", **common),
        RANDOM_SIZES: DRPMClustering(k, prune=False, guide_urn="full", size_gradient="score", **common),
    }
    for name in ("DRPMClustering (DRPM prior)", "DRPMClustering (CRP prior)"):
        estimators[name + COMPILED] = copy.deepcopy(estimators[name])
    estimators = {name: estimator.fit(X) for name, estimator in estimators.items()}
    return estimators, pretrained.preprocess(X)


def _time_epochs(estimators: dict, data: torch.Tensor, epochs: int) -> tuple[dict, dict, dict]:
    """Every estimator's SVI training as its ``fit`` runs it (``train_svi``'s loop: its optimiser, ELBO,
    mini-batches and schedules), the estimators' steps taken in turn so that load changes reach all alike.
    Returns, over the epochs after the first, the median seconds per epoch and every epoch's ratio to the first
    estimator's; and the first epoch's seconds (for the compiled ones, the compilation).

    ``train_svi`` itself runs one model's whole training, so the loop is spelt out here to take the estimators'
    steps in turn; what each step gets (batch, schedule values, optimiser, ELBO) is what ``train_svi`` gives it.
    """
    n = data.shape[0]
    runs = {}
    for name, estimator in estimators.items():
        loss = ELBOS[estimator.elbo](num_particles=estimator.num_particles, vectorize_particles=False)
        runs[name] = {
            "svi": pyro.infer.SVI(estimator.model_.model, estimator.model_.guide, svi_optimizer(estimator.lr), loss),
            "schedules": estimator._schedules(),
            "generator": torch.Generator().manual_seed(0),  # the same batches for every estimator
            "batch_size": estimator.batch_size,
            "state": None,
            "compiled": name.endswith(COMPILED),
            "seconds": [],
        }
        estimator.model_.train()
    steps_per_epoch = -(-n // next(iter(runs.values()))["batch_size"])
    total_steps = epochs * steps_per_epoch
    for epoch in range(epochs):
        batches = {name: minibatches(n, run["batch_size"], run["generator"]) for name, run in runs.items()}
        for run in runs.values():
            run["seconds"].append(0.0)
        for step in range(steps_per_epoch):
            for name, run in runs.items():
                values = {
                    key: schedule((epoch * steps_per_epoch + step) / total_steps)
                    for key, schedule in run["schedules"].items()
                }
                with (
                    pyro_drpm.compilation_enabled(run["compiled"]),
                    pyro.get_param_store().scope(run["state"]) as state,
                ):
                    start = time.perf_counter()
                    run["svi"].step(data[batches[name][step]], **values)
                    run["seconds"][-1] += time.perf_counter() - start
                run["state"] = state
    baseline = next(iter(runs.values()))["seconds"][1:]
    per_epoch = {name: statistics.median(run["seconds"][1:]) for name, run in runs.items()}
    ratios = {name: [a / b for a, b in zip(run["seconds"][1:], baseline, strict=True)] for name, run in runs.items()}
    return per_epoch, ratios, {name: run["seconds"][0] for name, run in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # compile into an empty TorchInductor cache, so that the first compiled step's time is a cold start's
    with tempfile.TemporaryDirectory(prefix="pyro_drpm_inductor_") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        _measure(args.quick)


def _measure(quick: bool) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.rand(BATCH, FEATURES).round()
    steps = 5 if quick else 60
    epochs = 2 if quick else EPOCHS
    rows, epoch_rows, part_rows = [], [], []
    for k in (10,) if quick else (10, 20):
        models = _models(k)
        timings, first = _time_interleaved(models, x, steps)
        baseline = timings["VaDE-style mixture"]
        for name, ms in timings.items():
            rows.append(f"| {k} | {name} | {ms:.1f} | {ms / baseline:.2f}x | {first[name]:.1f} |")
            print(rows[-1], flush=True)
        drpm_step = timings[PARTS_MODEL]
        parts = _time_parts(models[PARTS_MODEL], x, steps)
        part_rows.append(f"| {k} | whole step, VaDE-style mixture | {baseline:.1f} | 1.00x |")
        part_rows.append(f"| {k} | whole step, {PARTS_MODEL} | {drpm_step:.1f} | {drpm_step / baseline:.2f}x |")
        for name, ms in parts.items():
            part_rows.append(f"| {k} | {name} | {ms:.1f} | {ms / baseline:.2f}x |")
        rest = drpm_step - sum(parts.values())
        part_rows.append(
            f"| {k} | the rest of the DRPM-VC step (step minus the parts above) | {rest:.1f} | {rest / baseline:.2f}x |"
        )
        print(*part_rows[-7:], sep="\n", flush=True)
        estimators, data = _estimators(k, quick)
        per_epoch, ratios, first_epoch = _time_epochs(estimators, data, epochs)
        for name, seconds in per_epoch.items():
            lower, ratio, upper = statistics.quantiles(ratios[name], n=4) if len(ratios[name]) > 1 else ratios[name] * 3
            spread = f"{lower:.2f}-{upper:.2f}"
            epoch_rows.append(
                f"| {k} | {name} | {1000 * seconds:.0f} | {ratio:.2f}x | {spread} | {first_epoch[name]:.1f} |"
            )
            print(epoch_rows[-1], flush=True)
    today = datetime.date.today().isoformat()
    text = "\n".join(
        [
            "## DRPM-VC: cost of training against the VaDE-style baseline",
            "",
            f"Measured {today} on {describe_machine()}; `python benchmarks/bench_clustering_cost.py`.",
            "",
            "**One epoch of the estimators** (what the 2x goal is about): the SVI training of `VaDEClustering` and "
            "`DRPMClustering` (float32 partition, the guide with deterministic sizes unless marked, no pruning, so "
            "all K subsets throughout) as their `fit` runs it (`pyro_drpm.infer.train_svi`'s loop: clipped Adam, "
            "`Trace_ELBO`, "
            "random mini-batches of the 1797 digits of at most 256 points, 8 steps an epoch, the temperature "
            "schedule), each from its own mixture initialisation after one shared pretraining, the estimators' "
            "steps taken in turn on the same batches. ms per epoch: the median over epochs 2 to "
            f"{epochs}; the ratio to `VaDEClustering` is formed epoch by epoch (median and interquartile range); "
            "the last column is the first epoch's seconds (for the compiled rows, the compilation of the "
            "partition's kernels into an empty TorchInductor cache at the first such row).",
            "",
            "| K | estimator | ms per epoch | ratio to VaDEClustering | interquartile range | first epoch (s) |",
            "|---|---|---|---|---|---|",
            *epoch_rows,
            "",
            f"**One step** (`SVI.step`: model, guide, backward, update) with `Trace_ELBO` and the training loop's "
            f"optimiser (`pyro_drpm.infer.svi_optimizer`, clipped Adam), on one mini-batch of {BATCH} points with "
            f"{FEATURES} binary features, encoder/decoder {HIDDEN} with the encoder's trunk frozen (the "
            f"estimators' default `freeze_encoder=True`), latent dimension {LATENT}; median of {steps} steps "
            "after two warm-up steps (ms), the models' steps taken in turn (round robin) so that the machine's "
            "load drifts alike for all. The prior's log-probability uses the closed form for equal scores and the "
            "guide's skips the size stage (deterministic sizes) except in the random-sizes row (full urn, exact "
            "MVHG size stage, score-function gradient with a second fill for its baseline). Rows marked *kernels "
            "compiled* step inside `pyro_drpm.compilation_enabled()` (opt-in `torch.compile` of the race integral, "
            "see `pyro_drpm.compilation`); their first step includes the compilation, the last column. Timings on "
            "a shared machine are noisy, ratios less so.",
            "",
            "| K | model | ms per step | ratio to VaDE | first step (s) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"**Where the step's time goes**: the parts of the `{PARTS_MODEL}` step timed alone at the inputs of "
            "the same mini-batch (forward and backward, each from detached leaves so that only its own graph is "
            f"built; median of {steps} calls), in ms and as a multiple of the VaDE-style step of the table above. "
            "The guide's `log q(Y)` is the time of sampling and scoring minus that of sampling alone. The rest is "
            "what the parts leave of the step: the networks, the latent terms, Pyro's tracing, the optimiser, and "
            "the overhead of the parts' shared graph.",
            "",
            "| K | part | ms | multiple of the VaDE-style step |",
            "|---|---|---|---|",
            *part_rows,
        ]
    )
    out = Path(__file__).parent / "results" / "clustering_cost.md"
    out.write_text(text + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
