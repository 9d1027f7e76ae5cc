"""The rendered documentation, checked in a real headless browser (Debian's `chromium`).

Builds the docs the way `make docs` does (Sphinx + MyST-NB + Furo, offline, notebooks not
executed; Sphinx's incremental build keeps a fresh build fast), then loads pages with
`chromium --headless --dump-dom` and checks what a reader would see."""
import importlib.util, json, re, shutil, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS = ROOT/'nbs', ROOT/'docs'
SITE = DOCS/'_build'/'html'
BENCHMARK_PAGE = '20_benchmark_fashion'  # the notebook whose page must show the results table
INSTALL = ("Debian's chromium is needed to check the rendered docs in a real browser: "
           "install it with `apt-get install chromium` (`make setup` does)")


_spec = importlib.util.spec_from_file_location('docs_conf', ROOT/'docs'/'conf.py')
conf = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(conf)   # the docs' own rules for which pages exist


def notebooks():
    "Every notebook the docs render, relative to nbs/ and without suffix, e.g. 'answers/15_line_answers'."
    return [str(p.with_suffix('')) for p in conf.notebooks()]


modules = conf.modules


def plain(md):
    "A Markdown heading as the browser shows its text (smart quotes made plain)."
    md = md.translate(str.maketrans('‘’“”', "''\"\""))
    return ' '.join(re.sub(r'[`*]', '', md).split())


def nb_facts(name):
    "The notebook's title (its first `# ` heading) and which kinds of stored output it has."
    nb = json.loads((NBS/f'{name}.ipynb').read_text())
    title = next((l[2:] for c in nb['cells'] if c['cell_type'] == 'markdown'
                  for l in ''.join(c['source']).splitlines() if l.startswith('# ')), None)
    outs = [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])
            if o['output_type'] != 'stream' or o.get('name') == 'stdout']
    mimes = {m for o in outs for m in o.get('data', {})}
    tables = any('<table' in ''.join(o['data']['text/html']) for o in outs if 'text/html' in o.get('data', {}))
    return title, bool(outs), 'image/png' in mimes, tables


class Page(HTMLParser):
    "What a test needs from a DOM: title, h1s, links, ids, images, tables (header and body cells), <pre> text."
    def __init__(self, dom):
        super().__init__(); self.title = ''; self.h1 = []; self.hrefs = set(); self.ids = set()
        self.imgs = []; self.tables = []; self.pre = []; self.classes = set(); self._open = []
        self._text = []; self.feed(dom); self.close(); self.text = ' '.join(' '.join(self._text).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        self.classes.update((a.get('class') or '').split())
        if tag == 'a' and a.get('href'): self.hrefs.add(a['href'].split('#')[0])
        if tag == 'img': self.imgs.append(a.get('src', ''))
        if tag == 'table': self.tables.append({'head': [], 'body': []})
        if tag in ('title', 'h1', 'pre', 'th', 'td'): self._open.append([tag, ''])

    def handle_data(self, data):
        self._text.append(data)
        for o in self._open: o[1] += data

    def handle_endtag(self, tag):
        if not self._open or self._open[-1][0] != tag: return
        t, text = self._open.pop(); text = ' '.join(text.split())
        if t == 'title': self.title = self.title or text  # the <head>'s, not an SVG icon's
        elif t == 'h1': self.h1.append(text.rstrip('¶#').strip())  # without the permalink
        elif t == 'pre': self.pre.append(text)
        elif self.tables: self.tables[-1]['head' if t == 'th' else 'body'].append(text)


@pytest.fixture(scope='module')
def chromium():
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if exe is None: pytest.fail(INSTALL)
    return exe


@pytest.fixture(scope='module')
def site():
    "Build (incrementally) into docs/_build/html, as `make docs` does; return the warnings."
    with tempfile.TemporaryDirectory() as tmp:
        warn = Path(tmp)/'warnings.txt'
        r = subprocess.run([sys.executable, '-m', 'sphinx', '-q', '-b', 'html', '-w', str(warn),
                            str(DOCS), str(SITE)], capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f'sphinx-build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
        return warn.read_text()


@pytest.fixture(scope='module')
def pages(chromium, site):
    "Every page the tests look at, loaded in headless chromium (two at a time): {path: Page}."
    paths = ['index.html', 'api/index.html', 'api/line_nb.line.html'] + [f'nbs/{n}.html' for n in notebooks()]
    def load(path):
        f = SITE/path
        assert f.exists(), f'{path} was not built'
        with tempfile.TemporaryDirectory() as profile:
            r = subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                                '--disable-dev-shm-usage', f'--user-data-dir={profile}', '--dump-dom',
                                f.as_uri()], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and '<body' in r.stdout, f'chromium could not load {path}: {r.stderr[-2000:]}'
        return path, Page(r.stdout)
    with ThreadPoolExecutor(2) as ex: return dict(ex.map(load, paths))


def test_build_has_no_errors(site):
    bad = [l for l in site.splitlines() if 'ERROR' in l or 'CRITICAL' in l or 'failed to import' in l]
    assert not bad, 'the docs build reported:\n' + '\n'.join(bad)


def test_index_links_every_notebook_and_the_api(pages):
    idx = pages['index.html']
    assert 'line_nb' in idx.title and idx.h1 == ['line_nb']
    missing = [n for n in notebooks() if f'nbs/{n}.html' not in idx.hrefs]
    assert not missing, f'index.html has no link to {missing}'
    assert 'api/index.html' in idx.hrefs
    assert 'FPR95' in idx.text  # the README's results table is on the landing page


@pytest.mark.parametrize('name', notebooks())
def test_notebook_page(pages, name):
    title, has_out, has_png, has_table = nb_facts(name)
    page = pages[f'nbs/{name}.html']
    assert title, f'{name}.ipynb has no `# title` markdown heading'
    h1 = [plain(h) for h in page.h1]
    assert plain(title) in h1, f'{name}: title {title!r} not among the headings {page.h1}'
    assert plain(title) in plain(page.title)
    if has_out: assert 'cell_output' in page.classes, f'{name}: stored outputs are not rendered'
    if has_png:
        imgs = [s for s in page.imgs if '_images/' in s or s.startswith('data:image')]
        assert imgs, f'{name}: the notebook has figures, the page shows none'
        here = (SITE/f'nbs/{name}.html').parent
        assert all((here/s).resolve().is_file() for s in imgs if not s.startswith('data:')), f'{name}: {imgs}'
    if has_table: assert page.tables, f'{name}: the notebook has tables, the page shows none'
    directives = [p for p in page.pre if re.search(r'(^|\n)\s*#\s*\|', p)]
    assert not directives, f'{name}: nbdev directives leak into the page: {directives[0][:200]}'
    assert 'index.html' in {h.rsplit('/', 1)[-1] for h in page.hrefs}  # the navigation is there


def test_api_reference(pages):
    api, line = pages['api/index.html'], pages['api/line_nb.line.html']
    missing = [m for m in modules() if f'line_nb.{m}.html' not in api.hrefs]
    assert not missing, f'the API reference has no page for {missing}'
    assert 'LINe' in api.text and 'fit_features' in line.text
    assert {'line_nb.line.LINe', 'line_nb.line.LINe.fit_features'} <= line.ids
    assert 'act_prune_pct' in line.text and 'PRUNED' in line.text  # per-parameter comments shown


def test_benchmark_page_has_results_table(pages):
    page = pages[f'nbs/{BENCHMARK_PAGE}.html']
    results = [t for t in page.tables if {'FPR95', 'AUROC'} <= set(t['head'])
               and any(re.fullmatch(r'-?\d+(\.\d+)?', c) for c in t['body'])]
    assert results, f'{BENCHMARK_PAGE}: no table with FPR95 and AUROC columns and numbers'
