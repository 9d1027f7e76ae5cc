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
