"""mx.metric: names, aliases, numerics and local/global statistics.

Expected values were observed on MXNet 1.9.1 with the same inputs.
"""

from __future__ import annotations

import json
import math

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

nd = mx.nd.array
approx = pytest.approx

P1 = [[0.29399155089401574, 0.38311672270837405, 0.32289172639761005],
      [0.3375076502434525, 0.26241723052049015, 0.40007511923605726],
      [0.19083420292857617, 0.38890713763412466, 0.42025865943729906],
      [0.22501624740501083, 0.46461060761366324, 0.3103731449813259],
      [0.3630426392027127, 0.5915575456893776, 0.04539981510790992],
      [0.09269394499751782, 0.021509676155911615, 0.8857963788465706]]
L1 = [0, 2, 1, 1, 0, 2]
P2 = [[0.296238971575938, 0.33120769528840094, 0.3725533331356611],
      [0.39152040180230707, 0.22608602775824366, 0.38239357043944927],
      [0.13119027439008865, 0.7098019183705452, 0.1590078072393662],
      [0.5021684950059451, 0.2774048998807662, 0.2204266051132887]]
L2 = [2, 2, 0, 1]
R1 = [0.26455561210462697, 0.7742336894342167, 0.45615033221654855, 0.5684339488686485,
      0.018789800436355142]
T1 = [0.6176354970758771, 0.6120957227224214, 0.6169339968747569, 0.9437480785146242,
      0.6818202991034834]
R2 = [[0.359507900573786, 0.43703195379934145], [0.6976311959272649, 0.06022547162926983],
      [0.6667667154456677, 0.6706378696181594]]
T2 = [[0.2103825610738409, 0.1289262976548533], [0.31542835092418386, 0.3637107709426226],
      [0.5701967704178796, 0.43860151346232035]]
B1 = [[0.9883738380592262, 0.10204481074802807], [0.2088767560948347, 0.16130951788499626],
      [0.6531083254653984, 0.2532916025397821], [0.4663107728563063, 0.24442559200160274],
      [0.15896958364551972, 0.11037514116430513], [0.6563295894652734, 0.1381829513486138],
      [0.1965823616800535, 0.3687251706609641], [0.8209932298479351, 0.09710127579306127]]
BL1 = [0, 1, 1, 0, 1, 1, 0, 0]
B2 = [[0.8379449074988039, 0.09609840789396307], [0.9764594650133958, 0.4686512016477016],
      [0.9767610881903371, 0.604845519745046], [0.7392635793983017, 0.039187792254320675],
      [0.2828069625764096, 0.1201965612131689]]
BL2 = [1, 1, 0, 0, 1]
CLASSES = ([nd(L1)], [nd(P1)]), ([nd(L2)], [nd(P2)])
REGRESSION = ([nd(T1)], [nd(R1)]), ([nd(T2)], [nd(R2)])
BINARY = ([nd(BL1)], [nd(B1)]), ([nd(BL2)], [nd(B2)])


def fed(metric, *updates):
    for labels, preds in updates:
        metric.update(labels, preds)
    return metric


# -- values observed on MXNet 1.9.1 ---------------------------------------------------------
@pytest.mark.parametrize("metric, updates, name, value, num_inst", [
    (lambda: mx.metric.Accuracy(), CLASSES, "accuracy", 0.4, 10),
    (lambda: mx.metric.TopKAccuracy(2), CLASSES, "top_k_accuracy_2", 0.8, 10),
    (lambda: mx.metric.CrossEntropy(), CLASSES, "cross-entropy", 1.0247844219207765, 10),
    (lambda: mx.metric.NegativeLogLikelihood(), CLASSES, "nll-loss", 1.0247844219207765, 10),
    (lambda: mx.metric.Perplexity(None), CLASSES, "perplexity", 2.786494688638805, 10),
    (lambda: mx.metric.Perplexity(1), CLASSES, "perplexity", 2.8189682764739072, 7),
    (lambda: mx.metric.MSE(), REGRESSION, "mse", 0.1106039248406887, 2),
    (lambda: mx.metric.MAE(), REGRESSION, "mae", 0.29406172782182693, 2),
    (lambda: mx.metric.RMSE(), REGRESSION, "rmse", 0.32663989067077637, 2),
    (lambda: mx.metric.PearsonCorrelation(), REGRESSION, "pearsonr", 0.24737406473085388, 2),
    (lambda: mx.metric.PearsonCorrelation(average="micro"), REGRESSION, "pearsonr",
     0.04896738988289468, 2),
    (lambda: mx.metric.MCC(), BINARY, "mcc", -0.1889822365046136, 2),
    (lambda: mx.metric.MCC(average="micro"), BINARY, "mcc", -0.31180478223116176, 13),
    (lambda: mx.metric.PCC(), CLASSES, "pcc", 0.09231861823449955, 2),
    (lambda: mx.metric.PCC(), BINARY, "pcc", -0.31180478223116176, 2),
    (lambda: mx.metric.F1(), BINARY, "f1", 0.0, 2),
])
def test_values_match_mxnet(metric, updates, name, value, num_inst):
    m = fed(metric(), *updates)
    assert m.get() == (name, approx(value, rel=1e-6))
    assert m.get_global() == (name, approx(value, rel=1e-6))
    assert m.num_inst == num_inst


def test_regression_of_a_column_prediction_against_a_vector_label():
    for metric, value in ((mx.metric.MSE(), 0.1514551192522049),
                          (mx.metric.MAE(), 0.34286922216415405),
                          (mx.metric.RMSE(), 0.38917234539985657)):
        assert fed(metric, ([nd(T1)], [nd(np.reshape(R1, (5, 1)))])).get()[1] == approx(value)


def test_loss_is_the_mean_of_the_outputs():
    m = fed(mx.metric.Loss(), (None, [nd(R1)]), (None, [nd(R2)]))
    assert m.get() == ("loss", approx(0.4521785866130482)) and m.num_inst == 11
    assert fed(mx.metric.Loss(), (None, nd([[1, 2], [3, 4.5]]))).get() == ("loss", 2.625)
    assert (mx.metric.Torch().name, mx.metric.Caffe().name) == ("torch", "caffe")


# -- classification details -------------------------------------------------------------------
def test_accuracy_predictions_as_indices_probabilities_and_axis():
    argmax = np.argmax(P1, axis=1)
    assert fed(mx.metric.Accuracy(), ([nd(L1)], [nd(argmax)])).get() == ("accuracy", 0.5)
    # predictions shaped like the labels are truncated to int32 class indices
    assert fed(mx.metric.Accuracy(), ([nd([0, 1, 2])], [nd([0.7, 1.9, 2.0])])).get()[1] == 1.0
    # ties go to the first class
    assert fed(mx.metric.Accuracy(), ([nd([0, 1])], [nd([[.5, .5], [.5, .5]])])).get()[1] == 0.5
    by_column = fed(mx.metric.Accuracy(axis=0), ([nd(L1[:3])], [nd(np.array(P1[:3]).T)]))
    assert by_column.get()[1] == approx(1 / 3)
    per_step = np.array([[[.9, .1], [.2, .8]], [[.3, .7], [.6, .4]]]).transpose(0, 2, 1)
    assert fed(mx.metric.Accuracy(), ([nd([[0, 1], [1, 1]])], [nd(per_step)])).get()[1] == 0.75
    single = fed(mx.metric.Accuracy(), (nd([0, 1, 2]), nd(np.eye(3))))
    assert single.get() == ("accuracy", 1.0)
    assert fed(mx.metric.Accuracy(), ([np.array([0, 1])], [np.array([0, 1])])).get()[1] == 1.0


def test_top_k_accuracy_details():
    preds = nd([[.1, .2, .3, .4], [.4, .3, .2, .1], [.1, .5, .3, .2], [.1, .2, .35, .4]])
    assert fed(mx.metric.TopKAccuracy(top_k=2), ([nd([0, 1, 2, 3])], [preds])).get()[1] == 0.75
    assert fed(mx.metric.TopKAccuracy(top_k=9), ([nd([0, 1, 2, 3])], [preds])).get()[1] == 1.0
    assert mx.metric.TopKAccuracy(3).get_config()["name"] == "top_k_accuracy_3"


def test_f1_macro_averages_batches_and_micro_pools_them():
    first = ([nd([0, 1, 1, 0])], [nd([[.9, .1], [.4, .6], [.8, .2], [.3, .7]])])
    second = ([nd([1, 1, 1, 0])], [nd([[.1, .9], [.4, .6], [.8, .2], [.3, .7]])])
    macro = fed(mx.metric.F1(), first)
    assert macro.get() == ("f1", 0.5)
    fed(macro, second)
    assert macro.get() == ("f1", approx(0.5833333333333333))
    assert macro.get_global() == ("f1", approx(0.5833333333333333))
    micro = fed(mx.metric.F1(average="micro"), first, second)
    assert micro.get() == ("f1", approx(0.6)) and micro.num_inst == 8
    micro.reset_local()
    assert math.isnan(micro.get()[1]) and micro.get_global() == ("f1", approx(0.6))
    fed(micro, ([nd([1, 1])], [nd([[.1, .9], [.4, .6]])]))
    assert micro.get() == ("f1", 1.0)
    assert micro.get_global() == ("f1", approx(0.7142857142857143))
    micro.reset()
    assert math.isnan(micro.get_global()[1])


def test_mcc_details():
    first = ([nd([0, 1, 1, 0])], [nd([[.9, .1], [.4, .6], [.8, .2], [.3, .7]])])
    second = ([nd([1, 1, 1, 0])], [nd([[.1, .9], [.4, .6], [.8, .2], [.3, .7]])])
    assert fed(mx.metric.MCC(), first).get() == ("mcc", 0.0)
    assert fed(mx.metric.MCC(), first, second).get() == ("mcc", approx(-0.16666666666666666))
    micro = fed(mx.metric.MCC(average="micro"), first, second)
    assert micro.get() == ("mcc", approx(-0.06666666666666667))
    assert fed(mx.metric.MCC(), ([nd([1, 1])], [nd([[.1, .9], [.4, .6]])])).get() == ("mcc", 0.0)


def test_pcc_grows_with_the_classes_and_is_nan_when_constant():
    assert fed(mx.metric.PCC(), ([nd([0, 1, 2, 2, 1])], [nd([0, 2, 2, 1, 1])])).get() == \
        ("pcc", approx(0.375))
    assert math.isnan(fed(mx.metric.PCC(), ([nd([1, 1])], [nd([1, 1])])).get()[1])


# -- probabilities ----------------------------------------------------------------------------
def test_zero_probabilities_are_clipped():
    zero = ([nd([0, 1])], [nd([[0.0, 1.0], [0.5, 0.5]])])
    ce = fed(mx.metric.CrossEntropy(), zero)
    assert (ce.get()[1], ce.sum_metric) == (approx(14.162084579467773), approx(28.324169158935547))
    perplexity = fed(mx.metric.Perplexity(None), zero)
    assert perplexity.get()[1] == approx(141421.34526455868, rel=1e-6)


def test_perplexity_over_time_steps_and_ignored_labels():
    rng = np.random.default_rng(1)
    probs = rng.random((2, 3, 4)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    picked = np.array([probs[i, t, labels[i, t]] for i in range(2) for t in range(3)], np.float64)
    m = fed(mx.metric.Perplexity(None), ([nd(labels)], [nd(probs)]))
    assert m.get()[1] == approx(math.exp(-np.log(picked).mean()), rel=1e-6)
    kept = picked[labels.ravel() != 2]
    ignoring = fed(mx.metric.Perplexity(2, axis=2), ([nd(labels)], [nd(probs)]))
    assert ignoring.num_inst == 4
    assert ignoring.get()[1] == approx(math.exp(-np.log(kept).mean()), rel=1e-6)


def test_pearson_details():
    assert fed(mx.metric.PearsonCorrelation(), ([nd([1, 2, 3])], [nd([1, 5, 3])])).get() == \
        ("pearsonr", approx(0.5))
    micro = fed(mx.metric.PearsonCorrelation(average="micro"),
                ([nd([1, 2, 3])], [nd([1, 5, 3])]), ([nd([0, 7])], [nd([2, 2])]))
    assert micro.get() == ("pearsonr", approx(0.012202383114084486))
    micro.reset_local()
    assert math.isnan(micro.get()[1])
    assert micro.get_global() == ("pearsonr", approx(0.012202383114084486))


# -- local and global statistics --------------------------------------------------------------
def test_reset_local_keeps_global_statistics():
    m = fed(mx.metric.Accuracy(), ([nd([0, 1])], [nd([[.9, .1], [.2, .8]])]))
    m.reset_local()
    assert math.isnan(m.get()[1]) and m.get_global() == ("accuracy", 1.0)
    assert m.get_global_name_value() == [("accuracy", 1.0)]
    m.reset()
    assert math.isnan(m.get_global()[1])


def test_base_metric_without_global_stats_reports_local_values():
    class Count(mx.metric.EvalMetric):
        def __init__(self):
            super().__init__("count")

        def update(self, labels, preds):
            self._add(1.0, 1)

    m = fed(Count(), (None, None))
    m.reset_local()
    assert math.isnan(m.get_global()[1])
    assert str(m) == "EvalMetric: {'count': nan}"
    with pytest.raises(NotImplementedError, match="must define update"):
        mx.metric.EvalMetric("x").update(1, 2)


# -- composite, custom, create ----------------------------------------------------------------
def test_composite_metric():
    m = mx.metric.CompositeEvalMetric(["acc", mx.metric.MSE()])
    assert m.get_name_value() == [("accuracy", approx(float("nan"), nan_ok=True)),
                                  ("mse", approx(float("nan"), nan_ok=True))]
    assert str(m) == "EvalMetric: {'accuracy': nan, 'mse': nan}"
    fed(m, ([nd([0, 1])], [nd([[.9, .1], [.2, .8]])]))
    assert m.get() == (["accuracy", "mse"], [1.0, 0.375])
    assert m.get_global_name_value() == [("accuracy", 1.0), ("mse", 0.375)]
    assert m.get_config() == {
        "metric": "CompositeEvalMetric", "name": "composite", "output_names": None,
        "label_names": None, "metrics": [
            {"axis": 1, "metric": "Accuracy", "name": "accuracy", "output_names": None,
             "label_names": None},
            {"metric": "MSE", "name": "mse", "output_names": None, "label_names": None}]}
    assert m.get_metric(1).name == "mse"
    with pytest.raises(MXNetError, match="Metric index 5 is out of range 0 and 2"):
        m.get_metric(5)


def test_update_dict_selects_by_name():
    m = mx.metric.Accuracy(output_names=["a_out"], label_names=["a_label"])
    m.update_dict({"a_label": nd([0, 1]), "b": nd([0, 0])},
                  {"a_out": nd([[.9, .1], [.2, .8]]), "z": nd([[.9, .1], [.8, .2]])})
    assert m.get() == ("accuracy", 1.0)
    plain = mx.metric.Accuracy()
    plain.update_dict({"l": nd([0, 1])}, {"o": nd([[.9, .1], [.9, .8]])})
    assert plain.get() == ("accuracy", 0.5)
    with pytest.raises(MXNetError, match=r"label \['a_label'\] not found; available: \['l'\]"):
        m.update_dict({"l": nd([0, 1])}, {"a_out": nd([[.9, .1], [.9, .8]])})
    composite = mx.metric.CompositeEvalMetric(["acc"], label_names=["a_label"])
    composite.update_dict({"a_label": nd([0, 1]), "b": nd([1, 1])}, {"o": nd([[.9, .1], [.9, .8]])})
    assert composite.get() == (["accuracy"], [0.5])


def test_custom_metric_and_np():
    def mine(label, pred):
        return np.abs(label - pred.argmax(1)).sum(), len(label)

    m = fed(mx.metric.CustomMetric(mine, name="mine"),
            ([nd([0, 1, 1])], [nd([[.9, .1], [.2, .8], [.7, .3]])]))
    assert m.get() == ("mine", approx(1 / 3)) and m.get_global() == ("mine", approx(1 / 3))
    assert mx.metric.create(mine).name == "mine"
    assert mx.metric.np(mine).name == "mine"
    assert mx.metric.np(lambda label, pred: 1.0).name == "custom(<lambda>)"
    extra = mx.metric.np(lambda label, pred: float(pred.shape[0]), allow_extra_outputs=True)
    fed(extra, ([nd([0, 1, 1])], [nd(np.ones((3, 2))), nd(np.ones((4, 2)))]))
    assert extra.get() == ("custom(<lambda>)", 3.0) and extra.num_inst == 1
    with pytest.raises(MXNetError, match="got 1 label arrays but 2 prediction arrays"):
        mx.metric.np(lambda label, pred: 1.0).update([nd([0])], [nd([1]), nd([1])])
    with pytest.raises(NotImplementedError, match="cannot be serialized"):
        m.get_config()


def test_custom_metric_gets_copies():
    def scribble(label, pred):
        pred[:] = 7
        return 0.0

    pred = nd([[1.0, 2.0]])
    fed(mx.metric.np(scribble), ([nd([0])], [pred]))
    assert pred.asnumpy().tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("name, kind, metric_name", [
    ("acc", "Accuracy", "accuracy"), ("accuracy", "Accuracy", "accuracy"),
    ("ACC", "Accuracy", "accuracy"), ("ce", "CrossEntropy", "cross-entropy"),
    ("crossentropy", "CrossEntropy", "cross-entropy"), ("mse", "MSE", "mse"),
    ("mae", "MAE", "mae"), ("rmse", "RMSE", "rmse"), ("f1", "F1", "f1"), ("mcc", "MCC", "mcc"),
    ("pearsonr", "PearsonCorrelation", "pearsonr"), ("pcc", "PCC", "pcc"),
    ("nll_loss", "NegativeLogLikelihood", "nll-loss"), ("loss", "Loss", "loss"),
    ("torch", "Torch", "torch"), ("caffe", "Caffe", "caffe"),
    ("composite", "CompositeEvalMetric", "composite"),
])
def test_create_by_name(name, kind, metric_name):
    m = mx.metric.create(name)
    assert (type(m).__name__, m.name) == (kind, metric_name)


def test_create_forms():
    assert mx.metric.create("top_k_accuracy", 3).name == "top_k_accuracy_3"
    assert mx.metric.create("top_k_acc", top_k=2).name == "top_k_accuracy_2"
    assert mx.metric.create("perplexity", None).name == "perplexity"
    assert mx.metric.create("acc", axis=0).axis == 0
    assert mx.metric.create("acc", name="foo").name == "foo"
    assert mx.metric.create('["acc", {"axis": 0}]').axis == 0
    assert mx.metric.create('{"metric": "acc", "axis": 0}').axis == 0
    config = mx.metric.F1(average="micro").get_config()
    assert mx.metric.create(json.dumps(config)).average == "micro"
    composite = mx.metric.create(["acc", "ce"], name="x")
    assert [m.name for m in composite.metrics] == ["x", "x"]
    instance = mx.metric.MSE()
    assert mx.metric.create(instance) is instance
    assert type(mx.metric.create(mx.metric.MAE)).__name__ == "MAE"


def test_register_a_new_metric():
    @mx.metric.register
    class HalfMetric(mx.metric.EvalMetric):
        def __init__(self):
            super().__init__("half")

        def update(self, labels, preds):
            self._add(0.5, 1)

    assert type(mx.metric.create("halfmetric")) is HalfMetric

    @mx.metric.alias("halfy")
    class HalfAgain(HalfMetric):
        pass

    assert type(mx.metric.create("HALFY")) is HalfAgain


@pytest.mark.parametrize("call, error, message", [
    (lambda: mx.metric.create("acuracy"), MXNetError,
     r"Unknown metric 'acuracy'. Did you mean 'accuracy'\? Valid metrics: \['acc', "),
    (lambda: mx.metric.create(None), TypeError, "got NoneType"),
    (lambda: mx.metric.create(mx.metric.MSE(), axis=0), ValueError, "already a metric instance"),
    (lambda: mx.metric.create("[1, 2, 3]"), MXNetError, "must be"),
    (lambda: mx.metric.create("{bad json"), MXNetError, "cannot parse"),
    (lambda: mx.metric.TopKAccuracy(), ValueError, "top_k must be more than 1, got 1"),
    (lambda: mx.metric.F1(average="weighted"), MXNetError, "'macro' or 'micro', got 'weighted'"),
    (lambda: mx.metric.PearsonCorrelation(average="x"), MXNetError, "'macro' or 'micro'"),
    (lambda: mx.metric.register(int), TypeError, "subclass of EvalMetric"),
    (lambda: mx.metric.Accuracy().update([nd([0, 1, 2])], [nd([[1, 0], [0, 1]])]), ValueError,
     r"3 labels \(shape \(3,\)\) but 2 predicted classes"),
    (lambda: mx.metric.Accuracy().update([nd([0, 1])], [nd([0, 1]), nd([1])]), MXNetError,
     "got 1 label arrays but 2 prediction arrays"),
    (lambda: mx.metric.Accuracy(axis=3).update([nd([0, 1])], [nd([[1, 0], [0, 1]])]), MXNetError,
     "axis 3 is out of range"),
    (lambda: mx.metric.TopKAccuracy(2).update([nd([0, 1])], [nd([0, 1])]), MXNetError,
     r"\(batch, classes\), got shape \(2,\)"),
    (lambda: mx.metric.F1().update([nd([0, 1, 2])], [nd(np.ones((3, 2)))]), ValueError,
     r"only supports binary classification; labels hold \[0, 1, 2\]"),
    (lambda: mx.metric.F1().update([nd([0, 1])], [nd(np.ones(2))]), MXNetError, r"\(batch, 2\)"),
    (lambda: mx.metric.CrossEntropy().update([nd([0, 1, 1])], [nd(np.ones((2, 2)))]), MXNetError,
     r"labels \(3,\), predictions \(2, 2\)"),
    (lambda: mx.metric.Perplexity(None).update([nd([0, 1, 1])], [nd(np.ones((2, 2)))]), MXNetError,
     "shape mismatch"),
    (lambda: mx.metric.PearsonCorrelation().update([nd([1, 2, 3])], [nd([[1, 2, 3]])]), ValueError,
     r"Shape of labels \(3,\) does not match shape of predictions \(1, 3\)"),
    (lambda: mx.metric.MSE().update([nd(np.ones((3, 2)))], [nd(np.ones((3, 3)))]), MXNetError,
     r"labels of shape \(3, 2\) do not match predictions of shape \(3, 3\)"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_check_label_shapes():
    labels, preds = mx.metric.check_label_shapes(nd([1, 2]), nd([3, 4]), wrap=True)
    assert len(labels) == len(preds) == 1
    with pytest.raises(ValueError, match="Shape of labels 2 does not match shape of predictions 3"):
        mx.metric.check_label_shapes([1, 2], [1, 2, 3])
