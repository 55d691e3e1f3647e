"""aehealth: why is my autoencoder stuck? A pre-flight check and a training monitor that name the cause.

`import aehealth` needs numpy only: the rules (aehealth.rules) judge arrays. The front-ends turn a framework's model
into those arrays: aehealth.keras (Keras 3 on TensorFlow, the extra "keras") and aehealth.torch (PyTorch, the extra
"torch"); aehealth.plot draws the health figure (the extra "plot"); `python -m aehealth MODEL.keras SAMPLE.npy`
examines a model that has already trained.
"""
from aehealth.monitor import UsageError

__version__ = '0.2.0'
__all__ = ['UsageError', '__version__']
