"The `line-nb bench` command: --help, the full-protocol code paths on small FAKE image folders, config files, and clear errors."
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import run_cli
from line_nb.cli import parser
from line_nb.registry import ALL_DETECTORS

pytestmark = pytest.mark.usefixtures('cache')   # a private LINE_NB_CACHE for every test


def fake_folder(root: Path, classes: int, per_class: int, size: int, seed: int, flat: bool = False, fmt: str = 'png') -> Path:
    "A FAKE ImageFolder (class sub-folders) or flat folder of random RGB images: tests the code path, not any detector."
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root if flat else root/f'class{c:02d}'
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = rng.integers(0, 256, 3)   # one colour per image plus noise: classes do not matter here
            a = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(d/f'{c}_{i}.{fmt}')
    return root


def test_help_lists_every_option():
    code, out, _ = run_cli(['bench', '--help'])
    assert code == 0
    bench = parser()._subparsers._group_actions[0].choices['bench']
    opts = [s for a in bench._actions for s in a.option_strings if s.startswith('--')]
    assert len(opts) > 25
    for s in opts: assert s in out, s
    for name in ALL_DETECTORS: assert name in out, name           # detector names, ID sets, models, the paper's OOD folders
    for word in ('cifar10-jpeg', 'imagenet', 'densenet100', 'resnet50', 'mobilenet_v2', 'iNaturalist', 'LSUN-C', 'hyperparameters'): assert word in out, word


def _dice_checkpoint_here():
    from line_nb.densenet import find_dice_checkpoint
    try: return find_dice_checkpoint('cifar10', download=False)
    except FileNotFoundError: return None


@pytest.mark.skipif(_dice_checkpoint_here() is None, reason='the DICE CIFAR-10 checkpoint is not on this machine (line-nb data says how to get it)')
def test_densenet_on_fake_cifar_folders(tmp_path):
    "(a) The CIFAR protocol's code path: 10-class 32x32 ID folders, the DICE DenseNet, two OOD folders (tree and flat), a TOML config."
    idr = tmp_path/'id'
    fake_folder(idr/'train', 10, 3, 32, 0); fake_folder(idr/'test', 10, 2, 32, 1)
    fake_folder(tmp_path/'Textures', 2, 4, 48, 2, fmt='jpg')                 # ImageFolder tree, other size: resized to 32
    fake_folder(tmp_path/'LSUN-C', 1, 6, 36, 3, flat=True)                   # flat folder
    cfg = tmp_path/'bench.toml'
    cfg.write_text(f'id = "folder"\nmodel = "densenet100"\nweights = "cifar10"\nid_train_root = "{idr/"train"}"\n'
                   f'detectors = ["MSP", "Energy", "LINe", "ODIN", "KNN"]\nbatch_size = 16\n'
                   f'[ood_folders]\nTextures = "{tmp_path/"Textures"}"\n'
                   f'[hyperparameters.KNN]\nk = 3\n[hyperparameters.LINe]\nclip_threshold = "id_p80"\n')
    out = tmp_path/'out'
    code, stdout, err = run_cli(['bench', '--config', str(cfg), '--id-test-root', str(idr/'test'), '--ood-folder', f'LSUN-C={tmp_path/"LSUN-C"}',
                                 '--out', str(out), '--quiet', '--device', 'cpu', '--line-weight-prune-pct', '50', '--odin-max', '5'])
    assert code == 0, err
    assert 'computed by line_nb on folder / densenet100' in stdout and 'DICE checkpoint' in stdout
    assert 'ODIN scored on seeded random subsets of at most 5 images' in stdout
    assert 'Textures: 8 images, folder' in stdout and 'LSUN-C: 6 images, folder' in stdout
    assert "BENCHMARK_SETTINGS['cifar10']" in stdout and 'KNN: k=3' in stdout and 'weight_prune_pct=50' in stdout
    assert sorted(p.name for p in out.iterdir()) == ['histograms.png', 'results.csv', 'results.json', 'roc.png']
    df = pd.read_csv(out/'results.csv')
    assert list(dict.fromkeys(df.detector)) == ['MSP', 'Energy', 'LINe', 'ODIN', 'KNN']
    assert set(df.ood) == {'Textures', 'LSUN-C', 'average'} and len(df) == 5 * 3
    assert df[['FPR95', 'AUROC', 'AUPR-In', 'AUPR-Out']].apply(lambda c: c.between(0, 100)).all().all()
    js = json.loads((out/'results.json').read_text())
    assert js['id']['n_train'] == 30 and js['id']['n_test'] == 18 and js['id']['n_validation'] == 2 and js['model']['weights'] == 'cifar10' and js['settings'] == 'cifar10'
    assert js['hyperparameters']['LINe']['weight_prune_pct'] == 50 and isinstance(js['hyperparameters']['LINe']['clip_threshold'], float)
    assert js['ood']['Textures']['offline_stand_in'] is False and len(js['rows']) == 15
    for f in ('histograms.png', 'roc.png'): assert (out/f).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('arch', ['resnet50'])
def test_imagenet_model_on_fake_224_folders(tmp_path, arch):
    "(b) The ImageNet protocol's code path: 224 px ID folders, a torchvision model with RANDOM weights (--weights none), OOD folders."
    fake_folder(tmp_path/'train', 3, 3, 224, 0); fake_folder(tmp_path/'val', 3, 1, 224, 1)
    fake_folder(tmp_path/'iNaturalist', 1, 3, 96, 2, flat=True); fake_folder(tmp_path/'Places', 2, 1, 300, 3, fmt='jpg')
    out = tmp_path/'out'
    code, stdout, err = run_cli(['bench', '--id', 'folder', '--model', arch, '--weights', 'none', '--id-train-root', str(tmp_path/'train'),
                                 '--id-test-root', str(tmp_path/'val'), '--ood-folder', f'iNaturalist={tmp_path/"iNaturalist"}',
                                 '--ood-folder', f'Places={tmp_path/"Places"}', '--detectors', 'Energy,ReAct,DICE,LINe,ODIN', '--id-train-max', '6',
                                 '--batch-size', '4', '--out', str(out), '--quiet', '--device', 'cpu'])
    assert code == 0, err
    assert f'computed by line_nb on folder / {arch}' in stdout and 'RANDOM weights (3 classes, --weights none)' in stdout
    assert 'fitted on a seeded random subset of 6 of the 9 ID training images' in stdout
    assert "BENCHMARK_SETTINGS['imagenet']" in stdout
    df = pd.read_csv(out/'results.csv')
    assert set(df.ood) == {'iNaturalist', 'Places', 'average'} and list(dict.fromkeys(df.detector)) == ['Energy', 'ReAct', 'DICE', 'LINe', 'ODIN']
    assert (out/'roc.png').exists() and (out/'histograms.png').exists()
    assert json.loads((out/'results.json').read_text())['model']['weights'] == 'none'


def test_mobilenet_gets_the_papers_line_clip(tmp_path):
    "MobileNetV2 takes LINe's clip 0.6 (the paper's appendix) on top of the imagenet settings; checked at planning, no data run."
    from line_nb.benchmark import plan_benchmark
    fake_folder(tmp_path/'t', 2, 1, 8, 0); fake_folder(tmp_path/'o', 1, 1, 8, 1)
    P = plan_benchmark('imagenet', 'mobilenet_v2', id_train_root=tmp_path/'t', id_test_root=tmp_path/'t', ood_folders={'SUN': tmp_path/'o'},
                       detectors=['LINe', 'DICE'])
    assert P.hyperparameters['LINe'] == dict(act_prune_pct=10., weight_prune_pct=10., clip_threshold=0.6) and P.hyperparameters['DICE'] == dict(p=70.)
    assert P.settings == 'imagenet' and P.weights == 'imagenet'


@pytest.mark.parametrize('args,code,msg', [
    (['--id', 'cifar10', '--no-download', '--id-root', '{tmp}/nowhere'], 1, "root='{tmp}/nowhere' does not exist"),
    (['--ood-folder', 'SVHN={tmp}/missing'], 1, 'OOD folder {tmp}/missing does not exist'),
    (['--ood-folder', 'iSUN={tmp}'], 1, 'holds no image files'),
    (['--id', 'folder', '--model', 'resnet50', '--weights', 'none', '--id-train-root', '{tmp}/nope', '--id-test-root', '{tmp}'], 1, '--id-train-root {tmp}/nope does not exist'),
    (['--id', 'fashion-mnist', '--model', 'resnet50'], 1, 'model/ID mismatch: --model resnet50 fits --id imagenet or folder, not fashion-mnist'),
    (['--model', 'densenet100', '--weights', '{tmp}/none.pth', '--id', 'cifar10-jpeg'], 1, "is neither cifar10 nor cifar100 nor an existing file"),
    (['--detectors', 'LINe,Gram'], 1, "unknown detector(s) ['Gram']"),
    (['--line-clip', 'p90', '--config', '{tmp}/bad.json'], 2, "config file {tmp}/bad.json: key 'hyperparameters': unknown detector 'Lime'"),
    (['--config', '{tmp}/badhp.json'], 1, "hyperparameters: LINe does not take 'act_prune'; its parameters: act_prune_pct"),
    (['--config', '{tmp}/badval.json'], 1, 'hyperparameters: KNN: k must be a positive integer, got 0'),
    (['--ood-folder', 'x'], 2, 'expected NAME=PATH'),
    (['--odin-max', '0'], 2, "must be a positive integer, got '0'"),
    (['--settings', 'svhn'], 2, "invalid choice: 'svhn'"),
])
def test_errors_are_messages(tmp_path, cache, args, code, msg):
    "A bad option, a missing data set or folder, a bad config file or a mismatch: an exit code and a message, no traceback, nothing run."
    (tmp_path/'bad.json').write_text('{"hyperparameters": {"Lime": {"k": 1}}}')
    (tmp_path/'badhp.json').write_text('{"hyperparameters": {"LINe": {"act_prune": 10}}}')
    (tmp_path/'badval.json').write_text('{"hyperparameters": {"knn": {"k": 0}}}')
    args = [a.replace('{tmp}', str(tmp_path)) for a in args]
    got, _, err = run_cli(['bench', '--quiet', '--out', str(tmp_path/'out'), *args])
    msg = msg.replace('{tmp}', str(tmp_path))
    assert got == code and msg in err and 'Traceback' not in err, (got, err)
    assert not (tmp_path/'out').exists() and not (cache/'features').exists()


def test_missing_fashion_mnist_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv('LINE_NB_FASHION_MNIST', str(tmp_path))   # a named folder is searched alone
    code, _, err = run_cli(['bench', '--quiet', '--out', str(tmp_path/'out'), '--detectors', 'MSP', '--no-download'])
    assert code == 1 and 'Fashion-MNIST not found' in err and str(tmp_path) in err and 'Traceback' not in err, err


# ---------------------------------------------------------------- line-nb data
def _no_optional_data(tmp_path, monkeypatch):
    "A machine without the optional data: no checkpoint, no CIFAR, no JPEG copy, and no shared/ folder above the working directory."
    monkeypatch.chdir(tmp_path)
    (tmp_path/'ck').mkdir()
    monkeypatch.setenv('LINE_NB_CHECKPOINTS', str(tmp_path/'ck'))
    for var in ('LINE_NB_CIFAR10', 'LINE_NB_CIFAR100'): monkeypatch.setenv(var, str(tmp_path/'none'))
    monkeypatch.delenv('LINE_NB_CIFAR10_JPEG', raising=False)


def test_data_command_without_the_optional_data(tmp_path, monkeypatch, cache):
    _no_optional_data(tmp_path, monkeypatch)
    code, out, err = run_cli(['data', '--test-flags'])
    assert code in (0, None) and out.strip() == ''
    assert 'skipped: the DenseNet chapters' in err and 'missing dice-cifar10 (get it: line-nb data --fetch dice-cifar10' in err, err
    code, out, err = run_cli(['data', '--no-md5'])
    assert code in (0, None), err
    found, missing = out.split('missing (')
    assert 'fashion-mnist' in found and 'dice-cifar10' in missing and 'cifar10-jpeg' in missing
    assert 'get it: line-nb data --fetch cifar10' in missing and 'needed by: the DenseNet chapters' in missing
    import urllib.request
    monkeypatch.setattr(urllib.request, 'urlopen', lambda *a, **k: (_ for _ in ()).throw(OSError('no network')))
    code, out, err = run_cli(['data', '--fetch', 'dice-cifar10', '--no-md5'])
    assert code == 1 and 'dice-cifar10: failed:' in out and 'no network' in out and 'could not fetch dice-cifar10' in err
    assert not any((tmp_path/'ck').iterdir()) and not (cache/'checkpoints'/'densenet100_cifar10.pth.tar').exists()
    code, out, err = run_cli(['data', '--fetch', 'mnist'])
    assert code == 1 and "cannot fetch ['mnist']" in err


def test_data_command_with_the_optional_data(tmp_path, monkeypatch, cache):
    _no_optional_data(tmp_path, monkeypatch)
    (tmp_path/'ck'/'densenet100_cifar10.pth.tar').write_bytes(b'not the real checkpoint')
    for split in ('train', 'test'): (tmp_path/'jpeg'/split).mkdir(parents=True)
    monkeypatch.setenv('LINE_NB_CIFAR10_JPEG', str(tmp_path/'jpeg'))
    code, out, err = run_cli(['data', '--test-flags'])
    assert out.strip() == 'densenet' and err == ''
    code, out, err = run_cli(['data'])
    found = out.split('missing (')[0]
    assert f"{tmp_path/'ck'/'densenet100_cifar10.pth.tar'}  MD5 MISMATCH (expected a3385573bea3fabe06b9e89acdab52d4)" in found, out
    assert str(tmp_path/'jpeg') in found and 'note: lossy' in found
    code, out, err = run_cli(['data', '--fetch', 'dice-cifar10', '--no-md5'])    # present: left alone, nothing downloaded
    assert code in (0, None) and f"dice-cifar10: {tmp_path/'ck'/'densenet100_cifar10.pth.tar'}" in out


def fake_cifar10_root(root: Path, n: int = 10) -> Path:
    "A FAKE torchvision root: `cifar-10-batches-py` with `n` random 32x32 images (labels 0..9 cyclically) per batch file."
    import pickle
    from line_nb.densenet import CIFAR10_CLASSES
    f = root/'cifar-10-batches-py'; f.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for b in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(f/b, 'wb') as fh: pickle.dump({'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': [i % 10 for i in range(n)]}, fh)
    with open(f/'batches.meta', 'wb') as fh: pickle.dump({'label_names': CIFAR10_CLASSES}, fh)
    return root


def fake_cifar10_jpeg(root: Path) -> Path:
    "A FAKE cifar10-jpeg.tar.gz: one random JPEG per class and split."
    import tarfile
    from line_nb.densenet import CIFAR10_CLASSES, CIFAR10_JPEG_TARBALL
    for split in ('train', 'test'):
        for i, c in enumerate(CIFAR10_CLASSES):
            (root/'src'/'cifar10-jpeg'/split/c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root/'src'/'cifar10-jpeg'/split/c/'0000.jpg')
    with tarfile.open(root/CIFAR10_JPEG_TARBALL, 'w:gz') as t: t.add(root/'src'/'cifar10-jpeg', arcname='cifar10-jpeg')
    return root/CIFAR10_JPEG_TARBALL


@pytest.mark.skipif(_dice_checkpoint_here() is None, reason='the DICE CIFAR-10 checkpoint is not on this machine (line-nb data says how to get it)')
@pytest.mark.parametrize('original', [True, False])
def test_id_cifar10_is_the_original_when_present_else_the_jpeg_copy(tmp_path, monkeypatch, original):
    "`bench --id cifar10`: the original CIFAR-10 when found (a FAKE torchvision root), else the JPEG copy (a FAKE tarball); the report says which."
    import line_nb.densenet as dn
    monkeypatch.setenv('LINE_NB_CHECKPOINTS', str(_dice_checkpoint_here().parent))
    monkeypatch.setenv('HOME', str(tmp_path)); monkeypatch.chdir(tmp_path)            # nothing on this machine is found by accident
    monkeypatch.delenv('LINE_NB_CIFAR10', raising=False)
    monkeypatch.setenv('LINE_NB_CIFAR10_JPEG', str(fake_cifar10_jpeg(tmp_path/'jpeg')))
    monkeypatch.setattr(dn, 'CIFAR10_JPEG_COUNTS', {'train': 10, 'test': 10})          # the fake copy's size
    monkeypatch.setattr(dn, '_CHOSEN', {})
    monkeypatch.setattr('torchvision.datasets.cifar.check_integrity', lambda *a, **k: True)   # fake files, no official md5
    if original: monkeypatch.setenv('LINE_NB_CIFAR10', str(fake_cifar10_root(tmp_path/'tv')))
    out = tmp_path/'out'
    fake_folder(tmp_path/'ood', 1, 4, 32, 5, flat=True)
    code, stdout, err = run_cli(['bench', '--id', 'cifar10', '--no-download', '--ood-folder', f"fake={tmp_path/'ood'}", '--detectors', 'Energy,LINe',
                                 '--out', str(out), '--quiet', '--device', 'cpu', '--no-figures'])
    assert code == 0, err
    js = json.loads((out/'results.json').read_text())
    if original:
        assert 'computed by line_nb on cifar10 / densenet100' in stdout and 'ID: CIFAR-10: fitted on 50 training images' in stdout, stdout
        assert js['id']['name'] == 'cifar10' and 'ran on' not in stdout
    else:
        assert 'computed by line_nb on cifar10-jpeg / densenet100' in stdout and 'ID: CIFAR-10, LOSSY JPEG copy: the original CIFAR-10 was not found' in stdout, stdout
        assert 'note: --id cifar10: not available here; ran on cifar10-jpeg instead' in stdout
        assert (js['id']['name'], js['id']['asked'], js['id']['n_train']) == ('cifar10-jpeg', 'cifar10', 10)
