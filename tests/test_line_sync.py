"""LINe's scoring loop never waits on the device inside the per-class loop: every Python number it needs (thresholds,
kept columns, tiny-neuron columns) is computed once per fit (`_score_plan`), so a batch costs a constant number of
host-device synchronisations whatever the number of classes it predicts. Counted here on the CPU by patching the
Tensor methods that synchronise on a GPU (`item`, `tolist`, `__bool__`, `__float__`, `__int__`, `__index__`, `nonzero`);
this keeps the GPU path honest without a GPU."""
import contextlib
import pytest
import torch
from line_nb import LINe

SYNCING = ('item', 'tolist', '__bool__', '__float__', '__int__', '__index__', 'nonzero')


@contextlib.contextmanager
def counting_syncs():
    "Count calls of the synchronising Tensor methods inside the block."
    n, orig = [0], {m: getattr(torch.Tensor, m) for m in SYNCING}
    def wrap(f):
        def w(self, *a, **k): n[0] += 1; return f(self, *a, **k)
        return w
    for m, f in orig.items(): setattr(torch.Tensor, m, wrap(f))
    try: yield n
    finally:
        for m, f in orig.items(): setattr(torch.Tensor, m, f)


def batches(det, L):
    "Two batches of 40 rows: one predicting 2 classes, one predicting as many classes as the pool allows (at least 20)."
    g = torch.Generator().manual_seed(1)
    pool = torch.relu(torch.randn(4000, det.num_features, generator=g))
    pred = det.logits(pool if det.clip_threshold is None else pool.clamp(max=det.clip_threshold)).argmax(1)
    cls = pred.unique()
    few = torch.cat([(pred == c).nonzero()[:20, 0] for c in cls[:2]])
    firsts = torch.stack([(pred == c).nonzero()[0, 0] for c in cls])
    many = torch.cat([firsts, torch.arange(len(pool))])[:40]
    assert len(pred[few].unique()) == 2 and len(pred[many].unique()) >= 20
    return pool[few], pool[many]


@pytest.mark.parametrize('fused', [0, None], ids=['fused', 'loop'])   # the fused kernel for every class with few rows, or the loop only
@pytest.mark.parametrize('kw', [dict(), dict(act_prune_pct=10., weight_prune_pct=10., clip_threshold=0.8),
                                dict(mode='paper'), dict(act_prune_pct=None), dict(weight_prune_pct=None)])
def test_syncs_per_batch_do_not_grow_with_the_classes(kw, fused):
    L, q = 50, 64
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(L, q, generator=g) / 8, torch.randn(L, generator=g) * 0.1
    tr = torch.relu(torch.randn(2000, q, generator=g)); tr[:, 5] *= 1e-25                 # a neuron with tiny contributions
    det = LINe(W, b, **kw).fit_features(tr, torch.arange(2000) % L)
    det.fused_min_saving = fused
    few, many = batches(det, L)
    det.score_features(few)                                                              # the plan is built once, here
    with counting_syncs() as n_few: det.score_features(few)
    with counting_syncs() as n_many: s = det.score_features(many)
    assert n_few[0] == n_many[0] <= 8, (n_few[0], n_many[0])
    det.finalize()                                                                       # a new fit re-plans: same scores
    torch.testing.assert_close(det.score_features(many), s)


def test_plan_follows_the_state():
    "Loading another fit's state (or refitting) changes the plan; the scores follow the state, never a stale plan."
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(10, 16, generator=g), torch.randn(10, generator=g)
    x1, x2 = torch.rand(200, 16, generator=g), torch.rand(200, 16, generator=g) * 3
    y = torch.arange(200) % 10
    a, c = LINe(W, b).fit_features(x1, y), LINe(W, b).fit_features(x2, y)
    t = torch.rand(50, 16, generator=g)
    sa, sc = a.score_features(t), c.score_features(t)
    a.load_state_dict(c.state_dict())
    torch.testing.assert_close(a.score_features(t), sc)
    a.fit_features(x1, y)
    torch.testing.assert_close(a.score_features(t), sa)
