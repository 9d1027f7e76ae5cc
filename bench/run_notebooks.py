"""Run notebooks in full, `slow` and data-flagged cells included, and store their outputs: how the committed outputs of
the benchmark chapters are regenerated after a change that moves numbers.

    .venv/bin/python bench/run_notebooks.py nbs/20_benchmark_fashion.ipynb nbs/22_ablations.ipynb

Cells marked `#| eval: false` are skipped, as `nbdev_test` skips them; every other cell runs, in order, with the notebook's
folder as the working directory. A notebook is rewritten only when all its cells succeeded; then `nbdev_clean` tidies it.
Each chapter's wall-clock time is recorded in `nbs/results/run_times.csv` (see `bench/run_times.py`)."""
import subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run_times import run as _run, record


def run(path: Path) -> float:
    "Execute notebook `path` in full and write it back with its outputs; returns the seconds taken (recorded for a chapter)."
    dt = _run(path, save=True)
    if path.parent.name == 'nbs' and path.name[:1].isdigit(): record(path, dt, 'bench/run_notebooks.py')
    return dt


if __name__ == '__main__':
    paths = [Path(p).resolve() for p in sys.argv[1:]]
    if not paths: sys.exit(__doc__)
    for p in paths:
        if not p.is_file(): sys.exit(f"no notebook {p}")
    for p in paths:
        print(f"{p.name}: ran in {run(p):.0f} s", flush=True)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], check=True)
