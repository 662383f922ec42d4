"""The Module API: a thin wrapper around one bound executor for training and inference.

``mx.mod.Module(symbol, data_names, label_names)`` binds the symbol for the shapes a data
iterator provides, initialises parameters, applies an optimizer in place, and runs
``fit``/``score``/``predict`` loops with metrics and callbacks, as MXNet 1.x's module does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .base import MXNetValueError, suggest
from .context import Context, cpu
from .ndarray.ndarray import NDArray
from .symbol.symbol import Symbol

__all__ = ["BaseModule", "Module"]


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _desc_shapes(descs: Iterable[Any]) -> list[tuple[str, tuple]]:
    """``[(name, shape)]`` from DataDesc objects or ``(name, shape)`` pairs."""
    out = []
    for desc in descs or []:
        name, shape = (desc.name, desc.shape) if hasattr(desc, "name") else (desc[0], desc[1])
        out.append((name, tuple(shape)))
    return out


class BaseModule:
    """The training and inference loops shared by modules: ``fit``, ``score``, ``predict``."""

    def __init__(self, logger: Any = logging) -> None:
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol: Symbol | None = None

    # -- loops -----------------------------------------------------------------------
    def forward_backward(self, data_batch: Any) -> None:
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data: Any, eval_metric: Any, num_batch: int | None = None,
              batch_end_callback: Any = None, score_end_callback: Any = None, reset: bool = True,
              epoch: int = 0, sparse_row_id_fn: Any = None) -> list[tuple[str, float]]:
        """Run inference over ``eval_data`` and return the metric's ``(name, value)`` pairs."""
        from . import metric as _metric
        from .callback import BatchEndParam
        self._check_ready("score", need_params=True)
        if reset:
            eval_data.reset()
        eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        nbatch = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            self.update_metric(eval_metric, batch.label)
            _call(batch_end_callback, BatchEndParam(epoch, nbatch, eval_metric, locals()))
        _call(score_end_callback, BatchEndParam(epoch, nbatch, eval_metric, locals()))
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data: Any, num_batch: int | None = None, reset: bool = True,
                     sparse_row_id_fn: Any = None):  # type: ignore[no-untyped-def]
        """Yield ``(outputs, batch_index, batch)`` with the padding of each batch trimmed."""
        self._check_ready("iter_predict", need_params=True)
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            keep = batch.data[0].shape[0] - (batch.pad or 0)
            yield [out[0:keep].copy() for out in self.get_outputs()], nbatch, batch

    def predict(self, eval_data: Any, num_batch: int | None = None, merge_batches: bool = True,
                reset: bool = True, always_output_list: bool = False,
                sparse_row_id_fn: Any = None) -> Any:
        """Outputs over the whole iterator (padding trimmed), concatenated by default."""
        if isinstance(eval_data, (np.ndarray, NDArray)):
            from .io import NDArrayIter
            eval_data = NDArrayIter(eval_data, batch_size=self.data_shapes[0][1][0])
        outputs = [out for out, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not outputs:
            return []
        if not merge_batches:
            return outputs
        merged = [NDArray(np.concatenate([batch[k]._data for batch in outputs]))
                  for k in range(len(outputs[0]))]
        return merged if always_output_list or len(merged) > 1 else merged[0]

    def fit(self, train_data: Any, eval_data: Any = None, eval_metric: Any = "acc",
            epoch_end_callback: Any = None, batch_end_callback: Any = None,
            kvstore: str = "local", optimizer: Any = "sgd",
            optimizer_params: Any = (("learning_rate", 0.01),), eval_end_callback: Any = None,
            eval_batch_end_callback: Any = None, initializer: Any = None,
            arg_params: dict | None = None, aux_params: dict | None = None,
            allow_missing: bool = False, force_rebind: bool = False, force_init: bool = False,
            begin_epoch: int = 0, num_epoch: int | None = None, validation_metric: Any = None,
            monitor: Any = None, sparse_row_id_fn: Any = None) -> None:
        """Train for ``num_epoch`` epochs, logging metrics and calling the callbacks."""
        from . import metric as _metric
        from .callback import BatchEndParam
        from .initializer import Uniform
        if num_epoch is None:
            raise MXNetValueError("fit: please specify num_epoch")
        self.bind(train_data.provide_data, train_data.provide_label, for_training=True,
                  force_rebind=force_rebind)
        self.init_params(initializer or Uniform(0.01), arg_params, aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        validation_metric = validation_metric or eval_metric
        eval_metric = _metric.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            train_data.reset()
            for nbatch, batch in enumerate(train_data):
                self.forward_backward(batch)
                self.update()
                self.update_metric(eval_metric, batch.label)
                _call(batch_end_callback, BatchEndParam(epoch, nbatch, eval_metric, locals()))
            for name, value in _epoch_values(eval_metric):
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, value)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            arg, aux = self.get_params()
            self.set_params(arg, aux)
            for callback in _as_list(epoch_end_callback):
                callback(epoch, self.symbol, arg, aux)
            if eval_data is not None:
                results = self.score(eval_data, validation_metric, epoch=epoch,
                                     score_end_callback=eval_end_callback,
                                     batch_end_callback=eval_batch_end_callback)
                for name, value in results:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, value)

    def _check_ready(self, what: str, need_params: bool = False) -> None:
        if not self.binded:
            raise MXNetValueError(f"{what}: call bind() first")
        if need_params and not self.params_initialized:
            raise MXNetValueError(f"{what}: call init_params() (or set_params) first")

    @property
    def symbol(self) -> Symbol | None:
        return self._symbol


def _epoch_values(eval_metric: Any) -> list:
    """The whole epoch's metric, even when a Speedometer has reset the local one."""
    values = getattr(eval_metric, "get_global_name_value", None)
    return values() if values is not None else eval_metric.get_name_value()


def _call(callbacks: Any, param: Any) -> None:
    for callback in _as_list(callbacks):
        callback(param)


class Module(BaseModule):
    """A module of one symbol bound on one CPU context."""

    def __init__(self, symbol: Symbol, data_names: Sequence[str] = ("data",),
                 label_names: Sequence[str] | None = ("softmax_label",), logger: Any = logging,
                 context: Any = None, work_load_list: Any = None,
                 fixed_param_names: Sequence[str] | None = None,
                 state_names: Sequence[str] | None = None, group2ctxs: Any = None,
                 compression_params: Any = None) -> None:
        super().__init__(logger)
        self._symbol = symbol
        self._context = _first_context(context)
        arguments = symbol.list_arguments()
        self._data_names = list(data_names or [])
        self._label_names = [n for n in (label_names or []) if n in arguments]
        self._state_names = list(state_names or [])
        self._fixed_param_names = list(fixed_param_names or [])
        for kind, names in (("data", self._data_names), ("state", self._state_names),
                            ("fixed_param", self._fixed_param_names)):
            _check_names(names, arguments, kind)
        inputs = set(self._data_names + self._label_names + self._state_names)
        self._param_names = [n for n in arguments if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._exec: Any = None
        self._arg_params: dict[str, NDArray] | None = None
        self._aux_params: dict[str, NDArray] | None = None
        self._optimizer: Any = None
        self._updater: Any = None
        self._data_shapes: list = []
        self._label_shapes: list = []
        self._preloaded_states: str | None = None

    # -- properties ------------------------------------------------------------------
    @property
    def data_names(self) -> list[str]:
        return self._data_names

    @property
    def label_names(self) -> list[str]:
        return self._label_names

    @property
    def output_names(self) -> list[str]:
        return self._output_names

    @property
    def data_shapes(self) -> list:
        return self._data_shapes

    @property
    def label_shapes(self) -> list:
        return self._label_shapes

    @property
    def output_shapes(self) -> list:
        return [(n, o.shape) for n, o in zip(self._output_names, self._exec.outputs)]

    # -- binding ---------------------------------------------------------------------
    def bind(self, data_shapes: Any, label_shapes: Any = None, for_training: bool = True,
             inputs_need_grad: bool = False, force_rebind: bool = False,
             shared_module: Any = None, grad_req: Any = "write") -> None:
        """Allocate the executor for these input shapes (parameters survive a rebind)."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        self.for_training, self.inputs_need_grad = for_training, inputs_need_grad
        self._data_shapes = _desc_shapes(data_shapes)
        self._label_shapes = _desc_shapes(label_shapes) if label_shapes else []
        given = [n for n, _ in self._data_shapes]
        if sorted(given) != sorted(self._data_names):
            raise MXNetValueError(f"bind: data_shapes name {given} but the module's data_names "
                                  f"are {self._data_names}")
        shapes = dict(self._data_shapes + self._label_shapes)
        self._exec = self._symbol.simple_bind(self._context, grad_req=self._grad_reqs(grad_req),
                                              **shapes)
        self.binded = True
        if self.params_initialized:
            self._exec.copy_params_from(self._arg_params, self._aux_params)
        if shared_module is not None and shared_module.params_initialized:
            self.set_params(*shared_module.get_params())

    def _grad_reqs(self, grad_req: Any) -> dict[str, str]:
        if not self.for_training:
            return {n: "null" for n in self._symbol.list_arguments()}
        reqs = {}
        for name in self._symbol.list_arguments():
            if name in self._param_names and name not in self._fixed_param_names:
                reqs[name] = grad_req if isinstance(grad_req, str) else grad_req.get(name, "write")
            elif name in self._data_names and self.inputs_need_grad:
                reqs[name] = "write"
            else:
                reqs[name] = "null"
        return reqs

    def reshape(self, data_shapes: Any, label_shapes: Any = None) -> None:
        """Rebind for new input shapes, keeping the parameters."""
        self._check_ready("reshape")
        self._data_shapes = _desc_shapes(data_shapes)
        self._label_shapes = _desc_shapes(label_shapes) if label_shapes else []
        shapes = dict(self._data_shapes + self._label_shapes)
        self._exec = self._exec.reshape(partial_shaping=True, allow_up_sizing=True, **shapes)

    # -- parameters ------------------------------------------------------------------
    def init_params(self, initializer: Any = None, arg_params: dict | None = None,
                    aux_params: dict | None = None, allow_missing: bool = False,
                    force_init: bool = False, allow_extra: bool = False) -> None:
        """Fill parameters from ``arg_params``/``aux_params``, else from ``initializer``."""
        from .initializer import InitDesc, Uniform
        if self.params_initialized and not force_init:
            self.logger.warning("Parameters already initialized and force_init=False. "
                                "init_params call ignored.")
            return
        self._check_ready("init_params")
        initializer = initializer if initializer is not None else Uniform(0.01)
        attrs = self._symbol.attr_dict()
        for names, source, table in ((self._param_names, arg_params, self._exec.arg_dict),
                                     (self._aux_names, aux_params, self._exec.aux_dict)):
            self._check_extra(source, names, allow_extra)
            for name in names:
                array = table[name]
                if source is not None and name in source:
                    _copy_into(array, source[name], name)
                elif source is not None and not allow_missing:
                    raise MXNetValueError(f"init_params: {name!r} is missing from the given "
                                          "parameters (pass allow_missing=True to initialize it)")
                else:
                    initializer(InitDesc(name, attrs.get(name, {})), array)
        self.params_initialized = True
        self._arg_params = {n: self._exec.arg_dict[n] for n in self._param_names}
        self._aux_params = dict(self._exec.aux_dict)

    @staticmethod
    def _check_extra(source: dict | None, names: list[str], allow_extra: bool) -> None:
        extra = sorted(set(source or {}) - set(names))
        if extra and not allow_extra:
            raise MXNetValueError(f"init_params: {extra} are not parameters of the module "
                                  "(pass allow_extra=True to ignore them)")

    def set_params(self, arg_params: dict, aux_params: dict | None, allow_missing: bool = False,
                   force_init: bool = True, allow_extra: bool = False) -> None:
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params or {},
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    def get_params(self) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
        """Copies of the current parameters and aux states."""
        self._check_ready("get_params", need_params=True)
        arg = {n: self._exec.arg_dict[n].copy() for n in self._param_names}
        aux = {n: self._exec.aux_dict[n].copy() for n in self._aux_names}
        return arg, aux

    # -- optimizer -------------------------------------------------------------------
    def init_optimizer(self, kvstore: Any = "local", optimizer: Any = "sgd",
                       optimizer_params: Any = (("learning_rate", 0.01),),
                       force_init: bool = False) -> None:
        """Create the optimizer; ``rescale_grad`` defaults to 1/batch size, as in MXNet."""
        from . import optimizer as _opt
        self._check_ready("init_optimizer", need_params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        if kvstore not in (None, "local", "device") and not hasattr(kvstore, "push"):
            raise MXNetValueError(f"init_optimizer: kvstore {kvstore!r} is not supported; mxlite "
                                  "trains on one device ('local')")
        batch_size = self._data_shapes[0][1][0]
        idx2name = dict(enumerate(self._param_names))
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", 1.0 / batch_size)
            optimizer = _opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name, **params)
        else:
            if optimizer.rescale_grad != 1.0 / batch_size:
                self.logger.warning("Optimizer created manually outside Module but rescale_grad "
                                    "is not normalized to 1.0/batch_size/num_workers (%s vs. %s). "
                                    "Is this intended?", optimizer.rescale_grad, 1.0 / batch_size)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        self._optimizer = optimizer
        self._updater = _opt.get_updater(optimizer)
        self.optimizer_initialized = True
        if self._preloaded_states:
            self.load_optimizer_states(self._preloaded_states)
            self._preloaded_states = None

    def update(self) -> None:
        """Apply one optimizer step to every trainable parameter, in place."""
        if not self.optimizer_initialized:
            raise MXNetValueError("update: call init_optimizer() first")
        grads, weights = self._exec.grad_dict, self._exec.arg_dict
        for index, name in enumerate(self._param_names):
            grad = grads[name]
            if grad is not None:
                self._updater(index, grad, weights[name])

    def save_optimizer_states(self, fname: str) -> None:
        with open(fname, "wb") as handle:
            handle.write(self._updater.get_states())

    def load_optimizer_states(self, fname: str) -> None:
        with open(fname, "rb") as handle:
            self._updater.set_states(handle.read())

    # -- computation -----------------------------------------------------------------
    def forward(self, data_batch: Any, is_train: bool | None = None) -> None:
        """Copy the batch into the executor (rebinding when its shapes differ) and run it."""
        self._check_ready("forward", need_params=True)
        is_train = self.for_training if is_train is None else is_train
        data = _as_list(data_batch.data)
        labels = _as_list(getattr(data_batch, "label", None))
        new_shapes = [(n, tuple(d.shape)) for n, d in zip(self._data_names, data)]
        if new_shapes != self._data_shapes:
            label_shapes = [(n, tuple(lb.shape)) for n, lb in zip(self._label_names, labels)]
            self.reshape(new_shapes, label_shapes or None)
        feed = dict(zip(self._data_names, data))
        if labels and self._label_names:
            feed.update(zip(self._label_names, labels))
        self._exec.forward(is_train=is_train, **feed)

    def backward(self, out_grads: Any = None) -> None:
        self._check_ready("backward")
        self._exec.backward(out_grads)

    def get_outputs(self, merge_multi_context: bool = True) -> list[NDArray]:
        self._check_ready("get_outputs")
        return list(self._exec.outputs)

    def get_input_grads(self, merge_multi_context: bool = True) -> list[NDArray]:
        if not self.inputs_need_grad:
            raise MXNetValueError("get_input_grads: bind with inputs_need_grad=True")
        return [self._exec.grad_dict[n] for n in self._data_names]

    def update_metric(self, eval_metric: Any, labels: Any, pre_sliced: bool = False) -> None:
        eval_metric.update(_as_list(labels), self.get_outputs())

    def install_monitor(self, mon: Any) -> None:
        raise MXNetValueError("install_monitor is not supported by mxlite")

    # -- files -----------------------------------------------------------------------
    def save_params(self, fname: str) -> None:
        from .ndarray import save
        arg, aux = self.get_params()
        save(fname, {**{f"arg:{k}": v for k, v in arg.items()},
                     **{f"aux:{k}": v for k, v in aux.items()}})

    def load_params(self, fname: str) -> None:
        from .ndarray import load
        arg, aux = _split_params(load(fname), fname)
        self.set_params(arg, aux)

    def save_checkpoint(self, prefix: str, epoch: int, save_optimizer_states: bool = False,
                        remove_amp_cast: bool = True) -> None:
        """``prefix-symbol.json``, ``prefix-%04d.params`` (and ``.states``)."""
        from .model import save_checkpoint
        arg, aux = self.get_params()
        save_checkpoint(prefix, epoch, self._symbol, arg, aux)
        if save_optimizer_states:
            self.save_optimizer_states(f"{prefix}-{epoch:04d}.states")

    @staticmethod
    def load(prefix: str, epoch: int, load_optimizer_states: bool = False,
             **kwargs: Any) -> "Module":
        """A module from a checkpoint; its parameters are set at ``bind``."""
        from .model import load_checkpoint
        symbol, arg, aux = load_checkpoint(prefix, epoch)
        module = Module(symbol=symbol, **kwargs)
        module._arg_params, module._aux_params = arg, aux
        module.params_initialized = True
        module._preloaded_states = f"{prefix}-{epoch:04d}.states" if load_optimizer_states \
            else None
        return module


def _split_params(loaded: dict, fname: str) -> tuple[dict, dict]:
    arg, aux = {}, {}
    for key, value in loaded.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg[name] = value
        elif kind == "aux":
            aux[name] = value
        else:
            raise MXNetValueError(f"{fname}: key {key!r} lacks the 'arg:' or 'aux:' prefix")
    return arg, aux


def _copy_into(target: NDArray, source: Any, name: str) -> None:
    data = source._data if isinstance(source, NDArray) else np.asarray(source)
    if data.shape != target.shape:
        raise MXNetValueError(f"parameter {name!r} has shape {data.shape}, but the module "
                              f"expects {target.shape}")
    np.copyto(target._data, data, casting="unsafe")


def _check_names(names: list[str], arguments: list[str], kind: str) -> None:
    for name in names:
        if name not in arguments:
            raise MXNetValueError(f"Module: {kind} name {name!r} is not an argument of the "
                                  f"symbol.{suggest(name, arguments)} Arguments: {arguments}")


def _first_context(context: Any) -> Context:
    if context is None:
        return cpu()
    if isinstance(context, (list, tuple)):
        if len(context) != 1:
            raise MXNetValueError("Module: mxlite runs on one context; got " + str(context))
        context = context[0]
    return context
