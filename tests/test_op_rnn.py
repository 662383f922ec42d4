"""The fused ``RNN`` operator: forward against a per-step numpy reference, numbers observed on
MXNet 1.9.1, numeric gradients, shape/type inference, loading MXNet JSON, and errors."""

from __future__ import annotations

import json

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
MODES = list(GATES)
T, N, IN, H = 3, 2, 3, 2


# -- an independent reference: unpack the vector, run one cell per step -----------------------
def unpack(vec, mode, input_size, hidden, layers, dirs):
    """Weights per (layer, direction): all i2h/h2h matrices first, then all bias pairs."""
    gh = GATES[mode] * hidden
    pos, mats, biases = 0, {}, {}
    for layer in range(layers):
        width = input_size if layer == 0 else dirs * hidden
        for d in range(dirs):
            wi = vec[pos:pos + gh * width].reshape(gh, width)
            pos += gh * width
            wh = vec[pos:pos + gh * hidden].reshape(gh, hidden)
            pos += gh * hidden
            mats[layer, d] = (wi, wh)
    for layer in range(layers):
        for d in range(dirs):
            biases[layer, d] = (vec[pos:pos + gh], vec[pos + gh:pos + 2 * gh])
            pos += 2 * gh
    assert pos == vec.size
    return mats, biases


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell(mode, x, h, c, wi, wh, bi, bh, clip=None):
    """One step for a batch; returns (h, c)."""
    k = h.shape[-1]
    xi, hh = x @ wi.T + bi, h @ wh.T + bh
    if mode == "lstm":
        a = xi + hh
        i, f = sigmoid(a[:, :k]), sigmoid(a[:, k:2 * k])
        g, o = np.tanh(a[:, 2 * k:3 * k]), sigmoid(a[:, 3 * k:])
        c = f * c + i * g
        if clip is not None:
            c = np.clip(c, *clip)
        return o * np.tanh(c), c
    if mode == "gru":
        r = sigmoid(xi[:, :k] + hh[:, :k])
        z = sigmoid(xi[:, k:2 * k] + hh[:, k:2 * k])
        n = np.tanh(xi[:, 2 * k:] + r * hh[:, 2 * k:])
        return (1 - z) * n + z * h, c
    a = xi + hh
    return (np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0)), c


def reference(mode, x, vec, h0, c0, layers, dirs, clip=None, masks=None):
    """Outputs (output, final h, final c) of a stacked (bi)directional recurrent net."""
    mats, biases = unpack(vec, mode, x.shape[2], h0.shape[2], layers, dirs)
    hy, cy = np.zeros_like(h0), np.zeros_like(h0)
    inp = x
    for layer in range(layers):
        if layer > 0 and masks is not None:
            inp = inp * masks[layer - 1]
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h, c = h0[k], (c0[k] if c0 is not None else None)
            seq = [None] * len(x)
            for t in (range(len(x)) if d == 0 else reversed(range(len(x)))):
                h, c = cell(mode, inp[t], h, c, *mats[layer, d], *biases[layer, d], clip=clip)
                seq[t] = h
            hy[k] = h
            if c is not None:
                cy[k] = c
            outs.append(np.stack(seq))
        inp = np.concatenate(outs, axis=-1)
    return inp, hy, cy


# -- helpers ---------------------------------------------------------------------------------
def rnn_sym(mode, name="rnn", **kw):
    kw.setdefault("num_layers", 1)
    kw.setdefault("state_outputs", True)
    return mx.sym.RNN(data=mx.sym.var("data"), state_size=H, mode=mode, name=name, **kw)


def random_location(sym, seed=0, scale=1.0, shape=(T, N, IN)):
    rng = np.random.default_rng(seed)
    shapes = sym.infer_shape(data=shape)[0]
    return {k: rng.uniform(-scale, scale, s) for k, s in zip(sym.list_arguments(), shapes)}


def run(sym, loc, is_train=False):
    args = {k: mx.nd.array(v, dtype=v.dtype if v.dtype.kind == "i" else "float64")
            for k, v in loc.items()}
    exe = sym.bind(mx.cpu(), args)
    return [o.asnumpy() for o in exe.forward(is_train=is_train)]


CONFIGS = [dict(num_layers=1), dict(num_layers=2), dict(num_layers=1, bidirectional=True),
           dict(num_layers=2, bidirectional=True)]


# -- forward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "L{num_layers}".format(**c)
                         + ("bi" if c.get("bidirectional") else ""))
def test_forward_matches_reference(mode, cfg):
    sym = rnn_sym(mode, **cfg)
    loc = random_location(sym)
    outs = run(sym, loc)
    dirs = 2 if cfg.get("bidirectional") else 1
    ref = reference(mode, loc["data"], loc["rnn_parameters"], loc["rnn_state"],
                    loc.get("rnn_state_cell"), cfg["num_layers"], dirs)
    assert len(outs) == (3 if mode == "lstm" else 2)
    for got, want in zip(outs, ref):
        assert_almost_equal(got, want, rtol=1e-12, atol=1e-12)


def test_state_outputs_false_shows_only_output():
    sym = rnn_sym("lstm", state_outputs=False, num_layers=2, bidirectional=True)
    assert sym.list_outputs() == ["rnn_output"]
    loc = random_location(sym)
    (out,) = run(sym, loc)
    ref = reference("lstm", loc["data"], loc["rnn_parameters"], loc["rnn_state"],
                    loc["rnn_state_cell"], 2, 2)
    assert_almost_equal(out, ref[0], rtol=1e-12, atol=1e-12)


def test_float32_and_imperative():
    sym = rnn_sym("gru", num_layers=2, bidirectional=True)
    loc = random_location(sym)
    nd = {k: mx.nd.array(v) for k, v in loc.items()}  # float32
    out, hy = mx.nd.RNN(nd["data"], nd["rnn_parameters"], nd["rnn_state"], state_size=H,
                        num_layers=2, bidirectional=True, mode="gru", state_outputs=True)
    assert out.dtype == np.float32 and out.shape == (T, N, 2 * H) and hy.shape == (4, N, H)
    ref = reference("gru", loc["data"], loc["rnn_parameters"], loc["rnn_state"], None, 2, 2)
    assert_almost_equal(out.asnumpy(), ref[0], rtol=1e-5, atol=1e-6)
    assert_almost_equal(hy.asnumpy(), ref[1], rtol=1e-5, atol=1e-6)


# -- numbers observed on MXNet 1.9.1 (float64, mx.sym.RNN bind/forward(is_train)/backward) ------
def _fixed(shape, scale, phase):
    size = int(np.prod(shape))
    return (scale * np.sin(np.arange(size) * 0.7 + phase)).reshape(shape)


MXNET_191 = {
    "lstm": {
        "out0": [[0.0315454114, -0.1166105066, 0.1112690862, 0.1164537332],
                 [-0.0460988151, -0.1863091214, 0.0623757791, 0.0725696649],
                 [-0.1063030780, -0.2209963807, 0.0065138690, -0.0307631430]],
        "hy1": [[-0.0713237605, 0.0998893266], [-0.4226723412, -0.1749609357],
                [-0.1216992079, -0.2285855839], [0.1151755442, 0.1671151541]],
        "cy1": [[-0.1185558415, 0.1730264692], [-0.8975584540, -0.3050391357],
                [-0.3880614245, -0.9916842027], [0.3311153502, 0.5069196438]],
        "gp_head": [0.2226078669, 0.1410688476, -0.0068170550, -0.1162793582, -0.1735331736,
                    -0.1491716259],
        "gp_tail": [0.0776173550, 0.0665121146, 2.2668172561, 3.7428641208, 0.3915817066,
                    0.5078728457],
        "gdata1": [[-0.2725437320, -0.1459943864, 0.0492184004],
                   [0.1750028923, 0.2044108725, 0.1376812254]],
        "gstate": [0.0272572249, 0.0363739206, 0.2384383666, -0.3403307692],
    },
    "gru": {
        "out0": [[-0.1497037077, -0.0496261273, 0.1993584555, 0.3275223359],
                 [-0.3683510699, -0.2062519139, 0.1440680392, 0.2328706646],
                 [-0.3938919462, -0.4061456546, 0.2096315733, 0.0455920330]],
        "hy1": [[0.0105502472, 0.6152957719], [0.1008658666, -0.0432445333],
                [-0.4144603333, -0.2999523943], [0.2059154425, 0.2977919900]],
        "gp_head": [0.0174489610, 0.0336999703, 0.0341013571, 0.0190182419, 0.0012984495,
                    -0.0170320241],
        "gp_tail": [-0.7249406742, -0.2553846337, -0.4513841521, -0.9835411721, 2.9417251291,
                    2.5675321073],
        "gdata1": [[0.0297223622, 0.0651149996, 0.0698830351],
                   [0.0398134461, 0.0586520934, 0.0499057447]],
        "gstate": [-0.0140800649, -0.1071721776, 1.3965484998, 0.8041868936],
    },
}


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_matches_mxnet_191(mode):
    """2 layers, bidirectional, sin-filled inputs; head gradients all ones."""
    sym = rnn_sym(mode, num_layers=2, bidirectional=True)
    arg_shapes = dict(zip(sym.list_arguments(), sym.infer_shape(data=(T, N, IN))[0]))
    assert arg_shapes["rnn_parameters"] == ((240,) if mode == "lstm" else (180,))
    loc = {"data": _fixed((T, N, IN), 1.0, 0.3),
           "rnn_parameters": _fixed(arg_shapes["rnn_parameters"], 0.5, 0.0),
           "rnn_state": _fixed(arg_shapes["rnn_state"], 0.3, 1.0)}
    if mode == "lstm":
        loc["rnn_state_cell"] = _fixed(arg_shapes["rnn_state_cell"], 0.4, 2.0)
    args = {k: mx.nd.array(v, dtype="float64") for k, v in loc.items()}
    grads = {k: mx.nd.zeros(v.shape, dtype="float64") for k, v in loc.items()}
    exe = sym.bind(mx.cpu(), args, args_grad=grads)
    outs = [o.asnumpy() for o in exe.forward(is_train=True)]
    exe.backward([mx.nd.ones(o.shape, dtype="float64") for o in outs])
    want = MXNET_191[mode]
    tol = dict(rtol=1e-8, atol=1e-9)
    assert_almost_equal(outs[0][:, 0], np.array(want["out0"]), **tol)
    assert_almost_equal(outs[1][:, 1], np.array(want["hy1"]), **tol)
    if mode == "lstm":
        assert_almost_equal(outs[2][:, 1], np.array(want["cy1"]), **tol)
    gp = grads["rnn_parameters"].asnumpy()
    assert_almost_equal(gp[:6], np.array(want["gp_head"]), **tol)
    assert_almost_equal(gp[-6:], np.array(want["gp_tail"]), **tol)
    assert_almost_equal(grads["data"].asnumpy()[1], np.array(want["gdata1"]), **tol)
    assert_almost_equal(grads["rnn_state"].asnumpy()[:, 0, 0], np.array(want["gstate"]), **tol)


# -- gradients -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[3]], ids=["L1", "L2bi"])
def test_numeric_gradient(mode, cfg):
    sym = rnn_sym(mode, **cfg)
    check_numeric_gradient(sym, random_location(sym, seed=1), dtype=np.float64)


def test_numeric_gradient_without_state_outputs():
    sym = rnn_sym("lstm", num_layers=2, state_outputs=False)
    check_numeric_gradient(sym, random_location(sym, seed=2), dtype=np.float64)


def test_gradient_respects_grad_req():
    sym = rnn_sym("gru", num_layers=2, bidirectional=True)
    loc = random_location(sym, seed=3)
    check_numeric_gradient(sym, loc, grad_nodes=["rnn_parameters"], dtype=np.float64)
    check_numeric_gradient(sym, loc, grad_nodes=["data", "rnn_state"], dtype=np.float64)


# -- sequence_length (cuDNN semantics) -------------------------------------------------------
def _per_sequence_reference(mode, loc, lengths, layers, dirs):
    """Run each batch element alone on its first ``length`` steps; pad the output with 0."""
    out = np.zeros((T, N, dirs * H))
    hy, cy = np.zeros_like(loc["rnn_state"]), np.zeros_like(loc["rnn_state"])
    for b, length in enumerate(lengths):
        c0 = loc["rnn_state_cell"][:, b:b + 1] if mode == "lstm" else None
        o, h, c = reference(mode, loc["data"][:length, b:b + 1], loc["rnn_parameters"],
                            loc["rnn_state"][:, b:b + 1], c0, layers, dirs)
        out[:length, b] = o[:, 0]
        hy[:, b], cy[:, b] = h[:, 0], c[:, 0]
    return out, hy, cy


@pytest.mark.parametrize("mode", MODES)
def test_sequence_length_forward(mode):
    sym = rnn_sym(mode, num_layers=2, bidirectional=True, use_sequence_length=True)
    assert sym.list_arguments()[-1] == "rnn_sequence_length"
    loc = random_location(sym, seed=4)
    loc["rnn_sequence_length"] = np.array([2, 3], dtype=np.int32)
    outs = run(sym, loc)
    ref = _per_sequence_reference(mode, loc, [2, 3], 2, 2)
    for got, want in zip(outs, ref):
        assert_almost_equal(got, want, rtol=1e-12, atol=1e-12)
    assert np.all(outs[0][2, 0] == 0)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_relu"])
def test_sequence_length_gradient(mode):
    sym = rnn_sym(mode, num_layers=2, bidirectional=True, use_sequence_length=True)
    loc = random_location(sym, seed=5)
    loc["rnn_sequence_length"] = np.array([1.0, 3.0])
    nodes = [k for k in loc if k != "rnn_sequence_length"]
    check_numeric_gradient(sym, loc, grad_nodes=nodes, dtype=np.float64)


def test_sequence_length_type_and_bounds():
    sym = rnn_sym("gru", state_outputs=False, use_sequence_length=True)
    in_types, out_types, _ = sym.infer_type(data="float32", rnn_sequence_length="int32")
    assert in_types == [np.float32, np.float32, np.float32, np.int32]
    assert out_types == [np.float32]
    assert sym.infer_type(data="float64")[0][-1] == np.float64
    loc = random_location(sym)
    loc["rnn_sequence_length"] = np.array([4, 1], dtype=np.int32)
    with pytest.raises(mx.base.MXNetError, match=r"sequence_length values must be in \[0, 3\]"):
        run(sym, loc)


# -- LSTM state clipping ---------------------------------------------------------------------
def test_lstm_state_clip():
    sym = rnn_sym("lstm", num_layers=2, lstm_state_clip_min=-0.3, lstm_state_clip_max=0.25)
    loc = random_location(sym, seed=6, scale=1.5)
    outs = run(sym, loc)
    ref = reference("lstm", loc["data"], loc["rnn_parameters"], loc["rnn_state"],
                    loc["rnn_state_cell"], 2, 1, clip=(-0.3, 0.25))
    for got, want in zip(outs, ref):
        assert_almost_equal(got, want, rtol=1e-12, atol=1e-12)
    assert outs[2].min() >= -0.3 and outs[2].max() <= 0.25
    free = reference("lstm", loc["data"], loc["rnn_parameters"], loc["rnn_state"],
                     loc["rnn_state_cell"], 2, 1)
    assert not np.allclose(free[0], ref[0])  # the clip was active
    check_numeric_gradient(sym, loc, dtype=np.float64)


def test_lstm_state_clip_nan():
    loc = random_location(rnn_sym("lstm"), seed=7)
    loc["rnn_state_cell"][0, 0, 0] = np.nan
    keep = run(rnn_sym("lstm", lstm_state_clip_min=-1, lstm_state_clip_max=1,
                       lstm_state_clip_nan=True), loc)
    assert np.all(np.isfinite(keep[0])) and np.all(np.isfinite(keep[2]))
    spread = run(rnn_sym("lstm", lstm_state_clip_min=-1, lstm_state_clip_max=1), loc)
    assert np.isnan(spread[2][0, 0, 0])


def test_clip_ignored_outside_lstm():
    sym = rnn_sym("gru", lstm_state_clip_min=-0.01, lstm_state_clip_max=0.01)
    loc = random_location(sym)
    ref = reference("gru", loc["data"], loc["rnn_parameters"], loc["rnn_state"], None, 1, 1)
    assert_almost_equal(run(sym, loc)[0], ref[0], rtol=1e-12, atol=1e-12)


# -- dropout between layers ------------------------------------------------------------------
def test_dropout_train_only_and_seeded():
    sym = rnn_sym("lstm", num_layers=3, p=0.5, state_outputs=False)
    loc = random_location(sym, seed=8)
    ref = reference("lstm", loc["data"], loc["rnn_parameters"], loc["rnn_state"],
                    loc["rnn_state_cell"], 3, 1)
    assert_almost_equal(run(sym, loc)[0], ref[0], rtol=1e-12, atol=1e-12)
    mx.random.seed(11)
    first = run(sym, loc, is_train=True)[0]
    mx.random.seed(11)
    again = run(sym, loc, is_train=True)[0]
    assert not np.allclose(first, ref[0])
    np.testing.assert_array_equal(first, again)


def test_dropout_mask_values_and_gradient(monkeypatch):
    """With a fixed generator the mask is the same on every forward: check values and grads."""
    import mxlite_builtin_ops.rnn as rnn_module

    monkeypatch.setattr(rnn_module, "generator", lambda: np.random.default_rng(5))
    sym = rnn_sym("gru", num_layers=2, bidirectional=True, p=0.4)
    loc = random_location(sym, seed=9)
    mask = np.random.default_rng(5).random((1, T, N, 2 * H))
    mask = (mask >= 0.4) / 0.6
    ref = reference("gru", loc["data"], loc["rnn_parameters"], loc["rnn_state"], None, 2, 2,
                    masks=mask)
    for got, want in zip(run(sym, loc, is_train=True), ref):
        assert_almost_equal(got, want, rtol=1e-12, atol=1e-12)
    check_numeric_gradient(sym, loc, dtype=np.float64)


# -- shape inference -------------------------------------------------------------------------
def _expected_param_size(mode, input_size, hidden, layers, dirs):
    gh = GATES[mode] * hidden
    first = dirs * (gh * input_size + gh * hidden + 2 * gh)
    later = dirs * (gh * dirs * hidden + gh * hidden + 2 * gh)
    return first + (layers - 1) * later


@pytest.mark.parametrize("mode", MODES)
def test_infer_shape(mode):
    sym = mx.sym.RNN(data=mx.sym.var("data"), state_size=5, num_layers=3, bidirectional=True,
                     mode=mode, state_outputs=True, name="r")
    args, outs, aux = sym.infer_shape(data=(7, 4, 6))
    expected = [(7, 4, 6), (_expected_param_size(mode, 6, 5, 3, 2),), (6, 4, 5)]
    names = ["data", "r_parameters", "r_state"]
    if mode == "lstm":
        expected.append((6, 4, 5))
        names.append("r_state_cell")
    assert sym.list_arguments() == names
    assert args == expected
    assert outs == [(7, 4, 10)] + [(6, 4, 5)] * (2 if mode == "lstm" else 1)
    assert aux == []


def test_param_sizes_seen_on_mxnet():
    sizes = {("lstm", 2, True): 240, ("gru", 2, True): 180, ("rnn_tanh", 2, True): 60,
             ("gru", 1, False): 42}
    for (mode, layers, bi), size in sizes.items():
        sym = rnn_sym(mode, num_layers=layers, bidirectional=bi)
        assert sym.infer_shape(data=(3, 2, 3))[0][1] == (size,)


def test_output_names_and_json_from_mxnet():
    sym = rnn_sym("lstm", name="lstm")
    assert sym.list_outputs() == ["lstm_output", "lstm_state_output", "lstm_statecell_output"]
    assert rnn_sym("gru", name="g").list_outputs() == ["g_output", "g_state_output"]
    attrs = {"bidirectional": "True", "mode": "lstm", "num_layers": "2", "p": "0.2",
             "state_outputs": "True", "state_size": "4"}
    nodes = [{"op": "null", "name": "data", "inputs": []}]
    nodes += [{"op": "null", "name": f"lstm_{k}", "attrs": attrs, "inputs": []}
              for k in ("parameters", "state", "state_cell")]
    nodes.append({"op": "RNN", "name": "lstm", "attrs": attrs,
                  "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]]})
    text = json.dumps({"nodes": nodes, "arg_nodes": [0, 1, 2, 3],
                       "node_row_ptr": [0, 1, 2, 3, 4, 7],
                       "heads": [[4, 0, 0], [4, 1, 0], [4, 2, 0]],
                       "attrs": {"mxnet_version": ["int", 10901]}})
    loaded = mx.sym.load_json(text)
    assert loaded.list_outputs() == ["lstm_output", "lstm_state_output", "lstm_statecell_output"]
    args, outs, _ = loaded.infer_shape(data=(5, 3, 7))
    assert args[1] == (_expected_param_size("lstm", 7, 4, 2, 2),)
    assert outs == [(5, 3, 8), (4, 3, 4), (4, 3, 4)]


def test_infer_shape_partial_both_directions():
    sym = rnn_sym("gru", num_layers=2, bidirectional=True)
    size = _expected_param_size("gru", 3, H, 2, 2)
    args, outs, _ = sym.infer_shape_partial(rnn_parameters=(size,), rnn_state=(4, 5, H))
    assert args[0] == (0, 5, 3)  # input size from the parameter count, batch from the state
    assert outs[1] == (4, 5, H)
    args, outs, _ = sym.infer_shape(data=(6, 5, 3))
    assert outs[0] == (6, 5, 2 * H)


# -- errors ----------------------------------------------------------------------------------
def test_bad_mode():
    with pytest.raises(mx.base.MXNetError, match="invalid value 'lstmm' for parameter 'mode'"):
        mx.sym.RNN(data=mx.sym.var("data"), state_size=2, num_layers=1, mode="lstmm")


def test_bad_shapes():
    sym = rnn_sym("lstm")
    with pytest.raises(mx.base.MXNetError, match=r"data must be 3-D.*\(3, 2\)"):
        sym.infer_shape(data=(3, 2))
    with pytest.raises(mx.base.MXNetError, match="rnn_parameters"):
        sym.infer_shape(data=(3, 2, 3), rnn_parameters=(10,))
    with pytest.raises(mx.base.MXNetError, match="fits no input size"):
        sym.infer_shape_partial(rnn_parameters=(10,))


def test_unsupported_and_inconsistent_params():
    with pytest.raises(mx.base.MXNetError, match="projection.*not supported"):
        mx.sym.RNN(data=mx.sym.var("data"), state_size=2, num_layers=1, mode="lstm",
                   projection_size=1)
    with pytest.raises(mx.base.MXNetError, match="must be given together"):
        rnn_sym("lstm", lstm_state_clip_min=-1.0).infer_shape(data=(3, 2, 3))
    with pytest.raises(mx.base.MXNetError, match="'num_layers'"):
        mx.sym.RNN(data=mx.sym.var("data"), state_size=2, mode="gru")
