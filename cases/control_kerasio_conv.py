"""Control: the convolutional autoencoder of keras.io's "Convolutional autoencoder for image denoising".

Conv2D(32, 3, relu) + MaxPooling2D twice, Conv2DTranspose(32, 3, strides 2, relu) twice, Conv2D(1, 3, sigmoid),
adam, binary cross-entropy, batch 128: the example's first stage, trained on clean MNIST scaled to [0,1]. The
example trains 50 epochs of 60000 images; the case passes the subset 5 times an epoch for 2 epochs (100 steps). It
learns: no failure finding is right. "Fixed" is the same model.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://keras.io/examples/vision/autoencoder/'
SYMPTOM = 'none: it learns'
CAUSE = '-'
FIX = 'nothing to fix'
NAMES = ()
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = common.mnist()[0][..., None].astype('float32') / 255
    i = keras.Input((28, 28, 1))
    h = layers.Conv2D(32, 3, activation='relu', padding='same')(i)
    h = layers.MaxPooling2D(2, padding='same')(h)
    h = layers.Conv2D(32, 3, activation='relu', padding='same')(h)
    h = layers.MaxPooling2D(2, padding='same')(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, activation='relu', padding='same')(h)
    o = layers.Conv2D(1, 3, activation='sigmoid', padding='same')(h)
    model = keras.Model(i, o, name='kerasio_conv_ae')
    model.compile(optimizer='adam', loss='binary_crossentropy')
    return dict(model=model, x=x, y=x, fit=dict(epochs=2, batch_size=128, shuffle=True), repeat=5)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
