"""mx.optimizer: every optimizer's first steps against MXNet 1.9.1, and the bookkeeping rules.

The EXPECTED numbers were produced by MXNet 1.9.1 (``opt.update`` three times on W0 with
GRADS); mxlite must reproduce them bit for bit in float32.
"""

import pickle

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

W0 = [0.5, -1.2, 2.0, 0.03, -0.7, 1.5]
GRADS = [[0.3, -2.5, 1.1, 0.02, 4.0, -0.6], [-0.8, 1.7, 0.4, -3.2, 0.05, 0.9],
         [1.3, -0.2, -2.2, 0.6, -1.4, 2.7]]
RS = dict(rescale_grad=0.3, wd=0.013, learning_rate=0.07)
CLIP = dict(RS, clip_gradient=0.6)

# key: (optimizer, kwargs, [weight after step 1, 2, 3], [states after step 3])
EXPECTED = {
    'sgd': ('sgd', dict(learning_rate=0.1), [
        [0.47, -0.95000005, 1.89, 0.027999999, -1.1, 1.56],
        [0.55, -1.12, 1.85, 0.34800002, -1.105, 1.4699999],
        [0.42000002, -1.1, 2.07, 0.28800002, -0.96500003, 1.1999999],
    ], []),
    'sgd_wd': ('sgd', dict(RS), [
        [0.493245, -1.1464081, 1.97508, 0.0295527, -0.783363, 1.511235],
        [0.50959617, -1.1810648, 1.9648827, 0.09672581, -0.7837001, 1.4909598],
        [0.48183244, -1.1757901, 2.0092947, 0.08403778, -0.75358695, 1.4329029],
    ], []),
    'sgd_clip': ('sgd', dict(CLIP), [
        [0.493245, -1.156908, 1.97508, 0.0295527, -0.741363, 1.511235],
        [0.50959617, -1.1915553, 1.9648827, 0.07152581, -0.7417383, 1.4909598],
        [0.48183244, -1.186271, 2.0050948, 0.058860723, -0.71166337, 1.447603],
    ], []),
    'sgd_mom': ('sgd', dict(RS, momentum=0.9), [
        [0.493245, -1.1464081, 1.97508, 0.0295527, -0.783363, 1.511235],
        [0.5035167, -1.132832, 1.9424547, 0.09632324, -0.85872686, 1.5010713],
        [0.48500296, -1.1153828, 1.9575243, 0.14372906, -0.89637285, 1.433858],
    ], [
        [-0.018513717, 0.0174493, 0.015069578, 0.04740583, -0.037646014, -0.067213334],
    ]),
    'sgd_mom_clip': ('sgd', dict(CLIP, momentum=0.9), [
        [0.493245, -1.156908, 1.97508, 0.0295527, -0.741363, 1.511235],
        [0.5035167, -1.1527724, 1.9424547, 0.07112324, -0.77896506, 1.5010712],
        [0.48500296, -1.1438013, 1.9533243, 0.095872, -0.78269804, 1.4485579],
    ], [
        [-0.01851372, 0.00897105, 0.0108695775, 0.024748761, -0.0037329942, -0.05251333],
    ]),
    'nag': ('nag', dict(RS), [
        [0.493245, -1.1464081, 1.97508, 0.0295527, -0.783363, 1.511235],
        [0.50959617, -1.1810648, 1.9648827, 0.096725814, -0.7837001, 1.4909598],
        [0.48183244, -1.1757901, 2.0092947, 0.08403779, -0.75358695, 1.432903],
    ], []),
    'nag_mom': ('nag', dict(RS, momentum=0.9), [
        [0.4871655, -1.0981753, 1.952652, 0.029150128, -0.8583897, 1.5213464],
        [0.5127811, -1.120772, 1.9131655, 0.15641803, -0.9263078, 1.4918907],
        [0.46833864, -1.0999441, 1.9712881, 0.18619877, -0.92968047, 1.3733487],
    ], [
        [-0.018488247, 0.017323319, 0.015128948, 0.047220763, -0.037347622, -0.067097],
    ]),
    'nag_mom_clip': ('nag', dict(CLIP, momentum=0.9), [
        [0.4871655, -1.1181252, 1.952652, 0.029150128, -0.77858967, 1.5213464],
        [0.5127811, -1.1491778, 1.9131655, 0.10853805, -0.81268454, 1.4918907],
        [0.46833864, -1.135921, 1.9633081, 0.11802487, -0.7857724, 1.4012787],
    ], [
        [-0.018488247, 0.008889033, 0.010936208, 0.024642017, -0.00361046, -0.05242241],
    ]),
    'adam': ('adam', {}, [
        [0.49899998, -1.199, 1.999, 0.029000008, -0.701, 1.501],
        [0.49946162, -1.1988646, 1.9981159, 0.02973995, -0.7016793, 1.5007523],
        [0.4991236, -1.198718, 1.9983592, 0.03018434, -0.70196366, 1.5000881],
    ], [
        [0.082300015, -0.06950001, -0.09490004, -0.22638004, 0.18850003, 0.30240008],
        [0.002419149, 0.009164499, 0.006207342, 0.010590023, 0.017930282, 0.008458362],
    ]),
    'adam_wd': ('adam', dict(RS, beta1=0.8, beta2=0.99, epsilon=1e-6), [
        [0.43000722, -1.130001, 1.930002, -0.039890654, -0.76999944, 1.5699956],
        [0.46405265, -1.1229268, 1.8683921, 0.014675174, -0.81433845, 1.5431793],
        [0.43558836, -1.1137524, 1.8878597, 0.044370264, -0.8275571, 1.4900568],
    ], [
        [0.05405295, -0.03366681, -0.058359772, -0.11682689, 0.06711632, 0.19193386],
        [0.0022036715, 0.00822922, 0.005491825, 0.009458778, 0.015754478, 0.0079774335],
    ]),
    'adam_clip': ('adam', dict(CLIP), [
        [0.42999977, -1.1299996, 1.9299996, -0.039996997, -0.77000046, 1.5700003],
        [0.46032345, -1.1270068, 1.8668993, 0.011590701, -0.8173366, 1.5470839],
        [0.43528882, -1.1204295, 1.8782643, 0.036917813, -0.8209637, 1.4993774],
    ], [
        [0.026318027, -0.011487205, -0.01810591, -0.03546735, 0.00598656, 0.07313642],
        [0.00022098741, 0.00060993206, 0.0005075062, 0.00039213, 0.00054473645, 0.00046995637],
    ]),
    'adagrad': ('adagrad', dict(learning_rate=0.1), [
        [0.40000004, -1.1, 1.9, -0.0699875, -0.8, 1.6],
        [0.49363294, -1.156231, 1.8658257, 0.030010551, -0.8012499, 1.516795],
        [0.41006577, -1.1496301, 1.9541086, 0.011582045, -0.7682172, 1.4239671],
    ], [
        [2.4199998, 9.18, 6.21, 10.6004, 17.9625, 8.46],
    ]),
    'adagrad_wd': ('adagrad', dict(RS, eps=1e-3), [
        [0.43350306, -1.1289701, 1.9284992, 0.016923934, -0.76933867, 1.5675792],
        [0.49815843, -1.1672806, 1.9029187, 0.086869225, -0.7695132, 1.5081837],
        [0.4393419, -1.1616005, 1.9629298, 0.073896974, -0.74569714, 1.4418744],
    ], [
        [0.21780002, 0.8262, 0.55890006, 0.95403606, 1.6166251, 0.7614001],
    ]),
    'adagrad_clip': ('adagrad', dict(CLIP), [
        [0.42954543, -1.128908, 1.92818, -0.039930277, -0.769363, 1.5686349],
        [0.49469754, -1.1732161, 1.9025034, 0.030102551, -0.7704123, 1.508964],
        [0.43575037, -1.1668303, 1.9611865, 0.00996173, -0.7295773, 1.4460188],
    ], [
        [0.21780002, 0.6237, 0.48330003, 0.39243603, 0.536625, 0.46530002],
    ]),
    'rmsprop': ('rmsprop', {}, [
        [0.49683774, -1.1968378, 1.9968377, 0.026838116, -0.70316225, 1.5031623],
        [0.4998171, -1.19868, 1.995706, 0.030000338, -0.7032039, 1.5004897],
        [0.49712905, -1.1984521, 1.9985547, 0.02938721, -0.70205784, 1.497528],
    ], [
        [0.23389006, 0.77035016, 0.59641016, 0.95763266, 1.4922252, 0.83106023],
    ]),
    'rmsprop_wd': ('rmsprop', dict(RS, gamma1=0.8, epsilon=1e-4), [
        [0.3475154, -1.043542, 1.8437831, -0.013008339, -0.85649717, 1.6550275],
        [0.49389845, -1.1353817, 1.7794286, 0.14347123, -0.8570651, 1.514937],
        [0.357836, -1.119995, 1.9198735, 0.11105476, -0.7925471, 1.3672613],
    ], [
        [0.041494142, 0.115575634, 0.10065858, 0.15412816, 0.21871415, 0.15457281],
    ]),
    'rmsprop_clip': ('rmsprop', dict(CLIP, clip_weights=1.6), [
        [0.27864176, -0.9786407, 1.6, -0.19108886, -0.92135936, 1.6],
        [0.48506054, -1.1242772, 1.5148213, 0.030259237, -0.9225347, 1.4038963],
        [0.29581654, -1.1013664, 1.6, -0.036612593, -0.78425515, 1.2074231],
    ], [
        [0.021488821, 0.05197242, 0.048049845, 0.03565749, 0.047822624, 0.04569741],
    ]),
    'rmsprop_centered': ('rmsprop', dict(RS, centered=True, gamma1=0.8, gamma2=0.7), [
        [0.32500058, -1.0250001, 1.825, -0.14486623, -0.875, 1.6749998],
        [0.35572523, -0.9945738, 1.6254821, -0.09250788, -0.9980816, 1.6533682],
        [0.23619995, -0.9581861, 1.628929, -0.08922731, -1.0188164, 1.4689025],
    ], [
        [0.041232035, 0.11555987, 0.10115796, 0.15443404, 0.21903068, 0.15519494],
        [0.053552885, -0.033114694, -0.05920975, -0.11732392, 0.06642018, 0.19243877],
        [-0.11952529, 0.0363877, 0.0034469813, 0.0032805651, -0.020734675, -0.18446575],
    ]),
    'rmsprop_centered_clip': ('rmsprop', dict(CLIP, centered=True, clip_weights=1.6), [
        [0.26666808, -0.9666668, 1.6, -0.2030165, -0.9333333, 1.6],
        [0.26679757, -0.90235245, 1.2971251, -0.17965817, -1.1445024, 1.6],
        [0.07502295, -0.8224128, 1.2168264, -0.22580203, -1.1956723, 1.401621],
    ], [
        [0.021271355, 0.051944144, 0.048049852, 0.03555978, 0.048072692, 0.045697413],
        [0.025875345, -0.011004056, -0.01849201, -0.035715975, 0.0053701475, 0.07317152],
        [-0.19177462, 0.07993967, -0.08029862, -0.04614386, -0.051169902, -0.19837902],
    ]),
    'signum': ('signum', dict(RS, wd_lh=0.01), [
        [0.42965, -1.12916, 1.9286, -0.040021002, -0.76951, 1.56895],
        [0.49934924, -1.0583696, 1.8572499, 0.030007012, -0.8389713, 1.4978517],
        [0.4289997, -0.98762876, 1.9259498, 0.09998601, -0.908384, 1.4268032],
    ], [
        [-0.02636835, 0.024810597, 0.02169313, 0.06789024, -0.05382193, -0.096082404],
    ]),
    'signum_clip': ('signum', dict(CLIP, momentum=0.8), [
        [0.43, -1.13, 1.93, -0.04, -0.77, 1.57],
        [0.5, -1.2, 1.8599999, 0.030000001, -0.84, 1.5],
        [0.43, -1.13, 1.93, 0.1, -0.77, 1.43],
    ], [
        [-0.0541464, 0.014667196, 0.046381593, 0.05918728, 0.009750403, -0.1498216],
    ]),
    'signsgd': ('signum', dict(RS, momentum=0.0), [
        [0.42954502, -1.128908, 1.92818, -0.040027298, -0.769363, 1.5686351],
        [0.49915412, -1.1978807, 1.8564253, 0.030009128, -0.83866286, 1.4972076],
        [0.4286999, -1.1267906, 1.924736, -0.04001818, -0.7678997, 1.4258451],
    ], []),
    'ftml': ('ftml', dict(RS), [
        [0.43, -1.13, 1.93, -0.03999989, -0.77, 1.57],
        [0.48720306, -1.1636115, 1.9066443, 0.02185491, -0.77025926, 1.5158554],
        [0.43510887, -1.1585305, 1.9595529, 0.010444001, -0.74924266, 1.4584427],
    ], [
        [3.0432081, 5.9142413, 4.8023367, 6.319712, 8.18427, 5.7806487],
        [0.00022126426, 0.0008356917, 0.00055100204, 0.000954207, 0.0016003238, 0.00079836446],
        [-1.3241268, 6.8518286, -9.410433, -0.066003084, 6.1320043, -8.430745],
    ]),
    'ftml_clip': ('ftml', dict(CLIP, beta1=0.5), [
        [0.43, -1.13, 1.9300001, -0.039999895, -0.77, 1.57],
        [0.49101663, -1.1720166, 1.9050876, 0.02597628, -0.770549, 1.5122458],
        [0.432669, -1.1653461, 1.9634095, 0.006035775, -0.73018414, 1.4516386],
    ], [
        [3.396739, 5.6394916, 5.1438546, 4.521894, 5.326629, 4.949904],
        [0.00022130355, 0.0006100197, 0.0005075062, 0.0003921974, 0.000544213, 0.00046995634],
        [-1.4696637, 6.5719595, -10.099493, -0.027293134, 3.88942, -7.1854715],
    ]),
    'adadelta': ('adadelta', dict(RS), [
        [0.48356116, -1.1744009, 1.9640046, 0.024465041, -0.70089966, 1.4904846],
        [0.49054804, -1.1673717, 1.9334143, 0.0353921, -0.6919743, 1.459171],
        [0.4679331, -1.1510389, 1.9215032, 0.031864844, -0.6779828, 1.423132],
    ], [
        [0.021050101, 0.0693315, 0.053676907, 0.08618692, 0.13430026, 0.07479542],
        [5.0223905e-05, 1.4340308e-05, 2.7880635e-05, 1.4465584e-05, 1.0598353e-05, 5.0038154e-05],
    ]),
    'adamax': ('adamax', dict(CLIP), [
        [0.43, -1.1300001, 1.93, -0.04, -0.77, 1.57],
        [0.45319194, -1.1272533, 1.8817786, -0.0035110228, -0.8034978, 1.5514833],
        [0.43602657, -1.122298, 1.8895732, 0.011781563, -0.806088, 1.5199977],
    ], [
        [0.026308753, -0.011487526, -0.018105902, -0.035486974, 0.0060045496, 0.073136404],
        [0.39589152, 0.59880066, 0.6, 0.59940004, 0.59880066, 0.6],
    ]),
    'nadam': ('nadam', dict(RS), [
        [0.4260484, -1.1260484, 1.9260484, -0.04395151, -0.7739516, 1.5739516],
        [0.49201694, -1.1620928, 1.8943492, 0.029166147, -0.77867, 1.5120542],
        [0.4270607, -1.1545173, 1.9587485, 0.019584779, -0.7561689, 1.4378598],
    ], [
        [0.026354602, -0.024941798, -0.021647878, -0.06789591, 0.053895112, 0.0961067],
        [0.0002213408, 0.00083575037, 0.0005511973, 0.0009543522, 0.0016004381, 0.00079832267],
    ]),
    'test': ('test', dict(rescale_grad=0.3), [
        [0.59000003, -1.95, 2.33, 0.036, 0.50000006, 1.3199999],
        [0.35000002, -1.44, 2.4499998, -0.924, 0.51500005, 1.5899999],
        [0.74, -1.5, 1.7899997, -0.744, 0.09500003, 2.4],
    ], [
        [0.74, -1.5, 1.7899997, -0.744, 0.09500003, 2.4],
    ]),
}


def _f32(values):
    return np.array(values, dtype=np.float32)


def _flat_states(state):
    states = state if isinstance(state, (tuple, list)) else [state]
    return [s for s in states if s is not None]


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_first_steps_match_mxnet(key):
    name, kwargs, steps, final_states = EXPECTED[key]
    opt = mx.optimizer.create(name, **kwargs)
    weight = mx.nd.array(W0)
    buffer = weight._data
    state = opt.create_state(0, weight)
    state_buffers = [s._data for s in _flat_states(state)]
    for grad, expected in zip(GRADS, steps):
        opt.update(0, weight, mx.nd.array(grad), state)
        np.testing.assert_array_equal(weight.asnumpy(), _f32(expected), err_msg=key)
    assert weight._data is buffer  # updated in place
    states = _flat_states(state)
    assert all(s._data is b for s, b in zip(states, state_buffers))  # states in place too
    assert len(states) == len(final_states)
    for got, expected in zip(states, final_states):
        np.testing.assert_array_equal(got.asnumpy(), _f32(expected), err_msg=key)


def test_every_registered_optimizer_has_reference_numbers():
    checked = {name for name, _, _, _ in EXPECTED.values()}
    assert set(mx.optimizer.Optimizer.opt_registry) - checked <= {"ccsgd"}


# -- the Updater, schedules and per-parameter rules (reference numbers from MXNet 1.9.1) ------
UW = {0: [0.5, -1.2, 2.0, 0.03], 1: [0.1, -0.2], 2: [1.0, 0.9]}
UG = [{0: [0.3, -2.5, 1.1, 0.02], 1: [4.0, -0.6], 2: [0.5, 0.5]},
      {0: [-0.8, 1.7, 0.4, -3.2], 1: [0.05, 0.9], 2: [-1.0, 2.0]},
      {0: [1.3, -0.2, -2.2, 0.6], 1: [-1.4, 2.7], 2: [0.1, -0.1]}]
NAMES = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma"}


def _run_updater(opt, dtype="float32", steps=UG):
    updater = mx.optimizer.get_updater(opt)
    weights = {i: mx.nd.array(w, dtype=dtype) for i, w in UW.items()}
    for step in steps:
        for i, grad in step.items():
            updater(i, mx.nd.array(grad, dtype=dtype), weights[i])
    return updater, weights


def _check_weights(weights, expected, dtype=np.float32):
    for i, values in enumerate(expected):
        np.testing.assert_array_equal(weights[i].asnumpy(), np.array(values, dtype=dtype))


def test_updater_with_factor_scheduler_and_weight_decay_rule():
    sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.1)
    opt = mx.optimizer.SGD(momentum=0.9, wd=0.01, rescale_grad=0.5, param_idx2name=NAMES,
                           lr_scheduler=sched)
    _, weights = _run_updater(opt)
    assert opt.num_update == 3
    assert [opt._get_lr(i) for i in range(3)] == [0.05, 0.05, 0.05]
    assert [opt._get_wd(i) for i in range(3)] == [0.01, 0.0, 0.01]  # bias: no weight decay
    _check_weights(weights, [[0.5003194, -1.0119358, 1.8579034, 0.31605965],
                             [-0.41175, -0.2717], [1.0196896, 0.6402752]])


def test_adam_counts_from_begin_num_update():
    opt = mx.optimizer.Adam(learning_rate=0.01, wd=0.01, begin_num_update=10,
                            param_idx2name=NAMES)
    _, weights = _run_updater(opt)
    assert opt.num_update == 13
    assert opt._index_update_count == {0: 13, 1: 13, 2: 13}
    _check_weights(weights, [[0.49553397, -1.1931107, 1.9911638, 0.03331747],
                             [0.08863807, -0.2017928], [0.99906033, 0.88449746]])


def test_symbol_lr_and_wd_multipliers():
    data = mx.sym.Variable("data")
    weight = mx.sym.Variable("fc_weight", lr_mult=2.0, wd_mult=0.5)
    bias = mx.sym.Variable("fc_bias", lr_mult=0.5, wd_mult=3.0)
    net = mx.sym.FullyConnected(data, weight=weight, bias=bias, num_hidden=2, name="fc")
    opt = mx.optimizer.SGD(learning_rate=0.1, wd=0.01, sym=net, param_idx2name=NAMES)
    assert opt.lr_mult == {"fc_weight": 2.0, "fc_bias": 0.5}
    assert opt.wd_mult == {"fc_bias": 3.0, "fc_weight": 0.5}  # the symbol overrides the rule
    assert [opt._get_lr(i) for i in range(3)] == pytest.approx([0.2, 0.05, 0.1])
    assert [opt._get_wd(i) for i in range(3)] == pytest.approx([0.005, 0.03, 0.01])
    _, weights = _run_updater(opt)
    _check_weights(weights, [[0.3384615, -0.9970631, 2.1345258, 0.5452781],
                             [-0.032346018, -0.34912378], [1.0370029, 0.6576026]])


def test_weight_decay_only_for_weight_and_gamma_names():
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta", 4: "embed", 5: "a_weight"}
    opt = mx.optimizer.create("sgd", wd=0.1, param_idx2name=names)
    assert opt.wd_mult == {"fc_bias": 0.0, "bn_beta": 0.0, "embed": 0.0}
    assert [opt._get_wd(i) for i in range(7)] == [0.1, 0.0, 0.1, 0.0, 0.0, 0.1, 0.1]
    opt.set_wd_mult({"fc_bias": 2.0, 5: 3.0})
    assert opt._get_wd(1) == pytest.approx(0.2) and opt._get_wd(5) == pytest.approx(0.3)
    assert opt._get_wd(3) == 0.0  # the rule is re-applied by set_wd_mult
    opt.set_lr_mult({"fc_weight": 3.0, 1: 5.0})
    assert [opt._get_lr(i) for i in range(3)] == pytest.approx([0.03, 0.05, 0.01])
    assert mx.optimizer.SGD(wd=0.1).wd_mult == {}  # no names known: decay everywhere


def test_param_dict_multipliers_take_precedence():
    class Param:
        lr_mult, wd_mult = 4.0, 0.0
    opt = mx.optimizer.SGD(learning_rate=0.1, wd=0.1, param_dict={0: Param()},
                           param_idx2name={0: "fc_weight"})
    opt.set_lr_mult({0: 2.0})
    assert opt._get_lr(0) == pytest.approx(0.4) and opt._get_wd(0) == 0.0
    restored = pickle.loads(pickle.dumps(opt))
    assert restored.param_dict == {} and restored._get_lr(0) == pytest.approx(0.2)


def test_float16_multi_precision_keeps_a_float32_master_copy():
    opt = mx.optimizer.SGD(momentum=0.9, learning_rate=0.1, wd=0.01, multi_precision=True,
                           param_idx2name=NAMES)
    updater, weights = _run_updater(opt, "float16")
    _check_weights(weights, [[0.438, -0.82, 1.835, 0.572], [-0.8535, -0.4783], [1.039, 0.3896]],
                   np.float16)
    mom, master = updater.states[0]  # SGD's layout: (momentum, master copy)
    assert master.dtype == np.float32 and weights[0].dtype == np.float16
    np.testing.assert_array_equal(master.asnumpy(),
                                  _f32([0.4379006, -0.8197897, 1.8351936, 0.571939]))
    np.testing.assert_array_equal(mom.asnumpy(),
                                  _f32([-0.08365111, 0.072195776, 0.089797676, 0.22590409]))
    adam = mx.optimizer.Adam(learning_rate=0.1, multi_precision=True)
    updater, weights = _run_updater(adam, "float16")
    assert updater.states[0][0].dtype == np.float32  # generic layout: (master copy, state)
    _check_weights(weights, [[0.4124, -1.072, 1.836, 0.04843], [-0.0964, -0.1912],
                             [0.959, 0.6465]], np.float16)


def test_float16_without_multi_precision_warns():
    opt = mx.optimizer.SGD(momentum=0.9)
    with pytest.warns(UserWarning, match="multi_precision=True"):
        opt.create_state_multi_precision(0, mx.nd.zeros(3, dtype="float16"))


def test_float64_weights_keep_their_dtype():
    opt = mx.optimizer.SGD(momentum=0.9, learning_rate=0.1, wd=0.01, rescale_grad=0.3)
    weight = mx.nd.array([0.5, -1.2, 2.0], dtype="float64")
    state = opt.create_state(0, weight)
    for grad in ([0.3, -2.5, 1.1], [-0.8, 1.7, 0.4]):
        opt.update(0, weight, mx.nd.array(grad, dtype="float64"), state)
    assert state.dtype == np.float64
    np.testing.assert_array_equal(
        weight.asnumpy(), [0.5054595006147177, -1.1050961968468593, 1.9195349967977777])


def test_clip_gradient_zero():
    # MXNet's fused kernels treat 0 as "off"; AdaGrad clips in Python to [-0, 0].
    weight, grad = mx.nd.array([0.5, -1.2, 2.0]), mx.nd.array([1.0, 2.0, 3.0])
    sgd = mx.optimizer.SGD(clip_gradient=0.0, learning_rate=0.1)
    sgd.update(0, weight, grad, None)
    np.testing.assert_array_equal(weight.asnumpy(), _f32([0.4, -1.4000001, 1.7]))
    ada = mx.optimizer.AdaGrad(clip_gradient=0.0, learning_rate=0.1)
    ada.update(0, weight, grad, ada.create_state(0, weight))
    np.testing.assert_array_equal(weight.asnumpy(), _f32([0.4, -1.4000001, 1.7]))


# -- creation and registry --------------------------------------------------------------------
def test_create_is_case_insensitive_and_passes_arguments():
    opt = mx.optimizer.create("RMSProp", centered=True, learning_rate=0.5)
    assert isinstance(opt, mx.optimizer.RMSProp) and opt.centered and opt.lr == 0.5
    assert mx.optimizer.create("sgd").lr == 0.01 and mx.optimizer.Adam().lr == 0.001
    assert mx.optimizer.create is mx.optimizer.Optimizer.create_optimizer


def test_create_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Cannot find optimizer 'adamm'.*'sgd'.*Did you mean 'adam'"):
        mx.optimizer.create("adamm")
    with pytest.raises(MXNetError, match=r"unknown argument 'momentm'.*Did you mean 'momentum'"):
        mx.optimizer.create("sgd", momentm=0.9)


def test_register_custom_optimizer():
    registry = mx.optimizer.Optimizer.opt_registry

    @mx.optimizer.register
    class HalfStep(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            lr, _ = self._step(index, weight, grad)
            weight[:] = weight - grad * (lr / 2)

    try:
        opt = mx.optimizer.create("halfstep", learning_rate=1.0)
        weight = mx.nd.array([1.0, 2.0])
        mx.optimizer.get_updater(opt)(0, mx.nd.array([2.0, 2.0]), weight)
        np.testing.assert_array_equal(weight.asnumpy(), [0.0, 1.0])
        with pytest.warns(UserWarning, match="overriding existing optimizer"):
            mx.optimizer.Optimizer.register(type("HalfStep", (mx.optimizer.Optimizer,), {}))
    finally:
        registry.pop("halfstep", None)
    with pytest.raises(MXNetError, match="expects a class"):
        mx.optimizer.register(3)


# -- learning rate and counting ---------------------------------------------------------------
def test_set_learning_rate_and_scheduler():
    opt = mx.optimizer.SGD(learning_rate=0.3)
    opt.set_learning_rate(0.2)
    assert opt.lr == 0.2 and opt.learning_rate == 0.2
    sched = mx.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.01)
    opt = mx.optimizer.SGD(learning_rate=0.4, lr_scheduler=sched)
    assert sched.base_lr == 0.4  # learning_rate overrides the scheduler's base_lr
    opt.num_update = 3
    assert opt.learning_rate == pytest.approx(0.1)
    with pytest.raises(MXNetError, match="LRScheduler of the optimizer has already been defined"):
        opt.set_learning_rate(0.1)
    with pytest.raises(UserWarning):  # MXNet raises a UserWarning here
        opt.set_learning_rate(0.1)


def test_update_counts_per_index():
    opt = mx.optimizer.SGD()
    weight, grad = mx.nd.zeros(2), mx.nd.ones(2)
    for index in (0, 0, 1, 0, "w"):
        opt.update(index, weight, grad, None)
    assert opt._index_update_count == {0: 3, 1: 1, "w": 1} and opt.num_update == 3
    opt.update([5, 6], [weight, weight.copy()], [grad, grad], [None, None])
    assert opt._index_update_count[5] == 1


# -- Updater states ---------------------------------------------------------------------------
def test_updater_states_round_trip():
    opt = mx.optimizer.Adam(learning_rate=0.01)
    straight, weights = _run_updater(opt)
    first, resumed = _run_updater(mx.optimizer.Adam(learning_rate=0.01), steps=UG[:2])
    blob = first.get_states(dump_optimizer=True)
    fresh = mx.optimizer.get_updater(mx.optimizer.Adam(learning_rate=0.01))
    fresh.set_states(blob)
    assert fresh.optimizer.num_update == 2 and fresh.states_synced == dict.fromkeys(UW, False)
    for i, grad in UG[2].items():
        fresh(i, mx.nd.array(grad), resumed[i])
    for i in UW:
        np.testing.assert_array_equal(resumed[i].asnumpy(), weights[i].asnumpy())
    states_only = pickle.loads(straight.get_states())
    assert sorted(states_only) == [0, 1, 2] and len(states_only[0]) == 2
    fresh.set_states(straight.get_states())
    assert fresh.states.keys() == states_only.keys()


def test_updater_accepts_lists_and_bytes_indices():
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(learning_rate=1.0))
    w1, w2 = mx.nd.ones(2), mx.nd.ones(2)
    updater([0, 1], [mx.nd.ones(2), mx.nd.ones(2) * 2], [w1, w2])
    updater(b"name", mx.nd.ones(2), w1)
    assert w1.asnumpy().tolist() == [-1.0, -1.0] and w2.asnumpy().tolist() == [-1.0, -1.0]
    assert set(updater.states) == {0, 1, "name"}


# -- errors -----------------------------------------------------------------------------------
def test_bad_inputs():
    opt = mx.optimizer.SGD()
    with pytest.raises(ValueError, match=r"weight shape \(2,\) and grad shape \(3,\)"):
        opt.update(0, mx.nd.zeros(2), mx.nd.zeros(3), None)
    with pytest.raises(TypeError, match="grad must be an NDArray"):
        opt.update(0, mx.nd.zeros(2), np.zeros(2), None)
    with pytest.raises(MXNetError, match="param_idx2name should be a dict"):
        mx.optimizer.SGD(param_idx2name=["fc_weight"])
    updater = mx.optimizer.get_updater(opt)
    with pytest.raises(MXNetError, match="cannot unpickle"):
        updater.set_states(b"not a pickle")
    with pytest.raises(MXNetError, match="expected a dict of states"):
        updater.set_states(pickle.dumps([1, 2, 3]))
    with pytest.raises(MXNetError, match="expects an Optimizer"):
        mx.optimizer.get_updater("sgd")
    with pytest.raises(NotImplementedError):
        mx.optimizer.Optimizer().update(0, mx.nd.zeros(1), mx.nd.zeros(1), None)
