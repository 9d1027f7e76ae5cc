"""The pieces LINe is built from, each against an independent NumPy reference or a hand-computed case: contributions
(exact Shapley, Taylor, IntGrad, class means), activation masks, weight importance and its thresholds (the ranking
reference and the bisection), clipping, LINe's presets, state and explanation, and the metrics' remaining entry points."""
import re
import numpy as np
import pytest
import torch, torch.nn as nn
from hypothesis import given, settings, strategies as st
from line_nb.contrib import shapley_exact, taylor_attributions, intgrad_attributions, class_means, classwise_mean, contributions
from line_nb.actprune import activation_masks, check_mode
from line_nb.weightprune import weight_importance, weight_thresholds_direct, weight_thresholds_sorted, weight_thresholds, weight_mask
from line_nb.clipping import clip_activations, check_clip_threshold, clip_threshold_at_percentile
from line_nb.line import LINe, LINE_PRESETS, explain
from line_nb.metrics import accuracy, metrics_table, fpr_at_95_tpr_ood_positive, fpr_at_95_tpr_id_positive, check_tpr

FAST = settings(max_examples=60, deadline=None)


def linear(W, b):
    lin = nn.Linear(W.shape[1], W.shape[0])
    with torch.no_grad(): lin.weight.copy_(W); lin.bias.copy_(b)
    return lin


def rand(*shape, seed=0, scale=1.):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape).astype(np.float32) * scale)


# ---------------------------------------------------------------- contributions (notebook 11)
def test_shapley_exact_of_a_linear_function_is_input_times_weight():
    w, x = rand(6, seed=1).double(), rand(6, seed=2).double()
    phi = shapley_exact(lambda z: z.double() @ w + 3., x)
    torch.testing.assert_close(phi, x * w)
    base = rand(6, seed=3).double()
    torch.testing.assert_close(shapley_exact(lambda z: z.double() @ w, x, base), (x - base) * w)


def test_shapley_exact_hand_computed_interaction():
    "f(x) = x0 * x1 + x2: the product is shared equally, x2 is its own; efficiency holds."
    x = torch.tensor([2., 3., 5.])
    phi = shapley_exact(lambda z: z[:, 0] * z[:, 1] + z[:, 2], x)
    torch.testing.assert_close(phi, torch.tensor([3., 3., 5.], dtype=torch.float64))
    with pytest.raises(ValueError, match='q = 17 is too large'): shapley_exact(lambda z: z.sum(1), torch.ones(17))


def test_shapley_exact_efficiency_below_a_relu():
    W1, W2 = rand(5, 4, seed=4), rand(1, 5, seed=5)
    f = lambda z: (torch.relu(z @ W1.T) @ W2.T)[:, 0]
    x = rand(4, seed=6)
    assert abs(float(shapley_exact(f, x).sum()) - float(f(x[None]) - f(torch.zeros(1, 4)))) < 1e-5


def test_taylor_and_intgrad_equal_the_closed_form_on_a_linear_head():
    W, b = rand(3, 7, seed=7), rand(3, seed=8)
    h = torch.relu(rand(20, 7, seed=9)); y = torch.arange(20) % 3
    want = h * W[y]
    for per_sample in (False, True):
        torch.testing.assert_close(taylor_attributions(linear(W, b), h, y, per_sample=per_sample), want)
    for steps in (1, 5): torch.testing.assert_close(intgrad_attributions(linear(W, b), h, y, steps=steps), want)
    torch.testing.assert_close(intgrad_attributions(linear(W, b), h, y, steps=3, baseline=0.5), (h - 0.5) * W[y])
    with pytest.raises(ValueError, match='steps must be >= 1, got 0'): intgrad_attributions(linear(W, b), h, y, steps=0)


def test_intgrad_right_riemann_sum_below_a_relu():
    "Below a non-linearity IntGrad is a right Riemann sum of the gradient along the path: checked against that sum written out."
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)); torch.manual_seed(0)
    x = rand(5, 4, seed=10); y = torch.tensor([0, 1, 2, 0, 1])
    steps = 7; want = torch.zeros_like(x)
    for k in range(1, steps + 1):
        z = (k / steps * x).requires_grad_(True)
        net(z).gather(1, y[:, None]).sum().backward(); want += z.grad
    torch.testing.assert_close(intgrad_attributions(net, x, y, steps=steps), x * want / steps)
    big = intgrad_attributions(net, x, y, steps=400).sum(1)                     # efficiency, approximately, with many steps
    with torch.no_grad(): gap = net(x).gather(1, y[:, None])[:, 0] - net(torch.zeros_like(x)).gather(1, y[:, None])[:, 0]
    torch.testing.assert_close(big, gap, atol=2e-2, rtol=0)


def test_class_means_and_contributions_match_numpy():
    h = torch.relu(rand(40, 6, seed=11)); y = torch.from_numpy(np.random.default_rng(12).integers(0, 4, 40)); y[:4] = torch.arange(4)
    W = rand(4, 6, seed=13)
    mu_np = np.stack([h.numpy()[y.numpy() == l].mean(0) for l in range(4)])
    mu, counts = class_means(h, y, 4)
    np.testing.assert_allclose(mu.numpy(), mu_np, rtol=1e-6, atol=1e-7)
    assert counts.tolist() == np.bincount(y.numpy(), minlength=4).tolist()
    np.testing.assert_allclose(classwise_mean(h, y, 4).numpy(), mu_np, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(contributions(W, h, y).numpy(), mu_np * W.numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=re.escape('classes [4] have no samples')): class_means(h, y, 5)
    with pytest.raises(ValueError, match=re.escape('features contains NaN or inf (first bad rows: [2])')):
        class_means(h.index_fill(0, torch.tensor([2]), float('nan')), y, 4)
    with pytest.raises(ValueError, match=re.escape('labels must lie in [0, 3)')): class_means(h, y, 3)


# ---------------------------------------------------------------- activation masks (notebook 13)
def test_activation_masks_modes_and_none():
    C = torch.tensor([[-4., 1., 2., 3.], [0., -1., 5., -6.]])
    assert activation_masks(C, None).all() and activation_masks(C, None).shape == C.shape
    # official: signed; row 0 percentile 50 = 1.5 -> keep 2, 3; row 1 percentile 50 = -0.5 -> keep 0, 5
    assert activation_masks(C, 50.).tolist() == [[False, False, True, True], [True, False, True, False]]
    # paper: |C|; row 0 |.| = 4 1 2 3, p50 = 2.5 -> keep 4, 3; row 1 = 0 1 5 6, p50 = 3 -> keep 5, 6
    assert activation_masks(C, 50., mode='paper').tolist() == [[True, False, False, True], [False, False, True, True]]
    assert check_mode('paper') == 'paper'
    with pytest.raises(ValueError, match="mode must be 'official' or 'paper', got 'abs'"): activation_masks(C, 50., mode='abs')


# ---------------------------------------------------------------- weight pruning (notebook 14)
def np_thresholds(C, W, p, mode):
    C, W = np.asarray(C, np.float64), np.asarray(W, np.float64)
    Wm = W if mode == 'official' else np.abs(W)
    return np.array([np.percentile(np.abs(C[l])[None, :] * Wm, p) for l in range(len(C))])


@FAST
@given(seed=st.integers(0, 10**6), L=st.integers(1, 6), q=st.integers(1, 9), p=st.sampled_from([0., 10., 33.3, 50., 90., 99.5, 100.]),
       mode=st.sampled_from(['official', 'paper']), ints=st.booleans())
def test_weight_thresholds_sorted_equal_ranking_and_numpy(seed, L, q, p, mode, ints):
    rng = np.random.default_rng(seed)
    draw = (lambda *s: rng.integers(-3, 4, s).astype(np.float32)) if ints else (lambda *s: rng.normal(size=s).astype(np.float32))
    C, W = torch.from_numpy(draw(L, q)), torch.from_numpy(draw(L, q))
    direct = weight_thresholds_direct(C, W, p, mode)
    assert torch.equal(weight_thresholds_sorted(C, W, p, mode), direct)              # bisection = ranking, bit for bit
    assert torch.equal(weight_thresholds(C, W, p, mode), direct)                     # 'auto' picks the sorted path for float32
    np.testing.assert_allclose(direct.numpy(), np_thresholds(C, W, p, mode), rtol=1e-6, atol=1e-6)
    chunked = weight_thresholds_direct(C, W, p, mode, max_entries=1)                # one class at a time
    assert torch.equal(chunked, direct)
    sub = torch.tensor([L - 1, 0])
    assert torch.equal(weight_thresholds_direct(C, W, p, mode, classes=sub), direct[sub])


def test_weight_importance_mask_and_dispatch():
    C = torch.tensor([[1., -2.], [0.5, 0.]]); W = torch.tensor([[3., -1.], [-2., 4.]])
    imp = weight_importance(C, W, torch.tensor([0, 1]))
    assert imp.tolist() == [[[3., -2.], [-2., 8.]], [[1.5, 0.], [-1., 0.]]]
    assert weight_importance(C, W, torch.tensor([0]), mode='paper').tolist() == [[[3., 2.], [2., 8.]]]
    thr = weight_thresholds(C, W, 50.)
    for l in range(2): assert torch.equal(weight_mask(C, W, thr, l), imp[l] > thr[l])
    C64, W64 = C.double(), W.double()
    assert torch.equal(weight_thresholds(C64, W64, 50.), weight_thresholds_direct(C64, W64, 50.))   # 'auto' ranks float64
    with pytest.raises(TypeError, match='weight_thresholds_sorted needs float32'): weight_thresholds_sorted(C64, W64, 50.)
    with pytest.raises(ValueError, match="method must be 'auto', 'sorted' or 'direct', got 'fast'"): weight_thresholds(C, W, 50., method='fast')
    with pytest.raises(ValueError, match='not finite'): weight_thresholds_sorted(C, W.index_fill(0, torch.tensor([0]), float('inf')), 50.)
    assert torch.equal(weight_thresholds(C, W, 50., method='direct'), weight_thresholds(C, W, 50., method='sorted'))


# ---------------------------------------------------------------- clipping (notebook 12)
def test_clipping():
    h = torch.tensor([[0., 0.5, 2.], [3., -1., 1.]])
    assert clip_activations(h, None) is h
    assert clip_activations(h, 1).tolist() == [[0., 0.5, 1.], [1., -1., 1.]]
    assert check_clip_threshold(np.float32(0.5)) == 0.5 and check_clip_threshold(None) is None
    for bad in (float('nan'), float('inf'), '1', True, [1.]):
        with pytest.raises(ValueError, match='clip_threshold must be a finite number or None'): check_clip_threshold(bad)
    x = rand(30, 5, seed=14)
    for p in (0, 37.5, 90, 100): assert abs(clip_threshold_at_percentile(x, p) - np.percentile(x.numpy(), p)) < 1e-6
    assert clip_threshold_at_percentile(x) == clip_threshold_at_percentile(x, 90)


# ---------------------------------------------------------------- LINe's presets, state, explanation (notebook 15)
def line_data():
    W, b = rand(3, 6, seed=15), rand(3, seed=16)
    x = torch.relu(rand(30, 6, seed=17)) + 0.1; y = torch.arange(30) % 3
    return W, b, x, y


def test_line_presets_are_the_official_scripts():
    assert LINE_PRESETS == {'cifar10': dict(act_prune_pct=90., weight_prune_pct=90., clip_threshold=1.0),
                            'cifar100': dict(act_prune_pct=10., weight_prune_pct=90., clip_threshold=1.0),
                            'imagenet': dict(act_prune_pct=10., weight_prune_pct=10., clip_threshold=0.8)}
    W, b, _, _ = line_data()
    d = LINe.from_preset(W, b)                                                   # the default preset is CIFAR-10
    assert (d.act_prune_pct, d.weight_prune_pct, d.clip_threshold, d.mode) == (90., 90., 1.0, 'official')
    x, y = torch.relu(rand(12, 6, seed=18)), torch.arange(12) % 3
    for preset, kw in LINE_PRESETS.items():                                       # the same detector as spelling the preset out
        got = LINe.from_preset(W, b, preset).fit_features(x, y).score_features(x)
        assert torch.equal(got, LINe(W, b, **kw).fit_features(x, y).score_features(x)), preset
    d = LINe.from_preset(W, b, 'imagenet', clip_threshold=0.6, mode='paper')
    assert (d.act_prune_pct, d.weight_prune_pct, d.clip_threshold, d.mode) == (10., 10., 0.6, 'paper')
    d = LINe(W, b)
    assert (d.act_prune_pct, d.weight_prune_pct, d.clip_threshold, d.mode) == (90., 90., 1.0, 'official')
    assert repr(d).endswith("(q=6, L=3, act_prune_pct=90.0, weight_prune_pct=90.0, clip_threshold=1.0, mode='official')")


def test_line_state_and_refit():
    W, b, x, y = line_data()
    d = LINe(W, b, act_prune_pct=50., weight_prune_pct=70., clip_threshold=0.8, mode='paper')
    assert d.get_extra_state() == {'act_prune_pct': 50., 'weight_prune_pct': 70., 'clip_threshold': 0.8, 'mode': 'paper'}
    with pytest.raises(RuntimeError, match='has no class sums: fit it first'): d.with_settings(act_prune_pct=10.)
    d.fit_features(x, y)
    assert bool(d.fitted) and d.class_counts.tolist() == [10, 10, 10]
    torch.testing.assert_close(d.class_sums, torch.stack([x[y == l].double().sum(0) for l in range(3)]))
    other = LINe(W, b, act_prune_pct=50., weight_prune_pct=70., clip_threshold=0.8)
    with pytest.raises(ValueError, match=re.escape("mode: saved 'paper', this LINe 'official'")): other.load_state_dict(d.state_dict())
    e = d.with_settings(mode='official')                                          # other settings, the same sums
    assert e.mode == 'official' and e.act_prune_pct == 50. and torch.equal(e.class_sums, d.class_sums)
    d.accumulate(x[:3], y[:3])
    assert not bool(d.fitted) and d.class_counts.tolist() == [11, 11, 11]
    d.reset()
    assert int(d.class_counts.sum()) == 0 and not bool(d.fitted) and not d.class_sums.any()
    with pytest.raises(ValueError, match=re.escape('classes [0, 1, 2] have no training samples')): d.finalize()
    with pytest.raises(ValueError, match='LINe needs the training labels'): LINe(W, b).fit_features(x)
    assert LINe(W, b, weight_prune_pct=None).fit_features(x, y).weight_mask(1).all()


def test_line_weight_mask_and_explain():
    W, b, x, y = line_data()
    d = LINe(W, b, act_prune_pct=50., weight_prune_pct=60., clip_threshold=1.0).fit_features(x, y)
    mu = torch.stack([x[y == l].mean(0) for l in range(3)]); C = mu * W
    torch.testing.assert_close(d.contrib, C)
    for l in range(3):
        imp = C[l].abs()[None] * W
        assert torch.equal(d.weight_mask(l), imp > torch.quantile(imp.double().flatten(), 0.6).float())
    h = x[4]
    df = explain(d, h)
    l = int(d.logits(clip_activations(h[None], 1.0)).argmax())
    idx = d.act_mask[l].nonzero()[:, 0].tolist()
    assert df.attrs['predicted_class'] == l and sorted(df['neuron']) == idx
    assert df['contribution C[l, i]'].is_monotonic_decreasing
    assert abs(df.attrs['score'] - float(d.score_features(h[None])[0])) < 1e-6
    assert abs(df.attrs['mass_on_important'] - float(h[idx].sum() / h.sum())) < 1e-6
    row = df.set_index('neuron').loc[idx[0]]
    assert abs(row['this input h[i]'] - float(h[idx[0]])) < 1e-6 and abs(row['class mean mu_l[i]'] - float(mu[l, idx[0]])) < 1e-6
    assert abs(row['relative to class mean'] - float(h[idx[0]] / mu[l, idx[0]])) < 1e-4 and bool(row['fired']) == bool(h[idx[0]] > 0)
    with pytest.raises(RuntimeError, match='LINe is not fitted'): explain(LINe(W, b), h)


def test_line_neurons_with_tiny_contributions():
    "A neuron whose |C[l, i]| is below 2^-60 is not divided by (h / |C| could overflow): its weights are masked as written."
    from test_line_reference import line_reference
    W = torch.tensor([[1., 2., -1.], [0.5, -1., 1.]]); b = torch.tensor([0.1, -0.2])
    x = torch.tensor([[1., 1e-20, 1.], [1., 1e-20, 2.], [2., 0., 1.], [1., 1e-19, 0.5]]); y = torch.tensor([0, 0, 1, 1])
    q = torch.tensor([[1., 3e18, 0.5], [0.2, 1e19, 1.], [2., 0., 0.]])
    for pw in (0., 20., 50., 80.):
        d = LINe(W, b, act_prune_pct=None, weight_prune_pct=pw, clip_threshold=None).fit_features(x, y)
        assert (d.contrib.abs() < 2.0 ** -60).any() and (d.contrib != 0).all()
        np.testing.assert_allclose(d.score_features(q).double().numpy(),
                                   line_reference(W.numpy(), b.numpy(), x.numpy(), y.numpy(), q.numpy(), None, pw, None), rtol=1e-5)


# ---------------------------------------------------------------- metrics' remaining entry points (notebook 05)
def test_accuracy_hand_computed():
    assert accuracy(torch.tensor([[0., 1.], [2., 1.], [0., 3.]]), torch.tensor([1, 0, 0])) == 2 / 3
    assert accuracy(np.array([1, 2, 2, 0]), np.array([1, 2, 0, 0])) == 0.75
    assert accuracy(torch.tensor([3]), torch.tensor([3])) == 1.0


def test_metrics_table_default_rounding_and_tpr():
    rng = np.random.default_rng(0)
    i, o = rng.normal(1, 1, 200), {'a': rng.normal(0, 1, 150), 'b': rng.normal(-1, 1, 90)}
    t, full = metrics_table(i, o), metrics_table(i, o, decimals=None)
    assert t.equals(full.round(2)) and not full.equals(full.round(2))
    i, o = np.arange(10.), np.arange(10.) - 3.5
    assert fpr_at_95_tpr_ood_positive(i, o, tpr=0.5) == 0.1     # flag the 5 lowest OOD (score <= 0.5): ID rejected = {0} -> 1/10
    assert fpr_at_95_tpr_id_positive(i, o, tpr=0.8) == 0.4      # thr = sorted(ID)[round(0.2 * 10)] = 2: OOD above = 2.5 .. 5.5 -> 4/10
    assert check_tpr(1) == 1.0 and isinstance(check_tpr(np.float32(0.5)), float)


# ---------------------------------------------------------------- behaviours the first mutation run (make mutate) found unpinned
def test_masks_and_counts_have_their_dtypes():
    "Masks are boolean and counts are integers, also when a step is switched off (a float mask of ones would score the same)."
    W, b, x, y = line_data()
    assert activation_masks(W, None).dtype == torch.bool
    d = LINe(W, b, act_prune_pct=None, weight_prune_pct=None, clip_threshold=None)
    assert d.weight_mask(0).dtype == torch.bool and d.act_mask.dtype == torch.bool
    assert d.class_counts.dtype == torch.int64 and d.class_sums.dtype == torch.float64
    d.fit_features(x, y)
    assert d.act_mask.dtype == torch.bool and d.class_counts.dtype == torch.int64 and d.class_counts.tolist() == [10, 10, 10]


def test_error_messages_name_the_argument():
    "Each check names the argument the caller passed, so the message says what to fix."
    W, b, x, y = line_data()
    with pytest.raises(ValueError, match='act_prune_pct'): activation_masks(W, 120.)
    with pytest.raises(ValueError, match='weight_prune_pct'): weight_thresholds_direct(W, W, 120.)
    with pytest.raises(ValueError, match='train features'): LINe(W, b).accumulate(torch.full((2, 6), float('nan')), torch.tensor([0, 1]))
    head = linear(W, b)
    with pytest.raises(ValueError, match='features'): taylor_attributions(head, torch.full((2, 6), float('nan')), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels'): taylor_attributions(head, x, y[:5])


def test_weight_thresholds_auto_dispatch(monkeypatch):
    "'auto' ranks with the bisection for float32 heads and with the direct ranking otherwise; an explicit method is obeyed."
    import line_nb.weightprune as wp
    calls = []
    for name in ('weight_thresholds_sorted', 'weight_thresholds_direct'):
        f = getattr(wp, name)
        monkeypatch.setattr(wp, name, lambda *a, _f=f, _n=name, **k: (calls.append(_n), _f(*a, **k))[1])
    C, W = rand(3, 5, seed=1), rand(3, 5, seed=2)
    for args, method, want in [((C, W), 'auto', 'sorted'), ((C.double(), W.double()), 'auto', 'direct'),
                               ((C, W), 'sorted', 'sorted'), ((C, W), 'direct', 'direct')]:
        calls.clear(); wp.weight_thresholds(*args, 50., method=method)
        assert calls == [f'weight_thresholds_{want}'], (method, calls)


def test_paper_mode_weight_masks():
    "In the paper's wording the weight importance uses |W|: the function and LINe's method both pass the mode on."
    W, b, x, y = line_data()
    C = class_means(x, y, 3)[0] * W
    thr = weight_thresholds(C, W, 60., mode='paper')
    for l in range(3):
        want = C[l].abs()[None] * W.abs() > thr[l]
        assert torch.equal(weight_mask(C, W, thr, l, 'paper'), want)
        assert not torch.equal(want, C[l].abs()[None] * W > thr[l])              # the modes differ on this head
    d = LINe(W, b, act_prune_pct=None, weight_prune_pct=60., clip_threshold=None, mode='paper').fit_features(x, y)
    for l in range(3): assert torch.equal(d.weight_mask(l), C[l].abs()[None] * W.abs() > d.weight_thr[l])


def test_intgrad_default_steps_and_a_baseline_below_a_relu():
    "IntGrad's default is the paper's m = 20 steps; with a non-zero baseline the path runs from the baseline to x."
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)); torch.manual_seed(0)
    x = rand(5, 4, seed=10); y = torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(intgrad_attributions(net, x, y), intgrad_attributions(net, x, y, steps=20), rtol=0, atol=0)
    base, steps, want = 0.7, 5, torch.zeros_like(x)
    for k in range(1, steps + 1):
        z = (base + k / steps * (x - base)).requires_grad_(True)
        net(z).gather(1, y[:, None]).sum().backward(); want += z.grad
    torch.testing.assert_close(intgrad_attributions(net, x, y, steps=steps, baseline=base), (x - base) * want / steps)


def test_line_fit_in_chunks_of_65536_rows():
    "fit_features adds large training sets in chunks of 65,536 rows: every row counts once, whatever the chunking."
    n = 2 * 65536 + 3
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 2, generator=g); y = torch.randint(0, 2, (n,), generator=g)
    d = LINe(torch.eye(2), torch.zeros(2), act_prune_pct=None, weight_prune_pct=None, clip_threshold=None).fit_features(x, y)
    assert d.class_counts.tolist() == torch.bincount(y, minlength=2).tolist()
    torch.testing.assert_close(d.class_sums, torch.zeros(2, 2, dtype=torch.float64).index_add_(0, y, x.double()))


@pytest.mark.parametrize('mode', ['official', 'paper'])
def test_line_tiny_contributions_in_both_modes(mode):
    "The path for neurons with 0 < |C[l, i]| < 2^-60 keeps the mode's importance (W or |W|) and the strict '>' of Eq. 7."
    from test_line_reference import line_reference
    # neuron 1 has tiny contributions; the head has zeros (importance exactly 0) and negative weights in that column,
    # so some threshold lands between a negative and a positive tiny importance, or on a tiny one exactly
    heads = [torch.tensor([[1., 2., -1., 0.], [0.5, -1., 1., 0.], [0., 1.5, -2., 1.]]),
             torch.tensor([[1., 1., -1., 0.], [0.5, -1., 1., 0.], [0., 1., -2., 1.]])]   # |W| equal down the tiny column: tied importances
    b = torch.tensor([0.1, -0.2, 0.05])
    s = 2.0 ** -70                                                              # powers of two: exact in float32
    x = torch.tensor([[1., s, 1., 1.], [1., 2 * s, 2., 0.], [2., s, 1., 1.], [1., 4 * s, 0.5, 2.], [1., s, 1., 3.], [0., 2 * s, 2., 1.]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    q = torch.tensor([[1., 3., 0.5, 1.], [0.2, 2., 1., 0.], [2., 1., 0., 2.], [0., 4., 1., 1.]])
    seen = set()
    for W, pw in [(W, pw) for W in heads for pw in (0., 10., 20., 30., 40., 50., 60., 70., 80., 90.)]:
        d = LINe(W, b, act_prune_pct=None, weight_prune_pct=pw, clip_threshold=None, mode=mode).fit_features(x, y)
        assert ((d.contrib.abs() < 2.0 ** -60) & (d.contrib != 0)).any()
        ref = line_reference(W.numpy(), b.numpy(), x.numpy(), y.numpy(), q.numpy(), None, pw, None, mode)
        d.fused_min_saving = 0                                                  # the fused kernel
        np.testing.assert_allclose(d.score_features(q).double().numpy(), ref, rtol=1e-6)
        d.fused_min_saving = None                                               # the loop, with its tiny-column path
        got = d.score_features(q).double().numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-6)
        seen.add(tuple(np.round(got, 4)))
    assert len(seen) > 3                                                        # the thresholds do prune differently


def test_fpr_id_positive_at_extreme_tpr():
    "The threshold's index is capped at the last ID score: at a tiny TPR only OOD scores above the highest ID score pass."
    i, o = np.arange(10.), np.arange(10.) + 0.5
    assert fpr_at_95_tpr_id_positive(i, o, tpr=0.01) == 0.1                     # round(0.99 * 10) = 10 -> capped at 9
    assert fpr_at_95_tpr_id_positive(i, o, tpr=0.1) == 0.1                      # index 9: threshold 9, only 9.5 passes
    assert fpr_at_95_tpr_id_positive(i, o, tpr=0.2) == 0.2                      # index 8
    assert fpr_at_95_tpr_id_positive(i, o, tpr=1.0) == 1.0                      # index 0: threshold 0, all of 0.5..9.5 pass


@pytest.mark.parametrize('mode', ['official', 'paper'])
def test_line_edge_columns_under_column_subsets(mode):
    """The scorer's special columns, where they meet: activation pruning keeps few neurons (so only their columns are used,
    re-indexed), and among them a neuron with tiny contributions (below 2^-60), one with contributions of exactly 2^-60
    (the boundary), and, for class 0, a neuron that never fires (|C| = 0) under thresholds that may be negative and tiny."""
    from test_line_reference import line_reference
    s = 2.0 ** -70
    #              neg   big   big   tiny  2^-60 zero@0 neg   neg
    W = torch.tensor([[-1., 2., 1., -1., 1., 1., -2., -1.],
                      [-2., 1., 2., 1., 1., -1., -1., -2.],
                      [-1., 1., 1., 2., 1., 2., -1., -1.]])
    b = torch.tensor([0.1, -0.1, 0.])
    rows, y = [], []
    for l in range(3):
        for r in range(4):
            rows.append([1. + r, 2., 1. + l, (1 + r) * s, 2.0 ** -60, 0. if l == 0 else 1. + r, 1., 2.]); y.append(l)
    x, y = torch.tensor(rows), torch.tensor(y)
    q = torch.randint(0, 5, (60, 8), generator=torch.Generator().manual_seed(0)).float() / 2   # inputs predicted as every class
    assert set((q @ W.T + b).argmax(1).tolist()) == {0, 1, 2}
    from line_nb.line import _score_plan
    checked = {'subset with tiny': False, 'negative tiny threshold': False}
    for pa in (50., 60.):
        for pw in [i * 2.5 for i in range(41)]:
            d = LINe(W, b, act_prune_pct=pa, weight_prune_pct=pw, clip_threshold=None, mode=mode).fit_features(x, y)
            ref = line_reference(W.numpy(), b.numpy(), x.numpy(), y.numpy(), q.numpy(), pa, pw, None, mode)
            for fused in (0, None):                                             # the fused kernel, then the loop
                d.fused_min_saving = fused
                np.testing.assert_allclose(d.score_features(q).double().numpy(), ref, rtol=1e-6)
            p = _score_plan(d)
            checked['subset with tiny'] |= any(c is not None and t is not None and len(t) > 0 and l in (q @ W.T + b).argmax(1).tolist()
                                               for l, (c, t) in enumerate(zip(p['cols'], p['tiny'])))   # and some input predicted as that class
            checked['negative tiny threshold'] |= bool(((d.weight_thr < 0) & (d.weight_thr > -2.0 ** -55)).any())
    if mode == 'official': assert all(checked.values()), checked   # |.| in the paper's wording: no negative importance, tiny ranks last
