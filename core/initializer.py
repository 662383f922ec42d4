"""``mx.init`` / ``mx.initializer``: fill parameter arrays, dispatching on the parameter's name.

``init(InitDesc(name, attrs), arr)`` uses the Variable's ``__init__`` attribute when it has one
(the JSON written by ``Initializer.dumps``), else the name's suffix: ``*weight`` draws from the
initializer, ``*bias``/``*beta``/``*min``/``*moving_mean``/``*moving_inv_var``/``*moving_avg``
are zeros, ``*gamma``/``*max``/``*moving_var`` ones. Random draws come from
``mxlite.random.generator()``, reseeded by ``mx.random.seed``: the streams differ from MXNet's,
the distributions, bounds and fan computations do not.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import MXNetError, MXNetKeyError, MXNetTypeError, MXNetValueError, suggest
from .ndarray.ndarray import NDArray
from .random import generator

__all__ = ["InitDesc", "Initializer", "Uniform", "Normal", "Xavier", "MSRAPrelu", "Constant",
           "Zero", "One", "Orthogonal", "Bilinear", "LSTMBias", "Mixed", "Load", "register",
           "alias", "create"]

_REGISTRY: dict[str, type["Initializer"]] = {}


class InitDesc(str):
    """A parameter's name (a ``str``) carrying its Variable ``attrs`` and the ``global_init``."""

    attrs: dict
    global_init: "Initializer | None"

    def __new__(cls, name: str, attrs: dict | None = None,
                global_init: "Initializer | None" = None) -> "InitDesc":
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


def register(klass: type) -> type:
    """Class decorator: make an Initializer subclass creatable by its lower-cased name."""
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise MXNetTypeError(f"mx.init.register expects an Initializer subclass, got {klass!r}")
    return _add(klass, klass.__name__.lower())


def alias(*aliases: str) -> Callable[[type], type]:
    """Class decorator: register an Initializer under extra names too (``@alias('zeros')``)."""
    def decorate(klass: type) -> type:
        for name in aliases:
            _add(klass, name.lower())
        return klass
    return decorate


def _add(klass: type, name: str) -> type:
    old = _REGISTRY.get(name)
    if old is not None and old is not klass:
        warnings.warn(f"New initializer {klass.__module__}.{klass.__name__} registered with name "
                      f"{name} is overriding existing initializer {old.__module__}."
                      f"{old.__name__}", stacklevel=3)
    _REGISTRY[name] = klass
    return klass


def create(*args: Any, **kwargs: Any) -> "Initializer":
    """An Initializer from an instance (returned as is), a registered name plus keyword
    arguments, the JSON of ``dumps()`` (``'["xavier", {"magnitude": 2}]'``) or a dict."""
    if args:
        spec, args = args[0], args[1:]
    elif "initializer" in kwargs:
        spec = kwargs.pop("initializer")
    else:
        raise MXNetTypeError("mx.init.create: give an initializer name, JSON or instance")
    if isinstance(spec, Initializer):
        if args or kwargs:
            raise MXNetTypeError(f"initializer {spec.dumps()} is already an instance; "
                                 f"additional arguments {args or kwargs} are invalid")
        return spec
    if isinstance(spec, dict):
        return create(**spec)
    if not isinstance(spec, str):
        raise MXNetTypeError(f"initializer must be a name, JSON string, dict or Initializer, "
                             f"got {type(spec).__name__}")
    if spec.startswith("[") or spec.startswith("{"):
        return _from_json(spec, args, kwargs)
    klass = _REGISTRY.get(spec.lower())
    if klass is None:
        valid = sorted(_REGISTRY)
        raise MXNetKeyError(f"initializer {spec!r} is not registered; valid names are {valid}."
                            f"{suggest(spec.lower(), valid)}")
    return klass(*args, **kwargs)


def _from_json(spec: str, args: tuple, kwargs: dict) -> "Initializer":
    if args or kwargs:
        raise MXNetTypeError(f"mx.init.create: no extra arguments allowed with JSON {spec!r}")
    try:
        value = json.loads(spec)
    except json.JSONDecodeError as err:
        raise MXNetValueError(f"mx.init.create: invalid initializer JSON {spec!r}: {err}") from None
    if isinstance(value, dict):
        return create(**value)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict)):
        raise MXNetValueError(f"mx.init.create: expected JSON '[name, {{kwargs}}]', got {spec!r}")
    return create(value[0], **value[1])


def _check_array(arr: Any, name: str) -> None:
    if not isinstance(arr, NDArray):
        raise MXNetTypeError(f"initializer for {name!r}: arr must be an NDArray, got "
                             f"{type(arr).__name__}")


def _default_print(arr: NDArray) -> str:
    data = arr._data.astype(np.float64)
    return str(np.float32(np.linalg.norm(data) / np.sqrt(max(data.size, 1))))


class Initializer:
    """The base initializer: name-based dispatch; subclasses implement ``_init_weight``."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._verbose = False
        self._print_func: Callable[[NDArray], Any] | None = None

    def set_verbosity(self, verbose: bool = False,
                      print_func: Callable[[NDArray], Any] | None = None) -> "Initializer":
        """Log each initialised array, summarised by ``print_func`` (default: its RMS)."""
        self._verbose = verbose
        self._print_func = print_func if print_func is not None else _default_print
        return self

    def _verbose_print(self, desc: str, init: str, arr: NDArray) -> None:
        if self._verbose and self._print_func:
            logging.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self) -> str:
        """``'["name", {kwargs}]'``: the form Variable(init=...) stores and ``create`` reads."""
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = None  # type: ignore[assignment]  # equal by value, like MXNet: unhashable

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"

    def __call__(self, desc: Any, arr: NDArray) -> None:
        """Initialise ``arr`` for the parameter ``desc`` (an InitDesc, or a plain name)."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        _check_array(arr, desc)
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        kind, method = self._dispatch(desc)
        method(desc, arr)
        self._verbose_print(desc, kind, arr)

    def _dispatch(self, name: str) -> tuple[str, Callable[[str, NDArray], None]]:
        """The init method for a name by its suffix, as MXNet's InitDesc path picks it."""
        table = [("weight", self._init_weight), ("bias", self._init_bias),
                 ("gamma", self._init_gamma), ("beta", self._init_beta),
                 ("min", self._init_zero), ("max", self._init_one),
                 ("moving_mean", self._init_zero), ("moving_var", self._init_one),
                 ("moving_inv_var", self._init_zero), ("moving_avg", self._init_zero)]
        for suffix, method in table:
            if name.endswith(suffix):
                return suffix, method
        return "default", self._init_default

    def _legacy_init(self, name: Any, arr: NDArray) -> None:
        """``init(name, arr)`` with a plain string: MXNet's older, deprecated dispatch."""
        warnings.warn("Calling initializer with init(str, NDArray) has been deprecated. please "
                      "use init(mx.init.InitDesc(...), NDArray) instead.", DeprecationWarning,
                      stacklevel=3)
        if not isinstance(name, str):
            raise MXNetTypeError(f"initializer: name must be a string, got {type(name).__name__}")
        _check_array(arr, name)
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
        else:
            self._dispatch(name)[1](name, arr)

    # -- fills -------------------------------------------------------------------------
    def _init_bilinear(self, _: str, arr: NDArray) -> None:
        """The bilinear-upsampling kernel (for Deconvolution weights of shape (.., .., h, w))."""
        shape = arr.shape
        if len(shape) != 4:
            raise MXNetValueError(f"bilinear initialisation needs a 4-D weight, got shape {shape}")
        f = np.ceil(shape[3] / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        xs = 1 - np.abs(np.arange(shape[3]) / f - c)
        ys = 1 - np.abs(np.arange(shape[2]) / f - c)
        arr._data[...] = np.outer(ys, xs)

    def _init_loc_bias(self, _: str, arr: NDArray) -> None:
        if arr.shape[0] != 6:
            raise MXNetValueError(f"stn_loc bias must have 6 elements, got shape {arr.shape}")
        arr._data[...] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 0.0

    def _init_one(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 1.0

    def _init_bias(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 0.0

    def _init_gamma(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 1.0

    def _init_beta(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 0.0

    def _init_weight(self, name: str, arr: NDArray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must override _init_weight")

    def _init_default(self, name: str, arr: NDArray) -> None:
        raise MXNetValueError(
            f'Unknown initialization pattern for {name}. Default initialization is now limited '
            f'to "weight", "bias", "gamma" (1.0), and "beta" (0.0). Please use '
            f'mx.sym.Variable(init=mx.init.*) to set initialization pattern')


def _fill(arr: NDArray, values: np.ndarray) -> None:
    np.copyto(arr._data, values, casting="unsafe")


def _choice(cls: str, what: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise MXNetValueError(f"{cls}: unknown {what} {value!r}; valid: {list(valid)}."
                              f"{suggest(str(value), valid)}")


@register
class Uniform(Initializer):
    """Weights drawn uniformly from ``[-scale, scale)``."""

    def __init__(self, scale: float = 0.07) -> None:
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _: str, arr: NDArray) -> None:
        _fill(arr, generator().uniform(-self.scale, self.scale, arr.shape))


@register
class Normal(Initializer):
    """Weights drawn from a normal distribution with mean 0 and standard deviation ``sigma``."""

    def __init__(self, sigma: float = 0.01) -> None:
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _: str, arr: NDArray) -> None:
        _fill(arr, generator().normal(0.0, self.sigma, arr.shape))


@register
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the SVD of a random ``(shape[0], prod(shape[1:]))``
    draw (``rand_type`` ``'uniform'`` on [-1, 1) or ``'normal'``), times ``scale``."""

    def __init__(self, scale: float = 1.414, rand_type: str = "uniform") -> None:
        _choice("Orthogonal", "rand_type", rand_type, ("uniform", "normal"))
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _: str, arr: NDArray) -> None:
        nout, nin = arr.shape[0], int(np.prod(arr.shape[1:]))
        rng = generator()
        if self.rand_type == "uniform":
            tmp = rng.uniform(-1.0, 1.0, (nout, nin))
        else:
            tmp = rng.normal(0.0, 1.0, (nout, nin))
        u, _, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        _fill(arr, self.scale * res.reshape(arr.shape))


@register
class Xavier(Initializer):
    """Glorot/Xavier: ``scale = sqrt(magnitude / factor)`` where factor is ``fan_in``,
    ``fan_out`` or their average; fans are ``shape[1]`` and ``shape[0]`` times the product of
    the remaining (spatial) dimensions. ``rnd_type`` ``'uniform'`` draws from
    ``[-scale, scale)``, ``'gaussian'`` from N(0, scale)."""

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg",
                 magnitude: float = 3) -> None:
        _choice("Xavier", "rnd_type", rnd_type, ("uniform", "gaussian"))
        _choice("Xavier", "factor_type", factor_type, ("avg", "in", "out"))
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def scale_for(self, name: str, shape: tuple[int, ...]) -> float:
        """The uniform bound (or normal sigma) used for a weight of ``shape``."""
        if len(shape) < 2:
            raise MXNetValueError(f"Xavier initializer cannot be applied to vector {name} of "
                                  f"shape {shape}. It requires at least 2D.")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        return float(np.sqrt(self.magnitude / factor))

    def _init_weight(self, name: str, arr: NDArray) -> None:
        scale = self.scale_for(name, arr.shape)
        rng = generator()
        if self.rnd_type == "uniform":
            _fill(arr, rng.uniform(-scale, scale, arr.shape))
        else:
            _fill(arr, rng.normal(0.0, scale, arr.shape))


@register
class MSRAPrelu(Xavier):
    """He/MSRA initialisation for PReLU nets: Gaussian Xavier with magnitude
    ``2 / (1 + slope**2)``."""

    def __init__(self, factor_type: str = "avg", slope: float = 0.25) -> None:
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope ** 2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """The bilinear upsampling kernel, for Deconvolution weights."""

    def __init__(self) -> None:
        super().__init__()

    def _init_weight(self, name: str, arr: NDArray) -> None:
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """LSTM bias: zeros, except ``forget_bias`` on the forget gate's quarter (the second of
    the four gates). Used through ``Variable(init=LSTMBias(...))``."""

    def __init__(self, forget_bias: float = 1.0) -> None:
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name: str, arr: NDArray) -> None:
        arr._data[...] = 0.0
        num_hidden = arr.shape[0] // 4
        arr._data[num_hidden:2 * num_hidden] = self.forget_bias


@register
@alias("zeros")
class Zero(Initializer):
    """Zeros."""

    def __init__(self) -> None:
        super().__init__()

    def _init_weight(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 0.0


@register
@alias("ones")
class One(Initializer):
    """Ones."""

    def __init__(self) -> None:
        super().__init__()

    def _init_weight(self, _: str, arr: NDArray) -> None:
        arr._data[...] = 1.0


@register
class Constant(Initializer):
    """A constant ``value``: a scalar, or an array broadcast to the parameter's shape."""

    def __init__(self, value: Any) -> None:
        super().__init__(value=_jsonable(value))
        self.value = value

    def _init_weight(self, name: str, arr: NDArray) -> None:
        value = self.value._data if isinstance(self.value, NDArray) else np.asarray(self.value)
        try:
            _fill(arr, np.broadcast_to(value, arr.shape))
        except ValueError:
            raise MXNetValueError(f"Constant initializer for {name}: value of shape "
                                  f"{value.shape} does not fit the parameter's shape "
                                  f"{arr.shape}") from None


def _jsonable(value: Any) -> Any:
    """An array value as nested lists, so ``dumps`` writes it and ``==`` compares it."""
    if isinstance(value, NDArray):
        return value._data.tolist()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


class Mixed:
    """Initialise each parameter with the first initializer whose regex matches its name."""

    def __init__(self, patterns: Sequence[str], initializers: Sequence[Any]) -> None:
        if len(patterns) != len(initializers):
            raise MXNetValueError(f"Mixed: {len(patterns)} patterns but {len(initializers)} "
                                  f"initializers; give one initializer per pattern")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name: str, arr: NDArray) -> None:
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        patterns = [prog.pattern for prog, _ in self.map]
        raise MXNetValueError(f"Parameter name {name} did not match any pattern {patterns}. "
                              f"Consider adding a \".*\" pattern at the end with a default "
                              f"Initializer.")


class Load:
    """Initialise from saved parameters (a dict or a ``.params`` file name); ``arg:``/``aux:``
    prefixes are dropped. Parameters not found use ``default_init``."""

    def __init__(self, param: Any, default_init: Any = None, verbose: bool = False) -> None:
        if isinstance(param, str):
            param = _load_file(param)
        if not isinstance(param, dict):
            raise MXNetTypeError(f"Load: param must be a dict of arrays or a file name, got "
                                 f"{type(param).__name__}")
        self.param = {}
        for name, arr in param.items():
            key = name[4:] if name.startswith(("arg:", "aux:")) else name
            self.param[key] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name: str, arr: NDArray) -> None:
        if name in self.param:
            source = self.param[name]
            if tuple(arr.shape) != tuple(source.shape):
                raise MXNetValueError(f"Parameter {name} cannot be initialized from loading. "
                                      f"Shape mismatch, target {arr.shape} vs loaded "
                                      f"{tuple(source.shape)}")
            arr[:] = source
            if self.verbose:
                logging.info("Initialized %s by loading", name)
            return
        if self.default_init is None:
            raise MXNetKeyError(f"Cannot Initialize {name}. Not found in loaded param and no "
                                f"default Initializer is provided. Loaded: {sorted(self.param)}")
        self.default_init(name, arr)
        if self.verbose:
            logging.info("Initialized %s by default", name)


def _load_file(fname: str) -> dict:
    from . import ndarray
    loader = vars(ndarray).get("load")
    if loader is None:
        raise MXNetError(f"Load: cannot read {fname!r}: mx.nd.load is not available")
    return loader(fname)
