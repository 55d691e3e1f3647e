"""keras-team/keras issue 3373 and pull 3383: the Keras VAE example, whose every latent point decoded to one image.

As reported (examples/variational_autoencoder.py of August 2016, Keras 1): 784 -> Dense(256, relu) -> z_mean and
z_log_var (2-d); z = z_mean + exp(z_log_var / 2) * eps; decoder Dense(256, relu) -> Dense(784, sigmoid); the loss
binary_crossentropy(x, x_decoded_mean), which averages over the 784 pixels since a style commit dropped the
`original_dim *` in front of it, plus the KL divergence summed over the latent dimensions; rmsprop; batch 100; 50
epochs; MNIST / 255. The pull request puts the factor back (merged by the maintainer). Here: the 1200-image subset,
batch 100, 50 epochs (600 steps), checked every 5; the monitor reads the posterior through forward=.
"""
import keras
from keras import layers, ops

try:
    from cases import common
except ImportError:
    import common

SOURCE = 'https://github.com/keras-team/keras/issues/3373 and https://github.com/keras-team/keras/pull/3383'
SYMPTOM = 'every point of the latent space decodes to the same image; the test codes barely spread'
CAUSE = 'the reconstruction term was averaged over the 784 pixels, about 784x too small beside the KL term (the PR)'
FIX = 'multiply the reconstruction term by original_dim (784), as the merged PR does'
NAMES = ('posterior_collapse',)
EXPECTED = (True, True)  # (its failure findings name the cause, the fixed version has none), as measured


class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * eps, with a generator of its own (so that a seed fixes the run)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(1)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.generator)


class KL(layers.Layer):
    """The example's KL term, summed over the latent dimensions and averaged over the batch, as an added loss (times
    `weight`, a variable, when one is given)."""

    def __init__(self, weight=None, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1))
        self.add_loss(kl if self.weight is None else self.weight * kl)
        return inputs


def build(fixed=False, kl_weight=False):
    """The example as reported (fixed: the PR's); with kl_weight, its KL term times a model.kl_weight variable of 1,
    the step aehealth's trial asks for before it changes the weight (the same numbers)."""
    x = common.mnist()[0].reshape(-1, 784).astype('float32') / 255
    weight = keras.Variable(1.0, trainable=False, name='kl_weight') if kl_weight else None
    i = keras.Input((784,))
    h = layers.Dense(256, activation='relu')(i)
    z_mean, z_log_var = KL(weight)([layers.Dense(2, name='z_mean')(h), layers.Dense(2, name='z_log_var')(h)])
    encoder = keras.Model(i, [z_mean, z_log_var], name='encoder')
    j = keras.Input((2,))
    decoder = keras.Model(j, layers.Dense(784, activation='sigmoid')(layers.Dense(256, activation='relu')(j)),
                          name='decoder')
    vae = keras.Model(i, decoder(Sampling()(encoder(i))), name='vae_3373')
    if kl_weight:
        vae.kl_weight = weight
    scale = 784 if fixed else 1

    def reconstruction(x, x_decoded_mean):
        return scale * keras.losses.binary_crossentropy(x, x_decoded_mean)
    vae.compile(optimizer='rmsprop', loss=reconstruction)

    def forward(inputs):  # the reconstruction of the posterior's mean, and the posterior
        mean, log_variance = encoder(inputs)
        return decoder(mean), mean, log_variance
    return dict(model=vae, x=x, y=x, fit=dict(epochs=50, batch_size=100, shuffle=True), every=5, forward=forward)


if __name__ == '__main__':
    import sys
    common.main(sys.modules[__name__])
