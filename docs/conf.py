"""Sphinx configuration: line_nb's documentation built offline, without Quarto.

The notebooks in ``nbs/`` are the source. At start-up :func:`stage` copies each one to
``docs/nbs/`` (generated, git-ignored), turning nbdev's ``#|`` directives into MyST-NB cell tags
and adding an API entry after each exported definition, as ``nbdev_docs`` would. Nothing is
executed: the pages show the outputs stored in the notebooks. :func:`write_api` writes one API
page per module of ``line_nb/`` (also generated). ``nbdev_docs`` (Quarto) keeps using ``nbs/``.
"""
from __future__ import annotations
import ast, importlib, inspect, re, sys
from pathlib import Path
import nbformat
from sphinx.util.matching import patmatch

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NBS, STAGED, API = ROOT/'nbs', DOCS/'nbs', DOCS/'api'
sys.path.insert(0, str(ROOT))  # document this checkout's line_nb, whatever is installed
sys.path.insert(0, str(DOCS))  # readme.py: the one reader of nbdev's `#|` directives

import line_nb  # noqa: E402
from readme import split_directives, link_chapters, chapters  # noqa: E402

project = 'line_nb'
author = 'line_nb developers'
copyright = '2026 onwards, line_nb developers'
version = release = line_nb.__version__

extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.viewcode']
exclude_patterns = ['_build', '**.ipynb_checkpoints', 'Thumbs.db', '.DS_Store']

# MyST-NB: never execute; render the stored outputs
nb_execution_mode = 'off'
nb_output_stderr = 'remove'  # progress bars and warnings are noise on a page
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'colon_fence', 'deflist']
myst_heading_anchors = 3
myst_update_mathjax = False

# Everything is served from the site itself: MathJax 3 (npm's `mathjax` 3.2.2, es5/tex-chtml-full.js, every TeX
# extension built in, and its woff fonts) is a copy in _static/mathjax, not a CDN. Its menu is off: the menu's
# accessibility explorer would fetch its speech rules from a CDN.
mathjax_path = 'mathjax/tex-chtml-full.js'
mathjax3_config = {'options': {'enableMenu': False}}

autodoc_member_order = 'bysource'
add_module_names = False  # `LINe`, not `line_nb.line.LINe`, on the page of line_nb.line: a name is shown once
toc_object_entries_show_parents = 'hide'
autodoc_typehints = 'signature'
autodoc_inherit_docstrings = False  # torch's nn.Module docstrings are not line_nb's

smartquotes_action = 'qe'  # quotes and ellipses, but `--option` stays two hyphens

html_theme = 'furo'
pygments_style, pygments_dark_style = 'tango', 'native'  # set here, or every build re-reads every page
html_title = f'line_nb {release}'
html_static_path = ['_static']
html_css_files = ['line_nb.css']
html_show_sourcelink = False

# ---------------------------------------------------------------- notebooks
_TAGS = {'hide': 'remove-cell', 'include: false': 'remove-cell', 'echo: false': 'remove-input',
         'hide_input': 'remove-input', 'output: false': 'remove-output', 'hide_output': 'remove-output'}

def notebooks() -> list[Path]:
    "Every notebook under `nbs/`, as paths relative to it (checkpoints, `_`-files and the home notebook left out)."
    return sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('.', '_')) for part in p.relative_to(NBS).parts)
                  and p.relative_to(NBS) != Path('index.ipynb'))   # the home notebook is the README, which index.md includes

def exported_names(source: str) -> list[str]:
    "Public names a cell defines, as `name` or `Class.method` for fastcore's `@patch`."
    try: tree = ast.parse(source)
    except SyntaxError: return []
    names = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): continue
        deco = [ast.unparse(d) for d in getattr(node, 'decorator_list', [])]
        if not isinstance(node, ast.ClassDef) and any(d.split('(')[0].endswith('patch') for d in deco):
            args = node.args.posonlyargs + node.args.args
            if not args or args[0].annotation is None: continue
            owners = ast.unparse(args[0].annotation).strip('()').replace('|', ',').split(',')
            names += [f'{o.strip()}.{node.name}' for o in owners if not node.name.startswith('_')]
        elif not node.name.startswith('_'): names.append(node.name)
    return names

def api_cell(module: str, names: list[str]) -> nbformat.NotebookNode:
    "A markdown cell documenting `names` of `line_nb.module`, as nbdev's `show_doc` would."
    blocks = []
    for n in names:
        kind = 'automethod' if '.' in n else None
        if kind is None:
            obj = getattr(importlib.import_module(f'line_nb.{module}'), n, None)
            kind = 'autoclass' if inspect.isclass(obj) else 'autofunction'
        blocks.append(f'.. {kind}:: line_nb.{module}.{n}\n   :no-index:\n')
    # autodoc writes reStructuredText: MyST hands it over through eval-rst
    return nbformat.v4.new_markdown_cell('```{eval-rst}\n' + '\n'.join(blocks) + '```')

# A notebook's title is its module's name for the library chapters (`# core`); in the navigation every title
# starts with a capital, as the others do. Names that are not words are spelled out.
_TITLES = {'oodsets': 'OOD sets', 'densenet': 'DenseNet', 'interop': 'Interoperability', 'cli': 'CLI'}

def page_title(title: str) -> str:
    "A notebook's `# title` as its page shows it."
    t = title.strip()
    return _TITLES.get(t, t[:1].upper() + t[1:])

# A pandas table that mixes the paper's two-decimal numbers with unrounded ones of ours (2.137011 beside 31.42) shows
# them all with two decimals. Only the page changes: the notebook's stored output keeps every digit.
_LONG = re.compile(r'(<td>)(-?\d+\.\d{4,})(</td>)')

def round_mixed(html: str) -> str:
    if 'dataframe' not in html or not re.search(r'<td>-?\d+\.\d{1,2}</td>', html): return html
    return _LONG.sub(lambda m: f'{m[1]}{float(m[2]):.2f}{m[3]}', html)

def process(nb: nbformat.NotebookNode, rel: Path = Path('x.ipynb')) -> nbformat.NotebookNode:
    "Turn nbdev directives into MyST-NB tags; add API entries after exported definitions; link every chapter named."
    module, cells, titled = None, [], False
    to_nbs, here, names = '../' * (len(rel.parts) - 1), str(rel.with_suffix('')), chapters()
    for cell in nb.cells:
        cell.get('metadata', {}).pop('tags', None)
        cells.append(cell)
        if cell.cell_type == 'markdown':
            cell.source = link_chapters(cell.source, to_nbs, here, names)
            if not titled and (m := re.search(r'^# (.+)$', cell.source, re.M)):
                cell.source = cell.source[:m.start(1)] + page_title(m.group(1)) + cell.source[m.end(1):]; titled = True
        if cell.cell_type != 'code': continue
        for o in cell.get('outputs', []):
            if 'text/html' in o.get('data', {}):
                h = o['data']['text/html']; h = ''.join(h) if isinstance(h, list) else h
                o['data']['text/html'] = round_mixed(h)
        dirs, cell.source = split_directives(cell.source)
        tags, doc = set(), []
        for d in dirs:
            key, _, arg = d.partition(' ')
            if key == 'default_exp': module = arg.strip() or module; tags.add('remove-cell')
            elif key in ('export', 'exports', 'exporti'):
                if key != 'exports': tags.add('hide-input')  # source folded away, one click to open
                if key != 'exporti' and (arg.strip() or module):
                    doc = exported_names(cell.source); mod = arg.strip() or module
            elif d in _TAGS: tags.add(_TAGS[d])
        if not cell.source.strip(): tags.add('remove-cell')
        if tags: cell.metadata['tags'] = sorted(tags)
        if doc: cells.append(api_cell(mod, doc)); cells[-1].id = f'{cell.get("id", len(cells))}-api'
    nb.cells = cells
    # MyST-NB numbers lines (cell index + 1) * 10000 unless told, and MyST pads each eval-rst
    # block with that many blank lines: slow and memory-hungry. Cell i starts at line 100 * i.
    nb.metadata['source_map'] = [100 * i for i in range(len(cells))]
    return nb

def write_if_changed(path: Path, text: str):
    "Write only on change, so Sphinx's incremental build re-reads only what changed."
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding='utf-8') != text: path.write_text(text, encoding='utf-8')

def stage() -> list[Path]:
    "Copy the notebooks from `nbs/` into `docs/nbs/`, processed; drop those whose notebook is gone."
    wanted, gone = set(), []
    for rel in notebooks():
        nb = process(nbformat.read(NBS/rel, as_version=4), rel)
        write_if_changed(STAGED/rel, nbformat.writes(nb) + '\n'); wanted.add(STAGED/rel)
    for p in STAGED.rglob('*.ipynb'):
        if p not in wanted: p.unlink(); gone.append(p.relative_to(DOCS))
    return gone

# ---------------------------------------------------------------- API reference
def modules() -> list[str]:
    "The public modules of `line_nb`, found from `line_nb/*.py`."
    return sorted(p.stem for p in (ROOT/'line_nb').glob('*.py') if not p.stem.startswith('_'))

def write_api():
    "One page per module (autodoc) and an overview with a summary table for each."
    overview = ['# API reference', '',
                'Every public function and class of the `line_nb` package, module by module. '
                'The notebooks develop each one; these pages are generated from the docstrings '
                'and the per-parameter comments.', '',
                '```{toctree}', ':hidden:', ''] + [f'line_nb.{m}' for m in modules()] + ['```', '']
    for m in modules():
        mod = importlib.import_module(f'line_nb.{m}')
        public = [n for n in getattr(mod, '__all__', [])
                  if inspect.isclass(getattr(mod, n, None)) or callable(getattr(mod, n, None))]
        summary = (inspect.getdoc(mod) or '').split('\n\n')[0]
        title = f'line_nb.{m}'
        write_if_changed(API/f'{title}.rst', f'{title}\n{"=" * len(title)}\n\n.. automodule:: {title}\n'
                         '   :members:\n   :inherited-members:\n   :show-inheritance:\n')
        overview += [f'## [`line_nb.{m}`](line_nb.{m}.rst)', '', summary, '']
        if public:  # docstrings are one line of Markdown: the whole line is the summary
            overview += ['| name | what it is |', '|---|---|']
            for n in public:
                doc = (inspect.getdoc(getattr(mod, n)) or '').split('\n')[0].replace('|', '\\|')
                overview.append(f'| {{py:obj}}`~line_nb.{m}.{n}` | {doc} |')
            overview.append('')
    write_if_changed(API/'index.md', '\n'.join(overview))
    for p in API.glob('line_nb.*'):
        if p.suffix != '.rst' or p.stem.removeprefix('line_nb.') not in modules(): p.unlink()

_CODE = re.compile(r'(`[^`]+`)')

def md2rst(text: str) -> str:
    "nbdev docstrings are Markdown: keep `code` literal and escape what reST would read as markup."
    out = []
    for part in _CODE.split(text):
        if _CODE.fullmatch(part): out.append(f'``{part[1:-1]}``'); continue
        part = re.sub(r'([\\*|`])', r'\\\1', part)
        out.append(re.sub(r'(?<=\w)_(?=\W|$)', r'\\_', part))
    return ''.join(out)

def shared_comments(f) -> dict[str, str]:
    """Parameters that share a source line with another's `# comment`: {name: whose comment it is}.
    fastcore's docments gives a comment to the last parameter of its line only (`def __init__(self, W, b=None, # the head`
    documents `b`, and `W` not at all); on such a line the comment is about every parameter on it."""
    import textwrap
    try: fn = ast.parse(textwrap.dedent(inspect.getsource(f))).body[0]
    except Exception: return {}
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)): return {}
    a = fn.args
    params = [p for p in a.posonlyargs + a.args + [a.vararg] + a.kwonlyargs + [a.kwarg] if p is not None]
    by_line = {}
    for p in params: by_line.setdefault(p.lineno, []).append(p.arg)
    return {n: names[-1] for names in by_line.values() for n in names[:-1]}

# nbdev's style documents each parameter with a `# comment` beside it: show those comments
def add_docments(app, what, name, obj, options, lines):
    lines[:] = [md2rst(l) for l in lines]
    if what not in ('function', 'method', 'class'): return
    try:
        from fastcore.docments import docments
        f = obj.__init__ if what == 'class' else obj
        docs = docments(f, full=True)
    except Exception: return
    for n, owner in shared_comments(f).items():   # `W, b=None,  # the head`: the comment is W's and b's
        if n in docs and not docs[n].get('docment') and docs.get(owner, {}).get('docment'):
            docs[n]['docment'] = docs[owner]['docment']
    have = ' '.join(lines)
    extra = [f':param {k}: {md2rst(v["docment"])}' for k, v in docs.items()
             if k not in ('self', 'return') and v.get('docment') and f':param {k}:' not in have]
    ret = docs.get('return', {}).get('docment')
    if ret and ':returns:' not in have: extra.append(f':returns: {md2rst(ret)}')
    if extra: lines += ([''] if lines else []) + extra

# a section of index.md whose notebooks have not landed yet is left out, not shown empty
_TOCTREE = re.compile(r'^```\{toctree\}\n(.*?)^```\n', re.S | re.M)

GUIDES = ('results', 'cli', 'performance', 'data', 'development')   # docs/*.md, the README's sections of their own

def link_guides(app, docname, source):
    "The guide pages name chapters as the notebooks do: each becomes a link, by the notebooks' rule (readme.link_chapters)."
    if docname in GUIDES: source[0] = link_chapters(source[0], 'nbs/')

def drop_empty_globs(app, docname, source):
    if docname != 'index': return
    staged = [str(r.with_suffix('')) for r in notebooks()]
    def keep(m):
        body = m.group(1)
        if ':glob:' not in body: return m.group(0)
        pats = [l.strip() for l in body.splitlines() if l.strip() and not l.startswith(':')]
        hit = any(patmatch(f'nbs/{d}', p) for p in pats for d in staged)
        return m.group(0) if hit else ''
    source[0] = _TOCTREE.sub(keep, source[0])

def skip_foreign(app, what, name, obj, skip, options):
    "A class's members from line_nb, inherited ones included (`LINe.fit_features`), none of torch's."
    if what != 'class': return None
    f = inspect.unwrap(getattr(getattr(obj, 'fget', obj), '__func__', getattr(obj, 'fget', obj)))
    return None if (getattr(f, '__module__', None) or '').startswith('line_nb') else True

def viewcode_to_the_reference(app):
    """viewcode's "[docs]" links from a source page go to the page that last described the object, often a notebook
    page whose entry is :no-index: (no anchor there): send each to where the object is indexed, the API reference."""
    objects = app.env.domains['py'].objects
    for modname, entry in getattr(app.env, '_viewcode_modules', {}).items():
        if not entry: continue
        used = entry[2]   # {name in the module: docname}
        for name in list(used):
            if f'{modname}.{name}' in objects: used[name] = objects[f'{modname}.{name}'].docname
            else: del used[name]
    return []   # no pages of its own

def setup(app):
    gone = stage()
    def drop_stale_pages(app):  # Sphinx keeps the HTML of a removed page: the notebook is gone
        for rel in gone: (Path(app.outdir)/rel.with_suffix('.html')).unlink(missing_ok=True)
    app.connect('builder-inited', drop_stale_pages)
    write_api()
    app.connect('source-read', drop_empty_globs)
    app.connect('source-read', link_guides)
    app.connect('autodoc-process-docstring', add_docments)
    app.connect('autodoc-skip-member', skip_foreign)
    app.connect('html-collect-pages', viewcode_to_the_reference, priority=400)  # before viewcode's pages
