"""aehealth.network on hand-made records: the judgements about a network, made once for every front-end."""
import numpy as np
import pytest

from aehealth import network
from aehealth.contracts import LayerRecord, UsageError


def record(key, activation, units, weighted=False, **kw):
    return LayerRecord(key, key, activation, weighted, units, **kw)


OUTPUT = LayerRecord('output', 'output', None, False, 784, is_output=True)


def described(records, output=OUTPUT):
    d = network.describe(records, output, 'mse')
    return [layer['key'] for layer in d.net['layers']], d.net['code'], d.net['output'], list(d.kernels)


def test_a_weight_layer_an_activation_takes_whole_is_measured_after_the_activation():
    records = [record('fc1', 'linear', 64, True, kernel='w1'), record('fc1+relu', 'relu', 64, takes=0),
               record('fc2', 'linear', 784, True, kernel='w2'), record('fc2+sigmoid', 'sigmoid', 784, takes=2,
                                                                        is_output=True)]
    assert described(records) == (['fc1+relu', 'fc2+sigmoid'], 'fc1+relu', 'fc2+sigmoid', ['fc1', 'fc2'])


def test_a_linear_code_between_encoder_and_decoder_is_the_code_not_part_of_the_output():
    # sigmoid(dec(enc(x))): the decoder's weight layer lies between the code and the output's activation
    records = [record('enc', 'linear', 16, True, kernel='w1'), record('dec', 'linear', 784, True, kernel='w2'),
               record('dec+sigmoid', 'sigmoid', 784, takes=1, is_output=True)]
    assert described(records)[:2] == (['enc', 'dec+sigmoid'], 'enc')


def test_an_activation_after_batchnorm_makes_the_weight_layer_before_it_the_outputs():
    records = [record('dense', 'relu', 32, True, kernel='w1'), record('dense_1', 'linear', 784, True, kernel='w2'),
               record('batch_normalization', None, 784, takes=1),
               record('activation', 'sigmoid', 784, takes=2, is_output=True)]
    keys, code, output, _ = described(records)
    assert keys == ['dense', 'dense_1', 'activation'] and code == 'dense' and output == 'activation'


def test_an_output_made_after_the_last_layer_is_measured_itself_and_its_range_not_judged():
    records = [record('fc1', 'relu', 32, True, kernel='w1'), record('fc2', 'sigmoid', 784, True, kernel='w2')]
    d = network.describe(records, OUTPUT, 'mse')
    assert [layer['key'] for layer in d.net['layers']] == ['fc1', 'fc2', 'output']
    assert d.net['layers'][-1]['activation'] is None and 'its range is not judged' in d.notes[0]


def test_a_vaes_code_is_its_posterior_mean_and_what_the_output_does_not_need_is_left_out():
    records = [record('fc1', 'relu', 400, True, kernel='w1'), record('mu', 'linear', 20, True, kernel='w2', is_mean=True),
               record('log_var', 'linear', 20, True, kernel='w3', upstream=False),
               record('fc3', 'relu', 400, True, kernel='w4'), record('fc4', 'sigmoid', 784, True, kernel='w5',
                                                                     is_output=True)]
    keys, code, output, kernels = described(records)
    assert keys == ['fc1', 'mu', 'fc3', 'fc4'] and code == 'mu' and kernels == ['fc1', 'mu', 'fc3', 'fc4']


def test_a_layer_that_samples_from_two_linear_heads_makes_the_first_the_posterior_mean():
    heads = [record('fc1', 'relu', 400, True, kernel='w1'), record('mu', 'linear', 20, True, kernel='w2'),
             record('log_var', 'linear', 20, True, kernel='w3')]
    decoder = [record('fc3', 'relu', 400, True, kernel='w4'),
               record('fc4', 'sigmoid', 784, True, kernel='w5', is_output=True)]
    sampling = network.describe(heads + [record('sampling', None, 20, pair=(1, 2), stochastic=True)] + decoder,
                                OUTPUT, 'mse')
    assert sampling.net['code'] == 'mu' and sampling.posterior == ('mu', 'log_var')
    # the same two heads added, not sampled (nothing random): no posterior, and the narrowest layer is the code
    added = network.describe(heads + [record('add', None, 20, pair=(1, 2))] + decoder, OUTPUT, 'mse')
    assert added.posterior is None and added.net['code'] == 'mu'
    # a random layer over a head that applies a nonlinearity is not read as a posterior
    relu_head = [heads[0], record('mu', 'relu', 20, True, kernel='w2'), heads[2]]
    assert network.describe(relu_head + [record('s', None, 20, pair=(1, 2), stochastic=True)] + decoder, OUTPUT,
                            'mse').posterior is None


def test_what_draws_random_numbers_is_what_differs_between_two_runs_and_nan_is_not_a_draw():
    import numpy as np
    first = [np.array([1.0, 2.0]), None, np.array([0.5, np.nan]), np.array([3.0])]
    second = [np.array([1.0, 2.0]), None, np.array([0.5, np.nan]), np.array([3.5])]
    assert network.drawing(first, second) == {3}
    assert network.drawing(first, second[:2]) == set()  # the runs did not run alike: nothing is read from them


def test_a_kernel_shared_by_two_calls_is_differentiated_once_and_an_untrainable_one_not_at_all():
    records = [record('fc', 'relu', 784, True, kernel='w'), record('fc#2', 'sigmoid', 784, True, kernel='w',
                                                                   is_output=True),
               ]
    assert described(records)[3] == ['fc']
    frozen = [record('fc', 'relu', 32, True, kernel=None), record('out', 'sigmoid', 784, True, kernel='w',
                                                                  is_output=True)]
    assert described(frozen)[3] == ['out']


def test_which_output_is_the_reconstruction():
    assert network.is_vae([(784,), (20,), (20,)]) and not network.is_vae([(784,), (20,), (10,)])
    notes, pictures = [], np.zeros((4, 784), np.float32)
    outs = network.outputs(['element 0', 'element 1'], [(12,), (784,)], pictures, 1, [True, True], notes)
    assert outs.recon == 1 and not outs.vae and 'element 1 (rows (784,)) is judged as the reconstruction' in notes[0]
    assert outs.parts(('code', 'picture')) == ('picture', None, None)
    assert network.outputs(['a', 'b'], [(12,), (784,)], np.zeros((4, 5)), 1, [False, True], []).recon == 1
    with pytest.raises(UsageError) as error:
        network.outputs(['a', 'b'], [(784,), (784,)], pictures, 1, [True, True], [])
    assert 'several of them' in str(error.value) and 'forward=' in str(error.value)
    vae = network.outputs(['x', 'mu', 'logvar'], [(784,), (20,), (20,)], pictures, 1, [True] * 3, [])
    assert vae.vae and vae.parts(('r', 'm', 'l')) == ('r', 'm', 'l')
    ids = np.zeros((4, 30), np.int64)  # a sequence of token ids: the output scoring them has the classes' axis more
    assert network.outputs(['code', 'scores'], [(30, 8), (10, 30)], ids, 1, [True, True], []).recon == 1
    assert network.outputs(['code', 'scores'], [(10, 30), (30, 8)], ids, -1, [True, True], []).recon == 1


def test_what_a_loss_compares_is_judged_alike_from_either_framework_s_names():
    for name in ('CrossEntropyLoss', 'cross_entropy'):  # PyTorch's module and function: the same loss
        kind = network.loss_kind(name, 1, sparse=True)
        assert kind.from_logits and kind.to_output(np.array([1.0, 0.0]))[0] == 0.0
    bce = network.loss_kind('BCEWithLogitsLoss', 1, sparse=False)
    assert bce.from_logits and bce.to_output(np.array([0.5]))[0] == pytest.approx(0.0)
    assert network.loss_kind('binary_cross_entropy', 1, sparse=False).to_output is None
    assert network.loss_kind('MSELoss', 1, sparse=False).from_logits is False
    keras_ids = network.loss_kind('sparse_categorical_crossentropy', -1, from_logits=True)
    assert keras_ids.sparse and keras_ids.to_output(np.ones(1))[0] == 0.0 and keras_ids.class_axis == -1
    assert network.loss_kind('categorical_crossentropy', -1, from_logits=False).to_output is None
    assert network.class_ids((10, 30), (30,), True, 1) and not network.class_ids((10, 30), (30,), False, 1)
    assert network.class_ids((30, 10), (30,), True, -1) and not network.class_ids((30, 10), (30,), True, 1)


def test_an_activation_applied_between_layers_is_told_from_the_values():
    before = np.linspace(-3, 3, 60, dtype=np.float32).reshape(4, 15)
    assert network.applied(before, np.maximum(before, 0)) == 'relu'
    assert network.applied(before, (1 / (1 + np.exp(-before))).astype(np.float32)) == 'sigmoid'
    assert network.applied(before, np.tanh(before)) == 'tanh'
    assert network.applied(np.abs(before), np.abs(before)) is None  # a relu of positive values: no activation told
    assert network.applied(before, 2 * before) is None and network.applied(before, before[:, :5]) is None


def test_the_first_weight_layer_is_cut_from_the_loss_when_no_tensor_of_it_reaches_the_reconstruction():
    def weights(key, upstream):
        return record(key, 'linear', 20, weighted=True, upstream=upstream, kernel=object())
    decoder = [weights('dec', True), record('out', 'sigmoid', 784, upstream=True, takes=2)]
    assert network.describe([weights('enc', False)] + decoder, OUTPUT, 'mse').cut == 'enc'
    assert network.describe([weights('enc', True)] + decoder, OUTPUT, 'mse').cut is None
    # an LSTM's output unused and its h used: one layer, reached
    assert network.describe([weights('lstm', False), weights('lstm', True)] + decoder, OUTPUT, 'mse').cut is None
    frozen = LayerRecord('enc', 'enc', 'linear', True, 20, upstream=False)  # no trainable kernel: frozen, not cut
    assert network.describe([frozen] + decoder, OUTPUT, 'mse').cut is None
