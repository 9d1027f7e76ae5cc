"Every hyperparameter line_nb uses is traced to a source: an official repository file and line, a paper, or 'ours: <reason>'."
import json, re
import pytest
from line_nb.registry import (BENCHMARK_SETTINGS, MODEL_SETTINGS, DETECTORS, PROVENANCE, MODEL_PROVENANCE, SOURCE_REPOS,
                              provenance, provenance_table, check_provenance, detector_parameters)


def _json(v): return list(v) if isinstance(v, tuple) else v


def test_every_setting_and_default_has_its_source():
    assert check_provenance() == []


@pytest.mark.parametrize('benchmark', list(BENCHMARK_SETTINGS))
def test_settings_recorded_with_equal_value(benchmark):
    t = provenance_table(benchmark).set_index(['detector', 'parameter'])
    assert set(t.index.get_level_values(0)) == set(DETECTORS)                  # every detector on every benchmark
    for d, kw in BENCHMARK_SETTINGS[benchmark].items():
        for k, v in kw.items():
            assert t.loc[(d, k), 'value'] == _json(v), (benchmark, d, k)
            assert t.loc[(d, k), 'source'].strip(), (benchmark, d, k)
    for d in DETECTORS:                                                         # and every constructor parameter
        for k in detector_parameters(d): assert (d, k) in t.index, (benchmark, d, k)


@pytest.mark.parametrize('model', list(MODEL_SETTINGS))
def test_model_settings_recorded(model):
    for b in BENCHMARK_SETTINGS:
        for d, kw in MODEL_SETTINGS[model][0].items():
            rows = {r['parameter']: r for r in provenance(b, [d], model=model)}
            for k, v in kw.items():
                assert rows[k]['value'] == _json(v) and rows[k]['source'].strip()
                assert MODEL_PROVENANCE[model][d][k][0] == v


def test_sources_name_a_commit_a_paper_or_ours():
    repos = {f"{r}@{c[:10]} " for r, c in SOURCE_REPOS.values()}
    for c in SOURCE_REPOS.values(): assert re.fullmatch('[0-9a-f]{40}', c[1])
    for r in provenance_table().itertuples():
        s = r.source
        assert (any(s.startswith(p) for p in repos) and re.search(r' \S+:\d+', s)) or s.startswith(('ours:', 'paper:', 'unused:', 'no hyperparameters', 'NAN')), s


def test_fixed_values():
    "The values issue 15 corrected or marked, pinned."
    for b in ('cifar10', 'cifar100'):
        assert BENCHMARK_SETTINGS[b]['ASH'] == dict(pct=95., variant='s') and 'ash_s@95' in PROVENANCE[b]['ASH']['pct'][1]
    assert PROVENANCE['fashion']['ASH']['pct'][1].startswith('ours:')
    assert PROVENANCE['imagenet']['KNN']['subsample'][1].startswith('ours:')
    assert PROVENANCE['imagenet']['DICE+ReAct']['p'][1].startswith('ours:') and PROVENANCE['imagenet']['DICE+ReAct']['threshold'][1].startswith('ours:')
    assert PROVENANCE['cifar100']['KNN']['k'] == (200, PROVENANCE['cifar100']['KNN']['k'][1]) and 'k = 200 for CIFAR-100' in PROVENANCE['cifar100']['KNN']['k'][1]
    for b in PROVENANCE: assert PROVENANCE[b]['KNN']['metric'][0] == PROVENANCE[b]['NAN+KNN']['metric'][0] == 'squared'


def test_provenance_is_json_ready_and_checks_names():
    rows = provenance('imagenet', ['knn', 'LINe'], model='mobilenet_v2')
    assert json.loads(json.dumps(rows)) == rows
    assert {r['detector'] for r in rows} == {'KNN', 'LINe'}
    assert next(r for r in rows if r['parameter'] == 'clip_threshold')['value'] == 0.6
    with pytest.raises(ValueError, match='benchmark must be one of'): provenance('svhn')
    with pytest.raises(ValueError, match='unknown detector'): provenance('cifar10', ['Gram'])


def test_drift_is_caught(monkeypatch):
    monkeypatch.setitem(BENCHMARK_SETTINGS, 'cifar10', {**BENCHMARK_SETTINGS['cifar10'], 'ASH': dict(pct=90., variant='s')})
    assert 'cifar10 ASH.pct: setting 90.0, recorded 95.0' in check_provenance()
