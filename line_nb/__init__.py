__version__ = "0.1.0"
"LINe (Ahn, Park, Kim, CVPR 2023) and its baselines for out-of-distribution detection. Scores: higher = more in-distribution."
# The public API, importable from the top level. This file is the one hand-written module: nbdev keeps only the version line.
from .core import default_device, set_seed, cache_dir, percentile, percentile_rows
from .data import ImageTensors, ToFloat, fashion_mnist, cifar, image_folder, FASHION_CLASSES
from .oodsets import OOD_SETS, ood_set, ood_sets, auxiliary_outliers
from .models import FashionCNN, fashion_cnn, load_checkpoint, train_fashion_cnn, evaluate_accuracy, Backbone, find_head, imagenet_model, imagenet_transform
from .densenet import DenseNet3, densenet100, load_dice_densenet, cifar10_jpeg, cifar_transform, CIFAR_MEAN, CIFAR_STD
from .features import Features, extract, iter_features
from .metrics import *
from .detectors import Detector, MSP, Energy, energy
from .contrib import shapley_exact, taylor_attributions, intgrad_attributions, class_means, contributions
from .clipping import clip_activations, clip_threshold_at_percentile
from .actprune import activation_masks
from .weightprune import weight_thresholds, weight_mask
from .line import LINe, LINE_PRESETS, explain
from .baselines import (ODIN, Mahalanobis, Clip, ReAct, DICE, DICEReAct, KNN, NAN, nan_score, NERO, ASH, SCALE, ash, scale,
                        DETECTORS, make_detector, PytorchOODDetector)
from .greg import (GRegConfig, GREG_METHODS, free_energy, energy_bounded_loss, energy_grad_norms, greg_loss, greg_plus_select,
                   calibrate_margins, greg_finetune, greg_fashion_cnn, ood_comparison)
from .distributed import init_distributed, extract_distributed, fit_distributed, all_reduce_fit_state, shard
