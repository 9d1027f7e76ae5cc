"One rank of the two-process check in test_distributed.py: launched by torchrun, writes its results to argv[1]/rank{RANK}.pt."
import os, sys
import torch, torch.nn as nn
from line_nb.data import ImageTensors
from line_nb.line import LINe
from line_nb.distributed import init_distributed, extract_distributed, fit_distributed

LINE_KW = dict(act_prune_pct=50, weight_prune_pct=50, clip_threshold=0.3)

def tiny_model():
    "A conv net ending in ReLU, global average pool and a linear head: q = 8 features, L = 5 classes; the same weights in every process."
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()

def tiny_data(n=101, seed=1):
    "n random 12x12 grey images (an odd count, so the two shards differ in size), labels cycling over the 5 classes."
    g = torch.Generator().manual_seed(seed)
    return ImageTensors(torch.randint(0, 256, (n, 1, 12, 12), dtype=torch.uint8, generator=g), torch.arange(n) % 5, name=f'tiny{n}')

if __name__ == '__main__':
    torch.set_num_threads(1)
    rank, world, device = init_distributed()
    m, tr, te = tiny_model(), tiny_data(101, 1), tiny_data(37, 2)
    det = fit_distributed(LINe(m[-1], **LINE_KW), m, tr, batch_size=16, device=device)
    f = extract_distributed(m, te, batch_size=16, device=device, cache=True, progress=False)   # cache under LINE_NB_CACHE
    torch.save({'world': world, 'state': det.state_dict(), 'features': f.features, 'logits': f.logits, 'labels': f.labels,
                'scores': det.score_features(f.features), 'path': f.meta['path']}, os.path.join(sys.argv[1], f'rank{rank}.pt'))
    torch.distributed.barrier()                  # both ranks are done ...
    torch.distributed.destroy_process_group()    # ... then close gloo: exiting with its threads alive can abort a rank (SIGABRT)
