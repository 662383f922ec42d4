"""Build script of the C kernel pack (cffi, out-of-line API mode); never imported at run time.

``setup.py`` asks :func:`cffi_modules` what to build: nothing when ``MXLITE_NO_C_KERNELS=1``
or when no working C compiler is found (installation then succeeds without the pack, and the
plugin says why at run time). Otherwise cffi calls :func:`make_ffibuilder`, which probes
``-fopenmp`` (compile, link and run a tiny program) and uses it on both compile and link when
it works. The extension is marked optional, so a failing build leaves mxlite installable.

By hand: ``python plugins/c_kernels/_build.py`` compiles the module in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = "mxlite_c_kernels._ckernels"
OPT_OUT = "MXLITE_NO_C_KERNELS"
SOURCES = ("ck_kernels.c", "ck_body.h")
#: optimisation that keeps IEEE results: no FMA contraction (the numpy kernels round each
#: product), no errno or trap bookkeeping (so loops with sqrt and selects vectorise)
COMPILE_ARGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]

#: the C declarations, written once over the element type ({t}) and its suffix ({s})
TYPED = """
void ck_act_fwd_{s}(const {t}* x, {t}* y, int64_t n, int kind, double slope, int nt);
void ck_act_bwd_{s}(const {t}* og, const {t}* x, const {t}* y, {t}* dx, int64_t n, int kind,
                    double slope, int nt);
void ck_prelu_fwd_{s}(const {t}* x, const {t}* gamma, {t}* y, int64_t B, int64_t C, int64_t S,
                      int64_t gs, int nt);
void ck_prelu_bwd_{s}(const {t}* og, const {t}* x, const {t}* gamma, {t}* dx, {t}* dgamma,
                      int64_t B, int64_t C, int64_t S, int64_t gs, int nt);
void ck_add_bias_rows_{s}({t}* y, const {t}* bias, int64_t rows, int64_t cols, int nt);
void ck_col_sum_{s}(const {t}* g, {t}* out, int64_t rows, int64_t cols, int nt);
void ck_fc_epilogue_{s}({t}* y, const {t}* bias, int64_t rows, int64_t cols, int kind, int nt);
void ck_fc_act_bwd_{s}(const {t}* og, const {t}* y, {t}* dpre, {t}* db, int64_t rows,
                       int64_t cols, int kind, int nt);
void ck_channel_sum_{s}(const {t}* g, {t}* out, int64_t B, int64_t C, int64_t S, int nt);
void ck_swap01_{s}(const {t}* src, {t}* dst, const {t}* bias, int64_t A, int64_t B, int64_t P,
                   int nt);
void ck_im2col_{s}(const {t}* x, {t}* cols, int64_t N, int64_t C, const int64_t* g, int bm,
                   int nt);
void ck_col2im_{s}(const {t}* cols, {t}* x, int64_t N, int64_t C, const int64_t* g, int bm,
                   int nt);
void ck_pool_fwd_{s}(const {t}* x, {t}* y, int64_t planes, const int64_t* g, int kind,
                     int include_pad, int nt);
void ck_pool_bwd_{s}(const {t}* x, const {t}* y, const {t}* dy, {t}* dx, int64_t planes,
                     const int64_t* g, int kind, int include_pad, int nt);
void ck_bn_fwd_train_{s}(const {t}* x, {t}* y, const {t}* gamma, const {t}* beta, {t}* mean,
                         {t}* invstd, {t}* mmean, {t}* mvar, int64_t B, int64_t C, int64_t S,
                         double eps, double momentum, int nt);
void ck_bn_fwd_infer_{s}(const {t}* x, {t}* y, const {t}* gamma, const {t}* beta, {t}* mean,
                         {t}* invstd, const {t}* mmean, const {t}* mvar, int64_t B, int64_t C,
                         int64_t S, double eps, int nt);
void ck_bn_bwd_{s}(const {t}* og, const {t}* x, const {t}* gamma, const {t}* mean,
                   const {t}* invstd, {t}* dx, {t}* dgamma, {t}* dbeta, int64_t B, int64_t C,
                   int64_t S, int fix_gamma, int use_global, int nt);
void ck_softmax_fwd_{s}(const {t}* x, {t}* y, int64_t outer, int64_t n, int64_t inner,
                        double scale, int log_out, int nt);
void ck_softmax_bwd_{s}(const {t}* y, const {t}* og, {t}* dx, int64_t outer, int64_t n,
                        int64_t inner, double scale, int log_out, int nt);
int64_t ck_softmax_output_bwd_{s}(const {t}* prob, const {t}* label, const {t}* og, {t}* dx,
                                  int64_t outer, int64_t k, int64_t inner, int use_ignore,
                                  double ignore_label, double smooth_alpha, double factor, int nt);
void ck_ewise_{s}(int op, const {t}* a, const {t}* b, const {t}* c, {t}* out, int ndim,
                  const int64_t* shape, const int64_t* sa, const int64_t* sb, const int64_t* sc,
                  double scalar, int nt);
void ck_reduce_{s}(const {t}* x, {t}* out, int64_t A, int64_t R, int64_t B, int op, int nt);
void ck_sgd_update_{s}({t}* w, const {t}* g, {t}* mom, int64_t n, float lr, float wd,
                       float rescale, float clip, float momentum, int nt);
void ck_conv_fwd_{s}(const {t}* x, const {t}* w, const {t}* bias, {t}* y, {t}* work, int64_t N,
                    int64_t C, int64_t F, int64_t groups, const int64_t* g, int bm, int64_t chunk,
                    int64_t cols_len, int64_t tmp_len, int nt);
void ck_conv_bwd_{s}(const {t}* x, const {t}* w, const {t}* dy, {t}* dx, {t}* dw, {t}* dwt,
                    {t}* work, int64_t N, int64_t C, int64_t F, int64_t groups, const int64_t* g,
                    int bm, int64_t chunk, int64_t max_runs, int64_t cols_len, int64_t tmp_len,
                    int nt);
void ck_gemm_{s}(int ta, int tb, int64_t count, int64_t M, int64_t N, int64_t K, const {t}* A,
                int64_t lda, int64_t sA, const {t}* B, int64_t ldb, int64_t sB, {t} beta, {t}* C,
                int64_t ldc, int64_t sC, int nt);
void ck_adam_update_{s}({t}* w, const {t}* g, {t}* mean, {t}* var, int64_t n, float lr,
                        float wd, float rescale, float clip, float beta1, float beta2, float eps,
                        int nt);
"""

CDEF = ("int ck_openmp(void);\nint ck_max_threads(void);\nint ck_gemm_parallel_min(void);\n"
        "void ck_set_blas(void* sgemm, void* dgemm, void* get_threads, void* set_threads,\n"
        "                 int ilp64);\n"
        "int ck_have_blas(void);\n") + "".join(
    TYPED.format(t=t, s=s) for t, s in (("float", "f32"), ("double", "f64")))

_PLAIN = "int main(void) { return 0; }\n"
_OPENMP = """#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel num_threads(2) reduction(+:n)
    n += 1;
    return n == 2 ? 0 : 1;
}
"""


def _try_program(source: str, flags: list[str]) -> str | None:
    """Compile, link and run ``source`` with the compiler setuptools would use; None when it
    all works, else what failed."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    workdir = tempfile.mkdtemp(prefix="mxlite_probe_")
    try:
        src = os.path.join(workdir, "probe.c")
        with open(src, "w") as handle:
            handle.write(source)
        exe = os.path.join(workdir, "probe")
        objects = compiler.compile([src], output_dir=workdir, extra_postargs=flags)
        compiler.link_executable(objects, exe, extra_postargs=flags)
        done = subprocess.run([exe], capture_output=True, timeout=60, check=False)
        return None if done.returncode == 0 else f"the test program exited with {done.returncode}"
    except Exception as err:  # CompileError, LinkError, OSError: all mean "does not work"
        return f"{type(err).__name__}: {str(err).strip()[-300:]}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def skip_reason() -> str | None:
    """Why the pack should not be built here (opt-out or no working compiler), or None."""
    if os.environ.get(OPT_OUT, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return f"{OPT_OUT}={os.environ[OPT_OUT]} is set"
    problem = _try_program(_PLAIN, [])
    return None if problem is None else f"no working C compiler ({problem})"


def compile_flags() -> list[str]:
    """:data:`COMPILE_ARGS` when the compiler takes them, else a plain ``-O2``."""
    return COMPILE_ARGS if _try_program(_PLAIN, COMPILE_ARGS) is None else ["-O2"]


def openmp_flags() -> list[str]:
    """``["-fopenmp"]`` when a program built with it compiles, links and runs, else ``[]``."""
    return [] if _try_program(_OPENMP, ["-fopenmp"]) else ["-fopenmp"]


def cffi_modules() -> list[str]:
    """What ``setup.py`` (run from the repository root) passes as ``cffi_modules``: the
    builder, or nothing (and why, on stderr)."""
    reason = skip_reason()
    if reason is not None:
        print(f"mxlite: building without the C kernel pack: {reason}", file=sys.stderr)
        return []
    return ["plugins/c_kernels/_build.py:make_ffibuilder"]  # relative to setup.py


def make_ffibuilder():  # type: ignore[no-untyped-def]
    """The cffi builder of ``mxlite_c_kernels._ckernels`` (OpenMP when it works)."""
    from cffi import FFI

    flags = openmp_flags()
    print(f"mxlite: C kernel pack with {'OpenMP' if flags else 'no OpenMP (serial)'}",
          file=sys.stderr)
    ffibuilder = FFI()
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(
        MODULE, '#include "ck_kernels.c"',
        include_dirs=[str(HERE)],
        depends=[str(HERE / name) for name in SOURCES],
        extra_compile_args=compile_flags() + flags,
        extra_link_args=flags,
        libraries=["m"] if sys.platform != "win32" else [],
        optional=True,  # a failing build warns and leaves mxlite installable without the pack
    )
    return ffibuilder


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as build_dir:
        make_ffibuilder().compile(tmpdir=build_dir, target=str(HERE / "_ckernels.*"), verbose=True)
