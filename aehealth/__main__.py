"""Why is this trained autoencoder stuck? The post-mortem of a saved Keras model on a sample.

    python -m aehealth MODEL.keras SAMPLE.npy [--targets TARGETS.npy] [--out DIR]

Runs every rule that needs no training history (one output, collapsed code, plateau, targets out of range, shapes
that broadcast, saturated or dead units, vanishing gradient, saturated output, posterior collapse, ...) and prints
the same report as the training monitor. Exit status: 0 when it ran (whatever it found), 2 for a file it cannot use.
"""
import argparse
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from aehealth.monitor import Record, UsageError, check_out, quiet_stderr, report


def make_parser():
    p = argparse.ArgumentParser(prog='python -m aehealth', description=__doc__.split('\n\n')[0],
                                epilog='The model must load with keras.saving.load_model (a .keras file); a model '
                                       'with custom layers needs them registered (keras.saving.register_keras_'
                                       'serializable) or aehealth.keras.postmortem(model, sample) in Python.')
    p.add_argument('model', help='a saved Keras model (.keras)')
    p.add_argument('sample', help='a .npy array of inputs, one per row (1000 is a good size; at least 8)')
    p.add_argument('--targets', help='a .npy array of what the model should output for each row (default: the sample '
                                     'itself, as for an autoencoder)')
    p.add_argument('--out', help='a folder for health.json, health.png and TensorBoard scalars (default: none)')
    return p


class Refused(Exception):
    """A file the post-mortem cannot use: one line, exit 2."""


def load_array(path, what):
    """A .npy file as an array, or Refused with what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise Refused(f'{what} {path}: no such file')
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise Refused(f'{what} {path}: not a readable .npy array ({str(e).splitlines()[0][:120]}); save one with '
                      f'np.save') from None


def load_model(path):
    """The saved Keras model, or Refused with what is wrong."""
    path = Path(path)
    if path.is_dir():
        kind = 'a TensorFlow SavedModel' if (path / 'saved_model.pb').is_file() else 'a folder'
        raise Refused(f'model {path}: {kind}, not a Keras model file: load the model in Python and save it with '
                      f'model.save("model.keras"), then pass that file')
    if not path.is_file():
        raise Refused(f'model {path}: no such file')
    if path.suffix in ('.pt', '.pth', '.ckpt', '.bin'):
        raise Refused(f'model {path}: a PyTorch file, which needs its module\'s class to load: in Python, load the '
                      f'module and call aehealth.torch.postmortem(model, sample, loss_fn)')
    if path.suffix != '.h5' and not zipfile.is_zipfile(path):
        raise Refused(f'model {path}: not a Keras model file (a .keras file is a zip archive; save one with '
                      f'model.save("model.keras"))')
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    with quiet_stderr():  # TensorFlow's start-up lines say nothing about the model
        import keras
        keras.ops.zeros(1)  # the first operation logs that there is no GPU
    try:
        return keras.saving.load_model(path)
    except Exception as e:
        text = ' '.join(str(e).split())
        if 'custom' in text.lower() or 'Could not locate' in text or 'Unknown layer' in text:
            found = re.search(r"(?:Could not locate (?:class|function) |Unknown layer: )'([^']+)'", text)
            name = found.group(1) if found else 'a custom object'
            raise Refused(f'model {path} needs custom objects ({name}): register them with '
                          f'@keras.saving.register_keras_serializable() in a module you import, or load the model '
                          f'yourself and call aehealth.keras.postmortem(model, sample)') from None
        raise Refused(f'model {path}: not a Keras model file keras.saving.load_model can read '
                      f'({type(e).__name__}: {text[:120]})') from None


def postmortem(args):
    """The post-mortem's metrics, and its folder when --out is given."""
    sample = load_array(args.sample, 'sample')
    targets = load_array(args.targets, 'targets') if args.targets else None
    out = check_out(args.out)
    model = load_model(args.model)
    from aehealth.keras import postmortem
    m = postmortem(model, sample, targets, verbose=False)
    if out is not None:
        record = Record(out)
        for snap in m['health']:
            record.add(snap)
        record.save(m, f'{Path(args.model).name}: post-mortem')
    return m, out, len(sample)


def main(argv=None):
    args = make_parser().parse_args(argv)
    try:
        m, out, rows = postmortem(args)
    except (Refused, UsageError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(report(m, f'post-mortem of {args.model} on {args.sample} ({rows} rows):', False))
    if out is not None:
        print(f'written: {out / "health.json"}, {out / "health.png"}, {out / "tensorboard"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
