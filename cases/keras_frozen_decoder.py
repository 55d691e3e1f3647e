"""A decoder left frozen: `decoder.trainable = False`, set for another model that shares it, also freezes it in
the autoencoder compiled after.

jacobgil/keras-dcgan issue 10 and keras-team/keras issue 4674: the GAN pattern sets `discriminator.trainable =
False` before compiling the combined model, and whether a shared model then trains depends on the flag's value
when each model is compiled (Keras' FAQ: "you will need to call compile() ... after modifying the trainable
property"). Rebuilt as an autoencoder whose decoder is shared with a second model and frozen for it before the
autoencoder is compiled: the Keras blog's dense autoencoder (784-128-32-128-784, ReLU, a sigmoid output), Adam 1e-3,
MSE, batch 64, 10 epochs of the subset. The encoder trains; the decoder never does.
"""
import keras
from keras import layers

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/jacobgil/keras-dcgan/issues/10 and https://github.com/keras-team/keras/issues/4674'
SYMPTOM = 'the shared model does not train (its weights stay as they are)'
CAUSE = 'trainable = False on a shared decoder before the autoencoder is compiled'
FIX = 'decoder.trainable = True before compiling the autoencoder'
NAMES = ('frozen_weights',)
EXPECTED = (True, True)


def build(fixed=False):
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    encoder = keras.Sequential([keras.Input((784,)), layers.Dense(128, activation='relu'),
                                layers.Dense(32, activation='relu')], name='encoder')
    decoder = keras.Sequential([keras.Input((32,)), layers.Dense(128, activation='relu'),
                                layers.Dense(784, activation='sigmoid')], name='decoder')
    decoder.trainable = fixed  # frozen for the model that shares it
    inputs = keras.Input((784,))
    model = keras.Model(inputs, decoder(encoder(inputs)), name='autoencoder')
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')
    return dict(model=model, x=x, y=x, fit=dict(epochs=10, batch_size=64, shuffle=True))


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
