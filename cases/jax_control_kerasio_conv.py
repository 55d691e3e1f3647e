"""Control: keras.io's convolutional denoising autoencoder (control_kerasio_conv) trained on Keras 3's JAX backend,
with KERAS_BACKEND=jax in a process of its own. It learns: no failure finding is right.
"""
try:
    from cases import common
    from cases.control_kerasio_conv import CAUSE, FIX, NAMES, SYMPTOM, build
    from cases.control_kerasio_conv import SOURCE as REPORTED
except ImportError:  # run as a script: python cases/jax_control_kerasio_conv.py
    import common
    from control_kerasio_conv import CAUSE, FIX, NAMES, SYMPTOM, build
    from control_kerasio_conv import SOURCE as REPORTED

__all__ = ['BACKEND', 'SOURCE', 'SYMPTOM', 'CAUSE', 'FIX', 'NAMES', 'EXPECTED', 'build']  # what cases/run.py reads
BACKEND = 'jax'
SOURCE = REPORTED + ' (on the JAX backend)'
EXPECTED = (True, True)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
