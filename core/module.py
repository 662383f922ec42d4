"""The Module API: a thin wrapper around one bound executor for training and inference.

``mx.mod.Module(symbol, data_names, label_names)`` binds the symbol for the shapes a data
iterator provides, initialises parameters, applies an optimizer in place, and runs
``fit``/``score``/``predict`` loops with metrics and callbacks, as MXNet 1.x's module does.

There is one CPU context, so no KVStore: any kvstore name without ``dist`` means "update
locally", as it does in MXNet on a single device. Unlike MXNet, ``get_params`` returns fresh
copies each call, and a batch of another size is accepted even without labels (the executor
is reshaped with ``partial_shaping``).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .base import MXNetTypeError, MXNetValueError, suggest
from .context import Context, cpu
from .initializer import InitDesc, Uniform
from .io import DataBatch, DataDesc, DataIter
from .ndarray.ndarray import NDArray
from .symbol.symbol import Symbol

__all__ = ["BaseModule", "Module"]

#: The default initializer of ``init_params`` and ``fit``, as in MXNet.
_DEFAULT_INIT = Uniform(0.01)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _descs(shapes: Iterable[Any]) -> list[DataDesc]:
    """DataDescs from DataDescs or ``(name, shape[, dtype, layout])`` tuples."""
    return [s if isinstance(s, DataDesc) else DataDesc(*s) for s in shapes]


def _batch_size(descs: list[DataDesc]) -> int:
    """The batch size: the ``N`` axis (by layout) of the first input that has one."""
    for desc in descs:
        axis = DataDesc.get_batch_axis(getattr(desc, "layout", None))
        if axis >= 0:
            return int(desc.shape[axis])
    raise MXNetValueError(f"cannot tell the batch size: no data input has an 'N' axis in its "
                          f"layout ({descs})")


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
        """``forward(data_batch, is_train=True)`` then ``backward()``."""
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data: Any, eval_metric: Any, num_batch: int | None = None,
              batch_end_callback: Any = None, score_end_callback: Any = None, reset: bool = True,
              epoch: int = 0, sparse_row_id_fn: Any = None) -> list[tuple[str, float]]:
        """Run inference over ``eval_data`` and return the metric's ``(name, value)`` pairs.

        As in MXNet, the padded samples of a last batch are counted by the metric.
        """
        from . import metric as _metric
        from .callback import BatchEndParam
        self._check_ready("score", need_params=True)
        if reset:
            eval_data.reset()
        eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        done = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            self.update_metric(eval_metric, batch.label)
            _call(batch_end_callback, BatchEndParam(epoch, nbatch, eval_metric, locals()))
            done += 1
        _call(score_end_callback, BatchEndParam(epoch, done, eval_metric, locals()))
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data: Any, num_batch: int | None = None, reset: bool = True,
                     sparse_row_id_fn: Any = None) -> Iterator[tuple[list[NDArray], int, Any]]:
        """Yield ``(outputs, batch_index, batch)``, each output without the batch's padding."""
        self._check_ready("iter_predict", need_params=True)
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            pad = batch.pad or 0
            yield [out[0:out.shape[0] - pad].copy() for out in self.get_outputs()], nbatch, batch

    def predict(self, eval_data: Any, num_batch: int | None = None, merge_batches: bool = True,
                reset: bool = True, always_output_list: bool = False,
                sparse_row_id_fn: Any = None) -> Any:
        """Outputs over a DataIter (padding trimmed), concatenated over batches by default.

        An NDArray (or numpy array) is run as one batch, in the bound mode as MXNet does, and
        its first output is returned.
        """
        self._check_ready("predict", need_params=True)
        if isinstance(eval_data, (np.ndarray, NDArray)):
            return self._predict_array(eval_data)
        if not isinstance(eval_data, DataIter):
            raise MXNetValueError(f"predict: eval_data must be an NDArray or a DataIter, got "
                                  f"{type(eval_data).__name__}")
        outputs = [out for out, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not outputs or not merge_batches:
            return outputs
        merged = _merge_outputs(outputs)
        return merged if always_output_list or len(merged) > 1 else merged[0]

    def _predict_array(self, array: Any) -> NDArray:
        if isinstance(array, np.ndarray):
            array = NDArray(np.asarray(array, dtype=np.float32))
        self.forward(DataBatch([array]))
        return self.get_outputs()[0].copy()

    def fit(self, train_data: Any, eval_data: Any = None, eval_metric: Any = "acc",
            epoch_end_callback: Any = None, batch_end_callback: Any = None,
            kvstore: Any = "local", optimizer: Any = "sgd",
            optimizer_params: Any = (("learning_rate", 0.01),), eval_end_callback: Any = None,
            eval_batch_end_callback: Any = None, initializer: Any = _DEFAULT_INIT,
            arg_params: dict | None = None, aux_params: dict | None = None,
            allow_missing: bool = False, force_rebind: bool = False, force_init: bool = False,
            begin_epoch: int = 0, num_epoch: int | None = None, validation_metric: Any = None,
            monitor: Any = None, sparse_row_id_fn: Any = None) -> None:
        """Train for epochs ``begin_epoch .. num_epoch-1``, logging metrics and calling the
        callbacks; ``train_data`` is reset at the end of each epoch, as in MXNet."""
        from . import metric as _metric
        if num_epoch is None:
            raise MXNetValueError("fit: please specify num_epoch")
        self.bind(train_data.provide_data, train_data.provide_label, for_training=True,
                  force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer, arg_params, aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        validation_metric = eval_metric if validation_metric is None else validation_metric
        eval_metric = _metric.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            self._train_epoch(train_data, eval_metric, epoch, batch_end_callback)
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
            train_data.reset()

    def _train_epoch(self, train_data: Any, eval_metric: Any, epoch: int,
                     batch_end_callback: Any) -> None:
        """One pass over ``train_data``, then log ``Epoch[n] Train-<metric>=<value>``."""
        from .callback import BatchEndParam
        eval_metric.reset()
        nbatch = -1
        for nbatch, batch in enumerate(train_data):
            self.forward_backward(batch)
            self.update()
            self.update_metric(eval_metric, batch.label)
            _call(batch_end_callback, BatchEndParam(epoch, nbatch, eval_metric, locals()))
        if nbatch < 0:
            raise MXNetValueError(f"fit: train_data gave no batch in epoch {epoch}; was it "
                                  "exhausted without reset()?")
        for name, value in _epoch_values(eval_metric):
            self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, value)

    def _check_ready(self, what: str, need_params: bool = False) -> None:
        if not self.binded:
            raise MXNetValueError(f"{what}: call bind() first")
        if need_params and not self.params_initialized:
            raise MXNetValueError(f"{what}: call init_params() (or set_params) first")

    @property
    def symbol(self) -> Symbol | None:
        return self._symbol


def _merge_outputs(outputs: list[list[NDArray]]) -> list[NDArray]:
    """Concatenate each output over the batches."""
    count = len(outputs[0])
    if any(len(out) != count for out in outputs):
        raise MXNetValueError("predict: cannot merge batches with different numbers of outputs; "
                              "pass merge_batches=False")
    return [NDArray(np.concatenate([batch[k]._data for batch in outputs]))
            for k in range(count)]


def _epoch_values(eval_metric: Any) -> list:
    """The whole epoch's metric, even when a Speedometer has reset the local one."""
    values = getattr(eval_metric, "get_global_name_value", None)
    return values() if values is not None else eval_metric.get_name_value()


def _call(callbacks: Any, param: Any) -> None:
    for callback in _as_list(callbacks):
        callback(param)


class Module(BaseModule):
    """A module of one symbol bound on one CPU context.

    ``data_names``, ``state_names`` and ``fixed_param_names`` must be arguments of the symbol;
    ``label_names`` that are not only draw a warning (as in MXNet) and are then not fed.
    Every other argument is a parameter; fixed parameters get no gradient and no update.
    """

    def __init__(self, symbol: Symbol, data_names: Sequence[str] | None = ("data",),
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
        self._label_names = list(label_names or [])
        self._state_names = list(state_names or [])
        self._fixed_param_names = list(fixed_param_names or [])
        for kind, names in (("data", self._data_names), ("state", self._state_names),
                            ("fixed_param", self._fixed_param_names)):
            _check_names(names, arguments, kind)
        _warn_unknown_labels(self._label_names, arguments)
        inputs = set(self._data_names + self._label_names + self._state_names)
        self._param_names = [n for n in arguments if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._exec: Any = None
        self._grad_req: Any = "write"
        # parameters waiting for the next bind (from Module.load, or kept over a rebind)
        self._arg_params: dict[str, Any] | None = None
        self._aux_params: dict[str, Any] | None = None
        self._optimizer: Any = None
        self._updater: Any = None
        self._data_shapes: list[DataDesc] | None = None
        self._label_shapes: list[DataDesc] | None = None
        self._preload_opt_states: str | None = None

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
    def data_shapes(self) -> list[DataDesc]:
        self._check_ready("data_shapes")
        return self._data_shapes

    @property
    def label_shapes(self) -> list[DataDesc] | None:
        self._check_ready("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self) -> list[tuple[str, tuple]]:
        self._check_ready("output_shapes")
        return [(n, o.shape) for n, o in zip(self._output_names, self._exec.outputs)]

    # -- binding ---------------------------------------------------------------------
    def bind(self, data_shapes: Any, label_shapes: Any = None, for_training: bool = True,
             inputs_need_grad: bool = False, force_rebind: bool = False,
             shared_module: Any = None, grad_req: Any = "write") -> None:
        """Allocate the executor for these input shapes (parameters survive a rebind).

        With ``shared_module`` (bound, initialised) the parameters and aux states are the
        very arrays of that module, so training one updates the other.
        """
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if inputs_need_grad and not for_training:
            raise MXNetValueError("bind: inputs_need_grad=True needs for_training=True")
        self.for_training, self.inputs_need_grad, self._grad_req = (
            for_training, inputs_need_grad, grad_req)
        data, label = self._parse_descs(data_shapes, label_shapes)
        executor = self._symbol.simple_bind(self._context, grad_req=self._grad_reqs(grad_req),
                                            type_dict=self._input_types(data, label),
                                            **self._input_shapes(data, label))
        if shared_module is not None:
            executor = self._share_params(executor, shared_module)
        elif self.params_initialized:
            executor.copy_params_from(self._arg_params or {}, self._aux_params)
        self._exec, self._data_shapes, self._label_shapes = executor, data, label
        self._arg_params = self._aux_params = None
        self.binded = True

    def _reset_bind(self) -> None:
        """Unbind, keeping the current parameter values for the next bind."""
        if self.binded and self.params_initialized:
            self._arg_params, self._aux_params = self.get_params()
        self.binded = False
        self._exec = None
        self._data_shapes = self._label_shapes = None

    def _parse_descs(self, data_shapes: Any, label_shapes: Any
                     ) -> tuple[list[DataDesc], list[DataDesc] | None]:
        data = _descs(data_shapes)
        given = [d.name for d in data]
        if sorted(given) != sorted(self._data_names):
            raise MXNetValueError(f"bind: data_shapes name {given} but the module's data_names "
                                  f"are {self._data_names}")
        if label_shapes is None:
            return data, None
        label = _descs(label_shapes)
        if label and sorted(d.name for d in label) != sorted(self._label_names):
            warnings.warn(f"Data provided by label_shapes don't match names specified by "
                          f"label_names ({label} vs. {self._label_names})", stacklevel=3)
        return data, label

    def _fed(self, descs: list[DataDesc] | None) -> list[DataDesc]:
        """The descriptions of inputs that are arguments of the symbol."""
        arguments = set(self._symbol.list_arguments())
        return [d for d in descs or [] if d.name in arguments]

    def _input_shapes(self, data: list[DataDesc], label: list[DataDesc] | None) -> dict:
        return {d.name: tuple(d.shape) for d in self._fed(data + (label or []))}

    def _input_types(self, data: list[DataDesc], label: list[DataDesc] | None) -> dict:
        return {d.name: getattr(d, "dtype", np.float32) for d in self._fed(data + (label or []))}

    def _grad_reqs(self, grad_req: Any) -> dict[str, str]:
        """MXNet's rule: parameters get ``grad_req`` (fixed ones 'null'), data gets it only
        with ``inputs_need_grad``, the rest 'null'; a dict overrides names one by one."""
        arguments = self._symbol.list_arguments()
        grad_req = grad_req if self.for_training else "null"
        if isinstance(grad_req, (list, tuple)):
            if len(grad_req) != len(arguments):
                raise MXNetValueError(f"bind: grad_req has {len(grad_req)} entries for the "
                                      f"{len(arguments)} arguments {arguments}")
            return dict(zip(arguments, grad_req))
        if not isinstance(grad_req, (str, dict)):
            raise MXNetTypeError(f"bind: grad_req must be a str, list, tuple or dict, got "
                                 f"{type(grad_req).__name__}")
        default = grad_req if isinstance(grad_req, str) else "write"
        reqs = {}
        for name in arguments:
            if name in self._param_names:
                reqs[name] = "null" if name in self._fixed_param_names else default
            elif name in self._data_names and self.inputs_need_grad:
                reqs[name] = default
            else:
                reqs[name] = "null"
        if isinstance(grad_req, dict):
            reqs.update(grad_req)
        return reqs

    def _share_params(self, executor: Any, shared: "Module") -> Any:
        """Rebind ``executor`` on the parameter, gradient and aux arrays of ``shared``."""
        if not (shared.binded and shared.params_initialized):
            raise MXNetValueError("bind: shared_module must be bound and initialised")
        args, grads = dict(executor.arg_dict), dict(executor.grad_dict)
        aux = {n: shared._exec.aux_dict[n] for n in self._aux_names}
        for name in self._param_names:
            mine, theirs = executor.arg_dict[name], shared._exec.arg_dict.get(name)
            if theirs is None or theirs.shape != mine.shape:
                raise MXNetValueError(f"bind: shared_module has no parameter {name!r} of shape "
                                      f"{mine.shape}")
            args[name] = theirs
            if shared._exec.grad_dict.get(name) is not None and grads[name] is not None:
                grads[name] = shared._exec.grad_dict[name]
        self.params_initialized = True
        reqs = self._grad_reqs(self._grad_req)
        return self._symbol.bind(self._context, args, args_grad=grads, grad_req=reqs,
                                 aux_states=aux)

    def reshape(self, data_shapes: Any, label_shapes: Any = None) -> None:
        """Reshape the executor for new input shapes, keeping the parameter arrays."""
        self._check_ready("reshape")
        data, label = self._parse_descs(data_shapes, label_shapes)
        if data == self._data_shapes and label == self._label_shapes:
            return
        self._exec = self._exec.reshape(partial_shaping=True, allow_up_sizing=True,
                                        **self._input_shapes(data, label))
        self._data_shapes, self._label_shapes = data, label

    # -- parameters ------------------------------------------------------------------
    def init_params(self, initializer: Any = _DEFAULT_INIT, arg_params: dict | None = None,
                    aux_params: dict | None = None, allow_missing: bool = False,
                    force_init: bool = False, allow_extra: bool = False) -> None:
        """Copy parameters from ``arg_params``/``aux_params``, initialise the others.

        A name missing from a given dict is an error unless ``allow_missing`` (then it is
        initialised, or left as it is when ``initializer`` is None). As in MXNet, names in the
        dicts that the module does not have are ignored here. Names go in sorted order.
        """
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "init_params call ignored.", stacklevel=2)
            return
        self._check_ready("init_params")
        attrs = self._symbol.attr_dict()
        for names, source, table in ((self._param_names, arg_params, self._exec.arg_dict),
                                     (self._aux_names, aux_params, self._exec.aux_dict)):
            for name in sorted(names):
                desc = InitDesc(name, attrs.get(name, {}))
                _init_one(desc, table[name], source, initializer, allow_missing)
        self.params_initialized = True

    def set_params(self, arg_params: dict, aux_params: dict | None, allow_missing: bool = False,
                   force_init: bool = True, allow_extra: bool = False) -> None:
        """Copy the given parameters in. Without ``allow_missing`` every parameter must be
        given; with it only the given ones change, and names the module does not have are an
        error unless ``allow_extra``."""
        if not allow_missing:
            self.init_params(None, arg_params, aux_params, allow_missing=False,
                             force_init=force_init, allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "set_params call ignored.", stacklevel=2)
            return
        self._check_ready("set_params")
        for kind, params, names in (("arg_params", arg_params, self._param_names),
                                    ("aux_params", aux_params, self._aux_names)):
            extra = sorted(set(params or {}) - set(names))
            if extra and not allow_extra:
                raise MXNetValueError(f"set_params: {kind} {extra} are not parameters of the "
                                      f"module {names} (pass allow_extra=True to ignore them)")
        for params, table in ((arg_params, self._exec.arg_dict),
                              (aux_params, self._exec.aux_dict)):
            for name, value in (params or {}).items():
                if name in table:
                    _copy_into(table[name], value, name)
        self.params_initialized = True

    def get_params(self) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
        """Copies of the current parameters and aux states."""
        self._check_ready("get_params", need_params=True)
        arg = {n: self._exec.arg_dict[n].copy() for n in self._param_names}
        aux = {n: self._exec.aux_dict[n].copy() for n in self._aux_names}
        return arg, aux

    def get_states(self, merge_multi_context: bool = True) -> list:
        """The arrays of the ``state_names`` inputs (``[[state]]`` without merging)."""
        self._check_ready("get_states", need_params=True)
        states = [self._exec.arg_dict[n] for n in self._state_names]
        return states if merge_multi_context else [[s] for s in states]

    def set_states(self, states: Any = None, value: Any = None) -> None:
        """Set the state inputs from arrays (one per state, or ``[[state]]``) or a scalar."""
        self._check_ready("set_states", need_params=True)
        if (states is None) == (value is None):
            raise MXNetValueError("set_states: give exactly one of states and value")
        targets = [self._exec.arg_dict[n] for n in self._state_names]
        if value is not None:
            for target in targets:
                target._data[...] = value
            return
        if len(states) != len(targets):
            raise MXNetValueError(f"set_states: {len(states)} arrays for the states "
                                  f"{self._state_names}")
        for name, target, state in zip(self._state_names, targets, states):
            _copy_into(target, state[0] if isinstance(state, (list, tuple)) else state, name)

    # -- optimizer -------------------------------------------------------------------
    def init_optimizer(self, kvstore: Any = "local", optimizer: Any = "sgd",
                       optimizer_params: Any = (("learning_rate", 0.01),),
                       force_init: bool = False) -> None:
        """Create the optimizer; ``rescale_grad`` defaults to 1/batch size, as in MXNet."""
        self._check_ready("init_optimizer", need_params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        _check_kvstore(kvstore)
        rescale_grad = 1.0 / _batch_size(self._data_shapes)
        optimizer = self._make_optimizer(optimizer, optimizer_params, rescale_grad)
        from . import optimizer as _opt
        self._optimizer = optimizer
        self._updater = _opt.get_updater(optimizer)
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _make_optimizer(self, optimizer: Any, optimizer_params: Any, rescale_grad: float) -> Any:
        from . import optimizer as _opt
        idx2name = dict(enumerate(self._param_names))
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", rescale_grad)
            return _opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name, **params)
        if not isinstance(optimizer, _opt.Optimizer):
            raise MXNetTypeError(f"init_optimizer: optimizer must be a name or an Optimizer, "
                                 f"got {type(optimizer).__name__}")
        if optimizer.rescale_grad != rescale_grad:
            warnings.warn("Optimizer created manually outside Module but rescale_grad is not "
                          f"normalized to 1.0/batch_size/num_workers ({optimizer.rescale_grad} "
                          f"vs. {rescale_grad}). Is this intended?", stacklevel=3)
        if not optimizer.idx2name:
            optimizer.idx2name = idx2name.copy()
        return optimizer

    def borrow_optimizer(self, shared_module: "Module") -> None:
        """Use the optimizer (and its states) of another module."""
        if not shared_module.optimizer_initialized:
            raise MXNetValueError("borrow_optimizer: the shared module has no optimizer yet")
        self._optimizer, self._updater = shared_module._optimizer, shared_module._updater
        self.optimizer_initialized = True

    def update(self) -> None:
        """Apply one optimizer step to every parameter that has a gradient, in place."""
        self._check_ready("update", need_params=True)
        if not self.optimizer_initialized:
            raise MXNetValueError("update: call init_optimizer() first")
        grads, weights = self._exec.grad_dict, self._exec.arg_dict
        for index, name in enumerate(self._param_names):
            if grads[name] is not None:
                self._updater(index, grads[name], weights[name])

    def save_optimizer_states(self, fname: str) -> None:
        """Write the updater's states (momentum...) to ``fname``."""
        self._check_optimizer("save_optimizer_states")
        with open(fname, "wb") as handle:
            handle.write(self._updater.get_states())

    def load_optimizer_states(self, fname: str) -> None:
        """Read the updater's states from a file written by ``save_optimizer_states``."""
        self._check_optimizer("load_optimizer_states")
        with open(fname, "rb") as handle:
            self._updater.set_states(handle.read())

    def _check_optimizer(self, what: str) -> None:
        if not self.optimizer_initialized:
            raise MXNetValueError(f"{what}: call init_optimizer() first")

    # -- computation -----------------------------------------------------------------
    def forward(self, data_batch: Any, is_train: bool | None = None) -> None:
        """Copy the batch into the executor (reshaping it when the data shapes differ) and
        run it; ``is_train`` defaults to ``for_training``. Arrays are matched to inputs in
        the order of the bound data and label shapes."""
        self._check_ready("forward", need_params=True)
        data = _as_list(data_batch.data)
        if len(data) != len(self._data_shapes):
            raise MXNetValueError(f"forward: the batch has {len(data)} data arrays, the module "
                                  f"was bound for {[d.name for d in self._data_shapes]}")
        labels = _as_list(getattr(data_batch, "label", None))
        if [tuple(d.shape) for d in data] != [tuple(d.shape) for d in self._data_shapes]:
            self.reshape(*self._batch_descs(data_batch, data, labels))
        is_train = self.for_training if is_train is None else is_train
        self._exec.forward(is_train=is_train, **self._feed(data, labels))

    def _batch_descs(self, batch: Any, data: list, labels: list) -> tuple[list, list | None]:
        """The descriptions of a batch whose shapes differ from the bound ones."""
        new_data = getattr(batch, "provide_data", None) or [
            DataDesc(d.name, tuple(a.shape), d.dtype, d.layout)
            for d, a in zip(self._data_shapes, data)]
        new_label = getattr(batch, "provide_label", None)
        if not new_label and labels and self._label_shapes:
            new_label = [DataDesc(d.name, tuple(a.shape), d.dtype, d.layout)
                         for d, a in zip(self._label_shapes, labels)]
        return new_data, new_label or None

    def _feed(self, data: list, labels: list) -> dict[str, Any]:
        feed = dict(zip([d.name for d in self._data_shapes], data))
        if self._label_shapes and labels:
            arguments = set(self._exec.arg_dict)
            feed.update((d.name, a) for d, a in zip(self._label_shapes, labels)
                        if d.name in arguments)
        return feed

    def backward(self, out_grads: Any = None) -> None:
        """Back-propagate; ``out_grads`` are needed for outputs that are not losses."""
        self._check_ready("backward", need_params=True)
        if not self.for_training:
            raise MXNetValueError("backward: re-bind with for_training=True to run backward")
        self._exec.backward(out_grads)

    def get_outputs(self, merge_multi_context: bool = True) -> list:
        """The executor's output arrays (``[[output]]`` without merging)."""
        self._check_ready("get_outputs", need_params=True)
        outputs = list(self._exec.outputs)
        return outputs if merge_multi_context else [[o] for o in outputs]

    def get_input_grads(self, merge_multi_context: bool = True) -> list:
        """The gradients of the data inputs, in the bound order (needs ``inputs_need_grad``)."""
        self._check_ready("get_input_grads", need_params=True)
        if not self.inputs_need_grad:
            raise MXNetValueError("get_input_grads: bind with inputs_need_grad=True")
        grads = [self._exec.grad_dict[d.name] for d in self._data_shapes]
        return grads if merge_multi_context else [[g] for g in grads]

    def update_metric(self, eval_metric: Any, labels: Any, pre_sliced: bool = False) -> None:
        """``eval_metric.update_dict`` with the labels and outputs named."""
        self._check_ready("update_metric", need_params=True)
        names = [d.name for d in self._label_shapes] if self._label_shapes \
            else self._label_names
        label_dict = OrderedDict(zip(names, _as_list(labels)))
        eval_metric.update_dict(label_dict, OrderedDict(zip(self._output_names,
                                                            self._exec.outputs)))

    def prepare(self, data_batch: Any, sparse_row_id_fn: Any = None) -> None:
        """MXNet pulls row-sparse parameters here; mxlite has none, so nothing is needed."""
        self._check_ready("prepare")

    def install_monitor(self, mon: Any) -> None:
        raise MXNetValueError("install_monitor is not supported by mxlite")

    # -- files -----------------------------------------------------------------------
    def save_params(self, fname: str) -> None:
        """Save the parameters as ``arg:<name>``/``aux:<name>`` in an NDArray file."""
        from .ndarray import save
        arg, aux = self.get_params()
        save(fname, {**{f"arg:{k}": v for k, v in arg.items()},
                     **{f"aux:{k}": v for k, v in aux.items()}})

    def load_params(self, fname: str) -> None:
        """Load a file written by ``save_params`` (or a checkpoint's ``.params``)."""
        from .ndarray import load
        arg, aux = _split_params(load(fname), fname)
        self.set_params(arg, aux)

    def save_checkpoint(self, prefix: str, epoch: int, save_optimizer_states: bool = False,
                        remove_amp_cast: bool = True) -> None:
        """``prefix-symbol.json``, ``prefix-%04d.params`` (and ``.states``)."""
        from .model import save_checkpoint
        arg, aux = self.get_params()
        save_checkpoint(prefix, epoch, self._symbol, arg, aux, remove_amp_cast=remove_amp_cast)
        if save_optimizer_states:
            state_name = f"{prefix}-{int(epoch):04d}.states"
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)

    @staticmethod
    def load(prefix: str, epoch: int, load_optimizer_states: bool = False,
             **kwargs: Any) -> "Module":
        """A module from a checkpoint; its parameters are set at ``bind`` (and the optimizer
        states, with ``load_optimizer_states``, at ``init_optimizer``)."""
        from .model import load_checkpoint
        symbol, arg, aux = load_checkpoint(prefix, epoch)
        module = Module(symbol=symbol, **kwargs)
        module._arg_params, module._aux_params = arg, aux
        module.params_initialized = True
        if load_optimizer_states:
            module._preload_opt_states = f"{prefix}-{int(epoch):04d}.states"
        return module


def _init_one(desc: InitDesc, array: NDArray, source: dict | None, initializer: Any,
              allow_missing: bool) -> None:
    """Fill one parameter: from ``source`` if it has it, else from ``initializer``."""
    if source is not None:
        if desc in source:
            _copy_into(array, source[desc], str(desc))
            return
        if not allow_missing:
            raise MXNetValueError(f"init_params: {str(desc)!r} is not presented in the given "
                                  "parameters (pass allow_missing=True to initialize it)")
        if initializer is None:
            return
    elif initializer is None:
        raise MXNetValueError(f"init_params: {str(desc)!r} has no given value and no "
                              "initializer")
    initializer(desc, array)


def _split_params(loaded: dict, fname: str) -> tuple[dict, dict]:
    if not isinstance(loaded, dict):
        raise MXNetValueError(f"{fname} holds a list of unnamed arrays, not 'arg:'/'aux:' "
                              "parameters")
    arg, aux = {}, {}
    for key, value in loaded.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg[name] = value
        elif kind == "aux":
            aux[name] = value
        else:
            raise MXNetValueError(f"Invalid param file {fname}: key {key!r} lacks the 'arg:' "
                                  "or 'aux:' prefix")
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


def _warn_unknown_labels(names: list[str], arguments: list[str]) -> None:
    for name in names:
        if name not in arguments:
            warnings.warn(f"Module: label name {name!r} is not an argument of the symbol, so it "
                          f"is not fed. Arguments: {arguments}", stacklevel=3)


def _check_kvstore(kvstore: Any) -> None:
    """One device, no KVStore: a name without 'dist' (or None) means local updates."""
    if kvstore is None or (isinstance(kvstore, str) and "dist" not in kvstore):
        return
    if isinstance(kvstore, str):
        raise MXNetValueError(f"init_optimizer: kvstore {kvstore!r} needs a distributed "
                              "KVStore, which mxlite does not have; use 'local'")
    raise MXNetTypeError(f"init_optimizer: kvstore must be a name or None (mxlite has no "
                         f"KVStore objects), got {type(kvstore).__name__}")


def _first_context(context: Any) -> Context:
    if context is None:
        return cpu()
    if isinstance(context, (list, tuple)):
        if len(context) != 1:
            raise MXNetValueError("Module: mxlite runs on one context; got " + str(context))
        context = context[0]
    return context
