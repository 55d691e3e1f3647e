"""keras-team/keras issue 3642 (the Keras blog's dense autoencoder fed MNIST pixels left at 0-255), trained on Keras
3's JAX backend: the same model, data, optimizer and fit as keras_3642, run with KERAS_BACKEND=jax in a process of its
own (Keras picks its backend once, at import), aehealth.keras taking its gradients through JAX.
"""
try:
    from cases import common
    from cases.keras_3642 import CAUSE, FIX, NAMES, SYMPTOM, build
    from cases.keras_3642 import SOURCE as REPORTED
except ImportError:  # run as a script: python cases/jax_keras_3642.py
    import common
    from keras_3642 import CAUSE, FIX, NAMES, SYMPTOM, build
    from keras_3642 import SOURCE as REPORTED

__all__ = ['BACKEND', 'SOURCE', 'SYMPTOM', 'CAUSE', 'FIX', 'NAMES', 'EXPECTED', 'build']  # what cases/run.py reads
BACKEND = 'jax'
SOURCE = REPORTED + ' (on the JAX backend)'
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
