"Property tests for line_nb.metrics against independent references (the official-code FPR rule, scikit-learn, pairwise AUROC)."
import numpy as np
from hypothesis import given, settings, strategies as st
from sklearn.metrics import roc_auc_score, roc_curve
from line_nb.metrics import fpr_at_95_tpr_id_positive, fpr_at_95_tpr_ood_positive, auroc, aupr_in, aupr_out, ood_metrics

# small integer grids make ties frequent; floats cover the continuous case
scores = st.one_of(st.lists(st.integers(-5, 5), min_size=1, max_size=60),
                   st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)).map(lambda v: np.array(v, float))


def official_fpr(known, novel):
    known = np.sort(known); return np.sum(novel > known[round(0.05 * len(known))]) / len(novel)


def exact_openood_fpr(id_s, ood_s, tpr=0.95):
    y = np.r_[np.zeros(len(id_s)), np.ones(len(ood_s))]
    fpr, tp, _ = roc_curve(y, -np.r_[id_s, ood_s], drop_intermediate=False)
    return fpr[np.argmax(tp >= tpr)]


@settings(max_examples=300, deadline=None)
@given(scores, scores)
def test_fpr_conventions_match_references(a, b):
    assert fpr_at_95_tpr_id_positive(a, b) == official_fpr(a, b)
    assert fpr_at_95_tpr_ood_positive(a, b) == exact_openood_fpr(a, b)


@settings(max_examples=300, deadline=None)
@given(scores, scores)
def test_auroc_matches_pairs_and_sklearn(a, b):
    pairs = (a[:, None] > b[None]).mean() + 0.5 * (a[:, None] == b[None]).mean()
    assert abs(auroc(a, b) - pairs) < 1e-12
    if len(a) and len(b):
        assert abs(auroc(a, b) - roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])) < 1e-12


@settings(max_examples=200, deadline=None)
@given(scores, scores)
def test_metrics_are_bounded_and_swap_consistently(a, b):
    m = ood_metrics(a, b)
    assert all(0 <= v <= 100 for v in m.values())
    assert abs(aupr_out(a, b) - aupr_in(-b, -a)) < 1e-12        # OOD positive on negated scores = swap the roles
    assert abs(auroc(a, b) + auroc(b, a) - 1) < 1e-12


# ---------------------------------------------------------------- ood_metrics and metrics_table as a whole
def ap_from_definition(pos, neg):
    "Average precision, AP = sum_k (R_k - R_{k-1}) P_k over the distinct thresholds, highest first (positives score high)."
    s = np.r_[pos, neg]; y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    ap, prev_r = 0., 0.
    for t in np.unique(s)[::-1]:
        sel = s >= t
        r = y[sel].sum() / len(pos); p = y[sel].mean()
        ap += (r - prev_r) * p; prev_r = r
    return ap


def expected_fields(i, o):
    return {'FPR95': 100 * official_fpr(i, o),
            'AUROC': 100 * roc_auc_score(np.r_[np.ones(len(i)), np.zeros(len(o))], np.r_[i, o]),
            'AUPR-In': 100 * ap_from_definition(i, o),
            'AUPR-Out': 100 * ap_from_definition(-o, -i)}


@settings(max_examples=200, deadline=None)
@given(scores, scores)
def test_ood_metrics_every_field(a, b):
    "Every field of ood_metrics, in percent, against the official FPR rule, scikit-learn's AUROC and AP from its definition."
    got, want = ood_metrics(a, b), expected_fields(a, b)
    assert list(got) == ['FPR95', 'AUROC', 'AUPR-In', 'AUPR-Out']
    for k in want: assert abs(got[k] - want[k]) < 1e-9, (k, got[k], want[k])


@settings(max_examples=60, deadline=None)
@given(scores, st.lists(scores, min_size=1, max_size=4), st.sampled_from([None, 2, 4]))
def test_metrics_table_rows_and_average(a, oods, decimals):
    "One row per OOD set with every field, plus the average row: the column means of the unrounded rows, then rounded."
    from line_nb.metrics import metrics_table
    named = {f'set{k}': o for k, o in enumerate(oods)}
    t = metrics_table(a, named, decimals=decimals)
    assert list(t.index) == [*named, 'average'] and list(t.columns) == ['FPR95', 'AUROC', 'AUPR-In', 'AUPR-Out']
    rows = {n: expected_fields(a, o) for n, o in named.items()}
    # rounded to `decimals`: on the grid and within half a unit of the exact value (a value that lies exactly half-way,
    # such as 66.125, may go either way in floating point, so the test does not pick a side)
    tol = 1e-9 if decimals is None else 0.5 * 10 ** -decimals + 1e-9
    on_grid = lambda v: decimals is None or abs(v * 10 ** decimals - round(v * 10 ** decimals)) < 1e-6
    for n, row in rows.items():
        for k, v in row.items(): assert abs(t.loc[n, k] - v) <= tol and on_grid(t.loc[n, k]), (n, k)
    for k in ('FPR95', 'AUROC', 'AUPR-In', 'AUPR-Out'):
        assert abs(t.loc['average', k] - np.mean([r[k] for r in rows.values()])) <= tol and on_grid(t.loc['average', k]), k


def test_fpr95_is_the_id_positive_convention():
    "A hand-computed case where the two conventions differ: ood_metrics reports the paper's (ID positive) one."
    i = np.arange(1., 21.)                       # 20 ID scores; thr = sorted[round(0.05 * 20)] = sorted[1] = 2
    o = np.array([0., 1.5, 2.5, 3., 30.])        # OOD above 2: 2.5, 3, 30 -> 3 / 5
    assert ood_metrics(i, o)['FPR95'] == 60.
    assert fpr_at_95_tpr_ood_positive(i, o) != 0.6


# ---------------------------------------------------------------- the paired bootstrap
import pytest
from line_nb.metrics import bootstrap, interval, paired_difference, _replicates


@settings(max_examples=60, deadline=None)
@given(scores, scores, st.integers(0, 2**31 - 1), st.sampled_from([0.95, 0.9, 0.8]))
def test_replicates_equal_the_metrics_of_each_resample(a, b, seed, tpr):
    "A count-vector replicate is the plain metric of the resampled scores (indices drawn with replacement), ties and tpr included."
    rng = np.random.default_rng(seed)
    ia, ib = rng.integers(0, len(a), (3, len(a))), rng.integers(0, len(b), (3, len(b)))
    w = np.stack([np.bincount(r, minlength=len(a)) for r in ia]); v = np.stack([np.bincount(r, minlength=len(b)) for r in ib])
    f, u = _replicates(a, b, w, v, tpr)
    for k in range(3):
        assert f[k] == 100 * fpr_at_95_tpr_id_positive(a[ia[k]], b[ib[k]], tpr)
        assert abs(u[k] - 100 * auroc(a[ia[k]], b[ib[k]])) < 1e-9
    f1, u1 = _replicates(a, b, np.ones((1, len(a)), int), np.ones((1, len(b)), int), tpr)   # every count 1: the data themselves
    assert f1[0] == 100 * fpr_at_95_tpr_id_positive(a, b, tpr) and abs(u1[0] - 100 * auroc(a, b)) < 1e-9


def _three(seed=0):
    rng = np.random.default_rng(seed)
    a = (rng.normal(1, 1, 300), {'x': rng.normal(0, 1, 200), 'y': rng.normal(-.5, 1, 120)})
    return {'A': a, 'A2': a, 'B': (a[0] * 3 + 1, {k: s * 3 + 1 for k, s in a[1].items()}),     # B: a monotone transform of A
            'C': (a[0] + rng.normal(0, 1, 300), {k: s + rng.normal(0, 1, len(s)) for k, s in a[1].items()})}


def test_bootstrap_is_paired_seeded_and_averages_the_sets():
    sc = _three()
    r = bootstrap(sc, n=300, seed=5)
    assert set(r) == set(sc) and set(r['A']) == {'x', 'y', 'average', '_samples'}
    assert r['A']['_samples'] == (300, (('x', 200), ('y', 120)))
    for m in ('FPR95', 'AUROC'):
        assert r['A']['x'][m].shape == (300,)
        assert np.array_equal(r['A']['x'][m], r['A2']['x'][m]) and np.array_equal(r['A']['y'][m], r['B']['y'][m])   # the same draws for all
        assert np.allclose(r['A']['average'][m], (r['A']['x'][m] + r['A']['y'][m]) / 2)
        assert not np.array_equal(r['A']['x'][m], r['C']['x'][m])
    again, other = bootstrap(sc, n=300, seed=5), bootstrap(sc, n=300, seed=6)
    assert np.array_equal(again['C']['average']['AUROC'], r['C']['average']['AUROC'])
    assert not np.array_equal(other['C']['average']['AUROC'], r['C']['average']['AUROC'])
    first = r['A']['x']['FPR95']
    assert first.min() < 100 * fpr_at_95_tpr_id_positive(sc['A'][0], sc['A'][1]['x']) < first.max()   # the replicates spread around the value
    assert np.array_equal(bootstrap(sc, n=300, seed=5, tpr=0.9)['A']['x']['AUROC'], r['A']['x']['AUROC'])
    assert not np.array_equal(bootstrap(sc, n=300, seed=5, tpr=0.9)['A']['x']['FPR95'], r['A']['x']['FPR95'])


def test_bootstrap_checks_its_input():
    sc = _three()
    for bad in (0, -3, 1.5, True): 
        with pytest.raises(ValueError, match='n must be a positive integer'): bootstrap(sc, n=bad)
    with pytest.raises(ValueError, match="the ID scores of A"): bootstrap({'A': ([1., np.nan], {'x': [0.]})}, n=2)
    with pytest.raises(ValueError, match="OOD set 'x'"): bootstrap({'A': ([1., 2.], {'x': [np.inf]})}, n=2)
    assert bootstrap({'A': ([1., 2.], {'x': [0.]})}, n=1)['A']['x']['AUROC'].shape == (1,)


def test_interval_is_the_central_percentile_range():
    x = np.arange(1001.)
    assert interval(x) == (25.0, 975.0) and interval(x, 90) == (50.0, 950.0) and interval(x, 50.) == (250.0, 750.0)
    assert isinstance(interval(x)[0], float)
    for bad in (0, 100, -5, 101):
        with pytest.raises(ValueError, match='level must be a percentage in \\(0, 100\\)'): interval(x, bad)


def test_paired_difference_of_the_same_draws():
    sc = _three()
    r = bootstrap(sc, n=400, seed=1)
    assert paired_difference(r, 'A', 'A2') == (0.0, 0.0) and paired_difference(r, 'A', 'B', 'x', 'AUROC') == (0.0, 0.0)
    lo, hi = paired_difference(r, 'C', 'A', 'average', 'AUROC', level=90)
    d = r['C']['average']['AUROC'] - r['A']['average']['AUROC']
    assert (lo, hi) == interval(d, 90) and lo < hi
    assert paired_difference(r, 'A', 'C', 'y', 'FPR95') == interval(r['A']['y']['FPR95'] - r['C']['y']['FPR95'])
    r2 = bootstrap({'A': sc['A'], 'D': (sc['A'][0][:100], sc['A'][1])}, n=5)
    with pytest.raises(ValueError, match='not scored on the same samples'): paired_difference(r2, 'A', 'D')


def test_bootstrap_defaults_and_edges():
    "Defaults: 1,000 replicates, seed 0; a level below 1 percent is allowed; a tpr near 0 keeps the threshold inside the ID scores."
    sc = {'A': _three()['A']}
    r = bootstrap(sc)
    assert r['A']['x']['FPR95'].shape == (1000,) and np.array_equal(r['A']['x']['AUROC'], bootstrap(sc, 1000, 0)['A']['x']['AUROC'])
    assert interval(np.arange(101.), 0.5)[0] < interval(np.arange(101.), 0.5)[1]
    a, b = np.arange(10.), np.arange(10.) + 0.5
    f, _ = _replicates(a, b, np.ones((1, 10), int), np.ones((1, 10), int), 0.01)   # k capped at n - 1: the largest ID score
    assert f[0] == 100 * fpr_at_95_tpr_id_positive(a, b, 0.01) == 10.0                        # only 9.5 is above 9
