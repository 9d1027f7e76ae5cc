"Install-level checks: the public API at the top level, the console script, the version."
import configparser, shutil, subprocess, sys
from pathlib import Path
import line_nb

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    assert line_nb.__version__ == cfg['DEFAULT']['version']


def test_public_api_at_top_level():
    from line_nb import (LINe, MSP, Energy, Detector, Backbone, extract, Features, fashion_mnist, fashion_cnn,
                         ood_sets, metrics_table, fpr_at_95_tpr_id_positive, fpr_at_95_tpr_ood_positive, auroc)
    assert LINe.__module__ == 'line_nb.line' and issubclass(LINe, Detector)


def test_console_script_help():
    exe = shutil.which('line-nb', path=str(Path(sys.executable).parent))
    assert exe, 'the line-nb console script is not installed next to this Python'
    out = subprocess.run([exe, 'bench', '--help'], capture_output=True, text=True, check=True).stdout
    for opt in ('--detectors', '--ood', '--seed', '--out', '--line-act-prune-pct', '--bf16'):
        assert opt in out, opt


def test_console_script_bad_option_is_a_message_not_a_traceback():
    exe = shutil.which('line-nb', path=str(Path(sys.executable).parent))
    r = subprocess.run([exe, 'bench', '--seed', 'x'], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid int value: 'x'" in r.stderr and 'Traceback' not in r.stderr
