"""``mx.model``: checkpoints as MXNet writes them.

A checkpoint is ``prefix-symbol.json`` (the graph) plus ``prefix-%04d.params`` (an NDArray file
whose names are ``arg:<name>`` for arguments and ``aux:<name>`` for auxiliary states).
"""

from __future__ import annotations

import logging
from typing import Any

from .base import MXNetTypeError, MXNetValueError
from .ndarray import NDArray
from .ndarray import load as nd_load
from .ndarray import save as nd_save

__all__ = ["save_checkpoint", "load_checkpoint", "load_params"]

ParamDict = dict[str, NDArray]


def _params_file(prefix: str, epoch: int) -> str:
    return f"{prefix}-{int(epoch):04d}.params"


def save_checkpoint(prefix: str, epoch: int, symbol: Any, arg_params: ParamDict,
                    aux_params: ParamDict, remove_amp_cast: bool = True) -> None:
    """Write ``prefix-symbol.json`` (unless ``symbol`` is None) and ``prefix-%04d.params``."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
    save_dict: ParamDict = {}
    for kind, params in (("arg", arg_params), ("aux", aux_params)):
        for name, value in params.items():
            if not isinstance(value, NDArray):
                raise MXNetTypeError(f"save_checkpoint: {kind}_params[{name!r}] is a "
                                     f"{type(value).__name__}, expected an NDArray")
            save_dict[f"{kind}:{name}"] = value
    param_name = _params_file(prefix, epoch)
    nd_save(param_name, save_dict)
    logging.info('Saved checkpoint to "%s"', param_name)


def load_params(prefix: str, epoch: int) -> tuple[ParamDict, ParamDict]:
    """``(arg_params, aux_params)`` from ``prefix-%04d.params``.

    As in MXNet, names with a prefix other than ``arg:``/``aux:`` are skipped; a name with no
    prefix at all, or a file holding an unnamed list, is an error.
    """
    fname = _params_file(prefix, epoch)
    save_dict = nd_load(fname)
    if not save_dict:
        logging.warning("Params file '%s' is empty", fname)
        return {}, {}
    if not isinstance(save_dict, dict):
        raise MXNetValueError(f"{fname} holds a list of {len(save_dict)} unnamed arrays; a "
                              "checkpoint names them 'arg:<name>' or 'aux:<name>'")
    arg_params: ParamDict = {}
    aux_params: ParamDict = {}
    for key, value in save_dict.items():
        kind, sep, name = key.partition(":")
        if not sep:
            raise MXNetValueError(f"{fname}: parameter name {key!r} lacks the 'arg:' or 'aux:' "
                                  "prefix of a checkpoint")
        if kind == "arg":
            arg_params[name] = value
        elif kind == "aux":
            aux_params[name] = value
    return arg_params, aux_params


def load_checkpoint(prefix: str, epoch: int) -> tuple[Any, ParamDict, ParamDict]:
    """``(symbol, arg_params, aux_params)`` from a checkpoint written here or by MXNet."""
    from .symbol import load as sym_load
    symbol = sym_load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params


def __getattr__(name: str) -> Any:
    """``mx.model.BatchEndParam`` is the callbacks' record, defined in ``mx.callback``."""
    if name == "BatchEndParam":
        from .callback import BatchEndParam
        return BatchEndParam
    raise AttributeError(f"module 'mxlite.model' has no attribute {name!r}")
