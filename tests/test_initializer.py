"""mx.init: name dispatch, Variable ``__init__`` attributes, JSON round trips, and each
initializer's distribution, bounds and fan computation (checked by hand against MXNet 1.9.1)."""

import json
import logging

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

minit = mx.init


def _init(initializer, name, shape, attrs=None, dtype="float32"):
    arr = mx.nd.full(shape, 7.0, dtype=dtype)
    initializer(minit.InitDesc(name, attrs), arr)
    return arr.asnumpy()


def test_init_desc_is_a_string_with_attributes():
    desc = minit.InitDesc("fc_weight", attrs={"a": "1"})
    assert isinstance(desc, str) and desc == "fc_weight" and desc.endswith("weight")
    assert desc.attrs == {"a": "1"} and desc.global_init is None
    assert minit.InitDesc("x").attrs == {}
    assert mx.initializer is mx.init


@pytest.mark.parametrize("name, value", [
    ("fc_bias", 0.0), ("bn_gamma", 1.0), ("bn_beta", 0.0), ("q_min", 0.0), ("q_max", 1.0),
    ("bn_moving_mean", 0.0), ("bn_moving_var", 1.0), ("bn_moving_inv_var", 0.0),
    ("bn_moving_avg", 0.0),
])
def test_dispatch_by_name(name, value):
    assert (_init(minit.Uniform(0.1), name, (3, 4)) == value).all()


def test_weights_use_the_initializer_and_global_init_is_recorded():
    desc = minit.InitDesc("fc_weight")
    init = minit.Uniform(0.1)
    arr = mx.nd.zeros((50, 40))
    init(desc, arr)
    data = arr.asnumpy()
    assert desc.global_init is init
    assert np.abs(data).max() <= 0.1 and np.abs(data).max() > 0.09 and data.std() > 0.05


def test_unknown_name_pattern_is_an_error():
    with pytest.raises(MXNetError, match="Unknown initialization pattern for foo"):
        _init(minit.Uniform(), "foo", (2,))


def test_variable_init_attribute_overrides_the_name_rule():
    attrs = {"__init__": minit.Constant(5).dumps()}
    assert (_init(minit.Uniform(), "fc_bias", (6,), attrs) == 5).all()
    assert (_init(minit.Uniform(), "fc_foo", (2, 2), {"__init__": '["one", {}]'}) == 1).all()
    # the attribute's JSON as mxlite's operators write it (capitalised class name)
    prelu = {"__init__": '["Constant", {"value": 0.25}]'}
    assert (_init(minit.Xavier(), "act_gamma", (3,), prelu) == 0.25).all()
    weight = mx.sym.Variable("w_weight", init=minit.Zero())
    assert weight.attr("__init__") == '["zero", {}]'
    assert (_init(minit.Uniform(), "w_weight", (2, 3), weight.attr_dict()["w_weight"]) == 0).all()


def test_initialise_every_parameter_of_a_network():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=8, name="fc")
    net = mx.sym.BatchNorm(net, name="bn")
    arg_shapes, _, aux_shapes = net.infer_shape(data=(4, 5))
    attrs = net.attr_dict()
    init = minit.Xavier()
    arrays = {}
    names = net.list_arguments()[1:] + net.list_auxiliary_states()
    for name, shape in zip(names, arg_shapes[1:] + aux_shapes):
        arrays[name] = mx.nd.full(shape, 7.0)
        init(minit.InitDesc(name, attrs.get(name, {})), arrays[name])
    bound = np.sqrt(3 / ((5 + 8) / 2))
    assert 0 < np.abs(arrays["fc_weight"].asnumpy()).max() <= bound
    for name, value in [("fc_bias", 0), ("bn_gamma", 1), ("bn_beta", 0), ("bn_moving_mean", 0),
                        ("bn_moving_var", 1)]:
        assert (arrays[name].asnumpy() == value).all(), name


# -- dumps / create ---------------------------------------------------------------------------
@pytest.mark.parametrize("init, text", [  # MXNet 1.9.1's dumps() output
    (minit.Uniform(), '["uniform", {"scale": 0.07}]'),
    (minit.Normal(), '["normal", {"sigma": 0.01}]'),
    (minit.Xavier(), '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'),
    (minit.Xavier("gaussian", "in", 2),
     '["xavier", {"rnd_type": "gaussian", "factor_type": "in", "magnitude": 2}]'),
    (minit.MSRAPrelu("out", 0.1), '["msraprelu", {"factor_type": "out", "slope": 0.1}]'),
    (minit.Constant(3), '["constant", {"value": 3}]'),
    (minit.Constant(np.array([1.0, 2.0])), '["constant", {"value": [1.0, 2.0]}]'),
    (minit.Constant(mx.nd.array([4, 5])), '["constant", {"value": [4.0, 5.0]}]'),
    (minit.Zero(), '["zero", {}]'),
    (minit.One(), '["one", {}]'),
    (minit.Orthogonal(), '["orthogonal", {"scale": 1.414, "rand_type": "uniform"}]'),
    (minit.Bilinear(), '["bilinear", {}]'),
    (minit.LSTMBias(2.0), '["lstmbias", {"forget_bias": 2.0}]'),
])
def test_dumps_matches_mxnet_and_round_trips(init, text):
    assert init.dumps() == text
    again = minit.create(text)
    assert type(again) is type(init) and again == init


def test_create_forms():
    xavier = minit.create('["xavier", {"magnitude": 2}]')
    assert xavier._kwargs == {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 2}
    assert isinstance(minit.create("zeros"), minit.Zero) and isinstance(minit.create("ones"), minit.One)
    assert minit.create("Uniform", scale=0.5).scale == 0.5
    assert minit.create({"initializer": "normal", "sigma": 0.3}).sigma == 0.3
    one = minit.One()
    assert minit.create(one) is one
    assert minit.Uniform(0.1) == minit.Uniform(0.1) and minit.Uniform(0.1) != minit.Uniform(0.2)
    assert minit.Uniform(0.1) != minit.Normal(0.1) and repr(minit.Normal(0.2)) == "Normal(sigma=0.2)"


def test_create_errors():
    with pytest.raises(KeyError, match=r"'nope' is not registered.*'one'.*Did you mean"):
        minit.create("nope")
    with pytest.raises(MXNetError, match="already an instance"):
        minit.create(minit.One(), 3)
    with pytest.raises(MXNetError, match="invalid initializer JSON"):
        minit.create("[xavier")
    with pytest.raises(MXNetError, match="expected JSON"):
        minit.create('["xavier"]')
    with pytest.raises(TypeError, match="name, JSON string, dict or Initializer"):
        minit.create(3)


def test_register_custom_initializer():
    @minit.register
    class Twos(minit.Initializer):
        def __init__(self, value=2.0):
            super().__init__(value=value)
            self.value = value

        def _init_weight(self, _, arr):
            arr[:] = self.value

    try:
        assert (_init(minit.create("twos", value=4.0), "q_weight", (2,)) == 4).all()
        assert minit.create('["twos", {"value": 5}]').value == 5
        with pytest.warns(UserWarning, match="overriding existing initializer"):
            minit.register(type("Twos", (minit.Initializer,), {}))
    finally:
        minit._REGISTRY.pop("twos", None)
    with pytest.raises(TypeError, match="Initializer subclass"):
        minit.register(int)


# -- distributions ----------------------------------------------------------------------------
def test_uniform_and_normal_reproducible_with_seed():
    mx.random.seed(7)
    first = _init(minit.Uniform(0.3), "w_weight", (300, 300))
    mx.random.seed(7)
    assert (first == _init(minit.Uniform(0.3), "w_weight", (300, 300))).all()
    assert -0.3 <= first.min() < -0.299 and 0.299 < first.max() < 0.3
    assert abs(first.std() - 0.3 / np.sqrt(3)) < 0.002
    normal = _init(minit.Normal(0.2), "w_weight", (300, 300))
    assert abs(normal.std() - 0.2) < 0.002 and abs(normal.mean()) < 0.002


@pytest.mark.parametrize("factor_type, factor", [("avg", (288 + 576) / 2), ("in", 288),
                                                 ("out", 576)])
def test_xavier_fans_of_a_convolution_weight(factor_type, factor):
    # (out=64, in=32, 3, 3): fan_in = 32*9, fan_out = 64*9
    init = minit.Xavier("uniform", factor_type, 3)
    scale = np.sqrt(3 / factor)
    assert init.scale_for("c_weight", (64, 32, 3, 3)) == pytest.approx(scale)
    data = _init(init, "c_weight", (64, 32, 3, 3))
    assert np.abs(data).max() <= scale and np.abs(data).max() > 0.99 * scale
    gaussian = _init(minit.Xavier("gaussian", factor_type, 2), "c_weight", (64, 32, 3, 3))
    assert gaussian.std() == pytest.approx(np.sqrt(2 / factor), rel=0.03)


def test_msra_prelu():
    init = minit.MSRAPrelu("in", 0.25)
    assert init.magnitude == pytest.approx(2 / 1.0625) and init.rnd_type == "gaussian"
    data = _init(init, "c_weight", (128, 64, 3, 3))
    assert data.std() == pytest.approx(np.sqrt(2 / 1.0625 / (64 * 9)), rel=0.02)


def test_xavier_errors():
    with pytest.raises(MXNetError, match=r"cannot be applied to vector fc_weight of shape \(5,\)"):
        _init(minit.Xavier(), "fc_weight", (5,))
    with pytest.raises(MXNetError, match=r"factor_type 'bad'.*\['avg', 'in', 'out'\]"):
        minit.Xavier(factor_type="bad")
    with pytest.raises(MXNetError, match="rnd_type 'normal'.*Did you mean"):
        minit.Xavier(rnd_type="normal")
    with pytest.raises(MXNetError, match="rand_type"):
        minit.Orthogonal(rand_type="gaussian")


@pytest.mark.parametrize("shape, rand_type", [((4, 6), "uniform"), ((6, 2, 2), "normal")])
def test_orthogonal(shape, rand_type):
    data = _init(minit.Orthogonal(scale=2.0, rand_type=rand_type), "w_weight", shape)
    flat = data.reshape(shape[0], -1).astype(np.float64)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4 * np.eye(len(gram)), atol=1e-5)


def test_bilinear_matches_mxnet():
    expected = [[0.0625, 0.1875, 0.1875, 0.0625], [0.1875, 0.5625, 0.5625, 0.1875],
                [0.1875, 0.5625, 0.5625, 0.1875], [0.0625, 0.1875, 0.1875, 0.0625]]
    np.testing.assert_array_equal(_init(minit.Bilinear(), "up_weight", (1, 1, 4, 4))[0, 0], expected)
    odd = _init(minit.Bilinear(), "up_weight", (2, 1, 3, 3))
    np.testing.assert_array_equal(odd[1, 0], [[0.0625, 0.1875, 0.1875], [0.1875, 0.5625, 0.5625],
                                              [0.1875, 0.5625, 0.5625]])
    with pytest.raises(MXNetError, match="4-D"):
        _init(minit.Bilinear(), "up_weight", (3, 3))


def test_lstm_bias_constant_zero_one():
    attrs = {"__init__": minit.LSTMBias(2.5).dumps()}
    np.testing.assert_array_equal(_init(minit.Xavier(), "lstm_i2h_bias", (16,), attrs),
                                  [0] * 4 + [2.5] * 4 + [0] * 8)
    assert (_init(minit.LSTMBias(2.5), "lstm_i2h_bias", (8,)) == 0).all()  # by name: a bias
    np.testing.assert_array_equal(_init(minit.Constant([1, 2, 3]), "w_weight", (2, 3)),
                                  [[1, 2, 3], [1, 2, 3]])
    assert (_init(minit.Zero(), "w_weight", (2,), dtype="float64") == 0).all()
    assert (_init(minit.One(), "w_weight", (2,), dtype="float16") == 1).all()
    with pytest.raises(MXNetError, match=r"value of shape \(2,\) does not fit .* \(3,\)"):
        _init(minit.Constant([1, 2]), "w_weight", (3,))


# -- Mixed, Load, legacy calls, verbosity ------------------------------------------------------
def test_mixed():
    mixed = minit.Mixed([".*bias", ".*"], [minit.Zero(), minit.One()])
    arr = mx.nd.full((2,), 5.0)
    with pytest.warns(DeprecationWarning):  # a plain name reaches Zero's legacy path
        mixed("fc_bias", arr)
    assert arr.asnumpy().tolist() == [0, 0]
    mixed(minit.InitDesc("fc_weight"), arr)
    assert arr.asnumpy().tolist() == [1, 1]
    with pytest.raises(MXNetError, match=r"fc_weight did not match any pattern \['bias'\]"):
        minit.Mixed(["bias"], [minit.Zero()])("fc_weight", arr)
    with pytest.raises(MXNetError, match="1 patterns but 2 initializers"):
        minit.Mixed(["bias"], [minit.Zero(), minit.One()])


def test_load():
    params = {"arg:fc_weight": mx.nd.ones((2, 2)), "aux:bn_moving_mean": mx.nd.full((2,), 3.0),
              "other": mx.nd.ones((1,))}
    load = minit.Load(params, default_init=minit.Zero(), verbose=True)
    assert sorted(load.param) == ["bn_moving_mean", "fc_weight", "other"]
    arr = mx.nd.zeros((2, 2))
    load("fc_weight", arr)
    assert (arr.asnumpy() == 1).all()
    arr = mx.nd.ones((3,))
    load(minit.InitDesc("fc_bias"), arr)
    assert (arr.asnumpy() == 0).all()
    with pytest.raises(MXNetError, match=r"Shape mismatch, target \(3,\) vs loaded \(2, 2\)"):
        load("fc_weight", mx.nd.zeros(3))
    with pytest.raises(MXNetError, match="Cannot Initialize fc_weight.*no default"):
        minit.Load({})("fc_weight", mx.nd.zeros(3))
    with pytest.raises(TypeError, match="dict of arrays or a file name"):
        minit.Load([1])


def test_legacy_string_names():
    arr = mx.nd.full((2, 3), 7.0)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        minit.Uniform()("fc_bias", arr)
    assert (arr.asnumpy() == 0).all()
    with pytest.warns(DeprecationWarning):
        loc = mx.nd.zeros(6)
        minit.Uniform()("stn_loc_bias", loc)
        up = mx.nd.zeros((1, 1, 4, 4))
        minit.Uniform()("upsampling0_weight", up)
        minit.Uniform()("bn_moving_var", arr)
    assert loc.asnumpy().tolist() == [1, 0, 0, 0, 1, 0] and up.asnumpy()[0, 0, 0, 0] == 0.0625
    assert (arr.asnumpy() == 1).all()
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="must be a string"):
        minit.Uniform()(3, arr)


def test_bad_array_and_abstract_base():
    with pytest.raises(TypeError, match="arr must be an NDArray"):
        minit.Uniform()(minit.InitDesc("fc_weight"), np.zeros((2, 2)))
    with pytest.raises(NotImplementedError):
        minit.Initializer()(minit.InitDesc("fc_weight"), mx.nd.zeros((2, 2)))


def test_verbose_logging(caplog):
    init = minit.Uniform().set_verbosity(True)
    with caplog.at_level(logging.INFO):
        init(minit.InitDesc("fc_bias"), mx.nd.zeros(2))
        init(minit.InitDesc("fc_x", {"__init__": '["one", {}]'}), mx.nd.zeros((2, 2)))
    assert "Initialized fc_bias as bias: 0.0" in caplog.text
    assert 'Initialized fc_x as ["one", {}]: 1.0' in caplog.text
    assert json.loads(init.dumps()) == ["uniform", {"scale": 0.07}]
