"The package's layers: the top-level names load lazily, LINe needs only torch and NumPy, and nothing below the command line imports it."
import re, subprocess, sys
from pathlib import Path
import line_nb

ROOT = Path(__file__).resolve().parents[1]


def test_line_needs_only_torch_and_numpy():
    "`from line_nb import LINe` fits and scores with pandas, scikit-learn, matplotlib and the data-set packages unavailable."
    code = '''
import sys
for m in ('pandas', 'sklearn', 'matplotlib', 'seaborn', 'scipy', 'skimage', 'mlxtend'): sys.modules[m] = None   # import fails
import torch
from line_nb import LINe, Energy
W, b = torch.randn(3, 5), torch.randn(3)
x = torch.rand(30, 5); y = torch.arange(30) % 3
s = LINe(W, b, act_prune_pct=50., weight_prune_pct=50., clip_threshold=1.).fit_features(x, y).score_features(x)
assert s.shape == (30,) and bool(s.isfinite().all()) and Energy(W, b).score_features(x).shape == (30,)
print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'sklearn', 'matplotlib', 'PIL', 'skimage', 'mlxtend') and sys.modules[m] is not None))
'''
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '[]', r.stdout


def test_every_top_level_name_resolves():
    for name in line_nb.__all__: assert getattr(line_nb, name) is not None, name
    assert set(line_nb.__all__) <= set(dir(line_nb))
    try: line_nb.no_such_name
    except AttributeError as e: assert "no attribute 'no_such_name'" in str(e)
    else: raise AssertionError('an unknown name must raise AttributeError')


def test_nothing_below_the_command_line_imports_it():
    "Only the CLI notebook, its module and the answers to the CLI chapters' exercises may import `line_nb.cli`: the library and the chapters do not depend on the top floor."
    pat = re.compile(r'from \.cli\b|line_nb\.cli\b|from line_nb import cli\b')
    offenders = [str(p.relative_to(ROOT)) for p in [*ROOT.glob('line_nb/*.py'), *ROOT.glob('nbs/**/*.ipynb'), *ROOT.glob('bench/*.py')]
                 if p.name not in ('cli.py', '_modidx.py', '97_cli.ipynb', '97_cli_answers.ipynb', '97a_config_answers.ipynb') and pat.search(p.read_text())]
    assert offenders == []
