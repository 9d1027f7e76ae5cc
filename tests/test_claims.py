"""The claims the benchmark chapters state (notebooks 20, 21 and 22, and the README's "held / did not hold"), asserted on
the same features the chapters use, so that a change that moves a verdict fails pytest, not only a notebook's prose.

* Fashion-MNIST CNN: the cached features of `offline_benchmark()` (the CNN trains once if it is not cached yet: about
  5 minutes in bf16 where the processor computes bf16 natively, about 16 minutes in fp32 elsewhere; `make test` runs
  the notebooks first, so it is cached by then). The committed CSV comes from the CNN trained in fp32 on an Intel Xeon
  (seed 0), recognised by its ID accuracy; the orderings that held for every CNN so far are asserted on whichever CNN
  this machine has, on notebook 20's protocol (percentiles from the held-out split, 9,000 scored test images).
* DenseNet-BC-100 on CIFAR-10 (the original images when available, else the lossy JPEG copy; `densenet_benchmark`):
  the reduced feature set the chapters run in CI (1,000 training images, 500 test images, 200 per OOD set). It needs
  the DICE checkpoint and CIFAR-10 images; without them these tests skip and say which file is missing.

Each assertion states its margin; the chapters judge the same claims with paired bootstrap intervals.
"""
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from line_nb.registry import build_detectors
from line_nb.benchmark import evaluate
from line_nb.line import LINe
from line_nb.clipping import clip_threshold_at_percentile
from line_nb.actprune import activation_masks
from line_nb.weightprune import weight_thresholds, weight_mask
from line_nb.contrib import classwise_mean, taylor_attributions, intgrad_attributions
from line_nb.metrics import metrics_table

RESULTS = Path(__file__).resolve().parents[1]/'nbs'/'results'
BAND = 0.5   # percentage points: the largest drift of an average from the committed CSV that is not a change of result


def averages(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.ood == 'average'].set_index('detector')[['FPR95', 'AUROC']]


# ---------------------------------------------------------------- Fashion-MNIST CNN
@pytest.fixture(scope='module')
def fashion():
    from line_nb.features import offline_benchmark
    return offline_benchmark()


@pytest.fixture(scope='module')
def fashion_table(fashion):
    """Every detector but ODIN (which perturbs images; see test_fashion_odin_beats_msp) on the Fashion-MNIST benchmark as
    notebook 20 runs it: percentile settings from the held-out validation split, the other 9,000 test images scored."""
    from line_nb.benchmark import validation_split
    val, test = validation_split(fashion.test)
    dets = build_detectors(fashion.backbone, val.features, 'fashion')
    dets.pop('ODIN')
    return evaluate(dets, fashion.train, test, fashion.oods)


def test_fashion_averages_stay_within_the_band_of_the_committed_csv(fashion_table):
    "Every detector's average FPR95 and AUROC within BAND points of nbs/results/benchmark_fashion.csv (ODIN excepted: its committed row used all images)."
    if not committed_cnn(fashion_table):
        pytest.skip("this machine's CNN (seed 0) is not the one behind nbs/results/benchmark_fashion.csv: its ID accuracy differs "
                    f"({fashion_table.id_accuracy.iloc[0]:.2f}% against {committed_accuracy():.2f}%). The CNN depends on the processor "
                    "(bf16 where native, else fp32, whose results differ between processors), so only its orderings are asserted here")
    committed = averages(pd.read_csv(RESULTS/'benchmark_fashion.csv')).drop('ODIN')
    ours = averages(fashion_table)
    assert sorted(ours.index) == sorted(committed.index)
    diff = (ours - committed.loc[ours.index]).abs()
    assert (diff.values <= BAND).all(), diff[(diff > BAND).any(axis=1)]
    assert abs(fashion_table.id_accuracy.iloc[0] - pd.read_csv(RESULTS/'benchmark_fashion.csv').id_accuracy.iloc[0]) < 0.05


def committed_accuracy() -> float:
    return float(pd.read_csv(RESULTS/'benchmark_fashion.csv').id_accuracy.iloc[0])


def committed_cnn(table) -> bool:
    "True when this machine's CNN is the one behind the committed results: the same ID accuracy on the same 9,000 scored images."
    return abs(float(table.id_accuracy.iloc[0]) - committed_accuracy()) < 1e-6


def test_fashion_orderings_as_the_chapter_states(fashion_table):
    "Notebook 20's verdicts on average FPR95 (lower is better) that held for every CNN trained so far (seed 0: bf16, and fp32 on two processors), each by at least 1 point."
    o = averages(fashion_table)['FPR95']
    holds = {'LINe beats DICE': o['DICE'] - o['LINe'], 'ReAct beats Energy': o['Energy'] - o['ReAct'], 'Energy beats MSP': o['MSP'] - o['Energy']}
    fails = {'LINe beats ReAct': o['ReAct'] - o['LINe'], 'LINe beats DICE+ReAct': o['DICE+ReAct'] - o['LINe'],
             'DICE+ReAct beats DICE and ReAct': min(o['DICE'], o['ReAct']) - o['DICE+ReAct']}
    assert all(m >= 1 for m in holds.values()), holds
    assert all(m <= -1 for m in fails.values()), fails
    assert o['KNN'] < o['LINe'] - 1 and o['Mahalanobis'] < o['LINe'] - 1          # README: KNN and Mahalanobis lead


def test_fashion_line_against_energy_is_undecided_on_the_committed_cnn(fashion_table):
    """Notebook 20 and the results page: on the committed CNN (seed 0, trained in fp32 on an Intel Xeon), LINe against Energy
    is undecided: the 95% paired bootstrap interval of the difference in average FPR95 contains 0 (+0.26 [-1.89, +2.25]).
    The verdict depends on the network: the earlier bf16-trained CNN gave LINe 56.41 against Energy 67.02, an AMD EPYC's
    fp32-trained one 49.32 against 48.32. Asserted on the committed CNN only; elsewhere the test skips and prints this machine's numbers."""
    from line_nb.metrics import bootstrap, paired_difference
    o = averages(fashion_table)
    if not committed_cnn(fashion_table):
        pytest.skip(f"the verdict is the committed CNN's; this machine's CNN gives LINe {o.loc['LINe', 'FPR95']:.2f} / {o.loc['LINe', 'AUROC']:.2f} "
                    f"against Energy {o.loc['Energy', 'FPR95']:.2f} / {o.loc['Energy', 'AUROC']:.2f} (FPR95 / AUROC)")
    lo, hi = paired_difference(bootstrap(fashion_table.attrs['scores'], n=1000, seed=0), 'LINe', 'Energy')
    assert lo < 0 < hi, (lo, hi)


def test_fashion_odin_beats_msp(fashion):
    "ODIN (T = 1000, eps = 0.0014) beats MSP, on the first 1,000 images of each set (as the chapter's CI path)."
    from line_nb.data import fashion_mnist, ImageTensors
    from line_nb.oodsets import ood_sets
    from line_nb.features import Features
    n = 1000
    head = lambda ds: ImageTensors(ds.images[:n], ds.labels[:n] if ds.labels is not None else None, name=f'{ds.name}[:{n}]')
    sub = lambda f: Features(f.features[:n], f.logits[:n], f.labels[:n], f.meta)
    ood_imgs = {k: ImageTensors(x, name=k) for k, x in ood_sets('gray28', seed=0).items()}
    dets = build_detectors(fashion.backbone, fashion.train.features, 'fashion', names=('ODIN', 'MSP'))
    df = evaluate(dets, fashion.train, sub(fashion.test), {k: sub(f) for k, f in fashion.oods.items()},
                       model=fashion.backbone, test_data=head(fashion_mnist('test')), ood_data={k: head(v) for k, v in ood_imgs.items()})
    o = averages(df)['FPR95']
    assert o['ODIN'] < o['MSP'] - 5, o


def line_ablations(head, train, test, oods, base):
    "Notebook 22's Table 3 (components on and off) and Tables 5-7 grid, from one fit of the class sums."
    fit0 = LINe(head, **base).fit_features(train.features, train.labels)
    avg = lambda d: metrics_table(d.score_features(test.features), {n: d.score_features(f.features) for n, f in oods.items()}, decimals=None).loc['average']
    t3 = {(ac, ap, wp): avg(fit0.with_settings(clip_threshold=base['clip_threshold'] if ac else None,
                                               act_prune_pct=base['act_prune_pct'] if ap else None,
                                               weight_prune_pct=base['weight_prune_pct'] if wp else None))['FPR95']
          for ac in (0, 1) for ap in (0, 1) for wp in (0, 1)}
    grid = {(pa, pw): avg(fit0.with_settings(act_prune_pct=pa, weight_prune_pct=pw))['FPR95'] for pa in (10, 30, 50, 70, 90) for pw in (10, 30, 50, 70, 90)}
    return fit0, t3, grid


def class_overlap(det) -> float:
    m = det.act_mask.float(); inter = m @ m.T; union = m.sum(1)[:, None] + m.sum(1)[None] - inter
    iou = inter / union
    return float(iou[~torch.eye(len(iou), dtype=torch.bool)].mean())


def taylor_equals_intgrad(det, train, pa, pw) -> bool:
    lin = torch.nn.Linear(det.num_features, det.num_classes)
    with torch.no_grad(): lin.weight.copy_(det.W); lin.bias.copy_(det.b)
    L = det.num_classes
    Ct = classwise_mean(taylor_attributions(lin, train.features, train.labels), train.labels, L)
    Ci = classwise_mean(intgrad_attributions(lin, train.features, train.labels, steps=20), train.labels, L)
    if not torch.equal(activation_masks(Ct, pa), activation_masks(Ci, pa)): return False
    tt, ti = weight_thresholds(Ct, det.W, pw), weight_thresholds(Ci, det.W, pw)
    return all(torch.equal(weight_mask(Ct, det.W, tt, l), weight_mask(Ci, det.W, ti, l)) for l in range(L))


def test_fashion_ablation_claims(fashion):
    "Notebook 22 on the CNN: clipping alone beats LINe; the grid's best cell is not 90/90; two components tie or beat three; class-specific neurons; Taylor = IntGrad."
    B = fashion
    base = dict(act_prune_pct=90., weight_prune_pct=90., clip_threshold=clip_threshold_at_percentile(B.train.features, 90))
    det, t3, grid = line_ablations(B.backbone, B.train, B.test, B.oods, base)
    energy, full = t3[0, 0, 0], t3[1, 1, 1]
    assert min(t3[k] for k in t3 if sum(k) == 2) <= full                         # ... but not every pair of components
    assert t3[1, 0, 0] < full                                                    # clipping alone beats LINe on the CNN
    assert not all(t3[k] < energy for k in t3 if sum(k) == 1)                    # not every component alone improves on Energy
    assert min(grid.values()) < grid[90, 90] - 1                                 # 90/90 is not the best cell
    assert class_overlap(det) < 0.5                                              # Table 8: class-specific
    assert taylor_equals_intgrad(det, B.train, 90., 90.)                         # Table 12


# ---------------------------------------------------------------- DenseNet-BC-100, CIFAR-10 (reduced, as in CI)
@pytest.fixture(scope='module')
def densenet():
    "The reduced DenseNet run of notebooks 21 and 22 (same cache names): the original CIFAR-10 when available, else the JPEG copy."
    from line_nb.densenet import find_dice_checkpoint, cifar10_source, densenet_benchmark
    try: find_dice_checkpoint('cifar10', download=False)
    except FileNotFoundError as e: pytest.skip(f"the DICE CIFAR-10 DenseNet checkpoint is not available offline: {e}")
    try: cifar10_source()
    except FileNotFoundError as e: pytest.skip(f"no CIFAR-10 images (neither the original nor the JPEG copy): {e}")
    return densenet_benchmark(train_every=50, test_every=20, ood_n=200)


def test_densenet_line_beats_energy_react_dice(densenet):
    "README and notebook 21: on the paper's DenseNet, LINe (official CIFAR-10 preset) beats Energy, ReAct and DICE on average FPR95."
    from line_nb.benchmark import validation_split
    val, test = validation_split(densenet.test)                  # as notebook 21: ReAct's percentile from held-out test images
    dets = build_detectors(densenet.backbone, val.features, 'cifar10', names=('Energy', 'ReAct', 'DICE', 'LINe'))
    o = averages(evaluate(dets, densenet.train, test, densenet.oods))['FPR95']
    for other in ('Energy', 'ReAct', 'DICE'): assert o['LINe'] < o[other] - 5, o


def test_densenet_ablation_claims(densenet):
    "Notebook 22 on the DenseNet: LINe beats Energy; not every pair of components is beaten; 90/90 is not the grid's best; class-specific; Taylor = IntGrad."
    base = dict(act_prune_pct=90., weight_prune_pct=90., clip_threshold=1.0)
    det, t3, grid = line_ablations(densenet.backbone, densenet.train, densenet.test, densenet.oods, base)
    assert t3[1, 1, 1] < t3[0, 0, 0] - 5
    assert min(t3[k] for k in t3 if sum(k) == 2) <= t3[1, 1, 1]
    assert min(grid.values()) < grid[90, 90]
    assert class_overlap(det) < 0.5
    assert taylor_equals_intgrad(det, densenet.train, 90., 90.)
