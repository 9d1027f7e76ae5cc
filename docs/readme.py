"""README.md is generated from the home notebook, `nbs/index.ipynb` (nbdev's convention: `readme_nb` in settings.ini).

nbdev's own `nbdev_readme` renders through Quarto, which cannot be installed on an offline machine; this renders the
same notebook without it: Markdown cells as they are, each shown code cell as a fenced Python block with its text
output, cells marked `#| hide` (or `include: false`, or exported) left out, outputs of `echo: false` cells without
their source.

    python docs/readme.py            # write README.md
    python docs/readme.py --check    # exit 1 when README.md is not what the notebook gives (make test runs this)
"""
from __future__ import annotations
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
WARNING = '<!-- Generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file. -->'
_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
_HIDDEN = ('hide', 'include: false', 'export', 'exporti', 'exports')


def split_directives(source: str) -> tuple[list[str], str]:
    "nbdev's `#|` lines at the top of a cell, and the rest of the source (also used by docs/conf.py)."
    lines, dirs = source.splitlines(), []
    while lines and (m := _DIRECTIVE.match(lines[0])):
        dirs.append(m.group(1)); lines.pop(0)
    return dirs, '\n'.join(lines)


# A chapter named as inline code (`15_line`, `15_line.ipynb`, `nbs/15_line.ipynb`, `answers/15_line_answers`) that is not
# already a link's text: the one rule that makes every mention of a notebook a link (README, pages, notebooks).
_CHAPTER = re.compile(r'(?<!\[)`(?:nbs/)?((?:answers/)?\d\d[a-z]?_[A-Za-z0-9_]+)(?:\.ipynb)?`(?!\]\()')
_FENCE = re.compile(r'^(```|~~~)', re.M)


def chapters() -> set[str]:
    "Every notebook under nbs/ (subfolders included) as its path relative to nbs/ without suffix, e.g. 'answers/15_line_answers'."
    nbs = NOTEBOOK.parent
    return {str(p.relative_to(nbs).with_suffix('')) for p in nbs.rglob('*.ipynb')
            if not any(part.startswith(('.', '_')) for part in p.relative_to(nbs).parts)}


def link_chapters(md: str, to_nbs: str = 'nbs/', here: str | None = None, names: set[str] | None = None) -> str:
    """Markdown `md` with every inline-code mention of an existing notebook made a link to it. `to_nbs` is the path from
    the document to nbs/ ('nbs/' for the README, '' for a notebook in nbs/, '../' for one in nbs/answers/); `here` is the
    document's own chapter name (never linked to itself). Code blocks and headings are left as they are."""
    names = chapters() if names is None else names
    def link(m):
        name = m.group(1)
        if name not in names:  # `15_line_answers` names nbs/answers/15_line_answers
            name = f'answers/{name}' if f'answers/{name}' in names else None
        if name is None or name == here: return m.group(0)
        return f'[{m.group(0)}]({to_nbs}{name}.ipynb)'
    out, in_code = [], False
    for line in md.split('\n'):
        if _FENCE.match(line.lstrip()): in_code = not in_code
        elif not in_code and not line.lstrip().startswith('#'): line = _CHAPTER.sub(link, line)
        out.append(line)
    return '\n'.join(out)


def _text_outputs(cell) -> str:
    "The cell's stdout and plain-text results, joined."
    out = []
    for o in cell.get('outputs', []):
        if o['output_type'] == 'stream' and o.get('name') == 'stdout': out.append(''.join(o['text']))
        elif o['output_type'] in ('execute_result', 'display_data') and 'text/plain' in o.get('data', {}):
            out.append(''.join(o['data']['text/plain']))
    return ''.join(out).strip('\n')


def render(notebook: Path = NOTEBOOK) -> str:
    "The README text of `notebook`."
    nb = json.loads(Path(notebook).read_text())
    blocks = []
    for c in nb['cells']:
        source = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            if source.strip(): blocks.append(link_chapters(source.strip('\n')))
            continue
        if c['cell_type'] != 'code': continue
        dirs, body = split_directives(source)
        if any(d in _HIDDEN or d.startswith('default_exp') for d in dirs): continue
        if body.strip() and 'echo: false' not in dirs: blocks.append(f"```python\n{body.strip()}\n```")
        if (out := _text_outputs(c)): blocks.append(f"```\n{out}\n```")
    if not blocks or not blocks[0].startswith('# '): raise ValueError(f"{notebook} must open with a '# title' Markdown cell")
    title, _, rest = blocks[0].partition('\n')
    return '\n\n'.join([title, WARNING, *([rest.strip('\n')] if rest.strip() else []), *blocks[1:]]) + '\n'


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if '--check' in argv:
        if README.read_text() == text: return 0
        print("README.md differs from what nbs/index.ipynb gives: edit the notebook, then run `make readme`", file=sys.stderr)
        return 1
    README.write_text(text)
    print(f"wrote {README.relative_to(ROOT)} from {NOTEBOOK.relative_to(ROOT)}")
    return 0


if __name__ == '__main__': sys.exit(main())
