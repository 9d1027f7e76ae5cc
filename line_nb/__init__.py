__version__ = "0.1.0"
"""LINe (Ahn, Park, Kim, CVPR 2023) and its baselines for out-of-distribution detection. Scores: higher = more in-distribution.

The public API, importable from the top level. Each name is imported from its module on first use (PEP 562), so
`from line_nb import LINe` loads LINe's own modules and torch and NumPy, not pandas, scikit-learn, matplotlib or the
data-set packages, which the modules that need them import where they use them.
This file is the one hand-written module: nbdev keeps only the version line.
"""
import importlib

_EXPORTS = {   # module -> the names it exports at the top level
    'core': 'default_device set_seed cache_dir percentile percentile_rows',
    'data': 'ImageTensors ToFloat fashion_mnist cifar image_folder FASHION_CLASSES',
    'oodsets': 'OOD_SETS ood_set ood_sets auxiliary_outliers save_ood_set',
    'models': 'FashionCNN fashion_cnn load_checkpoint train_fashion_cnn evaluate_accuracy Backbone find_head imagenet_model imagenet_transform',
    'densenet': 'DenseNet3 densenet100 load_dice_densenet cifar10_jpeg cifar10_images cifar_transform CIFAR_MEAN CIFAR_STD',
    'features': 'Features extract iter_features offline_benchmark',
    'metrics': 'METRIC_NAMES as_scores check_tpr fpr_at_95_tpr_id_positive fpr_at_95_tpr_ood_positive auroc aupr_in aupr_out ood_metrics accuracy metrics_table bootstrap interval paired_difference',
    'detectors': 'Detector MSP Energy energy',
    'contrib': 'shapley_exact taylor_attributions intgrad_attributions class_means contributions',
    'clipping': 'clip_activations clip_threshold_at_percentile',
    'actprune': 'activation_masks',
    'weightprune': 'weight_thresholds weight_mask',
    'line': 'LINe LINE_PRESETS explain',
    'baselines': 'ODIN Mahalanobis Clip ReAct DICE DICEReAct KNN NAN nan_score NANKNN NERO ASH SCALE ash scale',
    'registry': 'DETECTORS ALL_DETECTORS BENCHMARK_SETTINGS detector_name detector_parameters make_detector build_detectors check_hyperparameters save_detector load_detector provenance provenance_table',
    'benchmark': 'run_benchmark BenchmarkResult run_seeds SeedResults evaluate validation_split paper_layout fit_detector score_folder',
    'greg': 'GRegConfig GREG_METHODS free_energy energy_bounded_loss energy_grad_norms greg_loss greg_plus_select calibrate_margins greg_finetune greg_fashion_cnn ood_comparison',
    'distributed': 'init_distributed extract_distributed fit_distributed all_reduce_fit_state shard',
    'interop': 'PytorchOOD OpenOODPostprocessor openood_aps HYPERPARAMETER_SPACES',   # PytorchOOD is built on first use (needs pytorch-ood)
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names.split()}
__all__ = list(_WHERE)


def __getattr__(name: str):
    "Import `name` from its module on first use, and keep it here."
    if name not in _WHERE: raise AttributeError(f"module 'line_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f'.{_WHERE[name]}', __name__), name)
    globals()[name] = value
    return value


def __dir__(): return sorted(set(globals()) | set(__all__))
