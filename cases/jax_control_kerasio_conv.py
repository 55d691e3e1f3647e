"""Control: keras.io's convolutional denoising autoencoder (control_kerasio_conv) trained on Keras 3's JAX backend,
with KERAS_BACKEND=jax in a process of its own. It learns: no failure finding is right.
"""
try:
    from cases import common, control_kerasio_conv as reported
except ImportError:  # run as a script: python cases/jax_control_kerasio_conv.py
    import common
    import control_kerasio_conv as reported

BACKEND = 'jax'
SOURCE = reported.SOURCE + ' (on the JAX backend)'
SYMPTOM = reported.SYMPTOM
CAUSE = reported.CAUSE
FIX = reported.FIX
NAMES = reported.NAMES
EXPECTED = (True, True)
build = reported.build


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
