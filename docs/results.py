"""The tables and verdicts of docs/results.md, generated from the CSVs that the benchmark chapters commit (nbs/results/),
so that the page cannot drift from the numbers.

    python docs/results.py           # rewrite the generated blocks of docs/results.md
    python docs/results.py --check   # exit 1 when docs/results.md differs from what the CSVs give (make test runs it)

Each generated block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`; the text around them is written by hand."""
import re, sys
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PAGE, RESULTS = ROOT/'docs'/'results.md', ROOT/'nbs'/'results'
BENCHMARKS = {'Fashion-MNIST CNN': 'benchmark_fashion', 'DenseNet, CIFAR-10 JPEG': 'benchmark_densenet_cifar10'}


def _read(stem: str, what: str, **kw) -> pd.DataFrame: return pd.read_csv(RESULTS/f'{stem}_{what}.csv', **kw)


def _md(header: list, rows) -> str:
    "A Markdown table: the header cells, then one line per row of cells."
    return '\n'.join([f"| {' | '.join(header)} |", '|---' * len(header) + '|', *(f"| {' | '.join(map(str, r))} |" for r in rows)])


def table() -> str:
    "One row per detector: each benchmark's average FPR95 and AUROC with its 95% interval, then the paper's averages."
    avgs = {b: _read(s, 'averages', index_col=0) for b, s in BENCHMARKS.items()}
    first = next(iter(avgs.values()))
    from line_nb.registry import ALL_DETECTORS              # the paper's order, then the later detectors
    rows = []
    for det in [d for d in ALL_DETECTORS if any(d in a.index for a in avgs.values())]:
        cells = [f"{a.loc[det, f'ours {m}']:.2f} {a.loc[det, f'{m} 95% interval']}" if det in a.index else '–'
                 for a in avgs.values() for m in ('FPR95', 'AUROC')]
        paper = [f'{first.loc[det, c]:.2f}' if det in first.index and pd.notna(first.loc[det, c]) else '–' for c in ('paper FPR95', 'paper AUROC')]
        rows.append(['**LINe**' if det == 'LINe' else det, *cells, *paper])
    return _md(['detector', *(h for b in avgs for h in (f'{b} FPR95 [95% interval]', 'AUROC')), "paper's CIFAR-10 FPR95", "paper's AUROC"], rows)


def verdicts() -> str:
    "Each claim on each benchmark: the verdict, the difference of average FPR95 and its paired 95% interval."
    vs = {b: _read(s, 'verdicts', index_col=0) for b, s in BENCHMARKS.items()}
    claims = dict.fromkeys(c for v in vs.values() for c in v.index)
    return _md(['claim (average FPR95)', *vs], ([claim, *[f"**{v.loc[claim, 'verdict']}**: {v.loc[claim, 'difference']:+.2f} {v.loc[claim, 'interval']}"
                                                       if claim in v.index else '–' for v in vs.values()]] for claim in claims))


def seeds() -> str:
    "The Fashion-MNIST benchmark over three training seeds: each detector's average FPR95 and AUROC as mean ± std, and each seed's FPR95."
    a = _read('benchmark_fashion_seeds', 'averages', index_col=0)
    per_seed = [c for c in a.columns if c.startswith('FPR95 seed')]
    return _md(['detector', 'FPR95 (mean ± std)', 'AUROC (mean ± std)', *per_seed],
               ([f"**{det}**" if det == 'LINe' else det, r['FPR95 (mean ± std)'], r['AUROC (mean ± std)'], *(f'{r[c]:.2f}' for c in per_seed)] for det, r in a.iterrows()))


def seed_verdicts() -> str:
    "Each claim on each training seed of the Fashion-MNIST CNN, with its paired interval, and whether the seeds agree."
    v = _read('benchmark_fashion_seeds', 'verdicts', index_col=0)
    cols = [c for c in v.columns if c.startswith('seed')]
    bold = lambda cell: '**{}**:{}'.format(*cell.split(':', 1))                        # "holds: +1.0 [...]" -> "**holds**: +1.0 [...]"
    return _md(['claim (average FPR95)', *cols, 'over seeds'], ([claim, *(bold(r[c]) for c in cols), r['over seeds']] for claim, r in v.iterrows()))


BLOCKS = {'table': table, 'verdicts': verdicts, 'seeds': seeds, 'seed_verdicts': seed_verdicts}


def render(text: str) -> str:
    "`text` with every generated block rewritten from the CSVs."
    for name, make in BLOCKS.items():
        pat = re.compile(rf'(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)', re.S)
        if not pat.search(text): raise ValueError(f"{PAGE} has no block '<!-- generated: {name} -->' ... '<!-- end: {name} -->'")
        text = pat.sub(lambda m: m.group(1) + make() + '\n' + m.group(2), text)
    return text


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    old = PAGE.read_text(); new = render(old)
    if '--check' in argv:
        if new != old: print(f"{PAGE} differs from what nbs/results/ gives: run `python docs/results.py`", file=sys.stderr); return 1
        return 0
    PAGE.write_text(new); print(f"wrote {PAGE} from {RESULTS}")
    return 0


if __name__ == '__main__': sys.exit(main())
