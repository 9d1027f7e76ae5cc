"README.md is generated from nbs/index.ipynb (docs/readme.py): the committed README is what the notebook gives, and the renderer's rules."
import importlib.util, json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('readme', ROOT/'docs'/'readme.py')
readme = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(readme)


def test_committed_readme_is_generated_from_the_home_notebook():
    assert (ROOT/'README.md').read_text() == readme.render(), "run `make readme` after editing nbs/index.ipynb"
    assert readme.main(['--check']) == 0


def _nb(tmp_path, cells):
    p = tmp_path/'index.ipynb'
    p.write_text(json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    return p


def md(s): return {'cell_type': 'markdown', 'metadata': {}, 'source': s}
def code(s, outputs=()): return {'cell_type': 'code', 'metadata': {}, 'source': s, 'outputs': list(outputs), 'execution_count': None}


def test_render_rules(tmp_path):
    out = {'output_type': 'stream', 'name': 'stdout', 'text': ['3\n']}
    err = {'output_type': 'stream', 'name': 'stderr', 'text': ['progress\n']}
    p = _nb(tmp_path, [md('# proj\n\n> what it is'), code('#| hide\nsecret = 1'), code('print(1 + 2)', [out, err]),
                       code('#| echo: false\nprint(3)', [out]), code('#| export\ndef f(): pass'), md('## Next\ntext')])
    assert readme.render(p) == (f"# proj\n\n{readme.WARNING}\n\n> what it is\n\n```python\nprint(1 + 2)\n```\n\n```\n3\n```\n\n"
                                "```\n3\n```\n\n## Next\ntext\n")
    with pytest.raises(ValueError, match="must open with a '# title'"): readme.render(_nb(tmp_path, [md('no title')]))


def test_readme_fit_then_score_runs_as_written(tmp_path):
    "The README's `line-nb fit` / `line-nb score` block, run line by line as written in a fresh folder (the offline Fashion-MNIST model)."
    import os, subprocess, sys
    import pandas as pd, torch
    block = (ROOT/'README.md').read_text().split('## Fit once, score folders')[1].split('```bash\n')[1].split('```')[0]
    lines = [l for l in block.strip().splitlines() if l.strip()]
    assert [l.split()[:2] for l in lines] == [['line-nb', 'fit'], ['python', '-c'], ['line-nb', 'score']]
    env = {**os.environ, 'PATH': f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", 'OMP_NUM_THREADS': '1'}
    for line in lines:
        r = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, (line, r.stderr[-3000:])
    assert 'threshold' in subprocess.run(lines[0], shell=True, cwd=tmp_path, env=env, capture_output=True, text=True).stdout
    df = pd.read_csv(tmp_path/'scores.csv')
    assert list(df.columns) == ['file', 'score', 'in_distribution'] and len(df) == 200 and df.file.str.startswith('mnist_').all()
    rec = torch.load(tmp_path/'fashion-line.pt', weights_only=True)
    assert rec['detector'] == 'LINe' and rec['meta']['model']['name'] == 'fashion-cnn'
    assert (df.score >= rec['meta']['threshold']).tolist() == df.in_distribution.tolist()   # in = at or above the saved threshold


def test_results_page_is_generated_from_the_committed_csvs():
    "docs/results.md's table and verdicts are what docs/results.py writes from nbs/results/*.csv (no number typed by hand)."
    spec = importlib.util.spec_from_file_location('results', ROOT/'docs'/'results.py')
    results = importlib.util.module_from_spec(spec); spec.loader.exec_module(results)
    text = (ROOT/'docs'/'results.md').read_text()
    assert results.render(text) == text, "run `python docs/results.py` after the benchmark chapters write new CSVs"
    assert '| **LINe** |' in results.table()
    v = results.verdicts()
    assert all(line.count('**') >= 2 for line in v.splitlines()[2:])   # every claim has a verdict on at least one benchmark
