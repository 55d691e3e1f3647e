"""What aehealth.keras does differently on each Keras 3 backend: how it finds what the reconstruction depends on, and
how it takes the kernels' gradients. TensorFlow: a GradientTape (the measuring step traced once by tf.function);
PyTorch: torch.autograd.grad; JAX: jax.value_and_grad through keras.StatelessScope, and the traced program read for
what the output uses. Nothing else in the Keras front-end depends on the backend, and only the backend in use is
imported."""
import contextlib
import logging

import numpy as np

try:
    import keras
except ImportError:  # aehealth.keras imports this module and says which extra to install
    raise ImportError('aehealth.keras_backends needs Keras 3: pip install "aehealth[keras]"') from None

BACKEND = keras.backend.backend()
if BACKEND == 'tensorflow':
    import tensorflow as tf

    class _OwnTracing(logging.Filter):
        """Drops TensorFlow's "frequent tf.function retracing" warning about the measuring step: each probe traces it
        once with and once without gradients, and TensorFlow counts the traces of every probe (one per model) as
        retracing of one function."""

        def filter(self, record):
            return 'step.<locals>.traced' not in record.getMessage()

    tf.get_logger().addFilter(_OwnTracing())
elif BACKEND == 'torch':
    import torch
elif BACKEND == 'jax':
    import jax
    try:
        from jax.extend.core import Var as JaxVar
    except ImportError:  # JAX before 0.4.36
        from jax.core import Var as JaxVar


def numpy(value):
    """A backend tensor (or a Keras variable) as a numpy array."""
    value = value.value if isinstance(value, keras.Variable) else value
    if BACKEND == 'tensorflow':  # convert_to_numpy takes a tf.Variable through np.array, which numpy 2 warns about
        return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)
    return keras.ops.convert_to_numpy(value)


def is_floating(value):
    """Whether `value` is a floating-point tensor of the backend."""
    return keras.ops.is_tensor(value) and keras.backend.is_float_dtype(keras.backend.standardize_dtype(value.dtype))


def first(value):
    """The first tensor of a layer's output (an RNN with return_state, a Bidirectional with merge_mode=None)."""
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value


def _with_first(value, change):
    """A layer's output with its first tensor changed by `change`, the structure kept."""
    if isinstance(value, (list, tuple)):
        return type(value)([_with_first(value[0], change)] + list(value[1:]))
    return change(value)


def upstream(run, x, scalar):
    """Run the model once on x: (its output, the record of (layer, input, output) the run made, the indices of the
    records whose first tensor the reconstruction depends on). `run(x, record, nudge)` runs the model recording into
    `record` (with `nudge(k, output)` applied to each leaf's output, when given); `scalar(out)` sums the reconstruction.
    """
    record = []
    if BACKEND == 'jax':
        out = run(x, record, None)
        return out, record, _jax_upstream(run, x, scalar, record)
    if BACKEND == 'torch':
        with torch.enable_grad():
            x = torch.as_tensor(np.asarray(x))
            if x.is_floating_point():
                x.requires_grad_(True)  # so that what depends on the input alone (a Flatten first) counts
            out = run(x, record, None)
            tensors = [first(o) for _, _, o in record]
            wanted = [k for k, t in enumerate(tensors) if torch.is_tensor(t) and t.requires_grad]
            grads = torch.autograd.grad(scalar(out), [tensors[k] for k in wanted], allow_unused=True) \
                if wanted else []
        return out, record, {k for k, g in zip(wanted, grads) if g is not None}
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        if x.dtype.is_floating:
            tape.watch(x)
        out = run(x, record, None)
        total = scalar(out)
    tensors = [first(o) for _, _, o in record]
    floating = [k for k, t in enumerate(tensors) if is_floating(t)]
    grads = tape.gradient(total, [tensors[k] for k in floating])
    del tape
    return out, record, {k for k, g in zip(floating, grads) if g is not None}


def _jax_upstream(run, x, scalar, record):
    """JAX has no gradient of an intermediate value: each leaf's output gets a zero added, and the traced program is
    read backwards from the reconstruction's sum to the zeros it uses (what it uses, not what has a gradient now)."""
    shapes = [jax.ShapeDtypeStruct(first(o).shape, first(o).dtype) if is_floating(first(o)) else None
              for _, _, o in record]

    def traced(zeros):
        def nudge(k, value):
            return value if k >= len(zeros) or zeros[k] is None else _with_first(value, lambda v: v + zeros[k])
        with keras.StatelessScope():
            return scalar(run(x, [], nudge))
    zeros = [None if s is None else jax.numpy.zeros(s.shape, s.dtype) for s in shapes]
    closed = jax.make_jaxpr(traced)(zeros)
    program = closed.jaxpr
    used = {v for v in program.outvars if isinstance(v, JaxVar)}
    for equation in reversed(program.eqns):
        if any(v in used for v in equation.outvars):
            used.update(v for v in equation.invars if isinstance(v, JaxVar))
    inputs = iter(program.invars)
    return {k for k, s in enumerate(shapes) if s is not None and next(inputs) in used}


def step(body, kernels, x, t, gradients, cache, variables=()):
    """body(x, t) -> (total loss, outputs), measured: (outputs, the kernels' gradients or []). TensorFlow traces it once
    per (gradients, dtypes) and JAX compiles it once per chunk shape, both kept in `cache`; PyTorch runs it as it is.
    `variables`: every variable body reads (JAX passes their values in)."""
    if BACKEND == 'tensorflow':
        key = gradients, x.dtype, t.dtype
        if key not in cache:
            spec = [tf.TensorSpec((None,) + x.shape[1:], tf.as_dtype(x.dtype)),
                    tf.TensorSpec((None,) + t.shape[1:], tf.as_dtype(t.dtype))]

            @tf.function(input_signature=spec)
            def traced(x, t):
                with tf.GradientTape() if gradients else contextlib.nullcontext() as tape:
                    total, outputs = body(x, t)
                return outputs, tape.gradient(total, kernels) if gradients else []
            cache[key] = traced
        return cache[key](x, t)
    if BACKEND == 'torch':
        with torch.enable_grad() if gradients else torch.no_grad():
            total, outputs = body(x, t)
            values = [k.value for k in kernels]
            grads = list(torch.autograd.grad(total, values, allow_unused=True)) if gradients else []
        return outputs, grads
    return _jax_step(body, kernels, x, t, gradients, cache, variables)


def _jax_step(body, kernels, x, t, gradients, cache, variables):
    """JAX: the measurement as one compiled function of every variable's value (values the trace closed over would
    go stale as the model trains), the kernels' gradients by jax.value_and_grad; compiled once per chunk shape."""
    variables = list(variables)
    variables += [k for k in kernels if not any(k is v for v in variables)]  # a forward= beyond the model's own
    at = [next(k for k, v in enumerate(variables) if v is kernel) for kernel in kernels]
    key = gradients, x.shape, x.dtype, t.shape, t.dtype
    if key not in cache:
        def run(values, x, t):
            with keras.StatelessScope(state_mapping=list(zip(variables, values)), collect_losses=True):
                return body(x, t)

        def measured(values, x, t):
            if not gradients:
                return run(values, x, t)[1], []

            def loss(chosen):
                return run([chosen[at.index(k)] if k in at else v for k, v in enumerate(values)], x, t)
            (_, outputs), grads = jax.value_and_grad(loss, has_aux=True)([values[k] for k in at])
            return outputs, grads
        cache[key] = jax.jit(measured)
    return cache[key]([v.value for v in variables], x, t)
