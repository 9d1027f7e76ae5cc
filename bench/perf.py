"""Performance of LINe, measured side by side in one run; prints ratios and writes bench/results/perf.json and perf.md.

    python bench/perf.py            # the full run (about 10 minutes on a shared 2-core CPU)
    python bench/perf.py --quick    # smaller sizes, a smoke test (about 1 minute)
    make perf                       # the full run through the project's virtual environment

Sections (each a ratio of two measurements taken in the same process, interleaved, best of `--repeats`):
  head   LINe's scoring head against the Energy head and against the per-sample reference, on ImageNet-shaped
         synthetic features (q = 2048, L = 1000, N = 50,000, ReLU-like, every class predicted), with peak memory
         of each measured in a fresh process;
  sweep  LINe's head over batch sizes N = 64 ... 50,000, both presets, at the ImageNet and the CIFAR DenseNet shapes: against
         the Energy head and against the floor (one unmasked product of each predicted class's rows with the head);
  fit    the streaming closed form against the official per-image-backward way (Taylor attributions, one
         backward per training image), on the same features, with equal results;
  e2e    LINe end to end from images against a plain forward pass: the Fashion-MNIST CNN (trained, cached) on
         Fashion-MNIST test images, and a ResNet-50 (random weights) on random 224 x 224 images;
  grid   the 5 x 5 grid of pruning percentiles (p_a x p_w, as the paper's Table 5) from cached Fashion-MNIST features;
  bf16   opt-in bf16 autocast + channels_last extraction: speed-up, effect on features and on the metrics.
Synthetic and random-weight figures time the computation only; no OOD metric is computed from them.
"""
from __future__ import annotations
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path
import torch, torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from line_nb.line import LINe                                      # noqa: E402
from line_nb.detectors import Energy                               # noqa: E402
from line_nb.contrib import taylor_attributions, classwise_mean    # noqa: E402
from line_nb.models import Backbone                                # noqa: E402


# ---------------------------------------------------------------------------------------------------------- helpers
def best_time(fns: dict, repeats: int) -> dict:
    "Seconds of each function, best of `repeats`, the functions interleaved so that load on a shared machine hits all alike."
    best = {k: float('inf') for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter(); f(); best[k] = min(best[k], time.perf_counter() - t)
    return best

def imagenet_like(L: int = 1000, q: int = 2048, seed: int = 0):
    "A synthetic ImageNet-shaped problem: sparse non-negative class prototypes, a head aligned with them, and a feature sampler."
    g = torch.Generator().manual_seed(seed)
    P = (torch.rand(L, q, generator=g) < 0.1) * torch.rand(L, q, generator=g) * 3       # (L, q) ~10% of neurons per class
    W = (P - P.mean(0)) / q ** 0.5                                                      # (L, q) a head that predicts the prototypes
    b = torch.randn(L, generator=g) * 0.01
    def sample(n: int, seed: int, chunk: int = 5000):
        "n ReLU-like features (n, q) with labels cycling over all classes, generated in chunks (no large temporaries)."
        gs = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % L
        h = torch.empty(n, q)
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            h[s:e] = torch.relu(P[y[s:e]] + 0.3 * torch.randn(e - s, q, generator=gs) - 0.1)
        return h, y
    return W, b, sample

@torch.no_grad()
def per_sample_reference(det: LINe, h: torch.Tensor) -> torch.Tensor:
    "The straightforward LINe loop (METHOD.md): for each input, clip, predict, build its (L, q) weight mask, masked energy."
    out = torch.empty(len(h))
    for n, x in enumerate(h):
        xh = x.clamp(max=det.clip_threshold) if det.clip_threshold is not None else x
        l = int((det.W @ xh + det.b).argmax())
        m = det.act_mask[l] if det.act_prune_pct is not None else torch.ones_like(xh, dtype=torch.bool)
        Wl = det.W * det.weight_mask(l)                                                  # (L, q) for this one input
        out[n] = torch.logsumexp(Wl @ (xh * m) + det.b, 0)
    return out

def peak_mb_in_fresh_process(what: str, args) -> float:
    "Peak resident memory (MB) that `what` adds, measured in a fresh process after its inputs are built."
    cmd = [sys.executable, __file__, '--_mem', what, '--threads', str(args.threads)] + (['--quick'] if args.quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return float(out)

def _proc_mb(field: str) -> float:
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(field)) / 1024

def _reset_peak() -> float:
    "Reset the peak resident memory (Linux, /proc/self/clear_refs) and return the current resident memory (MB)."
    open('/proc/self/clear_refs', 'w').write('5')
    return _proc_mb('VmRSS')

def sizes(args):
    return dict(L=1000, q=2048, n_test=5000 if args.quick else 50000, n_train=10000 if args.quick else 50000,
                n_ref=50 if args.quick else 200, n_backward=2000, n_direct=10 if args.quick else 50)

def line_imagenet(W, b):
    "LINe with the official ImageNet settings (p_a = 10, p_w = 10, delta = 0.8)."
    return LINe.from_preset(W, b, preset='imagenet')


# ---------------------------------------------------------------------------------------------------------- sections
def bench_head(args) -> dict:
    S = sizes(args)
    W, b, sample = imagenet_like(S['L'], S['q'])
    det = line_imagenet(W, b).fit_stream(_chunks(sample, S['n_train'], seed=1))
    energy = Energy(W, b)
    te, _ = sample(S['n_test'], seed=2)
    preds = (te.clamp(max=0.8) @ W.T + b).argmax(1)
    ref_rows = te[:S['n_ref']]
    ref = per_sample_reference(det, ref_rows)
    err = (det.score_features(ref_rows) - ref).abs().max().item()
    assert err < 1e-5 * max(1., ref.abs().max().item()), f"LINe differs from the per-sample reference by {err}"
    t = best_time({'energy': lambda: energy.score_features(te), 'line': lambda: det.score_features(te)}, args.repeats)
    t_ref = best_time({'ref': lambda: per_sample_reference(det, ref_rows)}, 1)['ref'] * len(te) / len(ref_rows)
    mem = {k: peak_mb_in_fresh_process(f'score_{k}', args) for k in ('energy', 'line', 'reference')}
    return {'what': f"scoring head on synthetic ImageNet-shaped features: q = {S['q']}, L = {S['L']}, N = {S['n_test']:,}, "
                    f"ReLU-like, {int(preds.unique().numel())} distinct predicted classes; LINe ImageNet preset (p_a = 10, p_w = 10, delta = 0.8)",
            'energy_s': t['energy'], 'line_s': t['line'], 'reference_s_extrapolated': t_ref,
            'line_over_energy': t['line'] / t['energy'], 'reference_over_line': t_ref / t['line'],
            'max_abs_diff_vs_reference': err, 'reference_rows_timed': len(ref_rows),
            'peak_mb': mem, 'target_line_over_energy_at_most': 2.0}

SECTIONS = ('head', 'sweep', 'fit', 'e2e', 'grid', 'bf16')
SWEEP_N = (64, 256, 1024, 5000, 50000)
SWEEP_SHAPES = {'ImageNet (L = 1000, q = 2048)': (1000, 2048), 'CIFAR-100 DenseNet (L = 100, q = 342)': (100, 342),
                'CIFAR-10 DenseNet (L = 10, q = 342)': (10, 342)}

@torch.no_grad()
def bench_sweep(args) -> dict:
    "LINe's head over batch sizes, both presets, three shapes: LINe / Energy head and LINe / floor, where the floor is one unmasked product per predicted class."
    rows = []
    for shape, (L, q) in SWEEP_SHAPES.items():
        W, b, sample = imagenet_like(L, q)
        fitted = {pre: LINe.from_preset(W, b, preset=pre).fit_stream(_chunks(sample, 5000 if args.quick else 50000, seed=1))
                  for pre in ('imagenet', 'cifar10')}
        for n in (SWEEP_N[:3] if args.quick else SWEEP_N):
            h, _ = sample(n, seed=2)
            for pre, det in fitted.items():
                hc = h.clamp(max=det.clip_threshold)
                pred = (hc @ W.T + b).argmax(1)
                groups = [(pred == l).nonzero()[:, 0] for l in pred.unique().tolist()]
                def floor(): return [hc[i] @ W.T for i in groups]                     # masks free: one product per class present
                t = best_time({'energy': lambda: torch.logsumexp(hc @ W.T + b, 1), 'floor': floor,
                               'line': lambda: det.score_features(h)}, args.repeats if n >= 5000 else 5 * args.repeats)
                rows.append(dict(shape=shape, preset=pre, N=n, classes=len(groups), line_ms_per_row=1e3 * t['line'] / n,
                                 line_over_energy=t['line'] / t['energy'], line_over_floor=t['line'] / t['floor'], **{f'{k}_s': v for k, v in t.items()}))
                r = rows[-1]
                print(f"  {shape}, {pre} preset, N = {n:,}: {r['classes']} classes, LINe / Energy {r['line_over_energy']:.1f}x, "
                      f"LINe / floor {r['line_over_floor']:.2f}x, {r['line_ms_per_row']:.3f} ms/row", flush=True)
    return {'what': "LINe's scoring head against the Energy head (logsumexp(clip(h) W^T + b)) and against the floor (for each predicted "
                    "class, its rows times the unmasked head), on synthetic ReLU-like features whose predicted classes spread widely; "
                    "presets 'imagenet' (p_a = 10, p_w = 10, delta = 0.8) and 'cifar10' (90 / 90 / 1.0)", 'rows': rows}

def _chunks(sample, n, seed, chunk=5000):
    "Stream n training features in chunks (a different seed per chunk), as `fit_stream` takes them."
    for i, s in enumerate(range(0, n, chunk)):
        h, y = sample(min(chunk, n - s), seed=seed * 1000 + i)
        yield h, y

def bench_fit(args) -> dict:
    S = sizes(args)
    W, b, sample = imagenet_like(S['L'], S['q'])
    head = nn.Linear(S['q'], S['L']); head.weight.data.copy_(W); head.bias.data.copy_(b)
    sub, ysub = sample(S['n_backward'], seed=3)                                         # every class present
    def official():                                                                     # one backward per training image
        return classwise_mean(taylor_attributions(head, sub, ysub, per_sample=True), ysub, S['L'])
    t = {}
    s = time.perf_counter(); C_official = official(); t['official_subset'] = time.perf_counter() - s
    s = time.perf_counter(); det_sub = line_imagenet(W, b).fit_stream([(sub, ysub)]); t['stream_subset'] = time.perf_counter() - s
    err = (det_sub.contrib - C_official).abs().max().item() / C_official.abs().max().item()
    assert err < 1e-5, f"streaming contributions differ from the per-image-backward ones: relative {err}"
    from line_nb.actprune import activation_masks
    masks_equal = bool(torch.equal(activation_masks(C_official, 10., 'official'), det_sub.act_mask))
    # the full streaming fit on n_train features, generated chunk by chunk (generation time excluded)
    chunks = list(_chunks(sample, S['n_train'], seed=1))
    det = line_imagenet(W, b)
    s = time.perf_counter()
    for h, y in chunks: det.accumulate(h, y)                                             # the pass over the data
    t['stream_full'] = time.perf_counter() - s
    s = time.perf_counter(); det.finalize(); t['finalize'] = time.perf_counter() - s      # once, independent of N: L per-class percentiles
    # Eq. 7's thresholds inside finalize: the sorted-column bisection (the default) against ranking each class's L x q
    # importances (the reference), the latter on n_direct classes and scaled to L (its cost is the same for every class)
    from line_nb.weightprune import weight_thresholds_sorted, weight_thresholds_direct
    cls = torch.arange(S['n_direct'])
    def direct(): return weight_thresholds_direct(det.contrib, det.W, 10., classes=cls)
    bt = best_time({'sorted': lambda: weight_thresholds_sorted(det.contrib, det.W, 10.), 'direct': direct}, 1)
    thr_equal = bool(torch.equal(direct(), det.weight_thr[cls]))
    assert thr_equal, "the sorted-column thresholds differ from the ranked ones"
    mem = peak_mb_in_fresh_process('fit_stream', args)
    per_img_official, per_img_stream = t['official_subset'] / len(sub), t['stream_full'] / S['n_train']
    L, q = S['L'], S['q']
    return {'what': f"fitting on synthetic ImageNet-shaped features (q = {q}, L = {L}): per-image backward on {len(sub):,} features "
                    f"vs the streaming closed form on the same {len(sub):,} and on {S['n_train']:,} streamed in chunks of 5,000",
            'official_s_per_image': per_img_official, 'stream_s_per_image': per_img_stream,
            'official_over_stream_per_image': per_img_official / per_img_stream,
            'stream_subset_s': t['stream_subset'], 'official_subset_s': t['official_subset'], 'stream_full_s': t['stream_full'],
            'finalize_s': t['finalize'], 'n_train': S['n_train'],
            'thresholds_sorted_s': bt['sorted'], 'thresholds_direct_s_extrapolated': bt['direct'] * L / len(cls), 'thresholds_direct_classes_timed': len(cls),
            'thresholds_direct_over_sorted': bt['direct'] * L / len(cls) / bt['sorted'], 'thresholds_equal': thr_equal,
            'max_rel_diff_contributions': err, 'activation_masks_equal': masks_equal,
            'fit_peak_mb_added': mem, 'L_q_float32_mb': L * q * 4 / 2**20,
            'official_LxLxq_mask_tensor_gb_computed': L * L * q * 4 / 1e9}

def bench_e2e(args) -> dict:
    from line_nb.models import imagenet_model
    from line_nb.data import fashion_mnist
    res = {}
    # Fashion-MNIST CNN, trained (cached checkpoint), on the test images; LINe fitted on cached training features
    from line_nb.features import offline_benchmark
    B = offline_benchmark(ood_names=[], device='cpu')
    bb = B.backbone; model = bb.model
    from line_nb.clipping import clip_threshold_at_percentile
    det = LINe(bb, act_prune_pct=90, weight_prune_pct=90, clip_threshold=clip_threshold_at_percentile(B.train.features, 90)).fit_features(B.train.features, B.train.labels)
    test = fashion_mnist('test')
    n = 2048 if args.quick else 10000
    xs = [test.transform(test.images[i:i + 256]) for i in range(0, n, 256)]
    res['fashion_cnn'] = _e2e(model, bb, det, xs, args.repeats, f"Fashion-MNIST CNN (trained, seed 0), {n:,} Fashion-MNIST test images, batches of 256; LINe p_a = p_w = 90, delta = ID p90")
    # ResNet-50, random weights, random 224 x 224 images
    rn = imagenet_model('resnet50', pretrained=False).eval()
    bb50 = Backbone(rn)
    W, b, sample = imagenet_like(1000, 2048)                            # ResNet-50's head shape: its fit and the worst case below
    h, y = sample(2000, seed=4)
    det50 = line_imagenet(bb50.W, bb50.b).fit_features(h, y)
    g = torch.Generator().manual_seed(0)
    nb, bs = (2, 8) if args.quick else (4, 16)
    xs = [torch.randn(bs, 3, 224, 224, generator=g) for _ in range(nb)]
    res['resnet50'] = _e2e(rn, bb50, det50, xs, args.repeats, f"ResNet-50 (random weights), {nb * bs} random 224 x 224 images, batches of {bs}; LINe ImageNet preset")
    # the worst case for LINe's head at this batch size: every input of the batch predicted as a different class
    detw = line_imagenet(W, b).fit_stream(_chunks(sample, 10000, seed=1))
    hw, _ = sample(bs, seed=5)
    distinct = int((hw.clamp(max=0.8) @ W.T + b).argmax(1).unique().numel())
    tw = best_time({'line_head': lambda: detw.score_features(hw)}, max(3, args.repeats))
    fwd_per_batch = res['resnet50']['forward_s'] / nb
    res['resnet50']['worst_case_head'] = {'batch': bs, 'distinct_predicted_classes': distinct, 'line_head_s': tw['line_head'],
                                          'forward_s_per_batch': fwd_per_batch,
                                          'throughput_ratio_bound': fwd_per_batch / (fwd_per_batch + tw['line_head'])}
    return res

@torch.no_grad()
def _e2e(model, bb, det, xs, repeats, what):
    def forward():
        for x in xs: model(x)
    def line():
        for x in xs: f, _ = bb(x); det.score_features(f)
    per_batch = [int(det.logits(bb(x)[0].clamp(max=det.clip_threshold)).argmax(1).unique().numel()) for x in xs]   # LINe's groups
    t = best_time({'forward': forward, 'line': line}, repeats)
    return {'what': what, 'forward_s': t['forward'], 'line_s': t['line'], 'throughput_ratio': t['forward'] / t['line'],
            'distinct_predicted_classes_per_batch': per_batch, 'target_at_least': 0.95}

def bench_grid(args) -> dict:
    from line_nb.features import offline_benchmark
    from line_nb.metrics import metrics_table
    from line_nb.clipping import clip_threshold_at_percentile
    B = offline_benchmark()
    oods = {k: f.features for k, f in B.oods.items()}
    pcts = (10, 30, 50, 70, 90)
    s = time.perf_counter()
    det = LINe(B.backbone, clip_threshold=clip_threshold_at_percentile(B.train.features, 90)).fit_features(B.train.features, B.train.labels)
    rows = []
    for pa in pcts:
        for pw in pcts:
            det.act_prune_pct, det.weight_prune_pct = float(pa), float(pw)   # the class sums are kept: only the masks are recomputed
            det.finalize()
            avg = metrics_table(det.score_features(B.test.features), {k: det.score_features(f) for k, f in oods.items()}).loc['average']
            rows.append({'p_a': pa, 'p_w': pw, 'FPR95': float(avg.FPR95), 'AUROC': float(avg.AUROC)})
    secs = time.perf_counter() - s
    n_scored = len(B.test) + sum(len(f) for f in oods.values())
    return {'what': f"Fashion-MNIST CNN (trained, seed 0), cached features: fitted once on 60,000 training features, then 25 "
                    f"(p_a, p_w) settings, each scoring {n_scored:,} features (ID test + {len(oods)} offline OOD sets); delta = ID p90; average over the OOD sets",
            'seconds_total': secs, 'rows': rows}

def bench_bf16(args) -> dict:
    from line_nb.features import offline_benchmark
    from line_nb.features import extract
    from line_nb.data import ImageTensors, fashion_mnist
    from line_nb.metrics import metrics_table
    from line_nb.clipping import clip_threshold_at_percentile
    from line_nb.models import imagenet_model
    res = {}
    test = fashion_mnist('test')
    B = offline_benchmark(device='cpu')                                # this section measures the CPU
    bb = B.backbone
    small = ImageTensors(test.images[:2048], test.labels[:2048], name='perf-bf16')
    t = best_time({'fp32': lambda: extract(bb, small, cache=False, progress=False, device='cpu'),
                   'bf16': lambda: extract(bb, small, cache=False, progress=False, device='cpu', bf16=True)}, args.repeats)
    res['fashion_cnn_speedup'] = t['fp32'] / t['bf16']
    Bb = offline_benchmark(bf16=True, device='cpu')                                # every set extracted in bf16 (cached after the first run)
    rel = ((Bb.test.features - B.test.features).norm() / B.test.features.norm()).item()
    agree = (Bb.test.preds == B.test.preds).float().mean().item()
    def metrics(D):
        delta = clip_threshold_at_percentile(D.train.features, 90)
        out = {}
        for name, det in (('Energy', Energy(bb)), ('LINe', LINe(bb, act_prune_pct=90, weight_prune_pct=90, clip_threshold=delta))):
            det.fit_features(D.train.features, D.train.labels)
            avg = metrics_table(det.score_features(D.test.features), {k: det.score_features(f.features) for k, f in D.oods.items()}).loc['average']
            out[name] = {'FPR95': float(avg.FPR95), 'AUROC': float(avg.AUROC)}
        return out
    res.update(fashion_cnn_rel_feature_error=rel, fashion_cnn_prediction_agreement=agree,
               metrics_fp32=metrics(B), metrics_bf16=metrics(Bb),
               fashion_cnn_accuracy_fp32=float((B.test.preds == B.test.labels).float().mean()),
               fashion_cnn_accuracy_bf16=float((Bb.test.preds == Bb.test.labels).float().mean()))
    rn = imagenet_model('resnet50', pretrained=False).eval()
    g = torch.Generator().manual_seed(0)
    imgs = ImageTensors((torch.rand(8 if args.quick else 16, 3, 224, 224, generator=g) * 255).to(torch.uint8), name='perf-rn50')
    t = best_time({'fp32': lambda: extract(rn, imgs, batch_size=8, cache=False, progress=False, device='cpu'),
                   'bf16': lambda: extract(rn, imgs, batch_size=8, cache=False, progress=False, device='cpu', bf16=True)}, args.repeats)
    res['resnet50_speedup'] = t['fp32'] / t['bf16']
    res['what'] = ("bf16 autocast + channels_last against fp32 on the CPU: Fashion-MNIST CNN (trained) on 2,048 test images for speed, "
                   "all sets for features and metrics; ResNet-50 (random weights) on random 224 x 224 images for speed only")
    return res


# ---------------------------------------------------------------------------------------------------------- memory probes
def mem_probe(what: str, args):
    "Run in a fresh process: build the inputs, note the peak, run `what`, print the peak it added (MB)."
    S = sizes(args)
    W, b, sample = imagenet_like(S['L'], S['q'])
    if what == 'fit_stream':
        base = _reset_peak()
        line_imagenet(W, b).fit_stream(_chunks(sample, S['n_train'], seed=1))   # includes one 5,000-row chunk at a time (40 MB)
        print(_proc_mb('VmHWM') - base); return
    det = line_imagenet(W, b).fit_stream(_chunks(sample, 10000, seed=1))
    te, _ = sample(S['n_test'], seed=2)
    if what == 'score_reference': te = te[:S['n_ref']]
    base = _reset_peak()
    {'score_energy': lambda: Energy(W, b).score_features(te), 'score_line': lambda: det.score_features(te),
     'score_reference': lambda: per_sample_reference(det, te)}[what]()
    print(_proc_mb('VmHWM') - base)


# ---------------------------------------------------------------------------------------------------------- report
def markdown(R: dict) -> str:
    m = R['machine']
    where = R.get('sections_machines')
    L = [f"# LINe performance, measured by `bench/perf.py`", "",
         (f"Machine: {m['description']}; torch {m['torch']}, {m['threads']} thread(s); {m['date']}. " if not where or len(set(where.values())) == 1 else
          "Sections were measured on different machines: " + "; ".join(f"{s}: {w}" for s, w in where.items()) + f"; torch {m['torch']}. ")
         + "Times are best of {} interleaved repeats; only ratios are meant to be compared.".format(R['repeats']), ""]
    if 'head' in R:
        h = R['head']
        L += ["## Scoring head", "", h['what'], "",
              "| | Energy | LINe | per-sample reference |", "|---|---|---|---|",
              f"| time (s) | {h['energy_s']:.2f} | {h['line_s']:.2f} | {h['reference_s_extrapolated']:.1f} (extrapolated from {h['reference_rows_timed']} rows) |",
              f"| peak memory added (MB) | {h['peak_mb']['energy']:.0f} | {h['peak_mb']['line']:.0f} | {h['peak_mb']['reference']:.0f} ({h['reference_rows_timed']} rows) |", "",
              f"**LINe / Energy = {h['line_over_energy']:.2f}x** (target: at most 2x); reference / LINe = {h['reference_over_line']:.0f}x; "
              f"max |LINe - reference| = {h['max_abs_diff_vs_reference']:.1e}.", ""]
    if 'sweep' in R:
        w = R['sweep']
        L += ["## LINe's head by batch size", "", w['what'] + ".", "",
              "| shape | preset | N | classes predicted | ms per row | LINe / Energy | LINe / floor |", "|---|---|---|---|---|---|---|"]
        for r in w['rows']:
            L.append(f"| {r['shape']} | {r['preset']} | {r['N']:,} | {r['classes']} | {r['line_ms_per_row']:.3f} | {r['line_over_energy']:.1f}x | {r['line_over_floor']:.2f}x |")
        L.append("")
    if 'fit' in R:
        f = R['fit']
        L += ["## Fitting", "", f['what'], "",
              f"Per training image: per-image backward {1e3 * f['official_s_per_image']:.3f} ms, streaming closed form (accumulating the class sums) {1e3 * f['stream_s_per_image']:.4f} ms: "
              f"**{f['official_over_stream_per_image']:.0f}x faster**. Both then finalise once, independently of the number of images "
              f"(contributions, masks, and one percentile over L x q importances per class): {f['finalize_s']:.1f} s here. On the same {f['official_subset_s'] / f['official_s_per_image']:,.0f} images: "
              f"per-image backward {f['official_subset_s']:.1f} s, streaming fit including finalize {f['stream_subset_s']:.1f} s. Max relative difference of the contributions {f['max_rel_diff_contributions']:.1e}, "
              f"activation masks equal: {f['activation_masks_equal']}. Streaming fit: peak memory added {f['fit_peak_mb_added']:.0f} MB "
              f"(one (L, q) float32 array is {f['L_q_float32_mb']:.0f} MB; the official L x L x q mask tensor would be {f['official_LxLxq_mask_tensor_gb_computed']:.1f} GB, computed, not built).", ""]
        if 'thresholds_sorted_s' in f:
            L += [f"Inside finalize, Eq. 7's L per-class thresholds: bisection over once-sorted head columns {f['thresholds_sorted_s']:.1f} s, against ranking each class's "
                  f"L x q importances {f['thresholds_direct_s_extrapolated']:.0f} s (timed on {f['thresholds_direct_classes_timed']} classes, scaled to all): "
                  f"**{f['thresholds_direct_over_sorted']:.0f}x faster**, thresholds bitwise equal: {f['thresholds_equal']}.", ""]
    if 'e2e' in R:
        L += ["## End to end from images", "", "| model | LINe throughput / forward throughput | distinct predicted classes per batch |", "|---|---|---|"]
        for k, e in R['e2e'].items():
            L.append(f"| {e['what']} | **{e['throughput_ratio']:.3f}** (target at least 0.95) | {min(e['distinct_predicted_classes_per_batch'])}-{max(e['distinct_predicted_classes_per_batch'])} |")
        w = R['e2e']['resnet50'].get('worst_case_head')
        if w: L += ["", f"ResNet-50 with random weights predicts few classes per batch, which flatters LINe. Worst case at batch {w['batch']}: LINe's head on "
                        f"{w['distinct_predicted_classes']} distinct predicted classes takes {w['line_head_s'] * 1e3:.0f} ms against {w['forward_s_per_batch']:.2f} s "
                        f"for the forward pass, a throughput ratio of at least **{w['throughput_ratio_bound']:.3f}**."]
        L.append("")
    if 'grid' in R:
        g = R['grid']; rows = g['rows']; p = sorted({r['p_a'] for r in rows})
        L += ["## Pruning-percentile grid (Table 5 layout) from cached features", "", g['what'] + f"; {g['seconds_total']:.1f} s for all 25.", "",
              "FPR95 / AUROC (%), rows p_a, columns p_w:", "", "| p_a \\ p_w | " + " | ".join(map(str, p)) + " |", "|---" * (len(p) + 1) + "|"]
        for pa in p:
            L.append(f"| {pa} | " + " | ".join(f"{r['FPR95']:.1f} / {r['AUROC']:.1f}" for pw in p for r in rows if r['p_a'] == pa and r['p_w'] == pw) + " |")
        L.append("")
    if 'bf16' in R:
        b = R['bf16']
        L += ["## bf16 autocast + channels_last extraction", "", b['what'] + ".", "",
              f"Speed-up: Fashion-MNIST CNN **{b['fashion_cnn_speedup']:.2f}x**, ResNet-50 **{b['resnet50_speedup']:.2f}x**. "
              f"Fashion-MNIST test features: relative error {b['fashion_cnn_rel_feature_error']:.4f}, prediction agreement {100 * b['fashion_cnn_prediction_agreement']:.2f}%, "
              f"accuracy {100 * b['fashion_cnn_accuracy_fp32']:.2f}% (fp32) vs {100 * b['fashion_cnn_accuracy_bf16']:.2f}% (bf16).", "",
              "| detector | FPR95 fp32 | FPR95 bf16 | AUROC fp32 | AUROC bf16 |", "|---|---|---|---|---|"]
        for k in b['metrics_fp32']:
            a, c = b['metrics_fp32'][k], b['metrics_bf16'][k]
            L.append(f"| {k} | {a['FPR95']:.2f} | {c['FPR95']:.2f} | {a['AUROC']:.2f} | {c['AUROC']:.2f} |")
        L.append("")
    return "\n".join(L)

def _cpu_name() -> str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='smaller sizes: a smoke test')
    p.add_argument('--sections', default='head,sweep,fit,e2e,grid,bf16', help='comma-separated subset of head,sweep,fit,e2e,grid,bf16')
    p.add_argument('--repeats', type=int, default=3, help='interleaved repeats; the best time of each is kept')
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1: on a shared machine one thread is far steadier)')
    p.add_argument('--machine', default=f"{_cpu_name()}, {os.cpu_count()} CPU cores, shared with other jobs" + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"),
                   help='how the machine is described in the results')
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results'), help='folder for perf.json and perf.md')
    p.add_argument('--merge', action='store_true', help='keep the other sections of an earlier perf.json and replace only those run now')
    p.add_argument('--_mem', help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args._mem: return mem_probe(args._mem, args)
    secs = [s.strip() for s in args.sections.split(',') if s.strip()]
    bad = set(secs) - {'head', 'sweep', 'fit', 'e2e', 'grid', 'bf16'}
    if bad: p.error(f"unknown sections {sorted(bad)}")
    R = {'machine': {'description': args.machine, 'torch': torch.__version__, 'threads': args.threads, 'date': time.strftime('%Y-%m-%d'),
                     'cuda': torch.cuda.is_available()}, 'repeats': args.repeats, 'quick': args.quick}
    for s in secs:
        t = time.time(); print(f"[{s}] ...", flush=True)
        R[s] = {'head': bench_head, 'sweep': bench_sweep, 'fit': bench_fit, 'e2e': bench_e2e, 'grid': bench_grid, 'bf16': bench_bf16}[s](args)
        print(f"[{s}] done in {time.time() - t:.0f} s", flush=True)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    name = 'perf-quick' if args.quick else 'perf'
    if args.merge and (out / f'{name}.json').exists():                                  # sections not run now keep their earlier figures
        old = json.loads((out / f'{name}.json').read_text())
        ran_on = f"{R['machine']['description']}, {R['machine']['threads']} thread(s), {R['machine']['date']}"
        before = old.get('sections_machines') or {s: f"{old['machine']['description']}, {old['machine']['threads']} thread(s), "
                                                     f"{old.get('sections_dates', {}).get(s, old['machine']['date'])}" for s in SECTIONS if s in old}
        R = {**old, **R, 'machine': R['machine'], 'sections_dates': {**old.get('sections_dates', {}), **{s: R['machine']['date'] for s in secs}},
             'sections_machines': {**before, **{s: ran_on for s in secs}}}   # each section says where it was measured
    (out / f'{name}.json').write_text(json.dumps(R, indent=1))
    md = markdown(R); (out / f'{name}.md').write_text(md + "\n")
    print(md)

if __name__ == '__main__':
    main()
