"""The trial's changes made to a compiled Keras model, and one run of a trial, in a worker process (aehealth.trial
schedules them; aehealth.keras.trial is how a user calls it)."""
import os
import time

import numpy as np

from aehealth import rules, trial
from aehealth.trial import NotApplicable

SAMPLE = 1000  # rows the monitor of each run measures
SQUASHING = ('sigmoid', 'tanh', 'softmax')


def _settle(threads, backend):
    """Keras on the trial's `backend`, `threads` threads and deterministic kernels, before its first op here."""
    from aehealth.monitor import quiet_stderr
    os.environ['KERAS_BACKEND'] = backend  # the caller's, however it was chosen there (a variable, keras.json)
    if backend == 'jax':  # XLA reads its threads from the environment, at its start
        os.environ.setdefault('XLA_FLAGS', f'--xla_cpu_multi_thread_eigen={str(threads > 1).lower()} '
                                           f'intra_op_parallelism_threads={threads}')
        return
    if backend == 'torch':
        import torch
        torch.set_num_threads(threads)
        return
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    with quiet_stderr():  # a worker's TensorFlow start-up lines, once per worker, say nothing about the run
        import tensorflow as tf
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # a worker's later task: set by its first
            pass
        tf.constant(0)
    tf.config.experimental.enable_op_determinism()


def _output_layer(model, x, y):
    """(the output activation's name, the output layer's name): the layer whose values are the reconstruction."""
    from aehealth.keras import Probe
    probe = Probe(model, x[:rules.MIN_ROWS], y[:rules.MIN_ROWS])
    return probe.net['layers'][-1]['activation'], probe.net['output'].split('#')[0], probe


def _fresh_optimizer(model):
    return type(model.optimizer).from_config(model.optimizer.get_config())


def _compiled_objects(model):
    """The user's functions and classes the model was compiled with, by the names its compile config gives them."""
    found, todo = {}, [getattr(getattr(model, '_compile_config', None), 'config', None)]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo += list(value.values())
        elif isinstance(value, (list, tuple)):
            todo += list(value)
        elif callable(value) and not isinstance(value, type):
            kind = value if hasattr(value, '__name__') else type(value)  # a function, or a Loss or Metric object
            found[kind.__name__] = kind
    return found


def _clone(model, edit, unchanged=None):
    """The model rebuilt from its layers' configs with `edit(layer, config)` applied, compiled as it was; its weights
    drawn anew by their initialisers (the model is untrained: build() made it). NotApplicable(`unchanged`) when
    `unchanged` is given and the edit changed no layer."""
    import keras

    from aehealth.keras import graph_model
    if not graph_model(model):
        raise NotApplicable(f'{type(model).__name__} is a subclassed model: make the change in its code')
    changed = []

    def clone(layer):
        config = layer.get_config()
        new = edit(layer, dict(config))
        if new != config:
            changed.append(layer.name)
        try:
            return type(layer).from_config(new)
        except (TypeError, ValueError):  # a custom layer without a get_config() of its own; a Lambda's lambda
            if new == config and not layer.weights:
                return layer  # nothing to change or draw anew: the clone shares it
            raise NotApplicable(f'the layer {layer.name} ({type(layer).__name__}) cannot be rebuilt from its '
                                f'get_config(): give it one that returns its __init__ arguments, or make the change '
                                f'in your code') from None
    # clone_model recompiles from the compile config, which names the user's own loss and metric functions
    with keras.saving.custom_object_scope(_compiled_objects(model)):
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.compile(optimizer=_fresh_optimizer(model), loss=model.loss)
    if unchanged and not changed:
        raise NotApplicable(unchanged)
    return copy


def model_change(name, model, x, y):
    """The model with a model or loss change made (compiled), or NotApplicable with why."""
    import keras
    act, output, _ = _output_layer(model, x, y)
    if name in ('relu_he', 'leaky_relu'):
        def edit(layer, config):
            if layer.name == output or 'activation' not in config:
                return config
            if name == 'relu_he' and config['activation'] in SQUASHING:
                config['activation'] = 'relu'
                if 'kernel_initializer' in config:
                    config['kernel_initializer'] = 'he_normal'
            elif name == 'leaky_relu' and config['activation'] == 'relu':
                config['activation'] = 'leaky_relu'
            return config
        kinds = 'sigmoid, tanh or softmax' if name == 'relu_he' else 'relu'
        return _clone(model, edit, f'the model has no hidden {kinds} activation to change')
    if name.startswith('output_'):
        wanted = name.split('_')[1]
        if (act or 'linear') == wanted:
            raise NotApplicable(f'the output is {wanted} already')

        def edit(layer, config):
            if layer.name == output and 'activation' in config:
                config['activation'] = wanted
            return config
        return _clone(model, edit, 'the output\'s activation is not a layer\'s setting the trial can change')
    if name == 'bce':
        if float(np.min(y)) < 0 or float(np.max(y)) > 1:
            raise NotApplicable('binary cross-entropy needs targets in [0, 1]')
        if act not in ('sigmoid', 'linear'):
            raise NotApplicable(f'the output is {act}: binary cross-entropy needs a sigmoid (or linear, as logits) output')
        model.compile(optimizer=_fresh_optimizer(model),
                      loss=keras.losses.BinaryCrossentropy(from_logits=act == 'linear'))
        return model
    if name == 'loss_swapped':
        given = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        if not callable(given):
            raise NotApplicable('the model is compiled with no one loss function (several outputs\' losses, or none '
                                'and a train_step of its own): put the arguments of the loss in order in your code')

        def swapped(y_true, y_pred):
            return given(y_pred, y_true)
        model.compile(optimizer=_fresh_optimizer(model), loss=swapped)
        return model
    if name == 'he_init':
        def edit(layer, config):
            for key, wanted in (('kernel_initializer', ('he_normal', 'HeNormal')), ('bias_initializer',
                                                                                  ('zeros', 'Zeros'))):
                given = config.get(key, wanted[0])  # a name, or a serialised initialiser
                if (given if isinstance(given, str) else given.get('class_name')) not in wanted:
                    config[key] = wanted[0]
            return config
        return _clone(model, edit, 'every kernel is drawn at He\'s scale already, or no layer has one')
    if name == 'reinit':
        def edit(layer, config):
            if 'kernel_initializer' in config:
                config['kernel_initializer'] = 'glorot_uniform'
            if 'bias_initializer' in config:
                config['bias_initializer'] = 'zeros'
            return config
        return _clone(model, edit)
    if name == 'reshape_output':
        if tuple(model.outputs[0].shape[1:]) == tuple(np.shape(y)[1:]) if getattr(model, 'outputs', None) else True:
            raise NotApplicable('the output has the targets\' shape already (or the model is subclassed)')
        reshaped = keras.Model(model.inputs, keras.layers.Reshape(np.shape(y)[1:])(model.outputs[0]))
        reshaped.compile(optimizer=_fresh_optimizer(model), loss=model.loss)
        return reshaped
    if name.startswith('kl_'):
        if not hasattr(model, 'kl_weight'):
            raise NotApplicable('the model does not expose its KL weight: give it a kl_weight attribute (a '
                                'keras.Variable its loss multiplies the KL term by), or change it in your own code')
        if name == 'kl_warmup' and not hasattr(model.kl_weight, 'assign'):
            raise NotApplicable('the model\'s kl_weight is a number, which a compiled step reads once: make it a '
                                'keras.Variable for the warm-up to change it each epoch')
        if name != 'kl_warmup':
            from aehealth.keras import postmortem
            measured = postmortem(model, x[:SAMPLE], y[:SAMPLE], verbose=False) if name == 'kl_to_data' else None
            _set_kl_weight(model, float(np.asarray(model.kl_weight)) * trial.kl_factor(name, y, measured))
        return model
    raise NotApplicable(f'{name} is not a change of the model or the loss')


def optimizer_change(name, model):
    """The model with its optimizer changed (recompiled where needed), or NotApplicable with why."""
    import keras
    ADAMS = (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.Adamax, keras.optimizers.Nadam,
             keras.optimizers.Lamb)
    optimizer = model.optimizer
    if name in ('lr_x10', 'lr_div10'):
        if isinstance(getattr(optimizer, '_learning_rate', None), keras.optimizers.schedules.LearningRateSchedule):
            raise NotApplicable('the learning rate is a schedule: scale its initial rate in your code')
        optimizer.learning_rate.assign(float(np.asarray(optimizer.learning_rate)) * (10 if name == 'lr_x10' else 0.1))
        return model
    if isinstance(optimizer, ADAMS):
        raise NotApplicable(f'the optimizer is {type(optimizer).__name__}, Adam or of its family already')
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=model.loss)
    return model


def _set_kl_weight(model, value):
    """The model's KL weight set: a variable assigned, a number replaced."""
    if hasattr(model.kl_weight, 'assign'):
        model.kl_weight.assign(value)
    else:
        model.kl_weight = value


class _Warmup:
    """A callback that warms the model's KL weight up from 0 over the first half of the epochs."""

    def __new__(cls, model, epochs):
        import keras

        class Warmup(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.full = float(np.asarray(model.kl_weight))

            def on_epoch_begin(self, epoch, logs=None):
                _set_kl_weight(model, self.full * min(1.0, epoch / max(1.0, epochs / 2)))
        return Warmup()


def run_one(task):
    """One run of a trial: the model built with the task's seed, its change made, fitted with the monitor beside it;
    the run judged (aehealth.trial.judged)."""
    _settle(task['threads'], task.get('backend', 'tensorflow'))
    import keras

    from aehealth.keras import HealthMonitor
    keras.utils.set_random_seed(task['seed'])
    model = (task['variant'] or task['build'])()
    x, y = task['x'], task['y']
    for name in task['changes']:  # one, or a pair's two in aehealth.trial.APPLIED order
        kind = trial.CHANGES[name].kind
        if kind == 'data':
            act = _output_layer(model, x, y)[0]
            x, y = trial.data_change(name, x, y, rules.RANGES.get(act, (-np.inf, np.inf)))
        elif kind in ('model', 'loss'):
            model = model_change(name, model, x, y)
        else:
            model = optimizer_change(name, model)
    n = min(SAMPLE, len(x))
    monitor = HealthMonitor(x[:n], targets=y[:n], verbose=False)
    callbacks = [monitor] + ([_Warmup(model, task['epochs'])] if 'kl_warmup' in task['changes'] else [])
    t0 = time.perf_counter()
    model.fit(x, y, epochs=task['epochs'], batch_size=task['batch_size'], shuffle=True, verbose=0,
              callbacks=callbacks)
    return trial.judged(monitor.metrics, task['epochs'], time.perf_counter() - t0)
