"""``mx.nd.save``/``load``/``load_frombuffer``: MXNet's binary NDArray format, both ways.

Files under ``data/checkpoint/`` were written by MXNet 1.9.1 (``data/make_mxnet_checkpoint.py``);
``expected.npz`` holds the values MXNet stored in them.
"""

from __future__ import annotations

import pathlib
import struct

import mxlite as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxlite.base import MXNetError, MXNetTypeError, MXNetValueError

DATA = pathlib.Path(__file__).parent / "data" / "checkpoint"
EXPECTED = np.load(DATA / "expected.npz")
DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "int8", "bool"]
V2 = 0xF993FAC9


def _values(dtype: str, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    rng = np.random.RandomState(0)
    if dtype == "bool":
        return rng.randint(0, 2, shape).astype(bool)
    return (rng.uniform(-100, 100, shape)).astype(dtype)


def _header(count: int) -> bytes:
    return struct.pack("<QQQ", 0x112, 0, count)


def _dense(shape: tuple[int, ...], flag: int, payload: bytes, magic: int = V2) -> bytes:
    return (struct.pack(f"<Iii{len(shape)}q", magic, 0, len(shape), *shape)
            + struct.pack("<iii", 1, 0, flag) + payload)


def _small_file() -> bytes:
    """A dict file of one float32 (2,) array named 'w', built field by field."""
    body = _dense((2,), 0, np.array([1.5, -2], "<f4").tobytes())
    return _header(1) + body + struct.pack("<QQ", 1, 1) + b"w"


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype_as_list_and_dict(tmp_path: pathlib.Path, dtype: str) -> None:
    value = _values(dtype)
    for data in ([mx.nd.array(value, dtype=dtype)], {"x": mx.nd.array(value, dtype=dtype)}):
        fname = str(tmp_path / "a.params")
        mx.nd.save(fname, data)
        loaded = mx.nd.load(fname)
        assert type(loaded) is type(data)
        got = loaded[0] if isinstance(loaded, list) else loaded["x"]
        assert got.dtype == np.dtype(dtype).type
        np.testing.assert_array_equal(got.asnumpy(), value)


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3), (1,), (2, 3, 4, 5, 1)])
def test_round_trip_shapes(tmp_path: pathlib.Path, shape: tuple[int, ...]) -> None:
    value = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    mx.nd.save(str(tmp_path / "s"), {"a": mx.nd.array(value)})
    got = mx.nd.load(str(tmp_path / "s"))["a"]
    assert got.shape == shape
    np.testing.assert_array_equal(got.asnumpy(), value)


def test_single_ndarray_non_contiguous_view_and_order(tmp_path: pathlib.Path) -> None:
    base = mx.nd.array(np.arange(12).reshape(3, 4))
    view = base.T
    mx.nd.save(str(tmp_path / "one"), view)
    (got,) = mx.nd.load(str(tmp_path / "one"))
    np.testing.assert_array_equal(got.asnumpy(), np.arange(12).reshape(3, 4).T)
    names = [f"k{i}" for i in (5, 1, 9, 0)]
    mx.nd.save(str(tmp_path / "d"), {n: mx.nd.ones(1) for n in names})
    assert list(mx.nd.load(str(tmp_path / "d"))) == names


def test_empty_list_and_dict_load_as_empty_list(tmp_path: pathlib.Path) -> None:
    for data in ([], {}):
        mx.nd.save(str(tmp_path / "e"), data)
        assert mx.nd.load(str(tmp_path / "e")) == []
        assert (tmp_path / "e").read_bytes() == _header(0) + bytes(8)


def test_zero_dim_arrays_use_numpy_shape_layout(tmp_path: pathlib.Path) -> None:
    """A 0-d array makes the whole file numpy-shape (0xF993FACA), byte for byte as MXNet
    writes it under ``mx.npx.set_np()``."""
    scalar = mx.nd.NDArray(np.array(2.5, dtype=np.float32))
    mx.nd.save(str(tmp_path / "z"), {"scalar": scalar, "vector": mx.nd.ones(2)})
    raw = (tmp_path / "z").read_bytes()
    assert struct.unpack_from("<I", raw, 24)[0] == 0xF993FACA
    assert raw == (DATA / "npshape.params").read_bytes()
    loaded = mx.nd.load(str(tmp_path / "z"))
    assert loaded["scalar"].shape == () and loaded["scalar"].asnumpy() == np.float32(2.5)


def test_pathlike_and_load_frombuffer(tmp_path: pathlib.Path) -> None:
    mx.nd.save(tmp_path / "p", {"a": mx.nd.ones((2, 2))})
    from_file = mx.nd.load(tmp_path / "p")
    for buf in ((tmp_path / "p").read_bytes(), bytearray((tmp_path / "p").read_bytes()),
                memoryview((tmp_path / "p").read_bytes())):
        from_buf = mx.nd.load_frombuffer(buf)
        np.testing.assert_array_equal(from_buf["a"].asnumpy(), from_file["a"].asnumpy())


# -- files written by MXNet 1.9.1 ----------------------------------------------------------
def test_loads_mxnet_dict_of_every_dtype() -> None:
    loaded = mx.nd.load(str(DATA / "dtypes.params"))
    assert list(loaded) == [f"x_{d}" for d in DTYPES] + ["empty"]
    for name, array in loaded.items():
        want = EXPECTED[f"dtypes:{name}"]
        assert array.asnumpy().dtype == want.dtype and array.shape == want.shape
        np.testing.assert_array_equal(array.asnumpy(), want)


def test_writes_byte_identical_files_to_mxnet(tmp_path: pathlib.Path) -> None:
    names = [f"x_{d}" for d in DTYPES] + ["empty"]
    data = {n: mx.nd.array(EXPECTED[f"dtypes:{n}"], dtype=EXPECTED[f"dtypes:{n}"].dtype)
            for n in names}
    mx.nd.save(str(tmp_path / "d.params"), data)
    assert (tmp_path / "d.params").read_bytes() == (DATA / "dtypes.params").read_bytes()
    listed = [mx.nd.array(EXPECTED[f"list:{i}"], dtype=EXPECTED[f"list:{i}"].dtype)
              for i in range(2)]
    mx.nd.save(str(tmp_path / "l.params"), listed)
    assert (tmp_path / "l.params").read_bytes() == (DATA / "list.params").read_bytes()


def test_loads_mxnet_list_and_numpy_shape_files() -> None:
    listed = mx.nd.load(str(DATA / "list.params"))
    assert isinstance(listed, list) and len(listed) == 2
    assert listed[0].dtype == np.int32
    np.testing.assert_array_equal(listed[1].asnumpy(), EXPECTED["list:1"])
    np_shape = mx.nd.load(str(DATA / "npshape.params"))
    assert np_shape["scalar"].shape == () and np_shape["scalar"].asnumpy() == 2.5
    np.testing.assert_array_equal(np_shape["vector"].asnumpy(), EXPECTED["npshape:vector"])


def test_loads_legacy_layouts() -> None:
    """0.x files: magic 0xF993FAC8 without storage type, and the oldest with u32 dims."""
    data = np.array([[1, 2, 3], [4, 5, 6]], "<f8").tobytes()
    v1 = (struct.pack("<IiqqiiI", 0xF993FAC8, 2, 2, 3, 1, 0, 1) + data)
    oldest = struct.pack("<IIIiii", 2, 2, 3, 1, 0, 1) + data
    for body in (v1, oldest):
        (got,) = mx.nd.load_frombuffer(_header(1) + body + bytes(8))
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got.asnumpy(), [[1, 2, 3], [4, 5, 6]])


def test_small_file_layout_is_mxnets(tmp_path: pathlib.Path) -> None:
    mx.nd.save(str(tmp_path / "w"), {"w": mx.nd.array([1.5, -2])})
    assert (tmp_path / "w").read_bytes() == _small_file()


# -- bad input to save/load ----------------------------------------------------------------
@pytest.mark.parametrize("data, error", [
    ([np.zeros(2)], MXNetTypeError),
    ({"a": np.zeros(2)}, MXNetTypeError),
    ({1: mx.nd.zeros(1)}, MXNetTypeError),
    ((mx.nd.zeros(1),), MXNetValueError),
    (np.zeros(3), MXNetValueError),
])
def test_save_rejects_what_mxnet_rejects(tmp_path: pathlib.Path, data: object,
                                         error: type) -> None:
    with pytest.raises(error, match="save only accept|data needs to"):
        mx.nd.save(str(tmp_path / "x"), data)
    assert not (tmp_path / "x").exists()


def test_save_rejects_dtypes_the_format_cannot_hold(tmp_path: pathlib.Path) -> None:
    bad = mx.nd.NDArray(np.zeros(2, dtype=np.uint16))
    with pytest.raises(MXNetTypeError, match="array 'w' has dtype uint16.*valid: float32"):
        mx.nd.save(str(tmp_path / "x"), {"w": bad})


def test_bad_file_names(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MXNetTypeError, match="fname required to be a string"):
        mx.nd.load(3)
    with pytest.raises(MXNetTypeError, match="fname required"):
        mx.nd.save(None, [mx.nd.ones(1)])
    with pytest.raises(MXNetError, match="cannot open NDArray file .*missing.params"):
        mx.nd.load(str(tmp_path / "missing.params"))
    with pytest.raises(MXNetError, match="cannot write NDArray file .*nodir"):
        mx.nd.save(str(tmp_path / "nodir" / "x.params"), [mx.nd.ones(1)])
    with pytest.raises(MXNetTypeError, match="buf required"):
        mx.nd.load_frombuffer(12)


# -- corrupt files -------------------------------------------------------------------------
def test_every_truncation_is_reported_with_file_and_offset(tmp_path: pathlib.Path) -> None:
    raw = (DATA / "dtypes.params").read_bytes()
    fname = tmp_path / "cut.params"
    for size in range(len(raw)):
        fname.write_bytes(raw[:size])
        with pytest.raises(MXNetValueError, match=r"cut\.params.*at byte \d+: .*(truncated|more "
                                                  r"than|can hold)"):
            mx.nd.load(str(fname))


def _corrupt(offset: int, fmt: str, value: int) -> bytes:
    raw = bytearray(_small_file())
    struct.pack_into(fmt, raw, offset, value)
    return bytes(raw)


@pytest.mark.parametrize("raw, message", [
    (b"hello world, this is not a params file", r"at byte 0: not an MXNet NDArray file: "
                                                 r"header is 0x6f77206f6c6c6568"),
    (b"", "truncated: expected 8 bytes of file header, only 0 left"),
    (_corrupt(16, "<Q", 2**40), "number of arrays is 1099511627776, more than"),
    (_corrupt(24, "<I", 0x12345678), "array 0 starts with 0x12345678, which is neither"),
    (_corrupt(28, "<i", 1), r"array 0 is a sparse \(row_sparse\) NDArray"),
    (_corrupt(28, "<i", 9), "unknown storage type 9"),
    (_corrupt(32, "<i", 99), "array 0 has ndim 99; expected 0 to 32"),
    (_corrupt(32, "<i", 0), r"array 0 is an empty \(none\) NDArray"),
    (_corrupt(36, "<q", -2), "negative dimension"),
    (_corrupt(36, "<q", 2**50), "truncated: expected 4503599627370496 bytes of float32 data"),
    (_corrupt(52, "<i", 12), "unsupported dtype flag 12; supported: 0 \\(float32\\)"),
    (_corrupt(72, "<Q", 5), "truncated: expected 5 bytes of name 0"),
    (_small_file()[:-1] + b"\xff", "name 0 is not valid UTF-8"),
    (_small_file() + b"\x00", "1 unexpected bytes after the last name"),
])
def test_corrupt_files_raise_clear_errors(tmp_path: pathlib.Path, raw: bytes, message: str) -> None:
    (tmp_path / "bad.params").write_bytes(raw)
    with pytest.raises(MXNetValueError, match=message) as info:
        mx.nd.load(str(tmp_path / "bad.params"))
    assert "bad.params" in str(info.value)
    with pytest.raises(MXNetValueError, match=message):
        mx.nd.load_frombuffer(raw)


def test_names_must_match_arrays() -> None:
    body = _dense((1,), 0, b"\0" * 4)
    raw = _header(2) + body + body + struct.pack("<QQ", 1, 1) + b"a"
    with pytest.raises(MXNetValueError, match=r"1 names for 2 arrays: expected 0 \(a list\) or 2"):
        mx.nd.load_frombuffer(raw)
    raw = _header(2) + body + body + struct.pack("<Q", 2) + (struct.pack("<Q", 1) + b"a") * 2
    with pytest.raises(MXNetValueError, match=r"names are not unique: \['a', 'a'\]"):
        mx.nd.load_frombuffer(raw)


def _load_or_error(raw: bytes) -> object:
    try:
        return mx.nd.load_frombuffer(raw)
    except MXNetError as err:
        assert "(buffer): at byte" in str(err)
        return err


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_never_crash(raw: bytes) -> None:
    _load_or_error(raw)
    _load_or_error(_header(1) + raw)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                       min_size=1, max_size=4))
def test_fuzz_mutated_mxnet_file(cut: int, flips: list[tuple[int, int]]) -> None:
    raw = bytearray((DATA / "dtypes.params").read_bytes())
    for position, value in flips:
        raw[position % len(raw)] = value
    result = _load_or_error(bytes(raw[:cut % (len(raw) + 1)]))
    if isinstance(result, dict):
        assert len(result) == 9


def test_impossible_shape_with_a_zero_dimension_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "one.params"
    mx.nd.save(str(path), [mx.nd.zeros((2, 3))])
    raw = path.read_bytes()
    dims = struct.pack("<2q", 2, 3)
    assert raw.count(dims) == 1
    bad = raw.replace(dims, struct.pack("<2q", 0, 2**61))
    with pytest.raises(mx.base.MXNetError, match="impossible shape"):
        mx.nd.load_frombuffer(bad)
