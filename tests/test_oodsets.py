"Quick checks of the offline OOD sets (the notebook nbs/92_oodsets.ipynb has the full tests)."
import os, warnings
from unittest import mock
import pytest, torch
import line_nb.oodsets as O


@pytest.mark.parametrize('fmt', list(O.FORMATS))
@pytest.mark.parametrize('name', list(O.OOD_SETS))
def test_shape_dtype_determinism(name, fmt):
    n = min(O.OOD_SETS[name].size, 50)
    x = O.ood_set(name, fmt, n=n, seed=3)
    assert x.dtype == torch.uint8 and tuple(x.shape) == (n,) + O.FORMATS[fmt]
    assert torch.equal(x, O.ood_set(name, fmt, n=n, seed=3))
    assert not torch.equal(x, O.ood_set(name, fmt, n=n, seed=4))


def test_aux_shares_no_source_with_test_sets():
    srcs, _ = O.all_sources()
    test = [s for s in srcs if s.group == 'test']; aux = [s for s in srcs if s.group == 'aux']
    assert test and aux
    for key in ('name', 'file', 'scene'):
        assert not {getattr(s, key) for s in test} & {getattr(s, key) for s in aux}, key
    _, used = O.auxiliary_outliers(300, 'gray28', return_sources=True)
    for name in ('textures', 'photos'):
        assert not set(used) & set(O.image_sources(name, n=300))


def test_errors():
    with pytest.raises(ValueError, match="valid names: \\['mnist'"): O.ood_set('lsun')
    with pytest.raises(ValueError, match='fmt must be one of'): O.ood_set('mnist', 'rgb64')
    with pytest.raises(ValueError, match="'digits' has only 1797 images"): O.ood_set('digits', n=1798)
    with pytest.raises(ValueError, match='n must be positive'): O.ood_set('photos', n=0)


def test_missing_debian_packages_fall_back_then_fail_clearly():
    with mock.patch.object(O, 'OPENCV_DIRS', ['/nonexistent/cv']), mock.patch.object(O, 'GIMP_PATTERN_DIRS', ['/nonexistent/gimp']), \
         mock.patch.dict(os.environ, {'LINE_NB_OPENCV_DATA': '', 'LINE_NB_GIMP_PATTERNS': ''}), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with pytest.raises(FileNotFoundError, match="OOD set 'textures' is unavailable.*gimp-data"): O.ood_set('textures', 'rgb32', n=10)
        assert O.ood_set('textures', 'rgb32', n=10, partial=True).shape == (10, 3, 32, 32)   # asked for: built from the rest
        assert any('gimp-data' in str(m.message) for m in w)
        with mock.patch.object(O, 'SKIMAGE_TEXTURES', {}):
            with pytest.raises(FileNotFoundError, match='GIMP patterns not found'): O.ood_set('textures', partial=True)


def test_crop_set_with_missing_sources_is_refused_or_renamed(monkeypatch):
    "Nothing shrinks silently: without GIMP's patterns 'textures' is refused by ood_set, and built as 'textures-partial' by ood_sets."
    import warnings
    import line_nb.oodsets as o
    monkeypatch.setattr(o, 'GIMP_PATTERN_DIRS', [])
    monkeypatch.delenv('LINE_NB_GIMP_PATTERNS', raising=False)
    assert any('GIMP patterns not found' in p for p in o.crop_problems('texture')) and o.crop_problems('photo') == []
    with pytest.raises(FileNotFoundError, match="OOD set 'textures' is unavailable on this machine.*partial=True, which names it 'textures-partial'"):
        o.ood_set('textures', n=4)
    with pytest.raises(FileNotFoundError, match='is unavailable'): o.image_sources('textures', n=4)
    assert all(s.startswith('skimage/') for s in o.image_sources('textures', n=20, partial=True))   # only what is present
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        sets = o.ood_sets('rgb32', names=['textures', 'photos', 'gaussian'])
    assert list(sets) == ['textures-partial', 'photos', 'gaussian'] and sets['textures-partial'].shape == (2000, 3, 32, 32)
    assert any("named 'textures-partial'" in str(x.message) for x in w)
    with pytest.raises(FileNotFoundError, match='is unavailable'): o.ood_sets(names=['textures'], partial=False)
