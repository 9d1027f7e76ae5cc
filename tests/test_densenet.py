"Quick checks of line_nb.densenet that need the DICE checkpoints (skipped when they cannot be found offline)."
import pytest, torch, torch.nn as nn
from torchvision.datasets.utils import calculate_md5
from line_nb.densenet import densenet100, find_dice_checkpoint, load_dice_densenet, DICE_CHECKPOINTS

def _ckpt(ds):
    try: return find_dice_checkpoint(ds, download=False)
    except FileNotFoundError: pytest.skip(f"DICE {ds} checkpoint not found offline")

@pytest.mark.parametrize('ds,n', [('cifar10', 10), ('cifar100', 100)])
def test_strict_load(ds, n):
    p = _ckpt(ds)
    assert calculate_md5(p) == DICE_CHECKPOINTS[ds][2]
    sd = torch.load(p, map_location='cpu', weights_only=True)['state_dict']
    res = densenet100(n).load_state_dict(sd, strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    m = load_dice_densenet(ds, device='cpu')
    assert not m.training and tuple(m.fc.weight.shape) == (n, 342)

def test_prehook_sees_penultimate():
    _ckpt('cifar10')
    m, x, seen = load_dice_densenet('cifar10', device='cpu'), torch.randn(2, 3, 32, 32), []
    assert isinstance(list(m.modules())[-1], nn.Linear)
    h = m.fc.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0]))
    with torch.no_grad(): z = m(x)
    h.remove()
    assert seen[0].shape == (2, 342)
    torch.testing.assert_close(seen[0], m.forward_features(x))
    torch.testing.assert_close(z, m.fc(seen[0]))
