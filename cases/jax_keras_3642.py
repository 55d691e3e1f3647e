"""keras-team/keras issue 3642 (the Keras blog's dense autoencoder fed MNIST pixels left at 0-255), trained on Keras
3's JAX backend: the same model, data, optimizer and fit as keras_3642, run with KERAS_BACKEND=jax in a process of its
own (Keras picks its backend once, at import), aehealth.keras taking its gradients through JAX.
"""
try:
    from cases import common, keras_3642 as reported
except ImportError:  # run as a script: python cases/jax_keras_3642.py
    import common
    import keras_3642 as reported

BACKEND = 'jax'
SOURCE = reported.SOURCE + ' (on the JAX backend)'
SYMPTOM = reported.SYMPTOM
CAUSE = reported.CAUSE
FIX = reported.FIX
NAMES = reported.NAMES
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured
build = reported.build


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
