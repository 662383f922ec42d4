"""Device contexts. mxlite computes on the CPU; `gpu()` is refused unless a backend adds it."""

from __future__ import annotations

from .base import MXNetValueError

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus"]


class Context:
    """A device: ``Context('cpu', 0)``. Usable as a context manager to set the default."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned"}
    devstr2type = {v: k for k, v in devtype2str.items()}
    _default: "Context | None" = None

    def __init__(self, device_type: "str | Context", device_id: int = 0) -> None:
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        if device_type not in self.devstr2type:
            raise MXNetValueError(
                f"unknown device type {device_type!r}; valid: {sorted(self.devstr2type)}")
        if device_type == "gpu":
            raise MXNetValueError(
                "mx.gpu(): no GPU backend is installed; mxlite computes on mx.cpu(). "
                "A plugin that provides a GPU backend can lift this.")
        self.device_type = device_type
        self.device_id = int(device_id)
        self._old: "Context | None" = None

    @property
    def device_typeid(self) -> int:
        return self.devstr2type[self.device_type]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Context) and self.device_type == other.device_type
                and self.device_id == other.device_id)

    def __hash__(self) -> int:
        return hash((self.device_type, self.device_id))

    def __repr__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    __str__ = __repr__

    def __enter__(self) -> "Context":
        self._old = Context._default
        Context._default = self
        return self

    def __exit__(self, *exc: object) -> None:
        Context._default = self._old


def cpu(device_id: int = 0) -> Context:
    return Context("cpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    return Context("cpu_pinned", device_id)


def gpu(device_id: int = 0) -> Context:
    return Context("gpu", device_id)


def num_gpus() -> int:
    return 0


def current_context() -> Context:
    return Context._default or cpu()
