"""LINe and the detectors it is measured against, checked against small per-sample references written from the
official code's semantics (LINe, DICE, ReAct) and the papers' definitions (ASH, SCALE), independent of line_nb's scorers.

The LINe reference follows the released code step by step, one sample at a time, in float64 NumPy:
  * contributions (Eq. 4-5): the class-wise mean, over training samples of each TRUE label, of the unclipped feature
    times the weight of that class, `C[l, i] = mean_{y(x) = l} h(x)_i W[l, i]`;
  * activation pruning (Eq. 6): `m_l = C[l] > np.percentile(C[l], p_a)` (|C[l]| in the paper's wording), strict;
  * weight pruning (Eq. 7): `M = |C[l]| * W` (|W| in the paper's wording) over all L*q entries, mask `M > np.percentile(M, p_w)`;
  * the class `l` is the argmax of the CLIPPED features through the unpruned head (bias included);
  * Eq. 8: `logits = (W * M_w^l) @ (m_l * min(h, delta)) + b`, the bias never masked; score = logsumexp(logits).
Features and heads are small integers and class counts are powers of two, so every contribution and every importance
is exact in float32 and float64 alike: ties are frequent, which is where `>` and `>=` part, and a difference between
line_nb and the reference is a difference of semantics, never of rounding.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck, assume
from line_nb import LINe, DICE, ReAct, ASH, SCALE, DICEReAct

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = dict(rtol=1e-5, atol=1e-4)


def logsumexp(z):
    m = z.max()
    return m + np.log(np.exp(z - m).sum())


# ---------------------------------------------------------------- the references
def line_reference(W, b, train_x, train_y, x, p_a, p_w, delta, mode='official'):
    "LINe's score of every row of `x`, one sample at a time, as the official code computes it (float64)."
    W, b, train_x, x = (np.asarray(a, np.float64) for a in (W, b, train_x, x))
    L, q = W.shape
    mu = np.stack([train_x[train_y == l].mean(0) for l in range(L)])           # class-wise means over TRUE labels
    C = mu * W                                                                  # Eq. 5, closed form of the Taylor term
    out = []
    for h in x:
        hc = h if delta is None else np.minimum(h, delta)                       # Eq. 3
        l = int(np.argmax(W @ hc + b))                                          # predicted from clipped features
        if p_a is None: m = np.ones(q, bool)
        else:
            c = C[l] if mode == 'official' else np.abs(C[l])
            m = c > np.percentile(c, p_a)                                       # Eq. 6
        if p_w is None: Mw = np.ones((L, q), bool)
        else:
            M = np.abs(C[l])[None, :] * (W if mode == 'official' else np.abs(W))
            Mw = M > np.percentile(M, p_w)                                      # Eq. 7
        out.append(logsumexp((W * Mw) @ (m * hc) + b))                          # Eq. 8, energy
    return np.array(out)


def dice_reference(W, b, train_x, x, p):
    "DICE (Sun & Li, 2022; deeplearning-wisc/dice): one mask from the mean feature over the whole ID training set."
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    contrib = np.asarray(train_x, np.float64).mean(0)[None, :] * W
    Wm = W * (contrib > np.percentile(contrib, p))
    return np.array([logsumexp(Wm @ h + b) for h in np.asarray(x, np.float64)])


def react_reference(W, b, train_x, x, pct=None, threshold=None):
    "ReAct (Sun et al., 2021): energy of features clipped at the pct-th percentile of all ID activations (or a given threshold)."
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    t = np.percentile(np.asarray(train_x, np.float64).ravel(), pct) if threshold is None else threshold
    return np.array([logsumexp(W @ np.minimum(h, t) + b) for h in np.asarray(x, np.float64)])


def _kept(h, pct):
    "Indices of the k largest entries of h, k = q - round(q * pct / 100) (ASH's rule)."
    q = len(h); k = q - int(np.round(q * pct / 100))
    return np.argsort(-h, kind='stable')[:k], k


def ash_reference(W, b, x, pct, variant):
    "ASH (Djurisic et al., 2023), per sample: keep the top k activations, then prune (p), binarise (b) or scale (s)."
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    out = []
    for h in np.asarray(x, np.float64):
        idx, k = _kept(h, pct)
        s1 = h.sum(); z = np.zeros_like(h)
        if variant == 'p': z[idx] = h[idx]
        elif variant == 'b': z[idx] = s1 / k
        else:
            s2 = h[idx].sum()
            z[idx] = h[idx] * np.exp(s1 / s2 if s2 > 0 else 0.)
        out.append(logsumexp(W @ z + b))
    return np.array(out)


def scale_reference(W, b, x, pct):
    "SCALE (Xu et al., 2024), per sample: every activation times exp(sum / sum of the top k)."
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    out = []
    for h in np.asarray(x, np.float64):
        idx, _ = _kept(h, pct)
        s2 = h[idx].sum()
        out.append(logsumexp(W @ (h * np.exp(h.sum() / s2 if s2 > 0 else 0.)) + b))
    return np.array(out)


# ---------------------------------------------------------------- the data: small integers, exact means
PCTS = st.one_of(st.sampled_from([0., 10., 50., 90., 100.]), st.integers(0, 200).map(lambda k: k / 2))


@st.composite
def problems(draw):
    "A head, training features with TRUE labels (each class 2^j samples: exact means) and test features, all small integers."
    L = draw(st.integers(2, 5)); q = draw(st.integers(2, 9))
    per = draw(st.sampled_from([1, 2, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = rng.integers(-3, 4, (L, q)).astype(np.float32)
    b = rng.integers(-2, 3, L).astype(np.float32)
    train_y = rng.permutation(np.repeat(np.arange(L), per))
    train_x = rng.integers(0, 5, (L * per, q)).astype(np.float32)
    x = rng.integers(0, 5, (draw(st.integers(1, 12)), q)).astype(np.float32)
    return W, b, train_x, train_y, x


@SETTINGS
@given(prob=problems(), p_a=st.one_of(st.none(), PCTS), p_w=st.one_of(st.none(), PCTS),
       delta=st.sampled_from([None, 1.0, 2.0, 2.5, 3.0]), mode=st.sampled_from(['official', 'paper']))
def test_line_equals_the_per_sample_reference(prob, p_a, p_w, delta, mode):
    W, b, tx, ty, x = prob
    det = LINe(torch.from_numpy(W), torch.from_numpy(b), act_prune_pct=p_a, weight_prune_pct=p_w, clip_threshold=delta,
               mode=mode).fit_features(torch.from_numpy(tx), torch.from_numpy(ty))
    ref = line_reference(W, b, tx, ty, x, p_a, p_w, delta, mode)
    for fused in (0, None):                                  # the fused kernel for every class with few rows, then the loop only
        det.fused_min_saving = fused
        np.testing.assert_allclose(det.score_features(torch.from_numpy(x)).double().numpy(), ref, **TOL)


@SETTINGS
@given(prob=problems(), p_a=st.one_of(st.none(), PCTS), p_w=st.one_of(st.none(), PCTS),
       delta=st.sampled_from([None, 1.0, 2.5]), mode=st.sampled_from(['official', 'paper']))
def test_line_streamed_and_refitted_equal_the_reference(prob, p_a, p_w, delta, mode):
    "fit_stream over chunks and with_settings from another fit give the same scores as the reference."
    W, b, tx, ty, x = prob
    ref = line_reference(W, b, tx, ty, x, p_a, p_w, delta, mode)
    Wt, bt = torch.from_numpy(W), torch.from_numpy(b)
    chunks = [(torch.from_numpy(tx[i:i + 3]), torch.from_numpy(ty[i:i + 3])) for i in range(0, len(tx), 3)]
    streamed = LINe(Wt, bt, act_prune_pct=p_a, weight_prune_pct=p_w, clip_threshold=delta, mode=mode).fit_stream(chunks)
    np.testing.assert_allclose(streamed.score_features(torch.from_numpy(x)).double().numpy(), ref, **TOL)
    other = LINe(Wt, bt, act_prune_pct=50., weight_prune_pct=None, clip_threshold=None).fit_features(torch.from_numpy(tx), torch.from_numpy(ty))
    refit = other.with_settings(act_prune_pct=p_a, weight_prune_pct=p_w, clip_threshold=delta, mode=mode)
    np.testing.assert_allclose(refit.score_features(torch.from_numpy(x)).double().numpy(), ref, **TOL)


def test_line_hand_computed_tie():
    "A tie at the percentile: with `>` the neuron equal to the threshold is pruned; `>=` would keep it and change the score."
    W = np.array([[1., 1., 1., 1.], [0., 0., 0., 0.]], np.float32); b = np.zeros(2, np.float32)
    tx = np.array([[1., 2., 2., 3.], [0., 0., 0., 0.]], np.float32); ty = np.array([0, 1])
    x = np.array([[1., 1., 1., 1.]], np.float32)
    # C[0] = [1, 2, 2, 3]; np.percentile(C[0], 50) = 2: kept = {3} only (2 is not > 2). Logits (1, 0): log(e + 1).
    det = LINe(torch.from_numpy(W), torch.from_numpy(b), act_prune_pct=50., weight_prune_pct=None, clip_threshold=None)
    s = det.fit_features(torch.from_numpy(tx), torch.from_numpy(ty)).score_features(torch.from_numpy(x))
    assert abs(float(s[0]) - np.log(np.e + 1)) < 1e-6
    assert abs(float(s[0]) - line_reference(W, b, tx, ty, x, 50., None, None)[0]) < 1e-6


def test_line_fits_on_true_labels_not_predictions():
    "Every class is predicted on the training set, but never for its own label: a fit on predictions would not crash, it would give other scores."
    L = 3
    W = np.eye(L, dtype=np.float32) * 2 + 1; b = np.zeros(L, np.float32)
    tx = np.repeat(np.eye(L, dtype=np.float32) * 3, 2, axis=0) + np.arange(2 * L, dtype=np.float32)[:, None] % 2
    preds = (tx @ W.T).argmax(1)
    ty = (preds + 1) % L                                                        # true labels: always another class
    assert set(preds.tolist()) == set(range(L)) and (ty != preds).all()
    x = np.array([[3., 1., 0.], [0., 2., 1.], [1., 0., 4.]], np.float32)
    det = LINe(torch.from_numpy(W), torch.from_numpy(b), act_prune_pct=50., weight_prune_pct=50., clip_threshold=None)
    got = det.fit_features(torch.from_numpy(tx), torch.from_numpy(ty)).score_features(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(got, line_reference(W, b, tx, ty, x, 50., 50., None), **TOL)
    wrong = line_reference(W, b, tx, preds, x, 50., 50., None)
    assert np.abs(got - wrong).max() > 1e-3                                    # the test can tell the two apart


def test_line_bias_is_never_masked_and_prediction_uses_clipped_features():
    "Hand-built: the unclipped features predict class 1, the clipped ones class 0; the bias survives weight pruning."
    W = np.array([[2., 0.], [0., 1.]], np.float32); b = np.array([0.5, -0.25], np.float32)
    tx = np.array([[1., 0.], [0., 1.]], np.float32); ty = np.array([0, 1])
    x = np.array([[1., 10.]], np.float32)
    # clipped at 1: logits (2.5, 0.75) -> class 0; unclipped: (2.5, 9.75) -> class 1.
    # C[0] = [2, 0]; p_a = 0 keeps C > 0 -> neuron 0. p_w = 99: M = |C[0]| * W = [[4, 0], [0, 0]] keeps only W[0, 0].
    # logits = (2 * 1 + 0.5, -0.25): score log(e^2.5 + e^-0.25).
    det = LINe(torch.from_numpy(W), torch.from_numpy(b), act_prune_pct=0., weight_prune_pct=99., clip_threshold=1.)
    s = float(det.fit_features(torch.from_numpy(tx), torch.from_numpy(ty)).score_features(torch.from_numpy(x))[0])
    assert abs(s - np.log(np.exp(2.5) + np.exp(-0.25))) < 1e-6
    assert abs(s - line_reference(W, b, tx, ty, x, 0., 99., 1.)[0]) < 1e-6


# ---------------------------------------------------------------- DICE, ReAct, DICE+ReAct, ASH, SCALE
@SETTINGS
@given(prob=problems(), p=PCTS)
def test_dice_equals_reference(prob, p):
    W, b, tx, ty, x = prob
    assume(len(tx) in (1, 2, 4, 8, 16))                                         # the overall mean is exact
    got = DICE(torch.from_numpy(W), torch.from_numpy(b), p=p).fit_features(torch.from_numpy(tx)).score_features(torch.from_numpy(x))
    np.testing.assert_allclose(got.double().numpy(), dice_reference(W, b, tx, x, p), **TOL)


@SETTINGS
@given(prob=problems(), pct=PCTS, threshold=st.sampled_from([None, 1.0, 2.5]))
def test_react_and_dice_react_equal_reference(prob, pct, threshold):
    W, b, tx, ty, x = prob
    Wt, bt = torch.from_numpy(W), torch.from_numpy(b)
    got = ReAct(Wt, bt, pct=pct, threshold=threshold).fit_features(torch.from_numpy(tx)).score_features(torch.from_numpy(x))
    np.testing.assert_allclose(got.double().numpy(), react_reference(W, b, tx, x, pct, threshold), **TOL)
    if len(tx) in (1, 2, 4, 8, 16):
        t = np.percentile(tx.astype(np.float64).ravel(), pct) if threshold is None else threshold
        got = DICEReAct(Wt, bt, p=pct, threshold=threshold, pct=pct).fit_features(torch.from_numpy(tx)).score_features(torch.from_numpy(x))
        np.testing.assert_allclose(got.double().numpy(), dice_reference(W, b, tx, np.minimum(x, t), pct), **TOL)


# continuous features: ASH's top-k is ambiguous under ties, so these references draw distinct values
@st.composite
def shaping_problems(draw):
    L = draw(st.integers(2, 5)); q = draw(st.integers(2, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = rng.normal(size=(L, q)).astype(np.float32); b = rng.normal(size=L).astype(np.float32)
    x = (rng.random((draw(st.integers(1, 10)), q)) * 3).astype(np.float32)
    x[rng.random(x.shape) < draw(st.sampled_from([0., .3]))] = 0                  # some exact zeros, as after a ReLU
    return W, b, x


def shaped_tol(W, x, pct):
    """Tolerances for ASH and SCALE, which multiply activations by exp(sum / sum of the top k) (up to e^q): the float32 logits
    then carry rounding errors proportional to the size of their terms, |W| |h| exp(.), not to the score, which can be
    small after cancellation (seen: terms near 800, score 18.50, float32 error 5.5e-4). A wrong k or wrong scale is off
    by far more."""
    x = np.asarray(x, np.float64)
    factor = np.array([np.exp(h.sum() / h[_kept(h, pct)[0]].sum()) if h[_kept(h, pct)[0]].sum() > 0 else 1. for h in x])
    mag = (np.abs(np.asarray(W, np.float64)) @ (np.abs(x) * factor[:, None]).T).max()
    return dict(rtol=1e-5, atol=1e-4 + 1e-6 * mag)


def _keeps_some(q, pct): return q - int(np.round(q * pct / 100)) >= 1


@SETTINGS
@given(prob=shaping_problems(), pct=PCTS, variant=st.sampled_from(['p', 'b', 's']))
def test_ash_equals_reference(prob, pct, variant):
    W, b, x = prob
    assume(_keeps_some(x.shape[1], pct))
    if variant == 'b':                   # ASH-B writes s1/k into each kept slot: a tie at the top-k boundary (zeros) is ambiguous
        k = x.shape[1] - int(np.round(x.shape[1] * pct / 100))
        assume(all(k == x.shape[1] or np.sort(r)[::-1][k - 1] > np.sort(r)[::-1][k] for r in x))
    got = ASH(torch.from_numpy(W), torch.from_numpy(b), pct=pct, variant=variant).score_features(torch.from_numpy(x))
    np.testing.assert_allclose(got.double().numpy(), ash_reference(W, b, x, pct, variant), **shaped_tol(W, x, pct))


@SETTINGS
@given(prob=shaping_problems(), pct=PCTS)
def test_scale_equals_reference(prob, pct):
    W, b, x = prob
    assume(_keeps_some(x.shape[1], pct))
    got = SCALE(torch.from_numpy(W), torch.from_numpy(b), pct=pct).score_features(torch.from_numpy(x))
    np.testing.assert_allclose(got.double().numpy(), scale_reference(W, b, x, pct), **shaped_tol(W, x, pct))
