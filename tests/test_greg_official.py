"""GReg's loss pinned to an independent re-expression of the authors' code (o4lc/Greg-OOD, `train_sea.py`, the training
step after `clf.train()`): the cross-entropy on the ID rows, `beta * (mean relu(E_in - m_in)^2 + mean relu(m_out - E_out)^2)`,
and the gradient term computed their way, with `torch.autograd.functional.jacobian` of `jacobianLossFunction` (a second
forward pass of the whole batch) with respect to the batch, reshaped to one row per sample, the L2 norm of each row, the
mean over all rows. The network is the Fashion-MNIST CNN with batch norm in train mode, the batch has twice as many
outliers as ID images (GReg+'s ratio), and the margins leave samples on both sides of each. Every term and every
parameter gradient must agree to 1e-5."""
import copy
import pytest
import torch
import torch.nn.functional as F
from line_nb.greg import greg_loss, greg_penalty, free_energy
from line_nb.models import FashionCNN

N_IN, N_OUT, BETA, JAC = 16, 32, 0.1, 1.0


def official_step(clf, data_id, target_id, data_ood, m_in, m_out):
    "The authors' loss, re-expressed: separate forward passes for the loss and the Jacobian, as in train_sea.py."
    num_id = len(data_id)
    data = torch.cat([data_id, data_ood], dim=0)
    def jacobian_loss_function(inputs):
        lg = clf(inputs)
        e_in, e_out = -torch.logsumexp(lg[:num_id], 1), -torch.logsumexp(lg[num_id:], 1)
        return -(F.relu(m_in - e_in)).mean() + (F.relu(e_out - m_out)).mean()
    logit = clf(data)
    ce = F.cross_entropy(logit[:num_id], target_id)
    e_in, e_out = -torch.logsumexp(logit[:num_id], 1), -torch.logsumexp(logit[num_id:], 1)
    energy_loss = BETA * (F.relu(e_in - m_in).pow(2).mean() + F.relu(m_out - e_out).pow(2).mean())
    jac = torch.autograd.functional.jacobian(jacobian_loss_function, data, create_graph=True)
    jac_loss = JAC * torch.linalg.norm(jac.reshape(jac.shape[0], -1), 2, 1).mean()
    return ce + energy_loss + jac_loss, dict(ce=ce, energy=energy_loss / BETA, grad=jac_loss / JAC)


@pytest.fixture(scope='module')
def batch():
    torch.manual_seed(0)
    net = FashionCNN()
    g = torch.Generator().manual_seed(1)
    x_in, y = torch.rand(N_IN, 1, 28, 28, generator=g), torch.randint(10, (N_IN,), generator=g)
    x_out = torch.rand(N_OUT, 1, 28, 28, generator=g) ** 3              # darker images: other energies
    with torch.no_grad():                                               # train mode, as the loss sees them
        e = free_energy(copy.deepcopy(net).train()(torch.cat([x_in, x_out])))
    m_in, m_out = float(e[:N_IN].median()), float(e[N_IN:].median())   # about half of each batch on each side
    if not m_in < m_out: m_in, m_out = float(e.min()) + 1e-3, float(e.max()) - 1e-3
    return net, x_in, y, x_out, m_in, m_out


def test_greg_loss_equals_the_authors_code(batch):
    net, x_in, y, x_out, m_in, m_out = batch
    ours, theirs = copy.deepcopy(net).train(), copy.deepcopy(net).train()
    total, st = greg_loss(ours, x_in, y, x_out, m_in, m_out, lambda_s=BETA, lambda_grad=JAC)
    ref_total, ref = official_step(theirs, x_in, y, x_out, m_in, m_out)
    assert 0 < st['ok_in'] < 1 and 0 < st['ok_out'] < 1                  # both sides of both margins are exercised
    assert ref['grad'].item() > 0
    for k in ('ce', 'energy', 'grad'): assert st[k] == pytest.approx(ref[k].item(), abs=1e-5, rel=1e-5), k
    assert total.item() == pytest.approx(ref_total.item(), abs=1e-5, rel=1e-5)
    total.backward(); ref_total.backward()
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), (n, (p.grad - q.grad).abs().max().item())


def test_penalty_scale_is_the_mean_over_all_samples(batch):
    "In eval mode (no sample affects another) the penalty is (mean ok-norm of ID / n_in ... ) summed per group over n_in + n_out: the scale the issue found 32x too large."
    net, x_in, y, x_out, m_in, m_out = batch
    net = copy.deepcopy(net).eval()
    x = torch.cat([x_in, x_out]).requires_grad_()
    e = free_energy(net(x))
    g, = torch.autograd.grad(e.sum(), x, retain_graph=True)
    norms = g.flatten(1).norm(dim=1)
    ok = torch.cat([e[:N_IN] < m_in, e[N_IN:] > m_out])
    per_group = (norms * ok)[:N_IN].sum() / N_IN + (norms * ok)[N_IN:].sum() / N_OUT
    assert greg_penalty(e, x, N_IN, m_in, m_out).item() == pytest.approx(per_group.item() / (N_IN + N_OUT), rel=1e-5)
