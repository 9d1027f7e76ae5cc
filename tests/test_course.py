"""The course's apparatus, chapter by chapter: what a student and an instructor can count on in every chapter.

Every chapter (nbs/NN_*.ipynb) opens with objectives, prerequisites and its measured run time, ends with a conclusion
and at least three graded exercises, and has a worked-answers notebook of its own; the course outline covers every
chapter of the course proper; the run times stated in the chapters are the recorded measurements."""
import json, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CHAPTERS = sorted(p.stem for p in NBS.glob('[0-9]*.ipynb'))


def markdown(stem: str, folder: Path = NBS) -> list[str]:
    nb = json.loads((folder/f'{stem}.ipynb').read_text())
    return [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']


def test_the_course_has_its_parts():
    assert '00_ood_detection' in CHAPTERS and '40_capstone' in CHAPTERS
    assert [c for c in CHAPTERS if c[:1] == '9'] and all(c[:2] in {'00', '10', '11', '12', '13', '14', '15', '16', '19', '20', '21', '22', '23', '30', '40'}
                                                         for c in CHAPTERS if c[:1] != '9'), CHAPTERS


@pytest.mark.parametrize('stem', CHAPTERS)
def test_chapter_opens_with_objectives_prerequisites_and_run_time(stem):
    md = markdown(stem)
    title = next(i for i, s in enumerate(md) if s.lstrip().startswith('# '))
    before = md[title + 1]
    assert before.startswith('## Before you start'), f"{stem}: the cell after the title must be '## Before you start'"
    objectives = before.split('**Objectives.**', 1)[1].split('**Prerequisites.**', 1)[0] if '**Objectives.**' in before else ''
    assert len(re.findall(r'^- \S', objectives, re.M)) >= 3, f"{stem}: at least 3 objectives"
    assert '**Prerequisites.**' in before
    run_time = re.search(r'^\*\*Run time\.\*\* (.+)$', before, re.M)
    assert run_time and 'not yet measured' not in run_time.group(1) and re.search(r'\d+ (s|min|h)\b', run_time.group(1)), f"{stem}: a measured run time"


@pytest.mark.parametrize('stem', CHAPTERS)
def test_chapter_ends_with_a_conclusion_and_graded_exercises(stem):
    md = markdown(stem)
    heads = [l for s in md for l in s.splitlines() if l.startswith('## ')]
    assert any(re.match(r'## (What |Conclusion)', h) for h in heads), f"{stem}: no conclusion ('## What ...' or '## Conclusion ...')"
    ex = [s for s in md if s.startswith('## Exercises')]
    assert len(ex) == 1, f"{stem}: one '## Exercises' cell"
    items = re.findall(r'^(\d+)\. \*\(([^)]+)\.?\)\*', ex[0], re.M)
    assert len(items) >= 3, f"{stem}: at least 3 exercises, each labelled with its grade, e.g. '1. *(Check your understanding.)*'"
    assert heads.index('## Exercises') > max(i for i, h in enumerate(heads) if re.match(r'## (What |Conclusion)', h)), f"{stem}: the conclusion comes before the exercises"
    answers = NBS/'answers'/f'{stem}_answers.ipynb'
    assert f'(answers/{stem}_answers.ipynb)' in ex[0] and answers.exists(), f"{stem}: exercises link their answers notebook, which exists"


@pytest.mark.parametrize('stem', CHAPTERS)
def test_answers_answer_every_exercise(stem):
    ex = next(s for s in markdown(stem) if s.startswith('## Exercises'))
    n = len(re.findall(r'^\d+\. \*\(', ex, re.M))
    md = markdown(f'{stem}_answers', NBS/'answers')
    assert md[0].startswith('# Answers'), f"{stem}_answers: a '# Answers: ...' title"
    answered = {int(m) for s in md for m in re.findall(r'^\*\*(\d+)\.', s, re.M)}
    assert set(range(1, n + 1)) <= answered, f"{stem}_answers: answers {sorted(answered)}, the chapter asks {n}"


def test_every_answers_notebook_belongs_to_a_chapter():
    assert {p.stem.removesuffix('_answers') for p in (NBS/'answers').glob('*.ipynb')} <= set(CHAPTERS)


def test_the_outline_covers_every_course_chapter():
    outline = (ROOT/'docs'/'course.md').read_text()
    for stem in CHAPTERS:
        if stem[:1] != '9': assert f'(nbs/{stem}.ipynb)' in outline, f"docs/course.md does not place {stem} in a session"
    assert len(re.findall(r'^## Session \d', outline, re.M)) == 6


def test_stated_run_times_are_the_measured_ones():
    "Each chapter's **Run time.** line and the outline's table are what bench/run_times.py writes from nbs/results/*.csv."
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'run_times.py'), 'check'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_build_machine_wording():
    for p in [*NBS.rglob('*.ipynb'), *(ROOT/'docs').glob('*.md'), ROOT/'README.md']:
        assert 'build machine' not in p.read_text(), f"{p.relative_to(ROOT)} speaks of build machines"
