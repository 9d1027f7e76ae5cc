"""Each chapter's run time, measured on this machine, and the line that states it in the chapter.

    .venv/bin/python bench/run_times.py time nbs/10_activated_neurons.ipynb ...   # run in full (not saved), record
    .venv/bin/python bench/run_times.py time --fast nbs/93a_densenet.ipynb ...    # the same, `slow` cells skipped
    .venv/bin/python bench/run_times.py costs      # record the one-time preparations' costs from this machine's caches
    .venv/bin/python bench/run_times.py write      # fill every chapter's **Run time.** line and docs/course.md's table
    .venv/bin/python bench/run_times.py check      # they agree with the records (make test; reads only the CSVs)

`time` executes a notebook top to bottom, `slow` and data-flagged cells included, with every cache warm, and records
the wall-clock seconds in `nbs/results/run_times.csv`; `bench/run_notebooks.py` records the same way whenever it
regenerates a notebook's outputs. That is the *cached* time. A *first run* on a fresh machine adds the one-time work
that fills the caches the chapter reads; that cost is not guessed but read from the caches' own records:

- `fashion`: training the Fashion-MNIST CNN (the checkpoint's per-epoch history) and the feature passes of
  `offline_benchmark()` (each cached `Features` keeps the seconds its pass took);
- `densenet`: the feature passes of `densenet_benchmark()` (the DenseNet-BC-100 over the CIFAR-10 images and the OOD sets);
- `seeds`: two more CNNs (training seeds 1 and 2) and their feature passes, for chapter 20's last section;
- `greg`: the GReg fine-tunes chapter 30 compares (each checkpoint keeps the seconds it took).

Which of them a chapter needs is read from its code (`offline_benchmark`, `densenet_benchmark`, `run_seeds`, ...)."""
import csv, datetime, os, re, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CSV = NBS/'results'/'run_times.csv'
COSTS = NBS/'results'/'one_time_costs.csv'
COURSE = ROOT/'docs'/'course.md'
BLOCK = re.compile(r'(<!-- generated: run_times -->\n).*?(<!-- end: run_times -->)', re.S)
FIELDS = ['chapter', 'seconds', 'threads', 'load', 'date', 'how']
LINE = re.compile(r'^\*\*Run time\.\*\*.*$', re.M)
PLACEHOLDER = '**Run time.** _not yet measured_'
NEEDS = {'fashion': re.compile(r'offline_benchmark|fashion_cnn\(|run_seeds|greg_fashion_cnn|run_benchmark\(|fit_detector\(|line-nb\W+(bench|fit)'),
         'densenet': re.compile(r'densenet_benchmark|load_dice_densenet'),
         'seeds': re.compile(r'run_seeds\('), 'greg': re.compile(r'greg_fashion_cnn\(GRegConfig\(')}


def chapters():
    "Every chapter notebook: nbs/NN_*.ipynb (not the home page, not the answers)."
    return sorted(p for p in NBS.glob('[0-9]*.ipynb'))


def records() -> dict:
    if not CSV.exists(): return {}
    with CSV.open() as f: return {r['chapter']: r for r in csv.DictReader(f)}


def record(path, seconds: float, how: str, load: float | None = None):
    "Store notebook `path`'s measured full-run seconds (one row per chapter, the newest wins), with the machine's load average."
    import torch
    rows = records()
    load = os.getloadavg()[0] if load is None else load
    rows[Path(path).stem] = dict(chapter=Path(path).stem, seconds=f'{seconds:.0f}', threads=torch.get_num_threads(), load=f'{load:.1f}',
                                 date=datetime.date.today().isoformat(), how=how)
    CSV.parent.mkdir(exist_ok=True)
    with CSV.open('w', newline='') as f:
        w = csv.DictWriter(f, FIELDS); w.writeheader(); w.writerows(rows[k] for k in sorted(rows))


SLOW = re.compile(r'^#\|\s*slow\s*$', re.M)


def run(path: Path, save: bool = False, skip_slow: bool = False) -> float:
    "Execute notebook `path` in full (cells marked `#| eval: false` excepted, and `slow` ones with `skip_slow`); write it back when `save`; seconds taken."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    nb, t0, mtime = read_nb(path), time.time(), path.stat().st_mtime
    with working_directory(path.parent):
        CaptureShell(path).run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type != 'code' or bool(re.search(r'^#\|\s*eval:\s*false\s*$', c.source, re.M))
                                                                or (skip_slow and bool(SLOW.search(c.source))))
    dt = time.time() - t0
    if save and path.stat().st_mtime != mtime:   # edited while it ran: keep the edit, put the outputs beside it
        write_nb(nb, path.with_suffix('.ran.ipynb'))
        raise SystemExit(f"{path.name} was changed while it ran; its outputs are in {path.with_suffix('.ran.ipynb').name}, the edited notebook is untouched")
    if save: write_nb(nb, path)
    return dt


def _feature_seconds(feats) -> float:
    return sum(float(f.meta.get('seconds') or 0) for f in feats)


def one_time_costs() -> dict:
    "Seconds of each one-time preparation, from the caches' records (a preparation whose cache is absent is left out)."
    import torch
    from line_nb.core import cache_dir
    out = {}
    def cnn_seconds(seed):
        p = next(iter(cache_dir('checkpoints').glob(f'fashion_cnn_v*_e*_seed{seed}_fp32.pt')), None)
        return None if p is None else torch.load(p, map_location='cpu', weights_only=False)['history'][-1]['seconds']
    from line_nb.features import offline_benchmark
    t0 = cnn_seconds(0)
    if t0 is not None:
        B = offline_benchmark()
        out['fashion'] = t0 + _feature_seconds([B.train, B.test, *B.oods.values()])
        ts = [cnn_seconds(s) for s in (1, 2)]
        if None not in ts:
            out['seeds'] = sum(ts) + sum(_feature_seconds([b.train, b.test, *b.oods.values()]) for b in map(offline_benchmark, (1, 2)))
    try:
        from line_nb.densenet import densenet_benchmark
        D = densenet_benchmark()
        out['densenet'] = _feature_seconds([D.train, D.test, *D.oods.values()])
    except (FileNotFoundError, RuntimeError, OSError) as e: print(f"densenet: no cost recorded ({e})", file=sys.stderr)
    from dataclasses import asdict
    from line_nb.greg import GRegConfig, GREG_METHODS
    chapter30 = {(s, m): asdict(GRegConfig(method=m, seed=s)) for s in (0, 1, 2) for m in GREG_METHODS}   # the runs chapter 30 compares
    infos = [torch.load(p, map_location='cpu', weights_only=True)['info'] for p in cache_dir('checkpoints').glob('fashion_cnn_v*_seed*_*_*.pt') if not p.name.endswith('_fp32.pt')]
    runs = {(i['pretrained_seed'], i['config']['method']): i['seconds'] for i in infos
            if not i.get('tuning') and chapter30.get((i['pretrained_seed'], i['config']['method'])) == i['config']}
    if len(runs) == len(chapter30): out['greg'] = sum(runs.values())
    return out


def _dur(s: float) -> str:
    s = float(s)
    return '<1 s' if s < 0.5 else f'{s:.0f} s' if s < 90 else f'{s / 60:.0f} min' if s < 5400 else f'{s / 3600:.1f} h'


def record_costs():
    "Measure the one-time costs from the caches of this machine and store them in `nbs/results/one_time_costs.csv`."
    costs = one_time_costs()
    with COSTS.open('w', newline='') as f:
        w = csv.writer(f); w.writerow(['preparation', 'seconds', 'date'])
        for k, v in costs.items(): w.writerow([k, f'{v:.0f}', datetime.date.today().isoformat()])
    return costs


def recorded_costs() -> dict:
    if not COSTS.exists(): return {}
    with COSTS.open() as f: return {r['preparation']: float(r['seconds']) for r in csv.DictReader(f)}


def _runs(cell: str) -> str:
    "The lines of a code cell that run something: not the library's exported code, imports, `def` lines, or checks that a call fails."
    if re.search(r'^#\|\s*export', cell, re.M): return ''           # the library's code, defined here, run elsewhere
    return '\n'.join(l for l in cell.splitlines() if not (re.match(r'\s*((from \S+ )?import |def |class )', l) or 'test_fail(' in l))


def needs(path: Path, skip_slow: bool = False) -> list:
    "The one-time preparations chapter `path` reads, from the code it runs (definitions aside; `slow` cells aside with `skip_slow`)."
    import json
    cells = [''.join(c['source']) for c in json.loads(path.read_text())['cells'] if c['cell_type'] == 'code']
    src = '\n'.join(_runs(c) for c in cells if not (skip_slow and SLOW.search(c)))
    n = [k for k, pat in NEEDS.items() if pat.search(src)]
    return ['fashion'] + [k for k in n if k != 'fashion'] if ('seeds' in n or 'greg' in n) else n


def line_for(path: Path, rec: dict, costs: dict) -> str:
    "The **Run time.** line of chapter `path`."
    need = needs(path)
    fast = 'slow cells skipped' in rec['how']
    cached = f"{_dur(rec['seconds'])} with its caches warm" + (", its `slow` cells (longer checks) skipped" if fast else '')
    parts = {'fashion': 'training the Fashion-MNIST CNN and extracting its features', 'densenet': "extracting the DenseNet's CIFAR-10 and OOD features",
             'seeds': 'two more CNNs (seeds 1 and 2)', 'greg': 'the GReg fine-tunes'}
    missing = [k for k in need if k not in costs]
    if missing: raise SystemExit(f"{path.name}: no record of the one-time cost of {missing}: run the chapter once, then `write` again")
    first = (f"; a first run on an empty cache adds {_dur(sum(costs[k] for k in need))} once ("
             + '; '.join(f'{parts[k]}: {_dur(costs[k])}' for k in need) + ')') if need else '; nothing to prepare (no cache is read)'
    load = rec.get('load') or ''
    busy = (', its load not recorded' if not load else
            f", shared with other jobs (load average {float(load):.0f}), so an idle machine is faster" if float(load) >= 2.5 else '')
    return (f"**Run time.** {cached}{first}. Measured on a 2-core CPU ({rec['threads']} torch threads, no GPU{busy}) on {rec['date']}"
            + ' with `bench/run_times.py`.')


def expected() -> dict:
    recs, costs = records(), recorded_costs()
    out = {}
    for p in chapters():
        if p.stem not in recs: raise SystemExit(f"{p.name}: no measured run time in {CSV.relative_to(ROOT)}: `python bench/run_times.py time {p.relative_to(ROOT)}`")
        out[p] = line_for(p, recs[p.stem], costs)
    return out


def course_table() -> str:
    "The Markdown table of docs/course.md: every chapter, its cached run time and what a first run adds."
    recs, costs = records(), recorded_costs()
    rows = ['| chapter | with caches warm | a first run adds, once |', '|---|---|---|']
    skipped = lambda st: ' (slow cells skipped)' if 'slow cells skipped' in recs[st]['how'] else ''
    for p in chapters():
        n = needs(p, 'slow cells skipped' in recs[p.stem]['how'])
        rows.append(f"| [{p.stem}](nbs/{p.stem}.ipynb) | {_dur(recs[p.stem]['seconds'])}{skipped(p.stem)} | "
                    + (f"{_dur(sum(costs[k] for k in n))} ({', '.join(n)})" if n else 'nothing') + ' |')
    return '\n'.join(rows) + '\n'


def _cell_with_line(nb):
    hits = [c for c in nb['cells'] if c['cell_type'] == 'markdown' and LINE.search(''.join(c['source']))]
    return hits[0] if len(hits) == 1 else None


if __name__ == '__main__':
    import json
    cmd, args = (sys.argv[1:2] or [''])[0], sys.argv[2:]
    if cmd == 'time':
        fast = '--fast' in args   # skip `slow` cells: for the library's look-up chapters, whose slow cells are long re-checks
        for a in [a for a in args if a != '--fast']:
            p = Path(a).resolve(); dt = run(p, skip_slow=fast)
            record(p, dt, 'bench/run_times.py time' + (' --fast (slow cells skipped)' if fast else '')); print(f"{p.name}: {dt:.0f} s", flush=True)
    elif cmd == 'costs':
        for k, v in record_costs().items(): print(f"{k}: {_dur(v)}")
    elif cmd in ('write', 'check'):
        bad = []
        for p, want in expected().items():
            nb = json.loads(p.read_text()); c = _cell_with_line(nb)
            if c is None: bad.append(f"{p.name}: no single **Run time.** line in a markdown cell"); continue
            s = ''.join(c['source']); have = LINE.search(s).group(0)
            if have == want: continue
            if cmd == 'check': bad.append(f"{p.name}: says {have!r}, the records give {want!r}"); continue
            c['source'] = LINE.sub(want.replace('\\', r'\\'), s, count=1).splitlines(keepends=True)
            p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n'); print(f"{p.name}: {want}")
        page = COURSE.read_text(); want = BLOCK.sub(lambda m: m.group(1) + course_table() + m.group(2), page)
        if not BLOCK.search(page): bad.append(f"{COURSE.name}: no <!-- generated: run_times --> block")
        elif want != page:
            if cmd == 'check': bad.append(f"{COURSE.name}: the run-time table differs from the records (python bench/run_times.py write)")
            else: COURSE.write_text(want); print(f"{COURSE.name}: run-time table written")
        if bad: sys.exit('\n'.join(bad))
    else: sys.exit(__doc__)
