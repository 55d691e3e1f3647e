"""Why is this trained autoencoder stuck? The post-mortem of a saved Keras model on a sample; or, with `trial`, which
change unsticks the model a Python file builds.

    python -m aehealth MODEL.keras SAMPLE.npy [--targets TARGETS.npy] [--out DIR]
    python -m aehealth trial FILE.py:build --data X.npy [--epochs N --seeds K --jobs J --out DIR ...]

The post-mortem runs every rule that needs no training history (one output, collapsed code, plateau, targets out of range, shapes
that broadcast, saturated or dead units, vanishing gradient, saturated output, posterior collapse, ...) and prints
the same report as the training monitor. `trial --help` says what a trial does. Exit status: 0 when it ran (whatever
it found), 2 for a file it cannot use.
"""
import argparse
import importlib.util
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


def trial_parser():
    p = argparse.ArgumentParser(
        prog='python -m aehealth trial',
        description='Try the changes the rules suggest on the model FILE.py\'s function builds, each over seeds, in '
                    'worker processes, and say which one unsticks it (or, when none does, which pair of them; a table, '
                    'and trial.json, trial.md, trial.png with --out). The function returns a compiled Keras model, '
                    'or a PyTorch module.',
        epilog='PyTorch: the loss is --loss; the optimizer is FILE.py\'s optimizer(params) when it defines one, else '
               'Adam 1e-3. Ctrl-C keeps the finished runs in DIR/trial.json; --resume DIR continues them.')
    p.add_argument('build', metavar='FILE.py:FUNCTION', help='the Python file and the function in it that builds a new '
                                                             'model each time it is called')
    p.add_argument('--data', required=True, help='a .npy array of inputs, one per row (what the model trains on)')
    p.add_argument('--targets', help='a .npy array of targets, one per input (default: the inputs)')
    p.add_argument('--loss', default='mse', help='PyTorch only: mse (default), l1, bce (on a sigmoid output), '
                                                'bce_logits, or FILE.py:NAME for your own loss')
    p.add_argument('--epochs', type=int, default=5, help='epochs of each run (default 5)')
    p.add_argument('--batch-size', type=int, help='batch size (default: 32 for Keras, 64 for PyTorch)')
    p.add_argument('--seeds', type=int, default=1, help='seeds 0..K-1 for each change (default 1)')
    p.add_argument('--jobs', type=int, default=1, help='worker processes (default 1)')
    p.add_argument('--changes', default='suggested',
                   help='comma-separated change names (a pair: a+b), or suggested (default)')
    p.add_argument('--out', help='a folder for trial.json, trial.md and trial.png')
    p.add_argument('--resume', metavar='DIR', help='continue the finished runs of an earlier trial\'s folder')
    return p


def user_function(spec, what):
    """FILE.py:NAME as the object it names, the file's module kept by value for worker processes; or Refused."""
    path, _, name = spec.rpartition(':')
    if not path or not name:
        raise Refused(f'{what} {spec}: give FILE.py:NAME, for example model.py:build')
    file = Path(path)
    if not file.is_file():
        raise Refused(f'{what} {spec}: no such file {file}')
    module_name = f'aehealth_user_{file.stem}'
    module = sys.modules.get(module_name)
    if module is None:
        spec_ = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec_)
        sys.modules[module_name] = module
        sys.path.insert(0, str(file.resolve().parent))  # the file's own imports of its neighbours
        try:
            with quiet_stderr():  # a file that imports keras: TensorFlow's start-up lines
                spec_.loader.exec_module(module)
        except Exception as e:
            first = str(e).splitlines()[0][:200] if str(e) else ''
            raise Refused(f'{what} {spec}: importing {file} raised {type(e).__name__}: {first}') from None
        try:
            import cloudpickle
            cloudpickle.register_pickle_by_value(module)  # workers need not find the file
        except ImportError:
            raise Refused('trial needs cloudpickle to send your functions to worker processes: pip install '
                          'cloudpickle') from None
    found = getattr(module, name, None)
    if found is None:
        raise Refused(f'{what} {spec}: {file} defines no {name}')
    return module, found


LOSSES = {'mse': 'MSELoss', 'l1': 'L1Loss', 'bce': 'BCELoss', 'bce_logits': 'BCEWithLogitsLoss'}


def trial_main(argv):
    args = trial_parser().parse_args(argv)
    x = load_array(args.data, 'data')
    y = load_array(args.targets, 'targets') if args.targets else None
    module, build = user_function(args.build, 'build')
    if not callable(build):
        raise Refused(f'build {args.build}: {build!r} is not a function')
    if args.seeds < 1:
        raise Refused(f'--seeds {args.seeds}: give at least 1')
    changes = 'suggested' if args.changes == 'suggested' else [c.strip() for c in args.changes.split(',') if c.strip()]
    common = dict(epochs=args.epochs, seeds=tuple(range(args.seeds)), changes=changes, jobs=args.jobs, out=args.out,
                  resume=args.resume)
    if args.batch_size is not None:
        common['batch_size'] = args.batch_size
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    with quiet_stderr():  # building the model once says which framework it is in; TensorFlow's start-up lines
        model = build()
    if 'torch' in sys.modules and isinstance(model, sys.modules['torch'].nn.Module):
        import torch
        from aehealth.torch import trial
        if ':' in args.loss:
            loss_fn = user_function(args.loss, 'loss')[1]
        elif args.loss in LOSSES:
            loss_fn = getattr(torch.nn, LOSSES[args.loss])()
        else:
            raise Refused(f'--loss {args.loss}: give one of {", ".join(LOSSES)}, or FILE.py:NAME')
        return trial(build, x, loss_fn, targets=y, optimizer=getattr(module, 'optimizer', None), **common)
    if 'keras' in sys.modules and isinstance(model, sys.modules['keras'].Model):
        if args.loss != 'mse':
            raise Refused(f'--loss {args.loss}: a Keras model\'s loss is the one build() compiles it with; leave '
                          f'--loss out')
        from aehealth.keras import trial
        return trial(build, x, y, **common)
    raise Refused(f'build {args.build}: returned {type(model).__name__}, neither a Keras model nor a PyTorch module')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['trial']:
        try:
            trial_main(argv[1:])
        except (Refused, UsageError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        return 0
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
