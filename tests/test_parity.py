"""Parity with pytorch-ood: for every detector both libraries implement, the same scores on the same features or model,
after converting pytorch-ood's sign convention (higher = more OOD) and its fractions to our percentages.
Where the two differ by definition (documented in nbs/16_baselines.ipynb), parity is tested at matched settings."""
import numpy as np, pytest, torch, torch.nn as nn
pood = pytest.importorskip('pytorch_ood.detector')
from line_nb import (MSP, ODIN, Mahalanobis, Energy, ReAct, DICE, DICEReAct, ASH, SCALE, KNN, LINe, NAN, NERO,
                     PytorchOOD)

TOL = 1e-4
torch.set_num_threads(1)


class Net(nn.Module):
    "A small CNN ending in ReLU, global average pooling and one linear layer, like the paper's networks."
    def __init__(self, q=32, L=5):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, q, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(q, L)
    def forward(self, x): return self.fc(self.body(x))


@pytest.fixture(scope='module')
def setup():
    torch.manual_seed(0)
    net = Net().eval()
    g = torch.Generator().manual_seed(1)
    x_tr, x_te = torch.randn(400, 3, 8, 8, generator=g), torch.randn(60, 3, 8, 8, generator=g)
    y_tr = torch.arange(400) % 5
    with torch.no_grad(): z_tr, z_te = net.body(x_tr), net.body(x_te)
    return net, x_te, z_tr, y_tr, z_te


def head_on_maps(net):
    "pytorch-ood's feature-map detectors take (B, C, H, W) maps: pooled features are passed as (B, q, 1, 1)."
    return lambda t: net.fc(t.flatten(1))


def close(ours, theirs, tol=TOL):
    ours, theirs = torch.as_tensor(ours).double(), torch.as_tensor(theirs).double()
    assert ours.shape == theirs.shape
    err = (ours - theirs).abs().max().item()
    assert err <= tol * (1 + theirs.abs().max().item()), f"max abs difference {err:.3g}"


def test_msp_energy(setup):
    net, _, _, _, z = setup
    logits = net.fc(z)
    close(-MSP(net.fc).score_features(z), pood.MaxSoftmax(None).predict_logits(logits))
    close(-Energy(net.fc).score_features(z), pood.EnergyBased(None).predict_logits(logits))
    close(-Energy(net.fc, T=3.).score_features(z), pood.EnergyBased(None, t=3.).predict_logits(logits))


@pytest.mark.parametrize('std', [None, (0.2, 0.3, 0.4)])
def test_odin(setup, std):
    net, x, *_ = setup
    for T, eps in [(1000., 0.0014), (10., 0.01)]:
        theirs = pood.ODIN(net, eps=eps, temperature=T, norm_std=None if std is None else list(std)).predict(x)
        close(-ODIN(net.fc, T=T, eps=eps, input_std=std).score_inputs(net, x), theirs)


def test_mahalanobis(setup):
    """pytorch-ood: covariance = sum of centred outer products (no 1/N) + 1e-6 I inverted with `inv`, score = half the
    squared distance. Matched setting: a full-rank covariance (the CNN's ReLU features have near-dead units, where `inv` of
    the ridged matrix and our pseudo-inverse legitimately differ)."""
    net, _, _, y_tr, _ = setup
    g = torch.Generator().manual_seed(3)
    z_tr, z = torch.randn(len(y_tr), 32, generator=g) + y_tr[:, None] * 0.3, torch.randn(60, 32, generator=g)
    zd, zt = z_tr.double(), z.double()
    old = torch.get_default_dtype(); torch.set_default_dtype(torch.float64)   # pytorch-ood allocates its buffers in the default dtype
    try: theirs = pood.Mahalanobis(None).fit_features(zd, y_tr).predict_features(zt)
    finally: torch.set_default_dtype(old)
    ours = Mahalanobis(net.fc).fit_features(z_tr, y_tr).score_features(z)
    close(ours, -2 * len(z_tr) * theirs, tol=1e-4)


def test_react(setup):
    net, _, z_tr, y_tr, z = setup
    theirs = pood.ReAct(None, head_on_maps(net), percentile=0.9)
    theirs.fit_feature_maps(z_tr[:, :, None, None], y_tr)
    ours = ReAct(net.fc, pct=90).fit_features(z_tr)
    assert abs(ours.threshold.item() - theirs.threshold) < 1e-5
    close(-ours.score_features(z), theirs.predict_feature_maps(z[:, :, None, None]))


@pytest.mark.parametrize('p', [10., 50., 90.])
def test_dice(setup, p):
    net, _, z_tr, y_tr, z = setup
    theirs = pood.DICE(None, net.fc.weight, net.fc.bias, p=p / 100).fit_features(z_tr, y_tr)
    ours = DICE(net.fc, p=p).fit_features(z_tr)
    assert torch.equal(ours.mask, theirs.masked_w != 0)
    close(-ours.score_features(z), theirs.predict_features(z))


def test_dice_react_is_clip_of_dice(setup):
    "No pytorch-ood counterpart: DICE + ReAct equals pytorch-ood's DICE applied to clipped features."
    net, _, z_tr, y_tr, z = setup
    ours = DICEReAct(net.fc, p=90, threshold=0.05).fit_features(z_tr)
    theirs = pood.DICE(None, net.fc.weight, net.fc.bias, p=0.9).fit_features(z_tr, y_tr)
    close(-ours.score_features(z), theirs.predict_features(z.clamp(max=0.05)))


@pytest.mark.parametrize('variant', ['p', 'b', 's'])
@pytest.mark.parametrize('pct', [65., 90.])
def test_ash(setup, variant, pct):
    net, _, _, _, z = setup
    theirs = pood.ASH(None, head_on_maps(net), variant=f'ash-{variant}', percentile=pct / 100)
    close(-ASH(net.fc, pct=pct, variant=variant).score_features(z), theirs.predict_feature_maps(z[:, :, None, None]))


@pytest.mark.parametrize('pct', [65., 85.])
def test_scale(setup, pct):
    net, _, _, _, z = setup
    theirs = pood.SCALE(None, head_on_maps(net), percentile=pct / 100)
    close(-SCALE(net.fc, pct=pct).score_features(z), theirs.predict_feature_maps(z[:, :, None, None]))


@pytest.mark.parametrize('k', [1, 10])
def test_knn(setup, k):
    net, _, z_tr, y_tr, z = setup
    theirs = pood.KNN(None, k=k).fit_features(z_tr, y_tr).predict_features(z)     # scikit-learn's Euclidean k-th neighbour distance
    close(-KNN(net.fc, k=k, metric='euclidean').fit_features(z_tr).score_features(z), theirs, tol=1e-4)
    close(-KNN(net.fc, k=k).fit_features(z_tr).score_features(z), theirs ** 2, tol=1e-4)   # default: squared, as the official faiss code


def test_adapter_is_a_pytorch_ood_detector(setup):
    "Any line_nb detector plugs into pytorch-ood: fit on a loader (OOD-labelled rows skipped), predict on inputs and on features."
    from pytorch_ood.api import Detector
    net, x, z_tr, y_tr, z = setup
    g = torch.Generator().manual_seed(2)
    xs = torch.randn(100, 3, 8, 8, generator=g); ys = torch.arange(100) % 5; ys[:10] = -1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys), batch_size=32)
    for det in [LINe(net.fc, clip_threshold=None), KNN(net.fc, k=3), NERO(net.fc), NAN(net.fc), Mahalanobis(net.fc)]:
        ad = PytorchOOD(det, model=net)
        assert isinstance(ad, Detector) and ad.requires_fit == det.needs_fit
        ad.fit(loader)
        with torch.no_grad(): zz = net.body(x)
        close(ad.predict(x), -det.score_features(zz))
        close(ad.predict_features(zz), -det.score_features(zz))
    ref = KNN(net.fc, k=3).fit_features(net.body(xs[10:]).detach())
    close(PytorchOOD(KNN(net.fc, k=3), model=net).fit(loader).predict_features(z), -ref.score_features(z))   # OOD-labelled rows skipped
    with pytest.raises(ValueError, match='no ID samples'):
        PytorchOOD(KNN(net.fc, k=3)).fit_features(z_tr, torch.full((len(z_tr),), -1))
    with pytest.raises(ValueError, match='has no model'):
        PytorchOOD(Energy(net.fc)).predict(x)
