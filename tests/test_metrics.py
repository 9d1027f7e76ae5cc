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
