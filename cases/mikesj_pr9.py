"""mikesj-public/convolutional_autoencoder pull request 9: standardised targets the output cannot reach.

As the notebook stood before the pull request: Lasagne layers with their default nonlinearity, rectify (ReLU),
the output included: conv 16 3x3, conv 16 3x3, max-pool, conv 32 3x3, max-pool, dense 128, dense 16 (the code),
dense 128, dense 800, reshape to 32x5x5, upscale, conv 16 3x3 'full', upscale, conv 16 3x3 'full', conv 1 3x3
'full'; Nesterov momentum (lr 0.01, momentum 0.975), batch 128, squared error; pixels standardised with the
data's mean and standard deviation, so that three quarters of the targets are negative. ('full' convolutions
are Conv2DTranspose with stride 1.) They trained 20 epochs on 50000 images; the case passes the subset 5 times an
epoch for 3 epochs (141 steps).
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/mikesj-public/convolutional_autoencoder/pull/9'
SYMPTOM = 'the bottom half of the data "chopped off"'
CAUSE = 'standardisation made most targets negative, which the network\'s output could not reconstruct'
FIX = 'scale the pixels to [0,1] instead (or a tanh output)'
NAMES = ('targets_out_of_range',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


def build(fixed=False):
    x = common.mnist()[0][..., None].astype('float32')
    x = x / 255 if fixed else (x - x.mean()) / x.std()
    conv = dict(activation='relu', kernel_size=3)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(16, **conv), layers.Conv2D(16, **conv), layers.MaxPooling2D(2),
        layers.Conv2D(32, **conv), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dense(128, activation='relu'), layers.Dense(16, activation='relu', name='encode'),
        layers.Dense(128, activation='relu'), layers.Dense(800, activation='relu'), layers.Reshape((5, 5, 32)),
        layers.UpSampling2D(2), layers.Conv2DTranspose(16, **conv), layers.UpSampling2D(2),
        layers.Conv2DTranspose(16, **conv), layers.Conv2DTranspose(1, **conv)], name='lasagne_conv_ae')
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.975, nesterov=True), loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=3, batch_size=128, shuffle=True), repeat=5)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
