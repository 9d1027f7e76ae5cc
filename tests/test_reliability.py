"""The bad-input matrix: every public entry point either gives the right answer or stops with an error saying what was wrong.
Each case asserts the error type and a fragment of its message (or a documented behaviour). See tests/RELIABILITY.md."""
import io, re
import numpy as np
import pytest
import torch, torch.nn as nn
from conftest import DETECTORS, L, Q, make_head, make_features, fitted, tiny_model, tiny_data, TinyNet, run_cli
import line_nb
from line_nb import (MSP, Energy, LINe, ImageTensors, Backbone, extract, percentile, percentile_rows, fpr_at_95_tpr_id_positive,
                     fpr_at_95_tpr_ood_positive, auroc, aupr_in, aupr_out, ood_metrics, metrics_table, accuracy)

pytestmark = pytest.mark.usefixtures('cache')   # every test here runs with a private LINE_NB_CACHE, never ~/.cache/line_nb

NAN, INF = float('nan'), float('inf')

# Detector features that must be refused, for fit_features and score_features alike: (id, make(x) -> bad input, error, message)
BAD_FEATURES = [
    ('nan', lambda x: x.index_put((torch.tensor([3]), torch.tensor([2])), torch.tensor(NAN)), ValueError, 'contains NaN or inf (first bad rows: [3])'),
    ('inf', lambda x: x.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(INF)), ValueError, 'contains NaN or inf'),
    ('-inf', lambda x: x.index_put((torch.tensor([5]), torch.tensor([1])), torch.tensor(-INF)), ValueError, 'contains NaN or inf (first bad rows: [5])'),
    ('1-D', lambda x: x[0], ValueError, 'must be 2-D (N, q), got shape (12,)'),
    ('3-D', lambda x: x[None], ValueError, 'must be 2-D (N, q)'),
    ('wrong width', lambda x: x[:, :-1], ValueError, f'must have {Q} columns'),
    ('transposed', lambda x: x.T, ValueError, f'must have {Q} columns'),
    ('empty', lambda x: x[:0], ValueError, 'is empty (0 rows)'),
    ('complex', lambda x: x.to(torch.complex64), TypeError, 'must hold real numbers'),
    ('bool', lambda x: x > 1, TypeError, 'must hold real numbers'),
    ('list', lambda x: x.tolist(), TypeError, 'must be a torch.Tensor or numpy array, got list'),
    ('string array', lambda x: np.array([['a'] * Q]), TypeError, 'must hold real numbers, got dtype <U1'),
]


# One validator serves every detector: `Detector.fit_features` / `score_features` check features and labels, and
# `head_tensors` (called by `Detector.__init__`) checks the head. No detector overrides those entry points (asserted
# below), so each bad-input case is tested once, on LINe (it uses labels and every hyperparameter), not once per detector.
VALIDATED = 'LINe'


def test_no_detector_overrides_the_validating_entry_points():
    "Every detector, in the test registry and in line_nb's, inherits fit_features and score_features and validates its head."
    from line_nb.detectors import Detector
    from line_nb.registry import DETECTORS as REGISTRY
    W, b = make_head()
    dets = {n: f(W, b)[0] for n, f in DETECTORS.items()}
    dets.update({f'registry {n}': f(W, b) for n, f in REGISTRY.items()})
    for name, det in dets.items():
        assert isinstance(det, Detector), name
        for entry in ('fit_features', 'score_features', '_prep'):
            assert getattr(type(det), entry) is getattr(Detector, entry), f'{name} overrides {entry}'
        assert torch.equal(det.W, W) and torch.equal(det.b, b), name      # the head went through head_tensors
    for name, make in {**DETECTORS, **{f'registry {n}': (lambda f: lambda W, b: (f(W, b), None))(f) for n, f in REGISTRY.items()}}.items():
        with pytest.raises(ValueError, match=re.escape('the head (W, b) contains NaN or inf')):
            make(W.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(NAN)), b)


@pytest.mark.parametrize('case,make,exc,msg', BAD_FEATURES, ids=[c[0] for c in BAD_FEATURES])
def test_detector_fit_rejects_bad_features(case, make, exc, msg):
    W, b = make_head(); det, _ = DETECTORS[VALIDATED](W, b); x, y = make_features()
    bad = make(x)
    labels = y[:len(bad)] if isinstance(bad, torch.Tensor) and bad.ndim == 2 and len(bad) <= len(y) else y
    with pytest.raises(exc, match=re.escape(msg)): det.fit_features(bad, labels)


@pytest.mark.parametrize('case,make,exc,msg', BAD_FEATURES, ids=[c[0] for c in BAD_FEATURES])
def test_detector_score_rejects_bad_features(case, make, exc, msg):
    det, _, x, _ = fitted(VALIDATED)
    with pytest.raises(exc, match=re.escape(msg)): det.score_features(make(x))


BAD_LABELS = [
    ('too large', lambda y: torch.where(y == 0, L, y), ValueError, f'labels must lie in [0, {L}), got values from 1 to {L}'),
    ('negative (OOD -1)', lambda y: torch.full_like(y, -1), ValueError, f'labels must lie in [0, {L})'),
    ('float', lambda y: y.float(), TypeError, 'labels must be integers, got dtype torch.float32'),
    ('bool', lambda y: y > 0, TypeError, 'labels must be integers'),
    ('too short', lambda y: y[:-1], ValueError, 'labels must be 1-D with 64 entries (one per feature row), got shape (63,)'),
    ('2-D', lambda y: y[:, None], ValueError, 'labels must be 1-D with 64 entries'),
    ('list', lambda y: y.tolist(), TypeError, 'labels must be a torch.Tensor or numpy array, got list'),
    ('numpy float', lambda y: y.numpy().astype(float), TypeError, 'labels must be integers, got dtype float64'),
    ('numpy strings', lambda y: y.numpy().astype(str), TypeError, 'labels must be integers, got dtype <U'),
]


@pytest.mark.parametrize('case,make,exc,msg', BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_detector_fit_rejects_bad_labels(case, make, exc, msg):
    W, b = make_head(); det, _ = DETECTORS[VALIDATED](W, b); x, y = make_features()
    with pytest.raises(exc, match=re.escape(msg)): det.fit_features(x, make(y))


def test_detector_class_without_training_samples(det_name):
    "A detector that uses labels must refuse a class with no samples; one that ignores labels fits (documented: labels unused)."
    W, b = make_head(); det, needs_labels = DETECTORS[det_name](W, b); x, y = make_features()
    y = torch.where(y == L - 1, 0, y)   # class L-1 has no samples
    if needs_labels:
        with pytest.raises(ValueError, match=rf'\[{L - 1}\] have no training samples'): det.fit_features(x, y)
    else:
        ref = DETECTORS[det_name](W, b)[0].fit_features(x, None).score_features(x)
        assert torch.equal(det.fit_features(x, y).score_features(x), ref)


def test_detector_needs_labels(det_name):
    W, b = make_head(); det, needs_labels = DETECTORS[det_name](W, b); x, _ = make_features()
    if needs_labels:
        with pytest.raises(ValueError, match='needs the training labels'): det.fit_features(x)
    else: assert det.fit_features(x) is det


def test_detector_scoring_before_fitting(det_name):
    "Detectors with `needs_fit` refuse to score before fitting; training-free ones (documented) score the same before and after."
    W, b = make_head(); det, _ = DETECTORS[det_name](W, b); x, y = make_features()
    if det.needs_fit:
        with pytest.raises(RuntimeError, match='is not fitted: call fit_features'): det.score_features(x)
        det.fit_features(x, y); det.reset() if hasattr(det, 'reset') else None
        if hasattr(det, 'reset'):
            with pytest.raises(RuntimeError, match='is not fitted'): det.score_features(x)   # reset forgets the fit
    else:
        before = det.score_features(x)
        assert torch.equal(det.fit_features(x, y).score_features(x), before)


BAD_HEADS = [
    ('W with NaN', lambda W, b: (W.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(NAN)), b), ValueError, 'the head (W, b) contains NaN or inf'),
    ('b with inf', lambda W, b: (W, b.index_put((torch.tensor([1]),), torch.tensor(INF))), ValueError, 'the head (W, b) contains NaN or inf'),
    ('W 1-D', lambda W, b: (W[0], b), ValueError, 'W must be 2-D (L classes, q features)'),
    ('b wrong length', lambda W, b: (W, b[:-1]), ValueError, f'b must have shape ({L},) to match W'),
    ('W not a tensor', lambda W, b: (W.tolist(), b), TypeError, 'W must be a torch.Tensor or numpy array'),
    ('Linear and b', lambda W, b: (nn.Linear(Q, L), b), ValueError, 'pass either an nn.Linear / Backbone or W and b, not both'),
]


@pytest.mark.parametrize('case,make,exc,msg', BAD_HEADS, ids=[c[0] for c in BAD_HEADS])
def test_detector_rejects_bad_head(case, make, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)): DETECTORS[VALIDATED](*make(*make_head()))


def test_detector_head_from_module_and_backbone_equal_tensors(det_name):
    "Documented: the head can be W, b tensors, an nn.Linear, or a Backbone; all give the same scores."
    m = tiny_model(); W, b = m.fc.weight.detach(), m.fc.bias.detach(); x, y = make_features()
    ref = DETECTORS[det_name](W, b)[0].fit_features(x, y).score_features(x)
    for head in (m.fc, Backbone(m)):
        assert torch.equal(DETECTORS[det_name](head, None)[0].fit_features(x, y).score_features(x), ref)


@pytest.mark.parametrize('arg', ['act_prune_pct', 'weight_prune_pct'])
@pytest.mark.parametrize('value,exc,msg', [(-1, ValueError, 'must be a percentage in [0, 100], got -1'), (101, ValueError, 'got 101'),
                                           (NAN, ValueError, 'got nan'), (INF, ValueError, 'got inf'), (95.5 + 5, ValueError, 'got 100.5'),
                                           ('50', TypeError, 'must be a number in [0, 100] (a percentage), got str'), (True, TypeError, 'got bool')])
def test_line_percentages_outside_0_100(arg, value, exc, msg):
    with pytest.raises(exc, match=re.escape(arg) + '.*' + re.escape(msg)): LINe(*make_head(), **{arg: value})


@pytest.mark.parametrize('value', [NAN, INF, -INF, '1.0', True])
def test_line_clip_threshold_must_be_finite(value):
    with pytest.raises(ValueError, match='clip_threshold must be a finite number or None'): LINe(*make_head(), clip_threshold=value)


def test_line_mode_and_preset():
    with pytest.raises(ValueError, match="mode must be 'official' or 'paper', got 'abs'"): LINe(*make_head(), mode='abs')
    with pytest.raises(ValueError, match=re.escape("preset must be one of ['cifar10', 'cifar100', 'imagenet'], got 'svhn'")): LINe.from_preset(*make_head(), preset='svhn')


def test_line_stream_chunks_bad_labels():
    det = LINe(*make_head()); x, y = make_features()
    with pytest.raises(ValueError, match='must lie in'): det.fit_stream([(x[:32], y[:32]), (x[32:], y[32:] + L)])
    assert not bool(det.fitted)


@pytest.mark.parametrize('T', [0, -1., NAN])
def test_energy_temperature_must_be_positive(T):
    with pytest.raises(ValueError, match='T must be a positive finite number'): Energy(*make_head(), T=T)


def test_energy_temperature_inf():
    with pytest.raises(ValueError, match='T must be'): Energy(*make_head(), T=INF)


# Finite input whose logits overflow float32: the score must be finite or the error must say so (never a silent NaN/inf).
# Every detector checks its scores in Detector.score_features and names the overflow.
def test_detector_overflowing_finite_input_is_never_silently_nan(det_name):
    det, _, x, _ = fitted(det_name)
    x = x.clone(); x[0] = 3e38
    try: s = det.score_features(x)
    except (ValueError, OverflowError) as e: assert 'overflow' in str(e)
    else: assert torch.isfinite(s).all(), s


def test_detector_state_dict_missing_extra_and_wrong_shape(det_name):
    det, _, x, _ = fitted(det_name)
    sd = det.state_dict()
    fresh = lambda: DETECTORS[det_name](*make_head())[0]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"W\""): fresh().load_state_dict({k: v for k, v in sd.items() if k != 'W'})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"extra\""): fresh().load_state_dict({**sd, 'extra': torch.ones(1)})
    with pytest.raises(RuntimeError, match='size mismatch for W'): fresh().load_state_dict({**sd, 'W': torch.ones(L + 1, Q)})


def test_line_state_dict_from_other_hyperparameters():
    # fixed: LINe keeps its hyperparameters in the state dict (get_extra_state) and refuses a mismatch
    x, y = make_features()
    a = LINe(*make_head(), act_prune_pct=90., weight_prune_pct=90.).fit_features(x, y)
    b = LINe(*make_head(), act_prune_pct=10., weight_prune_pct=None)
    with pytest.raises((ValueError, RuntimeError), match='act_prune_pct'): b.load_state_dict(a.state_dict())


# ---------------------------------------------------------------- metrics
METRICS = {'fpr_id_positive': fpr_at_95_tpr_id_positive, 'fpr_ood_positive': fpr_at_95_tpr_ood_positive, 'auroc': auroc,
           'aupr_in': aupr_in, 'aupr_out': aupr_out, 'ood_metrics': ood_metrics}
GOOD = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
BAD_SCORES = [
    ('nan', np.r_[GOOD, NAN], ValueError, 'contains NaN or inf (1 of 6 values)'),
    ('inf', np.r_[GOOD, INF, -INF], ValueError, 'contains NaN or inf (2 of 7 values)'),
    ('empty', np.array([]), ValueError, 'is empty'),
    ('2-D', np.ones((3, 2)), ValueError, 'must be 1-D (one score per sample), got shape (3, 2)'),
    ('logits (N, L) tensor', torch.ones(3, 2), ValueError, 'must be 1-D'),
    ('0-D', np.float64(1.), ValueError, 'must be 1-D'),
    ('strings', np.array(['a', 'b']), TypeError, 'must hold real numbers (int or float)'),
    ('bool', np.array([True, False]), TypeError, 'must hold real numbers'),
    ('bool tensor', torch.tensor([True]), TypeError, 'must hold real numbers'),
    ('complex', np.array([1 + 1j]), TypeError, 'must hold real numbers'),
    ('ragged list', [[1., 2.], [3.]], ValueError, 'must be a 1-D sequence of numbers'),
    ('None', None, TypeError, 'must hold real numbers'),
]


# Every metric validates its two inputs through one function (`as_scores`, via `_pair`): each bad case is tested once
# per side on `ood_metrics`, and one test checks that every metric refuses through that validator.
@pytest.mark.parametrize('side', ['id_scores', 'ood_scores'])
@pytest.mark.parametrize('case,bad,exc,msg', BAD_SCORES, ids=[c[0] for c in BAD_SCORES])
def test_metric_rejects_bad_scores(side, case, bad, exc, msg):
    args = (bad, GOOD) if side == 'id_scores' else (GOOD, bad)
    with pytest.raises(exc, match=re.escape(f'{side} {msg}')): ood_metrics(*args)


def test_every_metric_validates_through_as_scores(monkeypatch):
    import line_nb.metrics as M
    seen = []
    real = M.as_scores
    monkeypatch.setattr(M, 'as_scores', lambda s, name='scores': seen.append(name) or real(s, name))
    for name, metric in METRICS.items():
        seen.clear(); metric(GOOD, GOOD - 1)
        assert seen[:2] == ['id_scores', 'ood_scores'], name
        for side, args in (('id_scores', (np.r_[GOOD, NAN], GOOD)), ('ood_scores', (GOOD, np.array([])))):
            with pytest.raises(ValueError, match=side): metric(*args)


KINDS = {'numpy float64': lambda a: a, 'numpy float32': lambda a: a.astype(np.float32).astype(np.float64), 'list': lambda a: a.tolist(),
         'torch float64': torch.from_numpy, 'torch float32 (exact)': lambda a: torch.from_numpy(a.astype(np.float32)),
         'torch requires_grad': lambda a: torch.from_numpy(a).requires_grad_(), 'int': lambda a: np.round(a * 10).astype(np.int64)}


@pytest.mark.parametrize('kind', list(KINDS))
def test_as_scores_converts_every_kind_losslessly(kind):
    "Documented: scores may be any of these containers / dtypes; each becomes the same float64 array, bit for bit."
    from line_nb.metrics import as_scores
    a = np.random.default_rng(0).normal(1, 1, 50).astype(np.float32).astype(np.float64)
    want = np.round(a * 10) if kind == 'int' else a
    got = as_scores(KINDS[kind](a))
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_metric_id_and_ood_of_different_kinds():
    "ID and OOD scores of different kinds in one call: every metric equals its all-NumPy value."
    rng = np.random.default_rng(0)
    i = rng.normal(1, 1, 50).astype(np.float32).astype(np.float64); o = rng.normal(0, 1, 40).astype(np.float32).astype(np.float64)
    conv = lambda kind, a: np.round(a * 10) if kind == 'int' else a
    for metric in METRICS.values():
        for id_kind in KINDS:
            for ood_kind in KINDS:
                assert metric(KINDS[id_kind](i), KINDS[ood_kind](o)) == metric(conv(id_kind, i), conv(ood_kind, o)), (metric, id_kind, ood_kind)


@pytest.mark.parametrize('tpr,exc,msg', [(95, ValueError, 'tpr must be a fraction in (0, 1] (0.95, not 95), got 95'), (0, ValueError, 'got 0'),
                                         (-.1, ValueError, 'got -0.1'), (NAN, ValueError, 'got nan'), (1.01, ValueError, 'got 1.01'),
                                         ('0.95', TypeError, 'tpr must be a number in (0, 1], got str'), (True, TypeError, 'got bool')])
@pytest.mark.parametrize('fpr', [fpr_at_95_tpr_id_positive, fpr_at_95_tpr_ood_positive])
def test_fpr_tpr_outside_0_1(fpr, tpr, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)): fpr(GOOD, GOOD - 1, tpr=tpr)


def test_metrics_table_bad_inputs():
    with pytest.raises(TypeError, match=r'ood must be a dict \{name: scores\}, got list'): metrics_table(GOOD, [GOOD])
    with pytest.raises(ValueError, match='ood is empty'): metrics_table(GOOD, {})
    with pytest.raises(ValueError, match="'average' is reserved"): metrics_table(GOOD, {'average': GOOD})
    with pytest.raises(ValueError, match="the scores of OOD set 'svhn' contains NaN or inf"): metrics_table(GOOD, {'ok': GOOD, 'svhn': np.r_[GOOD, NAN]})
    with pytest.raises(ValueError, match='id_scores is empty'): metrics_table([], {'ok': GOOD})


@pytest.mark.parametrize('preds,labels,exc,msg', [
    (torch.zeros(3, 4), torch.tensor([0, 1, 4]), ValueError, 'labels must lie in [0, 4), got values from 0 to 4'),
    (torch.tensor([0, 1]), torch.tensor([0, -1]), ValueError, 'labels must be class indices >= 0, got -1'),
    (torch.tensor([-1, 1]), torch.tensor([0, 1]), ValueError, 'predictions must be class indices >= 0, got -1'),
    (torch.tensor([[NAN, 0.]]), torch.tensor([0]), ValueError, 'logits contains NaN or inf'),
    (torch.tensor([0.5, 1.]), torch.tensor([0, 1]), TypeError, 'predictions must be integers'),
    (torch.tensor([0, 1]), torch.tensor([0., 1.]), TypeError, 'labels must be integers'),
    (torch.tensor([0, 1]), torch.tensor([0]), ValueError, 'labels must be 1-D with 2 entries'),
    (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), ValueError, 'logits_or_preds is empty'),
    (torch.zeros(2, 2, 2), torch.tensor([0, 1]), ValueError, 'must be (N, L) logits or (N,) predicted labels'),
])
def test_accuracy_bad_inputs(preds, labels, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)): accuracy(preds, labels)


# ---------------------------------------------------------------- core percentiles
@pytest.mark.parametrize('p,exc,msg', [(-1, ValueError, 'p must be a percentage in [0, 100], got -1'), (100.01, ValueError, 'got 100.01'),
                                       (NAN, ValueError, 'got nan'), (None, TypeError, 'got NoneType')])
def test_percentile_outside_0_100(p, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)): percentile(torch.arange(5.), p)


def test_percentile_bad_values():
    with pytest.raises(ValueError, match='empty row'): percentile(torch.ones(0), 50)
    with pytest.raises(ValueError, match='containing NaN or inf'): percentile(torch.tensor([1., NAN]), 50)
    with pytest.raises(ValueError, match='containing NaN or inf'): percentile_rows(torch.tensor([[1., INF]]), 50)
    with pytest.raises(ValueError, match=re.escape('x must be 2-D (R rows, n values), got shape (3,)')): percentile_rows(torch.ones(3), 50)
    assert percentile(np.arange(5.), 25).item() == 1.0   # documented: NumPy input is accepted


def test_clip_threshold_at_percentile_bad():
    from line_nb.clipping import clip_threshold_at_percentile
    x, _ = make_features()
    with pytest.raises(ValueError, match=re.escape('p must be a percentage in [0, 100], got 120')): clip_threshold_at_percentile(x, 120)
    with pytest.raises(ValueError, match='ID features contains NaN or inf'): clip_threshold_at_percentile(x.index_fill(0, torch.tensor([0]), NAN), 90)


# ---------------------------------------------------------------- data loading
def test_fashion_mnist_root_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.delenv('LINE_NB_FASHION_MNIST', raising=False)
    with pytest.raises(FileNotFoundError, match=re.escape(f"root='{tmp_path}/nope' does not exist")): line_nb.fashion_mnist('test', root=tmp_path/'nope')
    with pytest.raises(FileNotFoundError, match='Only the folder you named is searched'): line_nb.fashion_mnist('test', root=tmp_path)  # exists, no files: no fallback
    monkeypatch.setenv('LINE_NB_FASHION_MNIST', str(tmp_path/'typo'))
    with pytest.raises(FileNotFoundError, match=re.escape(f"LINE_NB_FASHION_MNIST='{tmp_path}/typo' does not exist")): line_nb.fashion_mnist('test')
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"): line_nb.fashion_mnist('val')


def test_cifar_and_image_folder_roots_that_do_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"root='{tmp_path}/nope' does not exist")): line_nb.cifar('cifar10', root=tmp_path/'nope', download=False)
    with pytest.raises(FileNotFoundError, match='cifar-10-batches-py'): line_nb.cifar('cifar10', root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match='does not exist'): line_nb.image_folder(tmp_path/'nope')
    with pytest.raises(FileNotFoundError, match='holds no class sub-folders'): line_nb.image_folder(tmp_path)
    from line_nb.densenet import cifar10_jpeg_dir
    with pytest.raises(FileNotFoundError, match='is neither'): cifar10_jpeg_dir(tmp_path/'nope')


def test_read_idx_truncated_and_foreign(tmp_path):
    from line_nb.data import read_idx
    good = bytes([0, 0, 8, 3]) + (2).to_bytes(4, 'big') + (2).to_bytes(4, 'big') + (2).to_bytes(4, 'big') + bytes(8)
    (tmp_path/'ok').write_bytes(good); assert read_idx(tmp_path/'ok').shape == (2, 2, 2)
    (tmp_path/'cut').write_bytes(good[:-3])
    with pytest.raises(ValueError, match=re.escape('is truncated: header says (2, 2, 2), found 5 values')): read_idx(tmp_path/'cut')
    (tmp_path/'png').write_bytes(b'\x89PNG\r\n\x1a\n')
    with pytest.raises(ValueError, match='is not an unsigned-byte idx file'): read_idx(tmp_path/'png')
    (tmp_path/'tiny').write_bytes(b'\x00')
    with pytest.raises(ValueError, match='is not an idx file'): read_idx(tmp_path/'tiny')


@pytest.mark.parametrize('images,labels,exc,msg', [
    (torch.zeros(2, 1, 4, 4), None, TypeError, 'images must be a uint8 tensor of shape (N, C, H, W)'),
    (torch.zeros(2, 4, 4, dtype=torch.uint8), None, TypeError, 'images must be a uint8 tensor of shape (N, C, H, W)'),
    (np.zeros((2, 1, 4, 4), np.uint8), None, TypeError, 'got ndarray'),
    (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 1, 2], ValueError, 'labels must have shape (2,), got (3,)'),
    (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0.7, 1.0], TypeError, 'labels must be integers'),
    (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, -2], ValueError, 'labels must be class indices >= 0 or -1 (no label), got -2'),
])
def test_image_tensors_bad(images, labels, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)): ImageTensors(images, labels)


# ---------------------------------------------------------------- extract / Backbone
def test_extract_bad_models_and_data(cache):
    m = tiny_model()
    with pytest.raises(ValueError, match=r"data set 'none' is empty"): extract(m, tiny_data(0, name='none'), progress=False, device='cpu')
    with pytest.raises(ValueError, match='has no nn.Linear layer'): extract(nn.Sequential(nn.Flatten()), tiny_data(), progress=False, device='cpu')
    after = nn.Sequential(nn.Flatten(), nn.Linear(64, L), nn.Softmax(1))
    with pytest.raises(RuntimeError, match='something runs after the head'): extract(after, tiny_data(), progress=False, device='cpu', cache=False)
    with pytest.raises(ValueError, match='line_nb does not move your model'): extract(m, tiny_data(), progress=False, device='meta', cache=False)
    class NoPrint(torch.utils.data.Dataset):
        def __len__(self): return 2
        def __getitem__(self, i): return torch.zeros(1, 8, 8), 0
    with pytest.raises(TypeError, match='cannot fingerprint a NoPrint for the feature cache'): extract(m, NoPrint(), progress=False, device='cpu')
    assert extract(m, NoPrint(), progress=False, device='cpu', cache=False).features.shape == (2, Q)   # documented: cache=False works
    with pytest.raises(ValueError, match="model has no module named 'head'"): Backbone(m, head='head')
    with pytest.raises(TypeError, match="'body' is a Sequential, not an nn.Linear"): Backbone(m, head='body')


def test_detector_fit_on_ood_data_without_labels(det_name, cache):
    "fit(model, data) on a data set without labels (-1): `fit` passes the labels on, so every detector refuses them with the same message."
    m = tiny_model(); det, _ = DETECTORS[det_name](Backbone(m), None)
    unlabeled = tiny_data(labels=False, name='unlabeled')
    with pytest.raises(ValueError, match=f'labels must lie in \\[0, {L}\\), got values from -1 to -1'): det.fit(m, unlabeled, progress=False, device='cpu')


# ---------------------------------------------------------------- checkpoints
def test_load_checkpoint_missing_extra_shape_truncated(tmp_path):
    from line_nb.models import load_checkpoint
    sd = tiny_model().state_dict()
    torch.save({k: v for k, v in sd.items() if k != 'fc.bias'}, tmp_path/'missing.pt')
    torch.save({**sd, 'fc2.weight': torch.ones(1)}, tmp_path/'extra.pt')
    torch.save({**sd, 'fc.weight': torch.ones(L + 1, Q)}, tmp_path/'shape.pt')
    torch.save({'state_dict': sd}, tmp_path/'wrapped.pt')
    torch.save({'module.' + k: v for k, v in sd.items()}, tmp_path/'dataparallel.pt')
    torch.save([1, 2], tmp_path/'list.pt')
    buf = io.BytesIO(); torch.save(sd, buf); (tmp_path/'cut.pt').write_bytes(buf.getvalue()[:500])
    cases = [('missing.pt', 'does not fit TinyNet: missing keys fc.bias'), ('extra.pt', 'does not fit TinyNet: unexpected keys fc2.weight'),
             ('shape.pt', f'size mismatch for fc.weight: ({L + 1}, {Q}) in the file, ({L}, {Q}) in the model'),
             ('list.pt', 'does not hold a state dict of tensors (got list)'), ('cut.pt', 'is unreadable (truncated, corrupted or not a torch file)')]
    for fn, msg in cases:
        m = TinyNet(); before = {k: v.clone() for k, v in m.state_dict().items()}
        with pytest.raises(RuntimeError, match=re.escape(f'checkpoint {tmp_path/fn} ') + '.*' + re.escape(msg)): load_checkpoint(m, tmp_path/fn)
        assert all(torch.equal(before[k], v) for k, v in m.state_dict().items()), f'{fn}: a failed load changed the model'
    for fn in ('wrapped.pt', 'dataparallel.pt'):
        assert all(torch.equal(sd[k], v) for k, v in load_checkpoint(TinyNet(), tmp_path/fn).state_dict().items())


def test_fashion_cnn_bad_cached_checkpoint(cache):
    from line_nb.models import fashion_cnn, FashionCNN, fashion_cnn_path
    from line_nb.core import native_bf16
    path = fashion_cnn_path(0, 8, native_bf16('cpu'))                  # the file this machine's default precision reads
    with pytest.raises(FileNotFoundError, match='no trained Fashion-MNIST CNN at'): fashion_cnn(train_if_missing=False, device='cpu')
    sd = FashionCNN().state_dict()
    for content, what in (({'state_dict': {k: v for k, v in sd.items() if k != 'fc.weight'}}, 'does not fit FashionCNN: missing keys fc.weight'),
                          ({'state_dict': {**sd, 'x': torch.ones(1)}}, 'does not fit FashionCNN: unexpected keys x'), (b'\x00garbage', 'is unreadable')):
        if isinstance(content, bytes): path.write_bytes(content)
        else: torch.save(content, path)
        with pytest.raises(RuntimeError, match='(?s)' + re.escape(f'the cached checkpoint {path} {what}') + '.*' + re.escape('; delete it to retrain')):
            fashion_cnn(train_if_missing=False, device='cpu')


def test_imagenet_and_dice_checkpoints(tmp_path):
    from line_nb.models import imagenet_model
    from line_nb.densenet import load_dice_densenet
    with pytest.raises(FileNotFoundError, match='weights file .* does not exist'): imagenet_model('mobilenet_v2', weights_path=tmp_path/'none.pth')
    with pytest.raises(ValueError, match='arch must be one of'): imagenet_model('vgg16')
    torch.save(tiny_model().state_dict(), tmp_path/'tiny.pth')
    with pytest.raises(RuntimeError, match='does not fit MobileNetV2: missing keys features.0.0.weight'): imagenet_model('mobilenet_v2', weights_path=tmp_path/'tiny.pth')
    with pytest.raises(RuntimeError, match='does not fit DenseNet3: missing keys conv1.weight'): load_dice_densenet('cifar10', path=tmp_path/'tiny.pth', device='cpu')
    with pytest.raises(FileNotFoundError, match='checkpoint .*none.pth does not exist'): load_dice_densenet('cifar10', path=tmp_path/'none.pth')
    with pytest.raises(ValueError, match='dataset must be one of'): load_dice_densenet('svhn', path=tmp_path/'tiny.pth')


# ---------------------------------------------------------------- the line-nb command
@pytest.mark.parametrize('args,code,msg', [
    (['--line-act-prune-pct', '120'], 2, "argument --line-act-prune-pct: must be a percentage in [0, 100], got '120'"),
    (['--line-weight-prune-pct', '-5'], 2, "argument --line-weight-prune-pct: must be a percentage in [0, 100], got '-5'"),
    (['--line-weight-prune-pct', 'nan'], 2, "got 'nan'"),
    (['--line-clip', 'p101'], 2, "argument --line-clip: must be a percentage in [0, 100], got '101'"),
    (['--line-clip', 'inf'], 2, 'expected a finite number, pNN'),
    (['--line-clip', 'x9'], 2, 'expected a finite number, pNN'),
    (['--line-mode', 'abs'], 2, "argument --line-mode: invalid choice: 'abs'"),
    (['--batch-size', '0'], 2, "argument --batch-size: must be a positive integer, got '0'"),
    (['--batch-size', '-3'], 2, "must be a positive integer, got '-3'"),
    (['--seed', 'x'], 2, "invalid int value: 'x'"),
    (['--device', 'gpu7'], 2, "argument --device: not a torch device: 'gpu7'"),
    (['--detectors', ''], 2, 'expected one or more comma-separated names'),
    (['--detectors', 'msp,msp'], 2, "names repeat in 'msp,msp'"),
    (['--ood', ','], 2, 'expected one or more comma-separated names'),
    (['--detectors', 'msp,oops'], 1, "line-nb bench: error: unknown detector(s) ['oops']"),
    (['--ood', 'lsun'], 1, "line-nb bench: error: unknown OOD set(s) ['lsun']"),
])
def test_cli_bad_options(args, code, msg, cache):
    "Every bad option is refused before any training or extraction: exit 2 for a malformed option, 1 for an unknown name."
    got, _, err = run_cli(['bench', '--quiet', '--out', str(cache/'out'), *args])
    assert got == code and msg in err and 'Traceback' not in err, (got, err)
    assert not (cache/'checkpoints').exists() and not (cache/'features').exists() and not (cache/'out').exists()   # nothing ran


def test_cli_no_command():
    code, _, err = run_cli([])
    assert code == 2 and 'the following arguments are required: command' in err
    code, _, err = run_cli(['frobnicate'])
    assert code == 2 and 'invalid choice' in err


@pytest.mark.parametrize('name', ['ASH', 'SCALE'])
def test_activation_shaping_refuses_negative_features(name):
    "ASH and SCALE shape post-ReLU activations: negative features are refused with a message, never shaped silently."
    det, _, x, _ = fitted(name)
    with pytest.raises(ValueError, match='non-negative'): det.score_features(x - 1)
