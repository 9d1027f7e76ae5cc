"""Feature-cache integrity: atomic self-checking files, damaged files detected and recomputed, interrupted extractions leave
nothing that passes as complete, concurrent writers of one key never corrupt it."""
import os, signal, subprocess, sys, textwrap, time, warnings
from pathlib import Path
import pytest
import torch
from conftest import tiny_model, tiny_data, Q, L, subprocess_env
from line_nb import extract
from line_nb.features import _save_atomic, _load_checked, CACHE_MAGIC

pytestmark = pytest.mark.usefixtures('cache')   # every test here runs with a private LINE_NB_CACHE, never ~/.cache/line_nb



def ex(model, data, **kw): return extract(model, data, progress=False, device='cpu', **kw)


def only_file(cache):
    files = sorted((cache/'features').iterdir())
    assert len(files) == 1 and files[0].suffix == '.pt', files
    return files[0]


def test_roundtrip_and_key(cache):
    m, d = tiny_model(), tiny_data()
    a = ex(m, d); b = ex(m, d)
    assert not a.meta['cached'] and b.meta['cached']
    assert torch.equal(a.features, b.features) and torch.equal(a.logits, b.logits) and torch.equal(a.labels, b.labels)
    assert only_file(cache).read_bytes().startswith(CACHE_MAGIC)
    with torch.no_grad(): m.fc.bias[0] += 1            # another model: another key, never the stale file
    c = ex(m, d)
    assert not c.meta['cached'] and len(list((cache/'features').iterdir())) == 2


def damage_cases(good: bytes):
    n = len(CACHE_MAGIC)
    flip = lambda i: good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1:]
    return {'truncated by half': (good[:len(good) // 2], 'truncated or padded'), 'last byte cut': (good[:-1], 'truncated or padded'),
            'padded': (good + b'\0' * 7, 'truncated or padded'), 'payload byte flipped': (flip(len(good) - 100), 'does not match its checksum'),
            'checksum byte flipped': (flip(n + 9), 'does not match its checksum'), 'length field changed': (flip(n), 'truncated or padded'),
            'header only': (good[:n + 40], 'truncated or padded'), 'shorter than the header': (good[:n + 5], 'not a complete line_nb cache file'),
            'empty file': (b'', 'not a complete line_nb cache file'), 'zeros': (bytes(len(good)), 'not a complete line_nb cache file'),
            'old format (bare torch.save)': (good[n + 40:], 'not a complete line_nb cache file')}


@pytest.mark.parametrize('case', list(damage_cases(b'x' * 400)))
def test_damaged_cache_file_is_detected_and_recomputed(cache, case):
    m, d = tiny_model(), tiny_data()
    a = ex(m, d); path = only_file(cache)
    bad, why = damage_cases(path.read_bytes())[case]
    path.write_bytes(bad)
    with pytest.warns(UserWarning, match=f'cache file .* {why}.*: recomputing it'): b = ex(m, d)
    assert not b.meta['cached'] and torch.equal(a.features, b.features)
    with warnings.catch_warnings():
        warnings.simplefilter('error'); c = ex(m, d)       # rewritten: read back, complete, no warning
    assert c.meta['cached'] and torch.equal(a.features, c.features)


def test_unreadable_payload_with_valid_checksum(cache):
    m, d = tiny_model(), tiny_data()
    path = Path(ex(m, d).meta['path'])
    import hashlib
    junk = b'not a pickle at all'
    path.write_bytes(CACHE_MAGIC + len(junk).to_bytes(8, 'little') + hashlib.sha256(junk).digest() + junk)
    with pytest.warns(UserWarning, match='is unreadable'): assert not ex(m, d).meta['cached']


@pytest.mark.parametrize('content,why', [
    ({'features': torch.ones(40, Q + 1), 'logits': torch.ones(40, L), 'labels': torch.zeros(40, dtype=torch.long), 'meta': {}}, f'has width {Q + 1}'),
    ({'features': torch.ones(40, Q), 'logits': torch.ones(39, L), 'labels': torch.zeros(40, dtype=torch.long), 'meta': {}}, 'inconsistent shapes'),
    ({'features': torch.ones(0, Q), 'logits': torch.ones(0, L), 'labels': torch.zeros(0, dtype=torch.long), 'meta': {}}, 'inconsistent shapes'),
    ({'features': torch.ones(40, Q)}, 'lacks features, logits, labels or meta'),
    ([1, 2, 3], 'lacks features'),
])
def test_complete_file_whose_contents_do_not_fit_the_model(cache, content, why):
    "A file that passes its checksum but cannot be this model's features (a key collision, a hand-edited file) is recomputed."
    m, d = tiny_model(), tiny_data()
    a = ex(m, d); path = Path(a.meta['path'])
    _save_atomic(content, path)
    with pytest.warns(UserWarning, match=f'{why}.*recomputing it'): b = ex(m, d)
    assert not b.meta['cached'] and torch.equal(a.features, b.features)


class Boom(Exception): pass


def test_interrupted_extraction_writes_nothing(cache):
    m, d = tiny_model(), tiny_data(40)
    calls = []
    def stop_on_second_batch(mod, inp):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt
    h = m.fc.register_forward_pre_hook(stop_on_second_batch)
    with pytest.raises(KeyboardInterrupt): ex(m, d, batch_size=8)
    h.remove()
    assert not (cache/'features').exists() or not any((cache/'features').iterdir())   # no file, no temporary file
    assert not ex(m, d).meta['cached']


def test_failed_write_leaves_nothing(cache, monkeypatch):
    m, d = tiny_model(), tiny_data()
    def full(*a, **k): raise OSError(28, 'No space left on device')
    with monkeypatch.context() as mp:          # only the fsync patch is undone, never the private cache folder
        mp.setattr(os, 'fsync', full)
        with pytest.raises(OSError, match='No space left'): ex(m, d)
    assert not any((cache/'features').iterdir())
    assert not ex(m, d).meta['cached'] and ex(m, d).meta['cached']
    assert os.environ['LINE_NB_CACHE'] == str(cache)


def test_save_atomic_replaces_whole_files(tmp_path):
    p = tmp_path/'x.pt'
    _save_atomic({'a': torch.arange(1000)}, p); _save_atomic({'a': torch.arange(3)}, p)   # a shorter file over a longer one
    assert torch.equal(_load_checked(p)['a'], torch.arange(3))
    assert [f.name for f in tmp_path.iterdir()] == ['x.pt']
    assert _load_checked(tmp_path/'missing.pt') is None


def run_py(code: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], env=subprocess_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_writer_killed_mid_write_leaves_no_file_that_passes(cache):
    "SIGKILL a process while its cache file is written (after the bytes, before the rename): no final file; the next run recomputes."
    p = run_py("""
        import os, time, torch
        os.fsync = lambda fd: (print('writing', flush=True), time.sleep(60))   # hold the write open until killed
        from conftest import tiny_model, tiny_data
        from line_nb import extract
        extract(tiny_model(), tiny_data(), progress=False, device='cpu')
    """, {'LINE_NB_CACHE': str(cache)})
    try:
        assert p.stdout.readline().strip() == 'writing', p.stderr.read()
        p.send_signal(signal.SIGKILL); p.wait(30)
    finally:
        if p.poll() is None: p.kill()
    left = list((cache/'features').iterdir())
    assert left and all(f.name.endswith('.tmp') for f in left), left   # only the orphaned temporary file
    a = ex(tiny_model(), tiny_data())
    assert not a.meta['cached'] and ex(tiny_model(), tiny_data()).meta['cached']


def test_two_processes_writing_the_same_key_at_once(cache, tmp_path):
    "Two processes extract the same (model, data) and then rewrite the same cache file 40 times each, started together;\
     a reader polls the file meanwhile. Every read is complete and valid; afterwards the cache loads and verifies."
    go = tmp_path/'go'
    code = f"""
        import os, sys, time, torch
        from pathlib import Path
        from conftest import tiny_model, tiny_data
        from line_nb import extract
        from line_nb.features import _save_atomic
        while not Path({str(go)!r}).exists(): time.sleep(0.005)
        f = extract(tiny_model(), tiny_data(400), progress=False, device='cpu', batch_size=16)
        me = int(sys.argv[-1]) if sys.argv[-1].isdigit() else os.getpid()
        for i in range(40):
            _save_atomic({{'features': f.features, 'logits': f.logits, 'labels': f.labels, 'meta': {{**f.meta, 'writer': os.getpid(), 'i': i}}}}, Path(f.meta['path']))
        print(f.meta['path'], flush=True)
    """
    ps = [run_py(code, {'LINE_NB_CACHE': str(cache)}) for _ in range(2)]
    time.sleep(1.0); go.touch()
    ref = ex(tiny_model(), tiny_data(400), cache=False, batch_size=16)
    reads = 0
    with warnings.catch_warnings():
        warnings.simplefilter('error')                      # any damaged read would warn: make it fail the test
        while any(p.poll() is None for p in ps):
            files = [f for f in (cache/'features').glob('*.pt')] if (cache/'features').exists() else []
            for f in files:
                hit = _load_checked(f)
                if hit is not None:
                    reads += 1
                    assert torch.equal(hit['features'], ref.features)
            time.sleep(0.002)
    outs = [p.communicate() for p in ps]
    assert all(p.returncode == 0 for p in ps), [o[1][-2000:] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    with warnings.catch_warnings():
        warnings.simplefilter('error'); got = ex(tiny_model(), tiny_data(400), batch_size=16)
    assert got.meta['cached'] and got.meta['path'] in paths and torch.equal(got.features, ref.features)
    assert [f.name for f in (cache/'features').iterdir()] == [Path(got.meta['path']).name]   # no temporary files left
    print(f'{reads} concurrent reads, all complete')
