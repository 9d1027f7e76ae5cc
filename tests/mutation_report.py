"""The mutation score of LINe's core (`make mutate`): read mutmut's results, print every surviving mutant with its diff,
and the score. Run after `mutmut run` (configured in pyproject.toml, [tool.mutmut]); not part of `make test`.

Counting: a mutant is *detected* when the fast tests fail on it (killed) or it never finishes (timeout: the mutation made
a loop endless, which a user would notice). Mutants of a documentation string are not generated at all (pyproject's
`do_not_mutate_patterns`). Mutants that change only the text of an error message around what it says ("XX" added at
both ends of a string) are reported in their own group and left out of the score: the message still contains every
word the tests require and the user reads, so no behaviour changes. Mutants listed in EQUIVALENT are left out too, each
with the reason it cannot change a result. Everything else that survives is printed as a survivor and lowers the score.
"""
import glob, json, re, subprocess, sys
from collections import Counter
from pathlib import Path

# mutant name -> why it cannot change behaviour (reviewed by hand; re-check when the code changes)
EQUIVALENT = {}

STATUS = {1: 'killed', 3: 'killed', 0: 'survived', 5: 'no tests', 33: 'no tests', 34: 'skipped', None: 'not checked',
          36: 'timeout', -24: 'timeout', 24: 'timeout', 152: 'timeout', 255: 'timeout', -11: 'segfault', -9: 'segfault'}


def diff(name: str) -> str:
    out = subprocess.run([sys.executable, '-m', 'mutmut', 'show', name], capture_output=True, text=True).stdout
    return '\n'.join(l for l in out.splitlines() if l[:1] in '+-' and not l.startswith(('+++', '---')))


def message_only(d: str) -> bool:
    "The mutant only wraps one string literal in XX .. XX (or changes the case of one)."
    lines = d.splitlines()
    if len(lines) != 2: return False
    old, new = lines[0][1:], lines[1][1:]
    return re.sub(r'XX', '', new) == old or (new.lower() == old.lower() and new != old)


def main():
    metas = sorted(glob.glob('mutants/line_nb/*.py.meta'))
    if not metas: sys.exit("no mutmut results: run `make mutate` (or `mutmut run`) first")
    results = {k: STATUS.get(v, 'suspicious') for m in metas for k, v in json.load(open(m))['exit_code_by_key'].items()}
    count = Counter(results.values())
    survivors, messages, equivalent = [], [], []
    for name, status in sorted(results.items()):
        if status not in ('survived', 'no tests', 'suspicious', 'not checked', 'skipped'): continue
        d = diff(name)
        if name in EQUIVALENT: equivalent.append((name, EQUIVALENT[name]))
        elif status == 'survived' and message_only(d): messages.append((name, d))
        else: survivors.append((name, status, d))
    detected = count['killed'] + count['timeout'] + count['segfault']
    scored = len(results) - len(messages) - len(equivalent)
    print(f"mutants: {len(results)}  " + '  '.join(f"{k}: {v}" for k, v in sorted(count.items())))
    print(f"\nsurvivors that change behaviour ({len(survivors)}):")
    for name, status, d in survivors: print(f"\n  {name} [{status}]\n" + '\n'.join('    ' + l for l in d.splitlines()))
    print(f"\nmessage-text-only survivors, left out of the score ({len(messages)}):")
    for name, d in messages: print(f"  {name}: {d.splitlines()[-1].strip()[:110]}")
    print(f"\nequivalent by review, left out of the score ({len(equivalent)}):")
    for name, why in equivalent: print(f"  {name}: {why}")
    print(f"\nmutation score: {detected} detected of {scored} = {100 * detected / max(scored, 1):.1f}%"
          f"  (with the message-text mutants counted as survivors: {100 * detected / max(len(results), 1):.1f}%)")


if __name__ == '__main__': main()
