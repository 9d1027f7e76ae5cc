"line_nb.interop: pytorch-ood's Detector and GridSearch, OpenOOD's postprocessor contract, and Backbone on timm and Hugging Face models."
import subprocess, sys
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import pytest
import torch, torch.nn as nn
from line_nb import LINe, KNN, Energy, Backbone, extract, ImageTensors
from line_nb.metrics import auroc
from line_nb.interop import OpenOODPostprocessor, openood_aps, HYPERPARAMETER_SPACES

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def close(a, b, tol=1e-5):
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, atol=tol, rtol=tol), (a - b).abs().max()


class Tiny(nn.Module):
    def __init__(self, q=12, L=5):
        super().__init__(); self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, q), nn.ReLU()); self.fc = nn.Linear(q, L)
    def forward(self, x): return self.fc(self.body(x))


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    net = Tiny().eval()
    xs = torch.randn(100, 3, 8, 8); ys = torch.arange(100) % 5; ys[:10] = -1
    with torch.no_grad(): z = net.body(xs)
    return net, xs, ys, z


def loader(*tensors, bs=32): return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=bs)


# ---------------------------------------------------------------- pytorch-ood
def test_importing_interop_does_not_import_pytorch_ood():
    code = '''
import sys
import line_nb.interop, line_nb
assert 'pytorch_ood' not in sys.modules
sys.modules['pytorch_ood'] = None; sys.modules['pytorch_ood.api'] = None   # as if not installed
try: line_nb.interop.PytorchOOD
except ImportError as e: assert 'pip install pytorch-ood' in str(e), e
else: raise AssertionError('no ImportError')
'''
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_pytorch_ood_adapter(tiny):
    "A pytorch-ood FeaturesDetector; scores are minus line_nb's on inputs and features; OOD-labelled rows are left out of the fit."
    pytest.importorskip('pytorch_ood', reason='pytorch-ood is a dev requirement')
    from pytorch_ood.api import Detector, FeaturesDetector, RequiresFittingException, ModelNotSetException
    import line_nb
    from line_nb.interop import PytorchOOD
    assert line_nb.PytorchOOD is PytorchOOD and issubclass(PytorchOOD, FeaturesDetector)
    net, xs, ys, z = tiny
    kw = dict(act_prune_pct=50., weight_prune_pct=50., clip_threshold=None)
    ad = PytorchOOD('LINe', net, **kw).fit(loader(xs, ys))
    assert isinstance(ad, Detector) and ad.requires_fit
    ref = LINe(net.fc, **kw).fit_features(z[10:], ys[10:])
    close(ad.predict(xs), -ref.score_features(z)); close(ad.predict_features(z), -ref.score_features(z))
    assert torch.equal(ad(xs), ad.predict(xs))
    assert ad.get_hyperparameters() == {'act_prune_pct': 50., 'weight_prune_pct': 50., 'clip_threshold': None}
    assert set(ad.hyperparameter_space) == {'act_prune_pct', 'weight_prune_pct', 'clip_threshold'}
    # same from a Backbone, from W and b with fit_features, and from a built detector
    close(PytorchOOD('LINe', Backbone(net), **kw).fit(loader(xs, ys)).predict_features(z), -ref.score_features(z))
    close(PytorchOOD('LINe', net.fc.weight, net.fc.bias, **kw).fit_features(z, ys).predict_features(z), -ref.score_features(z))
    close(PytorchOOD(LINe(net.fc, **kw), model=net).fit(loader(xs, ys)).predict(xs), -ref.score_features(z))
    # LINe keeps its fit across set_hyperparameters and equals a LINe built with the new settings
    ad.set_hyperparameters(act_prune_pct=90., clip_threshold=0.5)
    close(ad.predict_features(z), -LINe(net.fc, act_prune_pct=90., weight_prune_pct=50., clip_threshold=0.5).fit_features(z[10:], ys[10:]).score_features(z))
    # other detectors are rebuilt and must be refitted
    knn = PytorchOOD('KNN', net, k=3).fit(loader(xs, ys))
    close(knn.predict_features(z), -KNN(net.fc, k=3).fit_features(z[10:]).score_features(z))
    knn.set_hyperparameters(k=7)
    with pytest.raises(RequiresFittingException): knn.predict_features(z)
    close(knn.fit(loader(xs, ys)).predict_features(z), -KNN(net.fc, k=7).fit_features(z[10:]).score_features(z))
    assert not PytorchOOD('Energy', net).requires_fit
    close(PytorchOOD('Energy', net).predict(xs), -Energy(net.fc).score_features(z))
    with pytest.raises(ModelNotSetException, match='has no model'): PytorchOOD('Energy', net.fc).predict(xs)
    with pytest.raises(ValueError, match='no ID samples'): PytorchOOD('LINe', net).fit_features(z, torch.full((100,), -1))
    with pytest.raises(ValueError, match='no ID samples'): PytorchOOD('LINe', net).fit(loader(xs, torch.full((100,), -1)))
    with pytest.raises(TypeError, match='LINe has no hyperparameter T'): PytorchOOD('LINe', net, T=2.)
    with pytest.raises(ValueError, match="Unknown hyperparameter 'T'"): ad.set_hyperparameters(T=2.)
    built = PytorchOOD(KNN(net.fc, k=4))
    assert built.get_hyperparameters() == {'k': 4}
    with pytest.raises(NotImplementedError, match='pass its name'): built.set_hyperparameters(k=1)


def planted(seed=0, n=600, q=16, L=4):
    "Features with planted structure: ID units 0..7 carry the class, OOD rows are large on units 8..15 and on random ID units."
    g = torch.Generator().manual_seed(seed)
    W = torch.rand(L, q, generator=g) * .2; W[torch.arange(L), 2 * torch.arange(L)] += 2.; W[torch.arange(L), 2 * torch.arange(L) + 1] += 1.
    y = torch.arange(n) % L
    x = torch.rand(n, q, generator=g); x[torch.arange(n), 2 * y] += 2.; x[torch.arange(n), 2 * y + 1] += 1.
    o = torch.rand(n // 2, q, generator=g); o[:, 8:] += torch.rand(n // 2, 8, generator=g) * 3
    o[torch.arange(n // 2), torch.randint(0, 8, (n // 2,), generator=g)] += torch.rand(n // 2, generator=g) * 2.5
    return W, torch.zeros(L), x, y, o


def test_pytorch_ood_grid_search_picks_the_best_auroc():
    "pytorch-ood's own GridSearch tunes LINe through the adapter and picks the setting whose AUROC (by line_nb's metric) is highest."
    pytest.importorskip('pytorch_ood', reason='pytorch-ood is a dev requirement')
    from pytorch_ood.utils import GridSearch
    from line_nb.interop import PytorchOOD
    W, b, x, y, o = planted()
    fit_l = loader(x[:400], y[:400], bs=128)
    val_l = loader(torch.cat([x[400:], o]), torch.cat([y[400:], torch.full((len(o),), -1)]), bs=128)
    space = {'act_prune_pct': [10., 50., 90.], 'weight_prune_pct': [10., 90.], 'clip_threshold': [0.5, None]}
    det = PytorchOOD('LINe', W, b, encoder=nn.Identity(), hyperparameter_space=space)
    gs = GridSearch(det, fit_loader=fit_l, val_loader=val_l)
    best = gs.run()
    ours = {}
    for r in gs.results_:
        line = LINe(W, b, **r['params']).fit_features(x[:400], y[:400])
        ours[tuple(r['params'].values())] = auroc(line.score_features(x[400:]), line.score_features(o))
        assert abs(ours[tuple(r['params'].values())] - r['score']) < 1e-9, r
    assert len(ours) == 12 and len(set(np.round(list(ours.values()), 6))) > 1     # the grid matters here
    assert ours[tuple(best.values())] == max(ours.values()) and abs(gs.best_score_ - max(ours.values())) < 1e-12
    assert 0.5 < max(ours.values()) < 1 and min(ours.values()) < max(ours.values()) - 0.1   # a real choice: not a perfect grid
    assert sorted(ours.values())[-2] < max(ours.values())                                   # and a single best setting
    assert det.get_hyperparameters() == best                                         # left configured and fitted with the best
    close(det.predict_features(o), -LINe(W, b, **best).fit_features(x[:400], y[:400]).score_features(o))


def test_hyperparameter_spaces_build():
    from line_nb.registry import make_detector, detector_parameters
    for n, space in HYPERPARAMETER_SPACES.items():
        assert space and set(space) <= set(detector_parameters(n)), n
        for p, vals in space.items():
            for v in vals: make_detector(n, torch.randn(3, 8), torch.zeros(3), **{p: v})


# ---------------------------------------------------------------- OpenOOD
class DictData(torch.utils.data.Dataset):
    def __init__(self, x, y): self.x, self.y = x, y
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {'data': self.x[i], 'label': int(self.y[i])}


def dl(x, y, bs=16): return torch.utils.data.DataLoader(DictData(x, y), batch_size=bs)


def test_openood_postprocessor_contract(tiny):
    net, xs, _, z = tiny
    ytr = torch.arange(100) % 5
    kw = dict(act_prune_pct=90., weight_prune_pct=50., clip_threshold=None)
    pp = OpenOODPostprocessor('LINe', args_dict={'act_prune_pct': [10., 90.], 'weight_prune_pct': [50.], 'clip_threshold': [None, 0.3]}, **kw)
    assert pp.APS_mode is False and pp.hyperparam_search_done is False and pp.config is None
    assert list(pp.args_dict) == ['act_prune_pct', 'weight_prune_pct', 'clip_threshold']
    with pytest.raises(RuntimeError, match='call setup'): pp.postprocess(net, xs)

    class Boom:  # any loader but id_loader_dict['train'] must not be read
        def __iter__(self): raise AssertionError('read')
    net.train()
    pp.setup(net, {'train': dl(xs, ytr), 'val': Boom(), 'test': Boom()}, {'val': Boom()})
    assert net.training; net.eval()                                      # the mode is restored
    pp.setup(net, {'train': Boom()}, {})                                 # a second setup does nothing (OpenOOD's setup_flag)
    ref = LINe(net.fc, **kw).fit_features(z, ytr)
    pred, conf = pp.postprocess(net, xs[:7])
    assert pred.shape == conf.shape == (7,) and pred.dtype == torch.long
    assert torch.equal(pred, net(xs[:7]).argmax(1)); close(conf, ref.score_features(z[:7]))   # conf: higher = ID, as OpenOOD
    p, c, l = pp.inference(net, dl(xs, ytr), progress=False)
    assert all(isinstance(a, np.ndarray) for a in (p, c, l)) and p.dtype.kind == 'i' and l.dtype.kind == 'i' and c.dtype.kind == 'f'
    assert p.shape == c.shape == l.shape == (100,)
    assert np.array_equal(l, ytr.numpy()) and np.array_equal(p, net(xs).argmax(1).numpy()); close(c, ref.score_features(z))
    pp.set_hyperparam([10., 50., 0.3]); assert pp.get_hyperparam() == [10., 50., 0.3]
    close(pp.inference(net, dl(xs, ytr), False)[1], LINe(net.fc, act_prune_pct=10., weight_prune_pct=50., clip_threshold=.3).fit_features(z, ytr).score_features(z))
    with pytest.raises(ValueError, match='expected 3 values'): pp.set_hyperparam([10.])
    # a detector that keeps its training features: set_hyperparam refits it
    kp = OpenOODPostprocessor('KNN', k=3); kp.setup(net, {'train': dl(xs, ytr)}, {})
    assert list(kp.args_dict) == ['k'] and kp.get_hyperparam() == [3]
    kp.set_hyperparam([7])
    close(kp.postprocess(net, xs)[1], KNN(net.fc, k=7).fit_features(z).score_features(z))
    with pytest.raises(TypeError, match='has no hyperparameter'): OpenOODPostprocessor('LINe', T=1.)


def test_openood_aps_picks_the_best_auroc():
    "The replay of OpenOOD's automatic parameter search keeps the grid's best AUROC and marks the search done."
    W, b, x, y, o = planted(seed=1)
    net = nn.Sequential(nn.Identity(), nn.Linear(16, 4)).eval()
    with torch.no_grad(): net[1].weight.copy_(W); net[1].bias.zero_()
    pp = OpenOODPostprocessor('LINe', APS_mode=True, args_dict={'act_prune_pct': [10., 90.], 'weight_prune_pct': [10., 90.], 'clip_threshold': [0.5, None]})
    pp.setup(net, {'train': dl(x[:400], y[:400], 128)}, {})
    best, res = openood_aps(pp, net, dl(x[400:], y[400:], 128), dl(o, torch.full((len(o),), -1), 128))
    assert len(res) == 8 and pp.hyperparam_search_done and pp.get_hyperparam() == best
    assert [h for h, _ in res][:2] == [[10., 10., 0.5], [90., 10., 0.5]]   # OpenOOD's order: the first key varies fastest
    for h, a in res:
        line = LINe(W, b, **dict(zip(pp.args_dict, h))).fit_features(x[:400], y[:400])
        assert abs(a - auroc(line.score_features(x[400:]), line.score_features(o))) < 1e-9
    assert dict(map(lambda r: (tuple(r[0]), r[1]), res))[tuple(best)] == max(a for _, a in res)


# ---------------------------------------------------------------- Backbone on models that return objects
@dataclass
class Out:
    logits: torch.Tensor


class Returns(nn.Module):
    def __init__(self, kind): super().__init__(); self.m, self.kind = Tiny().eval(), kind
    def forward(self, x):
        lg = self.m(x)
        return {'obj': Out(lg), 'tuple': (lg, x), 'list': [lg], 'dict': {'logits': lg}, 'other': {'scores': lg}}[self.kind]


@pytest.mark.parametrize('kind', ['obj', 'tuple', 'list', 'dict'])
def test_backbone_finds_the_logits(kind, tiny):
    _, xs, _, _ = tiny
    m = Returns(kind)
    with torch.no_grad():
        f, lg = Backbone(m)(xs); f0, lg0 = Backbone(m.m)(xs)
    assert torch.equal(f, f0) and torch.equal(lg, lg0)


def test_backbone_output_argument(tiny):
    _, xs, _, _ = tiny
    m = Returns('other')
    with torch.no_grad():
        lg0 = m.m(xs)
        for out in ('scores', lambda o: o['scores']): assert torch.equal(Backbone(m, output=out)(xs)[1], lg0)
        m2 = Returns('tuple'); assert torch.equal(Backbone(m2, output=0)(xs)[1], m2.m(xs))
    with pytest.raises(TypeError, match='cannot find the logits'): Backbone(m)(xs)
    with pytest.raises(TypeError, match="no attribute or key 'probs'"): Backbone(m, output='probs')(xs)
    with pytest.raises(TypeError, match='output must be None'): Backbone(m, output=1.5)(xs)


def random_rgb(n=40):
    g = torch.Generator().manual_seed(0)
    return ImageTensors(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), torch.arange(n) % 10, name='random-rgb32')


def line_fits_and_scores(model):
    data = random_rgb()
    fe = extract(model, data, cache=False, progress=False, device='cpu')
    assert fe.features.shape[0] == 40 and fe.logits.shape == (40, 10)
    det = LINe(Backbone(model), act_prune_pct=50., weight_prune_pct=50., clip_threshold=None).fit_features(fe.features, fe.labels)
    s = det.score_features(fe.features)
    assert s.shape == (40,) and torch.isfinite(s).all()
    close(s, det.score_inputs(model, data.transform(data.images)), tol=1e-4)


def test_timm_model():
    timm = pytest.importorskip('timm', reason='timm is a dev requirement: pip install timm')
    torch.manual_seed(0)
    m = timm.create_model('resnet18', pretrained=False, num_classes=10).eval()
    x = torch.rand(4, 3, 32, 32)
    bb = Backbone(m)
    assert bb.head is m.get_classifier() and (bb.num_features, bb.num_classes) == (512, 10)
    with torch.no_grad():
        f, lg = bb(x)
        close(f, m.forward_head(m.forward_features(x), pre_logits=True)); close(lg, m(x))
    line_fits_and_scores(m)


def test_transformers_image_classifier():
    tr = pytest.importorskip('transformers', reason='transformers is a dev requirement: pip install transformers')
    torch.manual_seed(0)
    m = tr.ViTForImageClassification(tr.ViTConfig(image_size=32, patch_size=8, num_labels=10, hidden_size=64, num_hidden_layers=2,
                                                  num_attention_heads=2, intermediate_size=128)).eval()
    x = torch.rand(4, 3, 32, 32)
    bb = Backbone(m)
    assert bb.head_name == 'classifier' and (bb.num_features, bb.num_classes) == (64, 10)
    with torch.no_grad():
        out = m(x); f, lg = bb(x)
        close(lg, out.logits); close(f, m.vit(x).last_hidden_state[:, 0])
        close(Backbone(m, output='logits')(x)[1], out.logits)
        close(bb.logits(x), m(x, return_dict=False)[0])
    line_fits_and_scores(m)


def test_odin_perturbs_models_whose_forward_returns_an_object():
    "ODIN with eps > 0 back-propagates to the input through `Backbone.logits`, so a ModelOutput-returning model works like a plain one."
    tr = pytest.importorskip('transformers', reason='transformers is a dev requirement: pip install transformers')
    from line_nb import ODIN
    torch.manual_seed(0)
    m = tr.ViTForImageClassification(tr.ViTConfig(image_size=32, patch_size=8, num_labels=10, hidden_size=64, num_hidden_layers=2,
                                                  num_attention_heads=2, intermediate_size=128)).eval()
    x = torch.rand(6, 3, 32, 32)
    odin = ODIN(Backbone(m), T=10., eps=0.01)
    s = odin.score_inputs(m, x)
    xp = odin.perturb(lambda z: m(z).logits, x)
    with torch.no_grad(): ref = torch.softmax(m(xp).logits / 10., 1).max(1).values
    close(s, ref); assert not torch.equal(xp, x)          # the input moved, and the score is that of the moved input
