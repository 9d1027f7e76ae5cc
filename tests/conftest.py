"Shared fixtures for the reliability tests: a registry of detectors, tiny heads, tiny models and a private cache folder."
import contextlib, io, os
from pathlib import Path
import pytest
import torch, torch.nn as nn
from line_nb import MSP, Energy, LINe, ODIN, Mahalanobis, ReAct, DICE, DICEReAct, KNN, NAN, NERO, ASH, SCALE
from line_nb.core import set_seed
from line_nb.baselines import combine_nan

torch.set_num_threads(1)

# name -> factory(W, b) -> (detector, needs_labels). Adding a detector is one line here; every parametrized test picks it up.
DETECTORS = {
    'MSP': lambda W, b: (MSP(W, b), False),
    'Energy': lambda W, b: (Energy(W, b), False),
    'LINe': lambda W, b: (LINe(W, b, act_prune_pct=50., weight_prune_pct=50., clip_threshold=1.0), True),
    'LINe-paper': lambda W, b: (LINe(W, b, act_prune_pct=30., weight_prune_pct=70., clip_threshold=0.8, mode='paper'), True),
    'ODIN': lambda W, b: (ODIN(W, b, eps=0.), False),          # eps > 0 needs images: tested in test_parity and 16_baselines
    'Mahalanobis': lambda W, b: (Mahalanobis(W, b), True),
    'ReAct': lambda W, b: (ReAct(W, b, pct=90.), False),
    'DICE': lambda W, b: (DICE(W, b, p=70.), False),
    'DICE+ReAct': lambda W, b: (DICEReAct(W, b, p=70., threshold=1.0), False),
    'KNN': lambda W, b: (KNN(W, b, k=3), False),
    'NAN': lambda W, b: (NAN(W, b), False),
    'NAN+KNN': lambda W, b: (NAN(W, b, distance=KNN(W, b, k=3)), False),
    'NAN+Mahalanobis': lambda W, b: (NAN(W, b, distance=Mahalanobis(W, b)), True),
    'NAN+ReAct': lambda W, b: (combine_nan(W, b, react=True), False),                                   # the clip fitted: ID p90
    'NAN+ReAct+KNN': lambda W, b: (combine_nan(W, b, KNN(W, b, k=3), react=True), False),
    'NAN+ReAct+Mahalanobis': lambda W, b: (combine_nan(W, b, Mahalanobis(W, b), react=True, threshold=1.0), True),
    'NERO': lambda W, b: (NERO(W, b, k=4), True),
    'ASH': lambda W, b: (ASH(W, b, pct=65.), False),
    'SCALE': lambda W, b: (SCALE(W, b, pct=65.), False),
}

# Detectors documented to refuse negative features (ASH and SCALE shape post-ReLU activations): property tests feed them |x|.
NONNEGATIVE_ONLY = {'ASH', 'SCALE'}


def inputs_for(name: str, x):
    "The property-test input for detector `name`: |x| for the detectors that refuse negative features, else x."
    return abs(x) if name in NONNEGATIVE_ONLY else x


L, Q = 4, 12   # classes, feature width of the tiny heads and models


def make_head(seed: int = 0, L: int = L, q: int = Q):
    "A random head (W (L, q), b (L,))."
    g = torch.Generator().manual_seed(seed)
    return torch.randn(L, q, generator=g), torch.randn(L, generator=g)


def make_features(n: int = 64, q: int = Q, L: int = L, seed: int = 1):
    "Non-negative (post-ReLU-like) features and labels covering every class."
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, q, generator=g) * 2
    y = torch.arange(n) % L
    return x, y[torch.randperm(n, generator=g)]


def fitted(name: str, seed: int = 0):
    "A detector from the registry, fitted on tiny features; returns (detector, needs_labels, features, labels)."
    W, b = make_head(seed)
    det, needs_labels = DETECTORS[name](W, b)
    x, y = make_features()
    det.fit_features(x, y)
    return det, needs_labels, x, y


class TinyNet(nn.Module):
    "Conv-BN-ReLU, global average pooling, a linear head: a BatchNorm so that a train-mode pass would change buffers."
    def __init__(self, q: int = Q, L: int = L):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, q, 3, padding=1), nn.BatchNorm2d(q), nn.ReLU(), nn.Dropout(0.5))
        self.fc = nn.Linear(q, L)
    def forward(self, x): return self.fc(self.body(x).mean((2, 3)))


def tiny_model(seed: int = 0):
    set_seed(seed)
    m = TinyNet()
    with torch.no_grad():   # non-trivial BatchNorm statistics
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d): mod.running_mean.uniform_(-.5, .5); mod.running_var.uniform_(.5, 2.)
    return m


def tiny_data(n: int = 40, seed: int = 0, labels: bool = True, name: str = 'tiny'):
    from line_nb import ImageTensors
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = (torch.arange(n) % L) if labels else None
    return ImageTensors(imgs, y, name=name)


TESTS = Path(__file__).resolve().parent


def subprocess_env(*paths, **extra) -> dict:
    "The environment for a test's Python subprocess: one torch thread, tests/ (and `paths`) importable, plus `extra`."
    return {**os.environ, 'OMP_NUM_THREADS': '1', **extra,
            'PYTHONPATH': os.pathsep.join([str(TESTS), *map(str, paths), os.environ.get('PYTHONPATH', '')])}


def run_cli(args):
    "Exit code, stdout and stderr of `line-nb ARGS`, run in-process."
    from line_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main(args)
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A private LINE_NB_CACHE for the test (never the user's ~/.cache/line_nb)."
    d = tmp_path/'cache'
    monkeypatch.setenv('LINE_NB_CACHE', str(d))
    return d


@pytest.fixture(params=list(DETECTORS))
def det_name(request): return request.param

