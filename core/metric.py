"""Evaluation metrics (``mx.metric``), with MXNet 1.x's names, aliases and numerics.

A metric accumulates ``sum_metric`` and ``num_inst`` and reports their ratio. Each also keeps
"global" sums that ``reset_local()`` (used by ``Speedometer``) leaves alone: ``get()`` covers
the data since the last reset of either kind, ``get_global()`` since the last ``reset()``.
Labels and predictions are lists of NDArrays (numpy arrays are accepted too); a single array
is treated as a list of one.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy

from .base import MXNetKeyError, MXNetTypeError, MXNetValueError, suggest
from .ndarray.ndarray import NDArray

__all__ = ["EvalMetric", "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC",
           "Perplexity", "MAE", "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood",
           "PearsonCorrelation", "PCC", "Loss", "Torch", "Caffe", "CustomMetric", "np", "create",
           "register", "alias", "check_label_shapes"]

NameValue = tuple[Any, Any]


def _numpy(array: Any) -> numpy.ndarray:
    """The data of an NDArray or array-like, without copying (callers must not write to it)."""
    return array._data if isinstance(array, NDArray) else numpy.asarray(array)


def _as_list(arrays: Any) -> list:
    return [arrays] if isinstance(arrays, (NDArray, numpy.ndarray)) else list(arrays)


def check_label_shapes(labels: Any, preds: Any, wrap: bool = False,
                       shape: bool = False) -> tuple[Any, Any]:
    """Raise unless ``labels`` and ``preds`` have equal lengths (or shapes, with ``shape``).

    With ``wrap``, a single array is returned as a list of one.
    """
    if shape:
        label_shape, pred_shape = tuple(labels.shape), tuple(preds.shape)
    else:
        label_shape, pred_shape = len(labels), len(preds)
    if label_shape != pred_shape:
        raise MXNetValueError(f"Shape of labels {label_shape} does not match shape of "
                              f"predictions {pred_shape}")
    if wrap:
        labels, preds = _as_list(labels), _as_list(preds)
    return labels, preds


def _pairs(metric: "EvalMetric", labels: Any, preds: Any) -> list[tuple[Any, Any]]:
    """``[(label, pred)]``, checking there are as many labels as predictions."""
    labels, preds = _as_list(labels), _as_list(preds)
    if len(labels) != len(preds):
        raise MXNetValueError(f"{type(metric).__name__} {metric.name!r}: got {len(labels)} "
                              f"label arrays but {len(preds)} prediction arrays")
    return list(zip(labels, preds))


def _same_length(metric: "EvalMetric", label: numpy.ndarray, pred: numpy.ndarray) -> None:
    if len(label) != len(pred):
        raise MXNetValueError(f"{type(metric).__name__} {metric.name!r}: labels of shape "
                              f"{label.shape} do not match predictions of shape {pred.shape}")


# -- registry --------------------------------------------------------------------------------
_METRICS: dict[str, type] = {}


def register(klass: type) -> type:
    """Make ``create(name)`` find ``klass`` under its lower-cased class name."""
    if not (isinstance(klass, type) and issubclass(klass, EvalMetric)):
        raise MXNetTypeError(f"register: expected a subclass of EvalMetric, got {klass!r}")
    _METRICS[klass.__name__.lower()] = klass
    return klass


def alias(*aliases: str) -> Callable[[type], type]:
    """A class decorator registering extra names for a metric."""
    def decorate(klass: type) -> type:
        register(klass)
        for name in aliases:
            _METRICS[name.lower()] = klass
        return klass
    return decorate


def create(metric: Any, *args: Any, **kwargs: Any) -> "EvalMetric":
    """A metric from a name (``'acc'``, ``'ce'``...), a JSON config, an EvalMetric, a function
    ``feval(label, pred)`` (wrapped in CustomMetric) or a list of these (a composite)."""
    if isinstance(metric, type) and issubclass(metric, EvalMetric):
        return metric(*args, **kwargs)
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    if isinstance(metric, EvalMetric):
        if args or kwargs:
            raise MXNetValueError(f"create: {metric.name!r} is already a metric instance; extra "
                                  f"arguments {args} {kwargs} are invalid")
        return metric
    if not isinstance(metric, str):
        raise MXNetTypeError(f"create: metric must be a name, an EvalMetric, a callable or a "
                             f"list of them, got {type(metric).__name__}")
    name, kwargs = _parse_name(metric, kwargs)
    klass = _METRICS.get(name.lower())
    if klass is None:
        valid = sorted(_METRICS)
        raise MXNetValueError(f"Unknown metric {name!r}.{suggest(name.lower(), valid)} Valid "
                              f"metrics: {valid}")
    return klass(*args, **kwargs)


def _parse_name(metric: str, kwargs: dict) -> tuple[str, dict]:
    """A name and its arguments, also from ``'["acc", {"axis": 0}]'`` or ``'{"metric": ...}'``."""
    if not metric.startswith(("[", "{")):
        return metric, kwargs
    try:
        parsed = json.loads(metric)
    except ValueError as err:
        raise MXNetValueError(f"create: cannot parse metric config {metric!r}: {err}") from None
    if isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[1], dict):
        return str(parsed[0]), {**parsed[1], **kwargs}
    if isinstance(parsed, dict) and "metric" in parsed:
        config = dict(parsed)
        return str(config.pop("metric")), {**config, **kwargs}
    raise MXNetValueError(f"create: a metric config must be '[name, {{args}}]' or "
                          f"'{{\"metric\": name, ...}}', got {metric!r}")


# -- base ------------------------------------------------------------------------------------
class EvalMetric:
    """Base class: subclasses define ``update(labels, preds)`` and call ``_add(value, count)``."""

    def __init__(self, name: str, output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None, **kwargs: Any) -> None:
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self) -> str:
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self) -> dict[str, Any]:
        """The arguments that re-create this metric with ``create(json.dumps(config))``."""
        config = dict(self._kwargs)
        config.update({"metric": type(self).__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def update_dict(self, label: Mapping[str, Any], pred: Mapping[str, Any]) -> None:
        """Update from dicts name -> array, taking ``label_names``/``output_names`` if set."""
        self.update(_select(label, self.label_names, "label"),
                    _select(pred, self.output_names, "output"))

    def update(self, labels: Any, preds: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update(labels, preds)")

    def reset(self) -> None:
        """Clear the local and the global statistics."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self) -> None:
        """Clear the local statistics only."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def _add(self, value: float, count: int | float) -> None:
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def get(self) -> NameValue:
        """``(name, value)``; the value is nan before any update."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, float(self.sum_metric / self.num_inst))

    def get_global(self) -> NameValue:
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, float(self.global_sum_metric / self.global_num_inst))

    def get_name_value(self) -> list[tuple[str, float]]:
        return _zip_name_value(self.get())

    def get_global_name_value(self) -> list[tuple[str, float]]:
        return _zip_name_value(self.get_global())


def _zip_name_value(name_value: NameValue) -> list[tuple[str, float]]:
    name, value = name_value
    names = name if isinstance(name, list) else [name]
    values = value if isinstance(value, list) else [value]
    return list(zip(names, values))


def _select(arrays: Mapping[str, Any], names: Sequence[str] | None, what: str) -> list:
    if names is None:
        return list(arrays.values())
    missing = [n for n in names if n not in arrays]
    if missing:
        raise MXNetKeyError(f"update_dict: {what} {missing} not found; available: "
                            f"{list(arrays)}")
    return [arrays[n] for n in names]


@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; ``get()`` returns lists of names and values."""

    def __init__(self, metrics: Sequence[Any] | None = None, name: str = "composite",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric: Any) -> None:
        self.metrics.append(create(metric))

    def get_metric(self, index: int) -> EvalMetric:
        if not -len(self.metrics) <= index < len(self.metrics):
            raise MXNetValueError(f"Metric index {index} is out of range 0 and "
                                  f"{len(self.metrics)}")
        return self.metrics[index]

    def update_dict(self, labels: Mapping[str, Any], preds: Mapping[str, Any]) -> None:
        if self.label_names is not None:
            labels = OrderedDict((k, v) for k, v in labels.items() if k in self.label_names)
        if self.output_names is not None:
            preds = OrderedDict((k, v) for k, v in preds.items() if k in self.output_names)
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels: Any, preds: Any) -> None:
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self) -> None:
        for metric in getattr(self, "metrics", []):   # reset() runs before metrics exist
            metric.reset()

    def reset_local(self) -> None:
        for metric in self.metrics:
            metric.reset_local()

    def get(self) -> tuple[list, list]:
        return _merge(metric.get() for metric in self.metrics)

    def get_global(self) -> tuple[list, list]:
        return _merge(metric.get_global() for metric in self.metrics)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["metrics"] = [metric.get_config() for metric in self.metrics]
        return config


def _merge(results: Any) -> tuple[list, list]:
    names: list = []
    values: list = []
    for name, value in results:
        names.extend(name if isinstance(name, list) else [name])
        values.extend(value if isinstance(value, list) else [value])
    return names, values


# -- classification ---------------------------------------------------------------------------
@alias("acc")
class Accuracy(EvalMetric):
    """The fraction of correct predictions.

    Predictions shaped like the labels are class indices (cast to int32, as MXNet does);
    otherwise the predicted class is the argmax over ``axis``.
    """

    def __init__(self, axis: int = 1, name: str = "accuracy",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            label, pred = _numpy(label), _numpy(pred)
            if pred.shape != label.shape:
                pred = self._argmax(pred, label)
            classes = pred.astype(numpy.int32).ravel()
            truth = label.astype(numpy.int32).ravel()
            if classes.size != truth.size:
                raise MXNetValueError(f"Accuracy: {truth.size} labels (shape {label.shape}) but "
                                      f"{classes.size} predicted classes")
            self._add(int((classes == truth).sum()), classes.size)

    def _argmax(self, pred: numpy.ndarray, label: numpy.ndarray) -> numpy.ndarray:
        if not -pred.ndim <= self.axis < pred.ndim:
            raise MXNetValueError(f"Accuracy: axis {self.axis} is out of range for predictions "
                                  f"of shape {pred.shape} (labels {label.shape})")
        return pred.argmax(axis=self.axis)


@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """The fraction of samples whose label is among the ``top_k`` highest predictions."""

    def __init__(self, top_k: int = 1, name: str = "top_k_accuracy",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        if top_k <= 1:
            raise MXNetValueError(f"TopKAccuracy: top_k must be more than 1, got {top_k}; "
                                  "use Accuracy for top_k=1")
        self.top_k = top_k
        self.name += f"_{top_k}"

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            label, pred = _numpy(label).ravel(), _numpy(pred)
            if pred.ndim != 2:
                raise MXNetValueError(f"TopKAccuracy: predictions must be (batch, classes), got "
                                      f"shape {pred.shape}")
            _same_length(self, label, pred)
            k = min(self.top_k, pred.shape[1])
            top = numpy.argpartition(pred.astype(numpy.float32), -k, axis=1)[:, -k:]
            hits = (top == label.astype(numpy.int32)[:, None]).any(axis=1)
            self._add(int(hits.sum()), pred.shape[0])


class _BinaryCounts:
    """Confusion counts ``[tp, fp, fn, tn]`` of a binary classifier, local and global."""

    def __init__(self) -> None:
        self.local = numpy.zeros(4, numpy.int64)
        self.global_ = numpy.zeros(4, numpy.int64)

    def update(self, metric: EvalMetric, label: Any, pred: Any) -> None:
        label, pred = _numpy(label).astype(numpy.int32).ravel(), _numpy(pred)
        if pred.ndim != 2:
            raise MXNetValueError(f"{type(metric).__name__}: predictions must be (batch, 2) "
                                  f"scores, got shape {pred.shape}")
        _same_length(metric, label, pred)
        if len(numpy.unique(label)) > 2:
            raise MXNetValueError(f"{type(metric).__name__} currently only supports binary "
                                  f"classification; labels hold {numpy.unique(label).tolist()}")
        pred_pos = pred.argmax(axis=1) == 1
        label_pos = label == 1
        counts = numpy.array([(pred_pos & label_pos).sum(), (pred_pos & ~label_pos).sum(),
                              (~pred_pos & label_pos).sum(), (~pred_pos & ~label_pos).sum()])
        self.local += counts
        self.global_ += counts

    def reset_local(self) -> None:
        self.local[:] = 0

    def reset(self) -> None:
        self.local[:] = 0
        self.global_[:] = 0


def _fscore(counts: numpy.ndarray) -> float:
    tp, fp, fn, _ = (float(c) for c in counts)
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _matthews(counts: numpy.ndarray) -> float:
    """Matthews' correlation; factors of the denominator that are 0 are left out (as MXNet)."""
    tp, fp, fn, tn = (float(c) for c in counts)
    if tp + fp + fn + tn == 0:
        return 0.0
    denominator = math.prod(t for t in (tp + fp, tp + fn, tn + fp, tn + fn) if t != 0)
    return (tp * tn - fp * fn) / math.sqrt(denominator)


class _BinaryMetric(EvalMetric):
    """F1 and MCC: ``'macro'`` averages the score of each update, ``'micro'`` scores all data."""

    def __init__(self, name: str, output_names: Sequence[str] | None,
                 label_names: Sequence[str] | None, average: str) -> None:
        if average not in ("macro", "micro"):
            raise MXNetValueError(f"{type(self).__name__}: average must be 'macro' or 'micro', "
                                  f"got {average!r}")
        self.average = average
        self._counts = _BinaryCounts()
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True, average=average)

    def _score(self, counts: numpy.ndarray) -> float:
        raise NotImplementedError

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            self._counts.update(self, label, pred)
        local, global_ = self._counts.local, self._counts.global_
        if self.average == "macro":
            score = self._score(local)
            self._add(score, 1)
            self._counts.reset()
        else:
            self.num_inst, self.global_num_inst = int(local.sum()), int(global_.sum())
            self.sum_metric = self._score(local) * self.num_inst
            self.global_sum_metric = self._score(global_) * self.global_num_inst

    def reset(self) -> None:
        super().reset()
        self._counts.reset()

    def reset_local(self) -> None:
        super().reset_local()
        self._counts.reset_local()


@register
class F1(_BinaryMetric):
    """F1 score of binary classification; predictions are (batch, 2) scores."""

    def __init__(self, name: str = "f1", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None, average: str = "macro") -> None:
        super().__init__(name, output_names, label_names, average)

    def _score(self, counts: numpy.ndarray) -> float:
        return _fscore(counts)


@register
class MCC(_BinaryMetric):
    """Matthews correlation coefficient of binary classification."""

    def __init__(self, name: str = "mcc", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None, average: str = "macro") -> None:
        super().__init__(name, output_names, label_names, average)

    def _score(self, counts: numpy.ndarray) -> float:
        return _matthews(counts)


@register
class PCC(EvalMetric):
    """Multi-class Matthews correlation from a confusion matrix that grows with the classes."""

    def __init__(self, name: str = "pcc", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None,
                 has_global_stats: bool = True) -> None:
        self.k = 2
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=has_global_stats)

    def reset(self) -> None:
        super().reset()
        self.gcm = numpy.zeros((self.k, self.k))
        self.lcm = numpy.zeros((self.k, self.k))

    def reset_local(self) -> None:
        super().reset_local()
        self.lcm = numpy.zeros((self.k, self.k))

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            label, pred = _numpy(label).astype(numpy.int32).ravel(), _numpy(pred)
            pred = pred.argmax(axis=1) if pred.shape != label.shape else pred
            pred = pred.astype(numpy.int32).ravel()
            _same_length(self, label, pred)
            self._grow(int(max(pred.max(initial=0), label.max(initial=0))) + 1)
            counts = numpy.zeros((self.k, self.k))
            numpy.add.at(counts, (pred, label), 1)
            self.lcm += counts
            self.gcm += counts
        self.num_inst += 1
        self.global_num_inst += 1
        self.sum_metric = _confusion_mcc(self.lcm) * self.num_inst
        self.global_sum_metric = _confusion_mcc(self.gcm) * self.global_num_inst

    def _grow(self, classes: int) -> None:
        if classes > self.k:
            extra = classes - self.k
            self.lcm = numpy.pad(self.lcm, ((0, extra), (0, extra)))
            self.gcm = numpy.pad(self.gcm, ((0, extra), (0, extra)))
            self.k = classes


def _confusion_mcc(matrix: numpy.ndarray) -> float:
    """Multi-class MCC of a confusion matrix; nan when a marginal is constant."""
    total = matrix.sum()
    predicted, actual = matrix.sum(axis=1), matrix.sum(axis=0)
    cov_pp = numpy.sum(predicted * (total - predicted))
    cov_aa = numpy.sum(actual * (total - actual))
    if cov_pp == 0 or cov_aa == 0:
        return float("nan")
    cov_pa = numpy.sum(matrix.diagonal() * total - predicted * actual)
    return float(cov_pa / math.sqrt(cov_pp * cov_aa))


# -- probabilities ---------------------------------------------------------------------------
def _picked(metric: EvalMetric, label: Any, pred: Any) -> tuple[numpy.ndarray, numpy.ndarray]:
    """The labels and the predicted probability of each one (predictions are (batch, classes))."""
    label, pred = _numpy(label).ravel(), _numpy(pred)
    if pred.ndim < 2 or label.shape[0] != pred.shape[0]:
        raise MXNetValueError(f"{type(metric).__name__}: predictions must be (batch, classes) "
                              f"with one label per row; got labels {label.shape}, predictions "
                              f"{pred.shape}")
    return label, pred[numpy.arange(label.shape[0]), label.astype(numpy.int64)]


@alias("ce")
class CrossEntropy(EvalMetric):
    """Mean of ``-log(p[label] + eps)`` over samples."""

    def __init__(self, eps: float = 1e-12, name: str = "cross-entropy",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            label, prob = _picked(self, label, pred)
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@alias("nll_loss")
class NegativeLogLikelihood(CrossEntropy):
    """Mean negative log-likelihood ``-log(p[label] + eps)`` (the same sum as CrossEntropy)."""

    def __init__(self, eps: float = 1e-12, name: str = "nll-loss",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(eps=eps, name=name, output_names=output_names, label_names=label_names)


@register
class Perplexity(EvalMetric):
    """``exp`` of the mean negative log-probability of the labels, skipping ``ignore_label``.

    Probabilities are taken along ``axis`` of the predictions (clipped to at least 1e-10;
    out-of-range labels are clipped to valid classes, as MXNet's ``pick`` does). Unlike
    MXNet 1.9.1, predictions with more than two dimensions (batch, time, classes) work.
    """

    def __init__(self, ignore_label: int | None, axis: int = -1, name: str = "perplexity",
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels: Any, preds: Any) -> None:
        loss, count = 0.0, 0
        for label, pred in _pairs(self, labels, preds):
            label, prob = self._probabilities(_numpy(label), _numpy(pred))
            if self.ignore_label is not None:
                ignored = label == self.ignore_label
                count -= int(ignored.sum())
                prob = numpy.where(ignored, prob.dtype.type(1), prob)
            loss -= float(numpy.log(numpy.maximum(prob.dtype.type(1e-10), prob)).sum())
            count += prob.size
        self._add(loss, count)

    def _probabilities(self, label: numpy.ndarray,
                       pred: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        if pred.ndim == 0 or not -pred.ndim <= self.axis < pred.ndim:
            raise MXNetValueError(f"Perplexity: axis {self.axis} is out of range for "
                                  f"predictions of shape {pred.shape}")
        axis = self.axis % pred.ndim
        rest = pred.shape[:axis] + pred.shape[axis + 1:]
        if label.size != math.prod(rest):
            raise MXNetValueError(f"Perplexity: shape mismatch: labels {label.shape} vs. "
                                  f"predictions {pred.shape} (classes along axis {self.axis})")
        label = label.reshape(rest)
        index = numpy.clip(label.astype(numpy.int64), 0, pred.shape[axis] - 1)
        prob = numpy.take_along_axis(pred, numpy.expand_dims(index, axis), axis)
        return label, numpy.squeeze(prob, axis)

    def get(self) -> NameValue:
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self) -> NameValue:
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


# -- regression ------------------------------------------------------------------------------
def _as_columns(array: Any) -> numpy.ndarray:
    """1-D arrays become (n, 1), so a (n,) label and a (n, 1) prediction compare row by row."""
    array = _numpy(array)
    return array.reshape(array.shape[0], 1) if array.ndim == 1 else array


class _BatchMeanMetric(EvalMetric):
    """A per-batch error averaged over batches (each (label, pred) pair counts once)."""

    def _error(self, diff: numpy.ndarray) -> Any:
        raise NotImplementedError

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            label, pred = _as_columns(label), _as_columns(pred)
            try:
                diff = label - pred
            except ValueError:
                raise MXNetValueError(f"{type(self).__name__}: labels of shape {label.shape} do "
                                      f"not match predictions of shape {pred.shape}") from None
            self._add(float(self._error(diff)), 1)


@register
class MAE(_BatchMeanMetric):
    """Mean absolute error."""

    def __init__(self, name: str = "mae", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _error(self, diff: numpy.ndarray) -> Any:
        return numpy.abs(diff).mean()


@register
class MSE(_BatchMeanMetric):
    """Mean squared error."""

    def __init__(self, name: str = "mse", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _error(self, diff: numpy.ndarray) -> Any:
        return (diff ** 2.0).mean()


@register
class RMSE(_BatchMeanMetric):
    """Root mean squared error of each batch, averaged over batches."""

    def __init__(self, name: str = "rmse", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _error(self, diff: numpy.ndarray) -> Any:
        return numpy.sqrt((diff ** 2.0).mean())


class _Moments:
    """Running count, means, sums of squared deviations and co-deviation of two series."""

    def __init__(self) -> None:
        self.n = 0
        self.mean_x = self.mean_y = 0.0
        self.sxx = self.syy = self.sxy = 0.0

    def add(self, x: numpy.ndarray, y: numpy.ndarray) -> None:
        """Merge a batch (Chan et al.'s pairwise update: exact, numerically stable)."""
        m = x.size
        if m == 0:
            return
        bx, by = float(x.mean()), float(y.mean())
        dx, dy = x - bx, y - by
        total = self.n + m
        shift_x, shift_y = bx - self.mean_x, by - self.mean_y
        weight = self.n * m / total
        self.sxx += float(dx @ dx) + shift_x * shift_x * weight
        self.syy += float(dy @ dy) + shift_y * shift_y * weight
        self.sxy += float(dx @ dy) + shift_x * shift_y * weight
        self.mean_x += shift_x * m / total
        self.mean_y += shift_y * m / total
        self.n = total

    def correlation(self) -> float:
        denominator = math.sqrt(self.sxx * self.syy)
        return self.sxy / denominator if denominator else float("nan")


@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of labels and predictions.

    ``'macro'`` averages the correlation of each (label, pred) pair; ``'micro'`` computes one
    correlation over all data (MXNet 1.9.1's ``get_global()`` returns 0 there: a bug not kept).
    """

    def __init__(self, name: str = "pearsonr", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None, average: str = "macro") -> None:
        if average not in ("macro", "micro"):
            raise MXNetValueError(f"PearsonCorrelation: average must be 'macro' or 'micro', got "
                                  f"{average!r}")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True, average=average)

    def reset(self) -> None:
        super().reset()
        self._local, self._global = _Moments(), _Moments()

    def reset_local(self) -> None:
        super().reset_local()
        self._local = _Moments()

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(self, labels, preds):
            check_label_shapes(_numpy(label), _numpy(pred), shape=True)
            label = _numpy(label).ravel().astype(numpy.float64)
            pred = _numpy(pred).ravel().astype(numpy.float64)
            if self.average == "macro":
                self._add(float(numpy.corrcoef(pred, label)[0, 1]), 1)
            else:
                self._local.add(pred, label)
                self._global.add(pred, label)
                self._add(0.0, 1)

    def get(self) -> NameValue:
        if self.average == "macro" or self.num_inst == 0:
            return super().get()
        return (self.name, self._local.correlation())

    def get_global(self) -> NameValue:
        if self.average == "macro" or self.global_num_inst == 0:
            return super().get_global()
        return (self.name, self._global.correlation())


# -- losses and user functions ---------------------------------------------------------------
@register
class Loss(EvalMetric):
    """The mean of the outputs themselves (for networks whose output is a loss)."""

    def __init__(self, name: str = "loss", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _: Any, preds: Any) -> None:
        for pred in _as_list(preds):
            pred = _numpy(pred)
            self._add(float(pred.sum()), pred.size)


@register
class Torch(Loss):
    """A Loss named ``'torch'``."""

    def __init__(self, name: str = "torch", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """A Loss named ``'caffe'``."""

    def __init__(self, name: str = "caffe", output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred)`` on numpy copies, returning a value (one instance)
    or a tuple ``(sum_metric, num_inst)``. The name defaults to the function's name."""

    def __init__(self, feval: Callable[[numpy.ndarray, numpy.ndarray], Any],
                 name: str | None = None, allow_extra_outputs: bool = False,
                 output_names: Sequence[str] | None = None,
                 label_names: Sequence[str] | None = None) -> None:
        if name is None:
            name = getattr(feval, "__name__", type(feval).__name__)
            if "<" in name:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = _as_list(labels), _as_list(preds)
        if not self._allow_extra_outputs:
            _pairs(self, labels, preds)
        for pred, label in zip(preds, labels):
            result = self._feval(numpy.array(_numpy(label)), numpy.array(_numpy(pred)))
            if isinstance(result, tuple):
                value, count = result
                self._add(value, count)
            else:
                self._add(result, 1)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError("CustomMetric cannot be serialized")


def np(numpy_feval: Callable[[numpy.ndarray, numpy.ndarray], Any], name: str | None = None,
       allow_extra_outputs: bool = False) -> CustomMetric:
    """A CustomMetric from a function of numpy arrays ``(label, pred)``."""
    def feval(label: numpy.ndarray, pred: numpy.ndarray) -> Any:
        return numpy_feval(label, pred)
    feval.__name__ = getattr(numpy_feval, "__name__", type(numpy_feval).__name__)
    return CustomMetric(feval, name, allow_extra_outputs)
