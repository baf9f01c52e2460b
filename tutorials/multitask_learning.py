# %% [markdown]
# # Multitask learning: a DRPM splits a shared representation among the tasks
#
# Two tasks share one encoder. Which of its `n` output units should each task's head use? The DRPM paper
# (Sutter et al. 2023, arXiv:2305.16841, Section 5.3) answers it per input: a DRPM whose size and score logits
# are predicted from the input partitions the `n` units into `K = 2` subsets, and head `t` only sees subset `t`.
# The claim to test: the partition adapts to the tasks' difficulty (the noisier task gets more units), which
# replaces the tuning of loss weights.
#
# The data is a small MultiMNIST made from scikit-learn's 8 x 8 digits (no download): two digits side by side
# on one 8 x 16 canvas; task 1 reads the left digit, task 2 the right digit, which is corrupted by pepper noise
# (each of its pixels erased with probability `p`).
#
# Steps: the data; the model written by hand from `AmortisedDRPM`, with a measurement of why a naive version
# starves the harder task; the packaged `PartitionedMultitaskNet` against three baselines (a fully shared
# representation, a fixed even split, uncertainty weighting of the losses) over a sweep of `p`; the findings.

# %%
import argparse
import datetime
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from pyro_drpm.datasets import make_two_digit_canvas
from pyro_drpm.infer import ExponentialSchedule, minibatches
from pyro_drpm.models.multitask import (
    FixedSplitMultitaskNet,
    PartitionedMultitaskNet,
    SharedMultitaskNet,
    UncertaintyWeighting,
    evaluate_multitask,
    train_multitask,
)
from pyro_drpm.partitions import AmortisedDRPM
from pyro_drpm.provenance import describe_machine

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description="multitask learning with a DRPM partition of the units")
parser.add_argument("--output", default="outputs/multitask_learning", help="folder for the figures")
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)  # one intra-op thread: fastest on a small, shared CPU
started = time.time()

N_TRAIN, N_TEST = (256, 128) if smoke_test else (2400, 1000)
EPOCHS = 1 if smoke_test else 18
NOISE_RATES = [0.0, 0.6] if smoke_test else [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
SEEDS = [0] if smoke_test else [0, 1, 2]
ABLATION_NOISE = 0.6
N_UNITS, BATCH, LR = 24, 64, 1e-3
TEMPERATURE = ExponentialSchedule(1.0, 0.5)  # the paper's annealing, over the whole run


def canvases(noise_rate, seed):
    """Train and test canvases for one noise rate and seed (test digits are images never seen in training)."""
    x, y = make_two_digit_canvas(N_TRAIN, noise_rate=noise_rate, seed=seed)
    x_test, y_test = make_two_digit_canvas(N_TEST, noise_rate=noise_rate, split="test", seed=1000 + seed)
    return [torch.as_tensor(a) for a in (x, y, x_test, y_test)]


# %% [markdown]
# ## The data
#
# A few canvases at several noise rates. At `p = 1` the right digit is erased completely, so task 2 is at chance
# (10 %) whatever the model.

# %%
fig, axes = plt.subplots(3, 4, figsize=(8, 3.2))
for col, p in enumerate([0.0, 0.4, 0.8, 1.0]):
    x, y = make_two_digit_canvas(3, noise_rate=p, seed=col)
    for row in range(3):
        ax = axes[row, col]
        ax.imshow(x[row].reshape(8, 16), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"labels {y[row, 0]} / {y[row, 1]}", fontsize=7)
    axes[0, col].set_title(f"p = {p}")
fig.tight_layout()
fig.savefig(output / "canvases.png", dpi=120)
plt.close(fig)

# %% [markdown]
# ## The model, written by hand
#
# The encoder maps a canvas to `n = 24` non-negative features `f(x)`. A second network of the same architecture
# (its own weights, as in the paper's code) maps the canvas to `g(x)`; an `AmortisedDRPM` reads two linear maps
# of `g(x)`, the `K = 2` size logits and the `n` score logits, and returns a DRPM per input; its `rsample`
# is an exact 0/1 partition `Y` (shape `(B, 2, n)`, every unit in exactly one task) with straight-through
# gradients to both sets of logits. Head `t` sees `f(x) * Y[:, t]`. The loss is the sum of the two
# cross-entropies, optionally plus the paper's size regulariser `lambda * mean_b sum_t log Gamma(n_bt + 1)`
# (`lambda = 0.015` in the paper's code), which for a fixed total is smallest for equal sizes.
#
# One option, `rescale`, multiplies head `t`'s input by `n / n_t`; it is what the next section measures.


# %%
def encoder():
    return nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, N_UNITS), nn.ReLU())


def heads():
    return [nn.Sequential(nn.Linear(N_UNITS, 32), nn.ReLU(), nn.Linear(32, 10)) for _ in range(2)]


class HandWrittenNet(nn.Module):
    def __init__(self, rescale):
        super().__init__()
        self.encoder, self.heads, self.rescale = encoder(), nn.ModuleList(heads()), rescale
        self.partition_encoder = encoder()
        self.partition = AmortisedDRPM(nn.Linear(N_UNITS, 2), nn.Linear(N_UNITS, N_UNITS))

    def forward(self, x, temperature):
        features = self.encoder(x)
        q = self.partition(self.partition_encoder(x), temperature=temperature)  # a DRPM per input, batch (B,)
        partition = q.rsample()  # (B, 2, n), exact 0/1
        outputs = []
        for t, head in enumerate(self.heads):
            inputs = features * partition[:, t]
            if self.rescale:
                inputs = inputs * N_UNITS / partition[:, t].sum(-1, keepdim=True).clamp(min=1)
            outputs.append(head(inputs))
        return outputs, partition, q.size_logits


def train_by_hand(net, x, y, regularization, seed):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    total = EPOCHS * len(minibatches(len(x), BATCH))
    units, gaps, step = [], [], 0
    for _ in range(EPOCHS):
        for index in minibatches(len(x), BATCH, generator):
            outputs, partition, size_logits = net(x[index], temperature=TEMPERATURE(step / total))
            loss = sum(F.cross_entropy(output, y[index, t]) for t, output in enumerate(outputs))
            loss = loss + regularization * torch.lgamma(partition.sum(-1) + 1).sum(-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            units.append(partition.detach().sum(-1).mean(0).numpy())
            gaps.append(float((size_logits[:, 1] - size_logits[:, 0]).detach().mean()))  # > 0 favours task 2
            step += 1
    return np.array(units), np.array(gaps)


# %% [markdown]
# ## Why a naive version starves the harder task
#
# Train the hand-written net at `p = 0.6` with the plain mask `f * Y[:, t]` (`rescale=False`) and without the
# regulariser, and watch the units of task 2 (the noisy one). The clean task learns first and takes nearly all
# units within a few epochs; task 2 then stays at chance. The reason is in the straight-through gradient of a
# task's loss with respect to its memberships `Y[t, i]`: with the plain mask, giving a task more units also
# makes its head's input larger, and a head that already predicts well lowers its loss by growing its input
# (more confident logits) whatever the units carry, while a head still at chance gains nothing. So the gradient
# rewards the task that is ahead, not the task that needs capacity; the size logits run away (their difference
# (printed below) runs far from 0), where the MVHG's gradient vanishes, and the
# allocation never comes back. The regulariser only pulls back towards balance. Dividing head `t`'s input by
# its share `n_t / n` (differentiably) removes that scale term: the gradient then says whether a unit is
# worth more to a task than the units it already has.

# %%
x, y, x_test, y_test = canvases(ABLATION_NOISE, seed=0)
ablation = {}
for rescale, regularization in [(False, 0.0), (False, 0.015), (True, 0.0), (True, 0.015)]:
    label = f"{'rescaled' if rescale else 'plain mask'}, lambda = {regularization}"
    torch.manual_seed(0)
    net = HandWrittenNet(rescale)
    ablation[label], ablation[label + " size-logit gap"] = train_by_hand(net, x, y, regularization, seed=0)
    with torch.no_grad():
        outputs, _, _ = net(x_test, temperature=TEMPERATURE(1.0))
    accuracy = [float((o.argmax(-1) == y_test[:, t]).float().mean()) for t, o in enumerate(outputs)]
    ablation[label + " accuracy"] = accuracy
    gap = ablation[label + " size-logit gap"]
    print(
        f"{label:32s} units of task 2 at the end {ablation[label][-20:, 1].mean():5.1f} / {N_UNITS}, "
        f"size-logit gap (task 2 - task 1) after 3 epochs {gap[min(len(gap), 3 * len(gap) // EPOCHS) - 1]:6.2f}, "
        f"at the end {gap[-20:].mean():6.2f}; test accuracy {accuracy[0]:.3f} / {accuracy[1]:.3f}"
    )

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, units in ablation.items():
    if not label.endswith(("accuracy", "gap")):
        window = max(1, len(units) // 40)
        smooth = np.convolve(units[:, 1], np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) + window, smooth, label=label)
ax.axhline(N_UNITS / 2, color="gray", lw=0.5)
ax.set_xlabel("training step")
ax.set_ylabel("units of task 2 (noisy), batch mean")
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.set_title(f"p = {ABLATION_NOISE}, one seed")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(output / "starvation.png", dpi=120)
plt.close(fig)

# %% [markdown]
# ## The packaged model and the baselines
#
# `PartitionedMultitaskNet` is the model above with `rescale=True` and the paper's regulariser by default; its
# partition network is a re-initialised copy of the encoder (`partition_net="features"` reads the encoder's own
# features instead; compared below). In evaluation mode it uses a deterministic partition, the DRPM's mean sizes
# rounded and filled in score order (`central_partition`). The baselines use the same encoder, heads, epochs and
# seeds, and the same rescaling of a head's input:
#
# * **shared**: every head sees all `n` units (hard parameter sharing, equal loss weights);
# * **fixed split**: task 1 always sees units 1-12, task 2 units 13-24;
# * **uncertainty weighting** (Kendall, Gal and Cipolla 2018): shared units, the loss
#   `sum_t exp(-s_t) L_t + s_t / 2` with learned `s_t`, a learned loss weighting.
#
# Every method is trained for the same number of epochs on every `(p, seed)`; a seed fixes the data, the
# initial weights and the mini-batches, so the differences between methods at a seed are paired.


# %%
def make(method):
    if method == "DRPM":
        return PartitionedMultitaskNet(encoder(), heads(), N_UNITS, temperature=TEMPERATURE), None
    if method == "shared":
        return SharedMultitaskNet(encoder(), heads(), N_UNITS), None
    if method == "fixed split":
        return FixedSplitMultitaskNet(encoder(), heads(), N_UNITS), None
    return SharedMultitaskNet(encoder(), heads(), N_UNITS), UncertaintyWeighting(2)


METHODS = ["DRPM", "shared", "fixed split", "uncertainty weighting"]
BASELINES = METHODS[1:]
rows, examples = [], {}
runs = [(p, seed, method) for p in NOISE_RATES for seed in SEEDS for method in METHODS]
data = {}
for p, seed, method in (bar := tqdm(runs, desc="sweep")):
    bar.set_postfix(p=p, seed=seed, method=method)
    if (p, seed) not in data:
        data = {(p, seed): canvases(p, seed)}
    x, y, x_test, y_test = data[(p, seed)]
    torch.manual_seed(seed)
    net, weighting = make(method)
    tic = time.time()
    train_multitask(
        net,
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        lr=LR,
        loss_weighting=weighting,
        generator=torch.Generator().manual_seed(seed),
    )
    seconds = time.time() - tic
    torch.manual_seed(seed)
    scores = evaluate_multitask(net, x_test, y_test)
    units = scores["units"]
    rows.append(
        {
            "p": p,
            "seed": seed,
            "method": method,
            "acc1": scores["accuracy"][0],
            "acc2": scores["accuracy"][1],
            "units1": units[:, 0].mean(),
            "units2": units[:, 1].mean(),
            "units2_q10": np.quantile(units[:, 1], 0.1),
            "units2_q90": np.quantile(units[:, 1], 0.9),
            "seconds": seconds,
        }
    )
    if method == "DRPM" and seed == SEEDS[0]:
        examples[p] = (x_test[:6].numpy(), scores["partition"][:6], units[:6])

# %% [markdown]
# Where the partition parameters come from: the packaged net with the size and score logits read off the
# encoder's own features (`partition_net="features"`), at `p = 0.6`, on the same seeds, against the default.

# %%
on_features = {}
for seed in (bar := tqdm(SEEDS, desc="partition on the features")):
    x, y, x_test, y_test = canvases(ABLATION_NOISE, seed)
    torch.manual_seed(seed)
    net = PartitionedMultitaskNet(encoder(), heads(), N_UNITS, temperature=TEMPERATURE, partition_net="features")
    train_multitask(net, x, y, epochs=EPOCHS, batch_size=BATCH, lr=LR, generator=torch.Generator().manual_seed(seed))
    on_features[seed] = evaluate_multitask(net, x_test, y_test)["accuracy"]
default = {r["seed"]: (r["acc1"], r["acc2"]) for r in rows if r["method"] == "DRPM" and r["p"] == ABLATION_NOISE}
features_gap = np.array([on_features[s][1] - default[s][1] for s in SEEDS])
print(
    f"p = {ABLATION_NOISE}, task 2: partition on the encoder's features minus the default (a copy), per seed: "
    f"{np.round(features_gap, 3)}"
)

# %% [markdown]
# ## Results
#
# The table below is generated from the sweep (mean over seeds, and the spread over seeds); the paired
# differences compare the DRPM with the best baseline at each `p` (the baseline with the highest mean accuracy
# on that task), seed by seed, with a 95 % t-interval over the seeds.

# %%
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}  # Student t quantiles for the 95 % interval


def select(method, p):
    return [r for r in rows if r["method"] == method and r["p"] == p]


def mean_sd(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def paired(task, p):
    best = max(BASELINES, key=lambda m: np.mean([r[task] for r in select(m, p)]))
    drpm = {r["seed"]: r[task] for r in select("DRPM", p)}
    base = {r["seed"]: r[task] for r in select(best, p)}
    diff = np.array([drpm[s] - base[s] for s in SEEDS])
    half = T_975.get(len(diff) - 1, float("nan")) * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
    return best, diff.mean(), half


lines = [
    "## Multitask learning: DRPM partition against shared, fixed-split and uncertainty-weighted baselines",
    "",
    f"Generated by `python tutorials/multitask_learning.py` on {datetime.date.today().isoformat()}, "
    f"{describe_machine()}; "
    f"a shared, busy machine. Two 8 x 8 digits side by side (scikit-learn's digits), task 1 = left digit, task 2 = "
    f"right digit with pepper noise of rate p; {N_TRAIN} training and {N_TEST} test canvases (test digits are "
    f"images unseen in training); encoder 128-64-{N_UNITS}, heads {N_UNITS}-32-10, Adam lr {LR}, batch {BATCH}, "
    f"{EPOCHS} epochs, seeds {SEEDS}. Test accuracy, mean ± standard deviation over the seeds; the DRPM's units "
    "are the mean over test inputs of their evaluation-mode partition (`central_partition`: the rounded mean sizes "
    "filled in score order).",
    "",
    "| p | method | accuracy task 1 | accuracy task 2 | units task 1 | units task 2 |",
    "|---|---|---|---|---|---|",
]
for p in NOISE_RATES:
    for method in METHODS:
        sel = select(method, p)
        lines.append(
            f"| {p} | {method} | {mean_sd([r['acc1'] for r in sel])} | {mean_sd([r['acc2'] for r in sel])} | "
            f"{np.mean([r['units1'] for r in sel]):.1f} | {np.mean([r['units2'] for r in sel]):.1f} |"
        )
lines += [
    "",
    "Paired differences, DRPM minus the best baseline at that p (chosen per task by mean accuracy), mean and 95 % "
    f"t-interval over the {len(SEEDS)} seeds:",
    "",
    "| p | task 2: best baseline | DRPM - best (task 2) | task 1: best baseline | DRPM - best (task 1) |",
    "|---|---|---|---|---|",
]
for p in NOISE_RATES:
    cells = []
    for task in ("acc2", "acc1"):
        best, mean, half = paired(task, p)
        cells += [best, f"{mean:+.3f} ± {half:.3f}"]
    lines.append(f"| {p} | " + " | ".join(cells) + " |")
seconds = {m: np.mean([r["seconds"] for r in rows if r["method"] == m]) for m in METHODS}
lines += [
    "",
    f'Partition parameters read off the encoder\'s own features (`partition_net="features"`) instead of a copy '
    f"of the encoder, at p = {ABLATION_NOISE}, task 2 accuracy minus the default's, per seed: "
    + ", ".join(f"{g:+.3f}" for g in features_gap)
    + ".",
    "",
    "Mean training time per run: "
    + ", ".join(f"{m} {s:.1f} s" for m, s in seconds.items())
    + f"; the whole tutorial took {(time.time() - started) / 60:.1f} min.",
]
table = "\n".join(lines) + "\n"
results_path = output / "multitask.md"
if not smoke_test:
    try:
        repository = Path(__file__).resolve().parents[1]
    except NameError:  # run as a notebook
        repository = Path.cwd()
    results_path = repository / "benchmarks" / "results" / "multitask.md"
results_path.write_text(table)
print(table)

# %% [markdown]
# ## Figures: accuracy and units against the noise rate, and a few partitions

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for t, (ax, key) in enumerate(zip(axes, ("acc1", "acc2"), strict=True)):
    for method in METHODS:
        values = np.array([[r[key] for r in select(method, p)] for p in NOISE_RATES])
        ax.errorbar(NOISE_RATES, values.mean(1), yerr=values.std(1), marker="o", capsize=3, label=method)
    ax.set_xlabel("pepper-noise rate p of the right digit")
    ax.set_title(f"task {t + 1} ({'left, clean' if t == 0 else 'right, noisy'} digit)")
axes[0].set_ylabel("test accuracy (mean ± sd over seeds)")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(output / "accuracy_vs_noise.png", dpi=120)
plt.close(fig)

fig, ax = plt.subplots(figsize=(6, 3.6))
drpm = [select("DRPM", p) for p in NOISE_RATES]
for key, label in (("units1", "task 1 (clean)"), ("units2", "task 2 (noisy)")):
    ax.plot(NOISE_RATES, [np.mean([r[key] for r in sel]) for sel in drpm], marker="o", label=label)
low = [np.mean([r["units2_q10"] for r in sel]) for sel in drpm]
high = [np.mean([r["units2_q90"] for r in sel]) for sel in drpm]
ax.fill_between(NOISE_RATES, low, high, alpha=0.2, color="C1", label="task 2, 10-90 % of test inputs")
ax.axhline(N_UNITS / 2, color="gray", lw=0.5)
ax.set_xlabel("pepper-noise rate p of the right digit")
ax.set_ylabel(f"units per task (of {N_UNITS})")
ax.yaxis.set_major_locator(MaxNLocator(integer=True))
ax.set_title("DRPM: mean units per test input, mean over seeds")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(output / "units_vs_noise.png", dpi=120)
plt.close(fig)

shown = [p for p in NOISE_RATES if p in examples][: 3 if smoke_test else 6]
fig, axes = plt.subplots(len(shown), 6, figsize=(11, 1.5 * len(shown)), squeeze=False)
for row, p in enumerate(shown):
    images, partitions, units = examples[p]
    for col in range(6):
        ax = axes[row, col]
        # the canvas on top, the 2 x n partition below (black: the unit goes to that task)
        ax.imshow(np.vstack([np.zeros((1, 16)), images[col].reshape(8, 16)]), cmap="gray_r", extent=(0, 24, 9, 4))
        ax.imshow(partitions[col], cmap="gray_r", vmin=0, vmax=1, extent=(0, 24, 4, 0), aspect="auto")
        ax.set_xlim(0, 24)
        ax.set_ylim(9, 0)
        ax.set_xticks([])
        ax.set_yticks([1, 3])
        ax.set_yticklabels(["task 1", "task 2"], fontsize=6)
        ax.set_title(f"p = {p}: {units[col, 0]} / {units[col, 1]} units", fontsize=7)
fig.tight_layout()
fig.savefig(output / "partitions.png", dpi=120)
plt.close(fig)
print(f"total time {(time.time() - started) / 60:.1f} min")

# %% [markdown]
# ## What we found
#
# Measured by the full run of this script (the table above is in `benchmarks/results/multitask.md`; one
# machine, three seeds, small data, so read the intervals):
#
# * **Starvation, and its cause.** With the plain mask and no regulariser the clean task takes every unit
#   within about a hundred steps at `p = 0.6`, the size-logit gap runs far from 0 and task 2 stays at chance.
#   The paper's regulariser alone holds task 2 at fewer than half of the units; rescaling the heads' inputs
#   (with or without it) keeps task 2 fed and gave task 2 a higher accuracy than the plain mask. The packaged
#   net rescales and keeps the regulariser.
# * **"The noisier task receives more units as p grows": not reproduced.** The noisy task's share stays between
#   about 10 and 13 of the 24 units at every `p`, with no trend upwards, and is smallest at `p = 1`, where its
#   digit carries no information (runs differ by a unit or two per `p`). Here the learned partition follows how
#   much a task can still gain, not its noise level.
# * **"At least as accurate as the baselines on the noisy task without loss-weight tuning": only partly.** On
#   task 2 the DRPM is within the seeds' spread of the best baseline (the fixed split for `p <= 0.4`,
#   uncertainty weighting at `p = 1`), but below the fixed split at `p = 0.6` and `p = 0.8` (the paired 95 %
#   intervals exclude 0). On the clean task its paired differences with the best baseline include 0 at every
#   `p`. No loss weights were tuned for any method; uncertainty weighting did not beat the plain sum here.
# * **Where the partition parameters come from matters.** Reading them off the encoder's own features instead
#   of a separate copy of the encoder lowered the noisy task's accuracy at `p = 0.6` on every seed; hence the
#   default.
#
# Caveats: 2400 canvases of 8 x 8 digits, a small MLP, 18 epochs and Gumbel noise in every training partition;
# the paper used 60000 MNIST pairs, a LeNet, 200 epochs and no Gumbel noise in training.

# %%
for name in ("canvases.png", "starvation.png", "accuracy_vs_noise.png", "units_vs_noise.png", "partitions.png"):
    assert (output / name).is_file(), name
assert results_path.is_file()
assert len(rows) == len(NOISE_RATES) * len(SEEDS) * len(METHODS)
for p in examples:
    partitions = examples[p][1]
    assert set(np.unique(partitions)) <= {0.0, 1.0} and np.all(partitions.sum(-2) == 1), "exact partitions"
if not smoke_test:
    curves = {label: units for label, units in ablation.items() if not label.endswith(("accuracy", "gap"))}
    final = {label: units[-20:, 1].mean() for label, units in curves.items()}
    plain, plain_regularized = "plain mask, lambda = 0.0", "plain mask, lambda = 0.015"
    assert final[plain] < 1 and ablation[plain + " accuracy"][1] < 0.15, "the plain mask starves task 2"
    assert abs(ablation[plain + " size-logit gap"][-20:].mean()) > 5, "the size logits run away"
    assert all(final[label] > 6 for label in final if label != plain), "the other variants keep task 2 fed"
    assert final[plain_regularized] < N_UNITS / 2
    for label in ("rescaled, lambda = 0.0", "rescaled, lambda = 0.015"):
        assert ablation[label + " accuracy"][1] > ablation[plain_regularized + " accuracy"][1], label
    units2 = {p: np.mean([r["units2"] for r in select("DRPM", p)]) for p in NOISE_RATES}
    assert all(abs(units2[p] - N_UNITS / 2) < 1.5 for p in NOISE_RATES if p <= 0.6), "an even split up to 0.6"
    assert units2[0.8] < N_UNITS / 2 and units2[1.0] < N_UNITS / 2, "the noisy task gets fewer units at high p"
    for p in NOISE_RATES:
        _, mean, half = paired("acc2", p)
        if p in (0.6, 0.8):
            assert mean + half < 0, f"p = {p}: the DRPM is below the best baseline on task 2"
        else:
            assert mean - half <= 0 <= mean + half, f"p = {p}: task 2 within the spread"
        _, mean, half = paired("acc1", p)
        assert mean - half <= 0 <= mean + half, f"p = {p}: task 1 within the spread"
    assert np.all(features_gap < 0), "the partition on the encoder's features is worse on task 2"
    assert time.time() - started < 15 * 60, "the full run takes under 15 minutes"
