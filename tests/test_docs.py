"""The rendered documentation, checked in a real headless browser (Debian's `chromium`).

Builds the docs the way `make docs` does (Sphinx + MyST-NB + Furo, offline, notebooks not
executed; Sphinx's incremental build keeps a fresh build fast), then loads pages with
`chromium --headless --dump-dom` and checks what a reader would see."""
import html, importlib.util, json, re, shutil, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS = ROOT/'nbs', ROOT/'docs'
SITE = DOCS/'_build'/'html'
SHOTS = DOCS/'_build'/'screenshots'   # for review: the home page, a method chapter, the benchmark, the LINe API page
WIDTH = 1280                          # the reader's window; the page body must not scroll sideways in it
BENCHMARK_PAGE = '20_benchmark_fashion'  # the notebook whose page must show the results table
INSTALL = ("Debian's chromium is needed to check the rendered docs in a real browser: "
           "install it with `apt-get install chromium` (`make setup` does)")


_spec = importlib.util.spec_from_file_location('docs_conf', ROOT/'docs'/'conf.py')
conf = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(conf)   # the docs' own rules for which pages exist


def notebooks():
    "Every notebook the docs render, relative to nbs/ and without suffix, e.g. 'answers/15_line_answers'."
    return [str(p.with_suffix('')) for p in conf.notebooks()]


modules = conf.modules


def chromium_args(exe, profile):
    return [exe, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage',
            '--disable-background-networking', '--hide-scrollbars', f'--user-data-dir={profile}', f'--window-size={WIDTH},2400']


# Injected into a copy of each page (beside it, so relative links hold): once the page and MathJax are done, it
# writes what the tests measure into the DOM that --dump-dom returns.
PROBE = r"""<script>
window.addEventListener('load', function () {
  function done() {
    var d = document.documentElement, art = document.querySelector('article') || document.body;
    var text = art.cloneNode(true);
    text.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(function (e) { e.remove(); });
    var raw = (text.textContent.match(/.{0,40}(\\\[|\\\(|\$\$|\\begin\{).{0,40}/g) || []).slice(0, 5);
    // a table, block of code or figure wider than the text column must scroll inside a box of its own
    var wide = [], right = art.getBoundingClientRect().right;
    art.querySelectorAll('table, pre, img, mjx-container[display="true"]').forEach(function (e) {
      if (e.getBoundingClientRect().right <= right + 1) return;
      for (var a = e.parentElement; a && a !== art; a = a.parentElement) {
        var o = getComputedStyle(a).overflowX;
        if ((o === 'auto' || o === 'scroll') && a.getBoundingClientRect().right <= right + 1) return; }
      if (wide.length < 5) wide.push(e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 60)); });
    var res = performance.getEntriesByType('resource').map(function (e) { return e.name; });
    var out = document.createElement('pre'); out.id = 'probe-result';
    out.textContent = JSON.stringify({scrollWidth: d.scrollWidth, mathjax: document.querySelectorAll('mjx-container').length,
                                      rawTex: raw, wide: wide, resources: res});
    document.body.appendChild(out);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(done); else done();
});
</script>"""
_PROBED = re.compile(r'<pre id="probe-result">(.*?)</pre>', re.S)


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
        m = _PROBED.search(dom)
        self.probe = json.loads(html.unescape(m.group(1))) if m else None
        if m: dom = dom[:m.start()] + dom[m.end():]
        super().__init__(); self.title = ''; self.h1 = []; self.hrefs = set(); self.ids = set()
        self.imgs = []; self.tables = []; self.pre = []; self.classes = set(); self._open = []
        self._text = []; self._a = 0; self.code_text = []; self.feed(dom); self.close(); self.text = ' '.join(' '.join(self._text).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        self.classes.update((a.get('class') or '').split())
        if tag == 'a' and a.get('href'): self.hrefs.add(a['href'].split('#')[0])
        if tag == 'a': self._a += 1
        if tag == 'code' and not self._a: self._open.append([tag, ''])   # inline code that is not a link's text
        if tag == 'img': self.imgs.append(a.get('src', ''))
        if tag == 'table': self.tables.append({'head': [], 'body': []})
        if tag in ('title', 'h1', 'pre', 'th', 'td'): self._open.append([tag, ''])

    def handle_data(self, data):
        self._text.append(data)
        for o in self._open: o[1] += data

    def handle_endtag(self, tag):
        if tag == 'a': self._a = max(0, self._a - 1)
        if not self._open or self._open[-1][0] != tag: return
        t, text = self._open.pop(); text = ' '.join(text.split())
        if t == 'title': self.title = self.title or text  # the <head>'s, not an SVG icon's
        elif t == 'h1': self.h1.append(text.rstrip('¶#').strip())  # without the permalink
        elif t == 'pre': self.pre.append(text)
        elif t == 'code': self.code_text.append(text)
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
    paths = (['index.html', 'api/index.html', 'api/line_nb.line.html'] + [f'{g}.html' for g in conf.GUIDES]
             + [f'nbs/{n}.html' for n in notebooks()])
    def load(path):
        f = SITE/path
        assert f.exists(), f'{path} was not built'
        probe = f.with_name(f'.probe-{f.name}')   # beside the page, so that its relative links hold
        probe.write_text(f.read_text(encoding='utf-8').replace('</body>', PROBE + '</body>'), encoding='utf-8')
        try:
            with tempfile.TemporaryDirectory() as profile:
                r = subprocess.run(chromium_args(chromium, profile) + ['--virtual-time-budget=20000', '--dump-dom', probe.as_uri()],
                                   capture_output=True, text=True, timeout=180)
        finally: probe.unlink(missing_ok=True)
        assert r.returncode == 0 and '<body' in r.stdout, f'chromium could not load {path}: {r.stderr[-2000:]}'
        page = Page(r.stdout)
        assert page.probe is not None, f'{path}: the measuring script did not run'
        return path, page
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
    # a short home page: what it is, install, an example, the course (linked) and the guides, each a page of its own
    body = idx.text.split('Start here')[0]
    assert 'Quick start' in body and 'A first example' in body and 'Fit once, score folders' in body
    assert not {'--odin-max', 'Why the head misses 2x', 'LINE_NB_CHECKPOINTS'} & set(re.findall(r'--odin-max|Why the head misses 2x|LINE_NB_CHECKPOINTS', idx.text))
    assert {f'{g}.html' for g in conf.GUIDES} <= idx.hrefs
    assert '--odin-max' in pages['cli.html'].text and 'FPR95' in pages['results.html'].text
    assert 'Why the head misses 2x' in pages['performance.html'].text and 'LINE_NB_CHECKPOINTS' in pages['data.html'].text


@pytest.mark.parametrize('name', notebooks())
def test_notebook_page(pages, name):
    title, has_out, has_png, has_table = nb_facts(name)
    page = pages[f'nbs/{name}.html']
    assert title, f'{name}.ipynb has no `# title` markdown heading'
    h1 = [plain(h) for h in page.h1]
    shown = plain(conf.page_title(title))   # `# core` is shown as "Core": every title in the navigation starts with a capital
    assert shown in h1, f'{name}: title {title!r} not among the headings {page.h1}'
    assert shown in plain(page.title) and shown[:1] == shown[:1].upper()
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


# ---------------------------------------------------------------- the whole site, as built
def built_pages():
    "Every HTML page of the site (the probes' temporary copies left out)."
    return sorted(p for p in SITE.rglob('*.html') if not p.name.startswith('.probe-'))


class Refs(HTMLParser):
    "Every URL a page loads (scripts, stylesheets, icons, images, media, frames, inline styles' url()) and every link."
    LOADS = {'script': 'src', 'img': 'src', 'iframe': 'src', 'source': 'src', 'video': 'src', 'audio': 'src',
             'embed': 'src', 'object': 'data', 'input': 'src', 'track': 'src'}
    NOT_LOADED = {'next', 'prev', 'index', 'search', 'author', 'license', 'canonical', 'help', 'copyright'}

    def __init__(self, text):
        super().__init__(); self.loads = []; self.links = []; self.ids = set(); self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name') if tag == 'a' else ('id',):
            if a.get(k): self.ids.add(a[k])
        if tag in self.LOADS and a.get(self.LOADS[tag]): self.loads.append(a[self.LOADS[tag]])
        if tag == 'img' and a.get('srcset'): self.loads += [u.split()[0] for u in a['srcset'].split(',')]
        if tag == 'link' and a.get('href') and not set((a.get('rel') or '').split()) <= self.NOT_LOADED: self.loads.append(a['href'])
        if a.get('style'): self.loads += re.findall(r'url\(["\']?([^"\')]+)', a['style'])
        if tag == 'a' and a.get('href'): self.links.append(a['href'])


_EXTERNAL = re.compile(r'^(?:[a-z][a-z0-9+.-]*:)?//', re.I)
_parsed = {}


def refs(path):
    if path not in _parsed: _parsed[path] = Refs(path.read_text(encoding='utf-8', errors='replace'))
    return _parsed[path]


def test_nothing_is_loaded_from_outside_the_site(site):
    "Scripts, styles, fonts, images and MathJax all come from the site itself: it works offline, as built."
    bad = [f'{p.relative_to(SITE)}: {u}' for p in built_pages() for u in refs(p).loads
           if _EXTERNAL.match(u) or u.startswith(('http:', 'https:'))]
    # the stylesheets (Furo's, MyST-NB's, ours) and what they import: no web fonts or CDN files
    for css in SITE.rglob('*.css'):
        for u in re.findall(r'(?:url\(\s*["\']?|@import\s+["\'])([^"\')]+)', css.read_text(encoding='utf-8', errors='replace')):
            if _EXTERNAL.match(u): bad.append(f'{css.relative_to(SITE)}: {u}')
            elif not u.startswith('data:') and not (css.parent/u.split('?')[0].split('#')[0]).exists(): bad.append(f'{css.relative_to(SITE)}: missing {u}')
    assert not bad, 'loaded from outside the site (or missing):\n' + '\n'.join(bad[:20])
    local = [u for p in built_pages() for u in refs(p).loads if not u.startswith('data:')]
    missing = sorted({u for p in built_pages() for u in refs(p).loads
                      if not u.startswith('data:') and not (p.parent/u.split('?')[0].split('#')[0]).exists()})
    assert local and not missing, f'pages load files the site lacks: {missing[:10]}'
    assert (SITE/'_static'/'mathjax'/'tex-chtml-full.js').exists() and list((SITE/'_static'/'mathjax').rglob('*.woff'))


def test_the_browser_requests_nothing_outside_the_site(pages):
    "What chromium actually fetched while loading each page (MathJax's fonts and extensions included)."
    bad = {p: [u for u in pg.probe['resources'] if not u.startswith(('file:', 'data:', 'blob:'))] for p, pg in pages.items()}
    assert not {p: u for p, u in bad.items() if u}


def test_every_internal_link_resolves(site):
    "Each relative href names a file of the site, and its #anchor an id on that page."
    bad = []
    for p in built_pages():
        for href in refs(p).links:
            if _EXTERNAL.match(href) or re.match(r'^[a-z][a-z0-9+.-]*:', href, re.I): continue
            target, _, anchor = href.partition('#')
            t = (p.parent/target).resolve() if target else p
            if t.is_dir(): t = t/'index.html'
            if not t.is_file(): bad.append(f'{p.relative_to(SITE)}: {href} (no such file)'); continue
            if anchor and t.suffix == '.html' and anchor not in refs(t).ids: bad.append(f'{p.relative_to(SITE)}: {href} (no such anchor)')
    assert not bad, f'{len(bad)} broken links:\n' + '\n'.join(bad[:30])


def test_chapters_are_linked(pages):
    "Every chapter named as code in a page's text is a link to that chapter (docs/readme.py's link_chapters, one rule)."
    names = set(notebooks())
    for path, page in pages.items():
        if not path.startswith('nbs/'): continue
        here = path[4:-5]
        unlinked = [t for t in page.code_text if t.removesuffix('.ipynb').removeprefix('nbs/') in names - {here}]
        assert not unlinked, f'{path}: chapters named but not linked: {unlinked[:5]}'
    assert 'nbs/15_line.html' in pages['index.html'].hrefs and 'nbs/20_benchmark_fashion.html' in pages['results.html'].hrefs


def test_answers_have_their_own_section(pages):
    nav = pages['index.html']
    assert 'Answers to the exercises' in nav.text
    assert all(f'nbs/{n}.html' in nav.hrefs for n in notebooks() if n.startswith('answers/'))


@pytest.mark.parametrize('path', ['index.html', 'api/line_nb.line.html', *[f'{g}.html' for g in ('cli', 'performance', 'results')],
                                  *[f'nbs/{n}.html' for n in notebooks()]])
def test_page_fits_the_window(pages, path):
    "At 1280 px the page never scrolls sideways: wide tables and code scroll (or wrap) inside their own boxes."
    probe = pages[path].probe
    assert probe['scrollWidth'] <= WIDTH, f'{path}: the page is {probe["scrollWidth"]} px wide'
    assert not probe['wide'], f'{path}: wider than the text column, with no box of its own to scroll: {probe["wide"]}'


def test_math_is_rendered(pages):
    "Every page with equations shows them typeset by the site's own MathJax: no raw TeX left."
    with_math = [p for p in pages if 'class="math' in (SITE/p).read_text(encoding='utf-8')]
    assert 'nbs/30_greg.html' in with_math and 'nbs/19_method_reference.html' in with_math
    for p in pages:
        probe = pages[p].probe
        assert not probe['rawTex'], f'{p}: raw TeX on the page: {probe["rawTex"]}'
        if p in with_math: assert probe['mathjax'] > 0, f'{p}: has equations, MathJax typeset none'


def test_api_pages_document_each_name_once_with_its_parameters(pages, site):
    "LINe's parameters each under its own name (W too), every public method listed once, no object twice in the reference."
    line = pages['api/line_nb.line.html']
    import line_nb.line as L
    ids = [i for i in re.findall(r'<dt class="sig[^"]*" id="([^"]+)"', (SITE/'api'/'line_nb.line.html').read_text())]
    methods = sorted(n for n, v in vars(L.LINe).items() if callable(v) and not n.startswith('_')
                     and (getattr(v, '__module__', '') or '').startswith('line_nb')
                     and n not in ('extra_repr', 'set_extra_state'))   # torch's hooks, undocumented overrides
    assert {'accumulate', 'finalize', 'fit_stream', 'reset', 'with_settings', 'weight_mask'} <= set(methods)
    for m in methods: assert ids.count(f'line_nb.line.LINe.{m}') == 1, f'LINe.{m}: {ids.count(f"line_nb.line.LINe.{m}")} entries'
    for m in ('accumulate', 'finalize', 'fit_stream', 'reset', 'with_settings', 'weight_mask'):
        assert not any(i.endswith(f'.{m}') and not i.startswith('line_nb.line.LINe.') for i in ids), m
    params = re.search(r'Parameters:?(.*?)(?:Returns|$)', line.text.split('from_preset')[0]).group(1)
    for p, words in [('W', 'the head'), ('b', 'the head'), ('act_prune_pct', 'p_a'), ('mode', 'official')]:
        assert re.search(rf'\b{p} (--|–|—) [^-]*{words}', params), f'LINe parameter {p}: {params[:400]}'
    seen = {}
    for page in sorted((SITE/'api').glob('line_nb.*.html')):
        for i in re.findall(r'<dt class="sig[^"]*" id="([^"]+)"', page.read_text()):
            assert i not in seen, f'{i} documented on {seen[i]} and {page.name}'
            seen[i] = page.name
    sig = re.search(r'<dt class="sig[^"]*" id="line_nb.line.LINe">(.*?)</dt>', (SITE/'api'/'line_nb.line.html').read_text(), re.S).group(1)
    assert 'line_nb.line.' not in re.sub(r'<[^>]+>', '', sig), 'the class is shown with its module again, on its module\'s page'


SHOT_PAGES = {'home': 'index.html', '15_line': 'nbs/15_line.html', BENCHMARK_PAGE: f'nbs/{BENCHMARK_PAGE}.html',
              'api_LINe': 'api/line_nb.line.html'}


def test_screenshots_for_review(chromium, site):
    "Screenshots of four pages at 1280 px, for a person to look at: docs/_build/screenshots/*.png."
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in SHOT_PAGES.items():
        out = SHOTS/f'{name}.png'; out.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(chromium_args(chromium, profile) + ['--virtual-time-budget=20000', f'--screenshot={out}', (SITE/path).as_uri()],
                           capture_output=True, timeout=180)
        assert out.exists() and out.stat().st_size > 20_000, f'no screenshot of {path}'
