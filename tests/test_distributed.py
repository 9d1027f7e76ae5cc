"Two gloo processes launched by torchrun on the CPU give the same fitted LINe state, features and scores as one process."
import subprocess, sys
import pytest, torch
import dist_worker as worker
from conftest import TESTS, subprocess_env
from line_nb.features import extract
from line_nb.line import LINe


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(), reason='needs torch.distributed with gloo')
def test_two_gloo_processes_match_one_process(tmp_path, cache):
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                        str(TESTS / 'dist_worker.py'), str(tmp_path)], capture_output=True, text=True,
                       env=subprocess_env(TESTS.parent), timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    ranks = [torch.load(tmp_path / f'rank{i}.pt', weights_only=False) for i in range(2)]

    # one process, the same model and data
    m, tr, te = worker.tiny_model(), worker.tiny_data(101, 1), worker.tiny_data(37, 2)
    ftr = extract(m, tr, batch_size=16, device='cpu', cache=False, progress=False)
    fte = extract(m, te, batch_size=16, device='cpu', cache=False, progress=False)
    one = LINe(m[-1], **worker.LINE_KW).fit_features(ftr.features, ftr.labels)
    scores = one.score_features(fte.features)

    for res in ranks:
        assert res['world'] == 2
        st = res['state']
        assert torch.equal(st['class_counts'], one.class_counts)
        torch.testing.assert_close(st['class_sums'], one.class_sums, rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(st['contrib'], one.contrib, rtol=1e-5, atol=1e-7)
        assert torch.equal(st['act_mask'], one.act_mask)
        torch.testing.assert_close(st['weight_thr'], one.weight_thr, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(res['features'], fte.features, rtol=1e-5, atol=1e-6)   # gathered in data-set order
        torch.testing.assert_close(res['logits'], fte.logits, rtol=1e-5, atol=1e-6)
        assert torch.equal(res['labels'], te.labels)
        torch.testing.assert_close(res['scores'], scores, rtol=1e-5, atol=1e-5)

    # rank 0 wrote the cache under the key a single-process extract uses: it is a cache hit now
    hit = extract(m, te, batch_size=16, device='cpu', progress=False)
    assert hit.meta['cached'] and hit.meta['path'] == ranks[0]['path'] and hit.meta['world_size'] == 2
    torch.testing.assert_close(hit.features, fte.features, rtol=1e-5, atol=1e-6)
