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
