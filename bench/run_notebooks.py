"""Run notebooks in full, `slow` and data-flagged cells included, and store their outputs: how the committed outputs of
the benchmark chapters are regenerated after a change that moves numbers.

    .venv/bin/python bench/run_notebooks.py nbs/20_benchmark_fashion.ipynb nbs/22_ablations.ipynb

Cells marked `#| eval: false` are skipped, as `nbdev_test` skips them; every other cell runs, in order, with the notebook's
folder as the working directory. A notebook is rewritten only when all its cells succeeded; then `nbdev_clean` tidies it."""
import re, subprocess, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory

NO_EVAL = re.compile(r'^#\|\s*eval:\s*false\s*$', re.M)


def run(path: Path) -> float:
    "Execute notebook `path` in full and write it back with its outputs; returns the seconds taken."
    nb, t0 = read_nb(path), time.time()
    shell = CaptureShell(path)
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type != 'code' or bool(NO_EVAL.search(c.source)))
    write_nb(nb, path)
    return time.time() - t0


if __name__ == '__main__':
    paths = [Path(p).resolve() for p in sys.argv[1:]]
    if not paths: sys.exit(__doc__)
    for p in paths:
        if not p.is_file(): sys.exit(f"no notebook {p}")
    for p in paths:
        print(f"{p.name}: ran in {run(p):.0f} s", flush=True)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], check=True)
