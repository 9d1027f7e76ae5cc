"""The mutation score of LINe's core (`make mutate`): read mutmut's results, print every surviving mutant with its diff,
and the score. Run after `mutmut run` (configured in pyproject.toml, [tool.mutmut]); not part of `make test`.

Counting: a mutant is *detected* when the fast tests fail on it (killed) or it never finishes (timeout: the mutation made
a loop endless, which a user would notice). Mutants of a documentation string are not generated at all (pyproject's
`do_not_mutate_patterns`). Mutants that change only the text of an error message around what it says ("XX" added at
both ends of a string, or its case changed, on a line that raises or checks an argument) are reported in their own
group and left out of the score: the message still contains every word the tests require and the user reads, so no
behaviour changes. A string mutant anywhere else (a mode, a method name) is scored like any other. Mutants listed in EQUIVALENT are left out too, each
with the reason it cannot change a result. Everything else that survives is printed as a survivor and lowers the score.
"""
import glob, json, re, subprocess, sys
from collections import Counter
from pathlib import Path

# mutant name -> why it cannot change behaviour (reviewed by hand, mutmut 3.8.1 numbering; re-check when the code changes)
DEVICE = ("device placement: a `device=` argument removed or set to None, or `.to(None)`. Every tensor is on the CPU on a "
          "machine without a GPU, so the result is the same there; on a GPU the mutant puts a tensor on the wrong device")
DEFAULT = "an argument removed whose value equals the parameter's default (the call is unchanged)"
SPEED = "a choice between two code paths (or buffers) that compute the same values; only speed or memory differ"
EQUIVALENT = {
    **{f'line_nb.{n}': DEVICE for n in [
        'contrib.x_class_means__mutmut_9', 'contrib.x_class_means__mutmut_26', 'contrib.x_class_means__mutmut_30',
        'contrib.x_contributions__mutmut_2', 'line.x__score_plan__mutmut_55', 'line.x__score_plan__mutmut_57',
        *[f'line.xǁLINeǁ__init____mutmut_{k}' for k in (44, 48, 57, 60, 69, 72, 82, 86, 94, 96)],
        'weightprune.x_weight_mask__mutmut_12', 'weightprune.x_weight_mask__mutmut_14',
        *[f'weightprune.x_weight_thresholds_direct__mutmut_{k}' for k in (15, 17, 20, 22, 33, 35)]]},
    **{f'line_nb.{n}': DEFAULT for n in [
        'contrib.x__check_head_inputs__mutmut_5', 'contrib.x__check_head_inputs__mutmut_14', 'contrib.x_class_means__mutmut_5',
        'metrics.x_accuracy__mutmut_43']},
    **{f'line_nb.{n}': SPEED for n in [
        'line.x__masked_logits__mutmut_47', 'line.x__masked_logits__mutmut_50',  # product into the reused buffer or a new tensor
        'line.x__score_plan__mutmut_60', 'line.x__score_plan__mutmut_61',        # the per-class "any tiny column?" pre-check widened:
        'line.x__score_plan__mutmut_63',                                         #   flagged classes get their exact (maybe empty) tiny set
        'weightprune.x_weight_thresholds_direct__mutmut_28',                       # at least 2 classes per chunk instead of 1
        'weightprune.x_weight_thresholds_direct__mutmut_41',                       # step 1: overlapping chunks, each recomputed alike
        'weightprune.x_weight_thresholds__mutmut_23', 'weightprune.x_weight_thresholds__mutmut_24',  # an unknown name falls to 'direct' too
        'contrib.x_taylor_attributions__mutmut_1']},                               # per-sample loop by default: same values
    'line_nb.contrib.x_taylor_attributions__mutmut_13': "per-sample loop on rows n..n+1: only row n's logit is differentiated and read",
    'line_nb.line.x__stand_in__mutmut_10': "thr <= 0: at thr = 0 the stand-in is -0 / (2 max|W|) = 0, which changes nothing",
    'line_nb.line.x__stand_in__mutmut_11': ("thr < 1: for 0 <= thr < 1, |C| = 0 becomes -thr/(2 max|W|) <= 0, whose importance (|P| <= thr/2) is pruned "
                                            "in both modes and whose column is neither divided (a < 2^-60) nor tiny (a <= 0)"),
    'line_nb.line.x__stand_in__mutmut_15': "any scale below 1/max|W| keeps every zero-contribution weight when thr < 0: values equal up to rounding",
    'line_nb.line.x__masked_logits__mutmut_85': ("columns with |C| < 2^-60 multiply P entries below 2^-60 |W| by 1 instead of 0: "
                                                 "a change far below float32 resolution of the logits"),
    'line_nb.line.x__score_plan__mutmut_19': "max|W| = 0 (an all-zero head) only: any positive stand-in scale then keeps the same (zero) weights",
    'line_nb.line.x__score_plan__mutmut_22': "thresholds read although weight pruning is off: the loop returns before it reads them",
    'line_nb.line.x__score_plan__mutmut_72': "|C| = 0 columns in the tiny set (possible only when thr >= 0): importance 0 is never > thr, so they add 0",
    'line_nb.metrics.x_as_scores__mutmut_26': "ndarray.astype(None) is astype(float64)",
    'line_nb.metrics.x_as_scores__mutmut_11': "'XXiufXX' holds i, u and f: the same dtype kinds pass",
    'line_nb.metrics.x_auroc__mutmut_14': "np.searchsorted's default side is 'left'",
    'line_nb.metrics.x_metrics_table__mutmut_39': "pandas lower-cases `orient` (from_dict(orient='INDEX') is orient='index')",
    'line_nb.metrics.x_fpr_at_95_tpr_id_positive__mutmut_21': ("rounding 1 - tpr to 13 digits instead of 12: both remove the float error of "
                                                               "1 - tpr (1 - 0.95 = 0.050000000000000044) for any tpr given with fewer digits"),
    'line_nb.metrics.x_fpr_at_95_tpr_ood_positive__mutmut_12': "j from 0: k = j[argmax(j / n >= tpr)] is the same count, since tpr > 0",
    'line_nb.metrics.x_fpr_at_95_tpr_ood_positive__mutmut_16': "j up to n + 1: j = n already qualifies, so the first qualifying j is unchanged",
}

STATUS = {1: 'killed', 3: 'killed', 0: 'survived', 5: 'no tests', 33: 'no tests', 34: 'skipped', None: 'not checked',
          36: 'timeout', -24: 'timeout', 24: 'timeout', 152: 'timeout', 255: 'timeout', -11: 'segfault', -9: 'segfault'}


def diff(name: str) -> str:
    out = subprocess.run([sys.executable, '-m', 'mutmut', 'show', name], capture_output=True, text=True).stdout
    return '\n'.join(l for l in out.splitlines() if l[:1] in '+-' and not l.startswith(('+++', '---')))


_MESSAGE_LINE = re.compile(r"\braise\b|\b(check_\w+|_prep)\(|\bname: str =")

def message_only(d: str) -> bool:
    "The mutant only wraps one string literal in XX .. XX (or changes its case) on a line that builds an error message."
    lines = d.splitlines()
    if len(lines) != 2: return False
    old, new = lines[0][1:], lines[1][1:]
    return bool(_MESSAGE_LINE.search(old)) and (re.sub(r'XX', '', new) == old or (new.lower() == old.lower() and new != old))


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
