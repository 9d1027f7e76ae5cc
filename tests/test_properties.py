"""Property tests (hypothesis) over every detector in the registry: scores do not depend on batch size or row order,
state_dict save/load gives identical scores, LINe with everything switched off is Energy, scores are finite for finite
input; the user's model is never modified; the same seed gives the same numbers."""
import io, subprocess, sys
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra.numpy import arrays
from conftest import DETECTORS, inputs_for, Q, make_head, make_features, tiny_model, tiny_data, subprocess_env
from line_nb import Energy, LINe, Backbone, extract

pytestmark = pytest.mark.usefixtures('cache')   # every test here runs with a private LINE_NB_CACHE, never ~/.cache/line_nb

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TOL = dict(rtol=1e-5, atol=1e-5)

# features: N rows of width Q, values in a range where float32 logits cannot overflow; rows may repeat, be all zero, be negative
feats = st.integers(1, 40).flatmap(lambda n: arrays(np.float32, (n, Q), elements=st.floats(-50, 50, width=32)))
heads = st.integers(0, 2**31 - 1).map(make_head)


def fit_on(name, W, b, seed=1):
    det, _ = DETECTORS[name](W, b)
    x, y = make_features(seed=seed)
    return det.fit_features(x, y)


@pytest.mark.parametrize('name', list(DETECTORS))
@FAST
@given(x=feats, head=heads, data=st.data())
def test_scores_do_not_depend_on_batch_size(name, x, head, data):
    det = fit_on(name, *head); x = torch.from_numpy(inputs_for(name, x))
    full = det.score_features(x)
    k = data.draw(st.integers(1, len(x)), label='batch size')
    parts = torch.cat([det.score_features(x[i:i + k]) for i in range(0, len(x), k)])
    torch.testing.assert_close(parts, full, **TOL)


@pytest.mark.parametrize('name', list(DETECTORS))
@FAST
@given(x=feats, head=heads, data=st.data())
def test_scores_do_not_depend_on_row_order(name, x, head, data):
    det = fit_on(name, *head); x = torch.from_numpy(inputs_for(name, x))
    perm = torch.tensor(data.draw(st.permutations(range(len(x))), label='order'))
    torch.testing.assert_close(det.score_features(x[perm]), det.score_features(x)[perm], **TOL)


@pytest.mark.parametrize('name', list(DETECTORS))
@FAST
@given(x=feats, head=heads)
def test_scores_are_finite_for_finite_input(name, x, head):
    s = fit_on(name, *head).score_features(torch.from_numpy(inputs_for(name, x)))
    assert s.shape == (len(x),) and s.dtype == torch.float32 and torch.isfinite(s).all()


@pytest.mark.parametrize('name', list(DETECTORS))
@FAST
@given(x=feats, head=heads)
def test_state_dict_save_load_gives_identical_scores(name, x, head):
    det = fit_on(name, *head); x = torch.from_numpy(inputs_for(name, x))
    buf = io.BytesIO(); torch.save(det.state_dict(), buf); buf.seek(0)
    other, _ = DETECTORS[name](*make_head(12345))          # another head entirely: everything must come from the state dict
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(other.score_features(x), det.score_features(x))


@FAST
@given(x=feats, head=heads, labels_seed=st.integers(0, 1000), mode=st.sampled_from(['official', 'paper']))
def test_line_without_clipping_or_pruning_is_energy(x, head, labels_seed, mode):
    x = torch.from_numpy(x)
    line = LINe(*head, act_prune_pct=None, weight_prune_pct=None, clip_threshold=None, mode=mode).fit_features(*make_features(seed=labels_seed))
    torch.testing.assert_close(line.score_features(x), Energy(*head).score_features(x), **TOL)


@FAST
@given(x=feats, head=heads)
def test_line_clip_above_every_activation_is_no_clip(x, head):
    "Clipping at a threshold above every activation changes nothing: LINe with only that switched on is still Energy."
    x = torch.from_numpy(x)
    line = LINe(*head, act_prune_pct=None, weight_prune_pct=None, clip_threshold=float(x.max()) + 1).fit_features(*make_features())
    torch.testing.assert_close(line.score_features(x), Energy(*head).score_features(x), **TOL)


# ---------------------------------------------------------------- through the model: batch size, order, the model never touched
@pytest.mark.parametrize('bs', [1, 7, 64])
def test_extracted_features_do_not_depend_on_batch_size(bs):
    m, d = tiny_model(), tiny_data(40)
    ref = extract(m, d, batch_size=40, cache=False, progress=False, device='cpu')
    got = extract(m, d, batch_size=bs, cache=False, progress=False, device='cpu')
    torch.testing.assert_close(got.features, ref.features, **TOL); torch.testing.assert_close(got.logits, ref.logits, **TOL)
    assert torch.equal(got.labels, ref.labels)


def snapshot(model):
    "Everything about a model that fitting and scoring must leave alone, bit for bit."
    return {'state': {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
            'bytes': {k: v.detach().cpu().contiguous().view(-1).view(torch.uint8).clone() for k, v in model.state_dict().items()},
            'requires_grad': {k: p.requires_grad for k, p in model.named_parameters()},
            'grads': {k: p.grad for k, p in model.named_parameters()},
            'training': {k: mod.training for k, mod in model.named_modules()},
            'hooks': sum(len(mod._forward_hooks) + len(mod._forward_pre_hooks) + len(mod._backward_hooks) for mod in model.modules()),
            'strides': {k: v.stride() for k, v in model.state_dict().items()},
            'ptrs': {k: v.data_ptr() for k, v in model.state_dict().items()}}


def assert_untouched(model, before):
    after = snapshot(model)
    for k in before['bytes']: assert torch.equal(before['bytes'][k], after['bytes'][k]), f'{k} changed'
    for key in ('requires_grad', 'training', 'hooks', 'strides', 'ptrs'): assert before[key] == after[key], key
    assert all(g is None for g in after['grads'].values()), 'gradients were computed'


@pytest.mark.parametrize('train_mode', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('bf16', [False, True], ids=['fp32', 'bf16'])
def test_model_is_never_modified(det_name, train_mode, bf16, cache):
    "Parameters and buffers bitwise equal (BatchNorm statistics included), mode, hooks, grads and layout as they were, after fit and score."
    m = tiny_model().train(train_mode)
    before = snapshot(m)
    det, _ = DETECTORS[det_name](Backbone(m), None)
    kw = dict(progress=False, device='cpu', bf16=bf16)
    det.fit(m, tiny_data(40, name='id'), **kw)
    s = det.score(m, tiny_data(24, seed=5, labels=False, name='ood'), **kw)
    assert torch.isfinite(s).all()
    det.score(Backbone(m), tiny_data(24, seed=5, labels=False, name='ood'), **kw)   # cached path too
    assert_untouched(m, before)
    with torch.no_grad(): det.W.add_(1.); det.b.add_(1.)                            # the detector holds copies, not the model's tensors
    assert_untouched(m, before)


# ---------------------------------------------------------------- determinism
DETERMINISM = """
import torch
torch.set_num_threads(1)
from conftest import DETECTORS, tiny_model, tiny_data
from line_nb import set_seed, extract, Backbone
from line_nb.core import tensor_digest
out = []
for name in DETECTORS:
    set_seed(0)
    m = tiny_model(seed=0)
    idx = torch.randperm(40)[:32]                                   # seeded randomness in the pipeline itself
    d = tiny_data(40).images[idx]
    from line_nb import ImageTensors
    det, _ = DETECTORS[name](Backbone(m), None)
    kw = dict(progress=False, device='cpu', cache=False)
    det.fit(m, ImageTensors(d, torch.arange(32) % 4, name='id'), **kw)
    out.append(tensor_digest(det.state_dict(), det.score(m, tiny_data(24, seed=5, labels=False), **kw)))
print(' '.join(out))
"""


def test_same_seed_same_numbers_run_to_run():
    "The same seed gives bitwise the same fitted state and scores, in this process twice and in two fresh processes."
    ps = [subprocess.Popen([sys.executable, '-c', DETERMINISM], env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in ps]
    assert all(p.returncode == 0 for p in ps), [o[1][-2000:] for o in outs]
    ns = {}; exec(DETERMINISM.replace("print(' '.join(out))", ''), ns)
    here = ' '.join(ns['out'])
    assert outs[0][0].strip() == outs[1][0].strip() == here
    assert len(set(here.split())) == len(DETECTORS)              # and the detectors do differ
