/* lme4's convergence checks of a fitted GLMM's finite-difference Hessian H (n x n) and
 * gradient g, in one call (mixedfx.optimize.convergence.hessian_checks): the LAPACK routines
 * of scipy.linalg.lapack's wrappers that the Python checks call, the same routines of the
 * same library (SciPy's `cython_lapack`, bound once as capsules: `bind`) with the same
 * arguments, so the same bits, without a wrapper, a copy and a list per call:
 *
 *   R = dpotrf('U', H)              the upper Cholesky factor H = R'R (hessian_factor), when
 *                                   H is finite; its info says whether H is positive definite
 *   s = dtrtrs('U', 'N', 'N', R, g) the scaled gradient R s = g; min(|s_i|, |g_i|) for each
 *                                   i as Python's min(abs(s), abs(v)) (scaled_gradient)
 *   ev = dsyevd('N', 'L', H)        H's eigenvalues (check_hessian; workspace 2n + 1 doubles
 *                                   and one int, as the wrapper's defaults)
 *
 * and the eigenvalues and Cholesky test of the fixed-effect block H[k:, k:] when k < n.
 * The matrices are copied into Fortran order first, as the wrappers copy them. The messages
 * are composed in Python from these numbers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "capsule.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*dpotrf_t)(char *, int *, double *, int *, int *);
typedef void (*dtrtrs_t)(char *, char *, char *, int *, int *, double *, int *, double *,
                         int *, int *);
typedef void (*dsyevd_t)(char *, char *, int *, double *, int *, double *, double *, int *,
                         int *, int *, int *);

static struct {
    dpotrf_t dpotrf;
    dtrtrs_t dtrtrs;
    dsyevd_t dsyevd;
} api;
static int bound = 0;

static PyObject *ArgumentTypeError = NULL;

/* bind(dpotrf, dtrtrs, dsyevd): SciPy's cython_lapack capsules */
static PyObject *py_bind(PyObject *self, PyObject *args)
{
    PyObject *c[3];
    static const char *names[3] = {"dpotrf", "dtrtrs", "dsyevd"};
    if (!PyArg_ParseTuple(args, "OOO:bind", &c[0], &c[1], &c[2]))
        return NULL;
    void *p[3];
    for (int i = 0; i < 3; i++)
        if ((p[i] = capsule_pointer(ArgumentTypeError, c[i], names[i])) == NULL)
            return NULL;
    api.dpotrf = (dpotrf_t)p[0];
    api.dtrtrs = (dtrtrs_t)p[1];
    api.dsyevd = (dsyevd_t)p[2];
    bound = 1;
    Py_RETURN_NONE;
}

/* the m x m block of the C-ordered n x n H at (k, k), finite? */
static int block_finite(const double *H, int n, int k)
{
    for (int i = k; i < n; i++)
        for (int j = k; j < n; j++)
            if (!isfinite(H[(Py_ssize_t)i * n + j])) return 0;
    return 1;
}

/* A (Fortran order, m x m) <- the block of H at (k, k) */
static void block_copy(const double *H, int n, int k, double *A)
{
    int m = n - k;
    for (int j = 0; j < m; j++)
        for (int i = 0; i < m; i++)
            A[(Py_ssize_t)j * m + i] = H[(Py_ssize_t)(k + i) * n + (k + j)];
}

/* dsyevd('N', 'L') of the block at (k, k): the eigenvalues as a list (ascending, as LAPACK
 * gives them) and LAPACK's info; work: m * m + 3 m + 1 doubles. NULL on an exception. */
static PyObject *block_eigenvalues(const double *H, int n, int k, double *work, int *info)
{
    int m = n - k, lwork = 2 * m + 1 > 1 ? 2 * m + 1 : 1, iwork = 0, liwork = 1;
    double *A = work, *w = work + (Py_ssize_t)m * m, *wk = w + m;
    char jobz = 'N', uplo = 'L';
    block_copy(H, n, k, A);
    api.dsyevd(&jobz, &uplo, &m, A, &m, w, wk, &lwork, &iwork, &liwork, info);
    PyObject *ev = PyList_New(m);
    if (!ev) return NULL;
    for (int i = 0; i < m; i++) {
        PyObject *v = PyFloat_FromDouble(w[i]);
        if (!v) { Py_DECREF(ev); return NULL; }
        PyList_SET_ITEM(ev, i, v);
    }
    return ev;
}

/* dpotrf('U') of the block at (k, k) into work (m * m doubles): LAPACK's info */
static int block_cholesky(const double *H, int n, int k, double *work)
{
    int m = n - k, info = 0;
    char uplo = 'U';
    block_copy(H, n, k, work);
    api.dpotrf(&uplo, &m, work, &m, &info);
    return info;
}

/* hessian_checks(H, g, k)
 *   -> (mingrad | None, positive definite, eigenvalues | None, info, fixed | None)
 * H: C-contiguous float64 n x n; g: n float64; 0 <= k <= n. mingrad: min(|s_i|, |g_i|) for
 * each i (None when H is not finite, not positive definite or dtrtrs reports a zero pivot);
 * eigenvalues: H's (None when H is not finite) and dsyevd's info; fixed: for k < n, the same
 * (eigenvalues | None, info, positive definite) of H[k:, k:]. */
static PyObject *py_hessian_checks(PyObject *self, PyObject *args)
{
    PyObject *oH, *og;
    int k;
    if (!PyArg_ParseTuple(args, "OOi:hessian_checks", &oH, &og, &k))
        return NULL;
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "hessian_checks needs bind first");
        return NULL;
    }
    Py_buffer bH, bg;
    if (PyObject_GetBuffer(oH, &bH, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(og, &bg, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&bH);
        return NULL;
    }
    PyObject *result = NULL, *mingrad = NULL, *ev = NULL, *fixed = NULL;
    double *work = NULL;
    Py_ssize_t n_ = bg.len / (Py_ssize_t)sizeof(double);
    if (strcmp(bH.format, "d") != 0 || strcmp(bg.format, "d") != 0 || bH.ndim != 2 ||
        bH.shape[0] != n_ || bH.shape[1] != n_ || n_ < 1 || n_ > 46340 || k < 0 || k > n_) {
        PyErr_SetString(ArgumentTypeError, "hessian_checks: H must be an n x n float64 array "
                        "and g n float64 values (n >= 1), 0 <= k <= n");
        goto done;
    }
    int n = (int)n_, info = 0;
    const double *H = (const double *)bH.buf, *g = (const double *)bg.buf;
    work = (double *)malloc(sizeof(double) * ((Py_ssize_t)n * n + 3 * (Py_ssize_t)n + 2));
    if (!work) { PyErr_NoMemory(); goto done; }
    int finite = block_finite(H, n, 0), pd = 0, ev_info = 0;
    if (finite) {
        pd = block_cholesky(H, n, 0, work) == 0;
        if (pd) {
            /* the right-hand side after R: work holds R (n * n) then s */
            double *s = work + (Py_ssize_t)n * n;
            char uplo = 'U', trans = 'N', diag = 'N';
            int nrhs = 1;
            memcpy(s, g, sizeof(double) * n);
            api.dtrtrs(&uplo, &trans, &diag, &n, &nrhs, work, &n, s, &n, &info);
            if (info == 0) {
                if (!(mingrad = PyList_New(n))) goto done;
                for (int i = 0; i < n; i++) {
                    double a = fabs(s[i]), b = fabs(g[i]);
                    PyObject *v = PyFloat_FromDouble(b < a ? b : a);   /* min(a, b) */
                    if (!v) goto done;
                    PyList_SET_ITEM(mingrad, i, v);
                }
            }
        }
        if (!(ev = block_eigenvalues(H, n, 0, work, &ev_info))) goto done;
    }
    if (k < n) {
        int fin = block_finite(H, n, k), fpd = 0, finfo = 0;
        PyObject *fev = Py_None;
        if (fin) {
            if (!(fev = block_eigenvalues(H, n, k, work, &finfo))) goto done;
            fpd = block_cholesky(H, n, k, work) == 0;
        } else
            Py_INCREF(Py_None);
        fixed = Py_BuildValue("(NiO)", fev, finfo, fpd ? Py_True : Py_False);
        if (!fixed) goto done;
    }
    result = Py_BuildValue("(OOOiO)", mingrad ? mingrad : Py_None, pd ? Py_True : Py_False,
                           ev ? ev : Py_None, ev_info, fixed ? fixed : Py_None);
done:
    Py_XDECREF(mingrad);
    Py_XDECREF(ev);
    Py_XDECREF(fixed);
    free(work);
    PyBuffer_Release(&bH);
    PyBuffer_Release(&bg);
    return result;
}

/* lower_solve_t(L, b, x) -> info
 *   x solving L' x = b for the lower-triangular m x m L (any strides, float64), b and x m
 *   float64 values (x C-contiguous): dtrtrs('L', 'T', 'N') on L (copied into Fortran order
 *   unless it is Fortran-ordered already) and b copied into x, as
 *   scipy.linalg.lapack.dtrtrs(L, b, lower=1, trans=1) copies and calls it (the same
 *   routine, the same bits); LAPACK's info (> 0: a zero pivot). */
static PyObject *py_lower_solve_t(PyObject *self, PyObject *args)
{
    PyObject *oL, *ob, *ox;
    if (!PyArg_ParseTuple(args, "OOO:lower_solve_t", &oL, &ob, &ox))
        return NULL;
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "lower_solve_t needs bind first");
        return NULL;
    }
    Py_buffer bL, bb, bx;
    if (PyObject_GetBuffer(oL, &bL, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(ob, &bb, PyBUF_STRIDES | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&bL);
        return NULL;
    }
    if (PyObject_GetBuffer(ox, &bx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&bL);
        PyBuffer_Release(&bb);
        return NULL;
    }
    PyObject *result = NULL;
    double *A = NULL;
    Py_ssize_t m_ = bL.ndim == 2 ? bL.shape[0] : -1;
    if (strcmp(bL.format, "d") != 0 || strcmp(bb.format, "d") != 0 ||
        strcmp(bx.format, "d") != 0 || m_ < 1 || m_ > 46340 || bL.shape[1] != m_ ||
        bb.ndim != 1 || bb.shape[0] != m_ || bx.len != m_ * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(ArgumentTypeError, "lower_solve_t: L must be an m x m float64 array, "
                        "b and x m float64 values (m >= 1)");
        goto done;
    }
    int m = (int)m_, nrhs = 1, info = 0;
    const char *L = (const char *)bL.buf, *b = (const char *)bb.buf;
    double *x = (double *)bx.buf, *Af;
    if (bL.strides[0] == (Py_ssize_t)sizeof(double) &&
        bL.strides[1] == m_ * (Py_ssize_t)sizeof(double))
        Af = (double *)bL.buf;      /* Fortran-ordered already: read in place, as the
                                     * wrapper does (dtrtrs does not write A) */
    else {
        A = (double *)malloc(sizeof(double) * (size_t)m * (size_t)m);
        if (!A) { PyErr_NoMemory(); goto done; }
        for (int j = 0; j < m; j++)
            for (int i = 0; i < m; i++)
                A[(Py_ssize_t)j * m + i] =
                    *(const double *)(L + i * bL.strides[0] + j * bL.strides[1]);
        Af = A;
    }
    for (int i = 0; i < m; i++)
        x[i] = *(const double *)(b + i * bb.strides[0]);
    char uplo = 'L', trans = 'T', diag = 'N';
    api.dtrtrs(&uplo, &trans, &diag, &m, &nrhs, Af, &m, x, &m, &info);
    result = PyLong_FromLong(info);
done:
    free(A);
    PyBuffer_Release(&bL);
    PyBuffer_Release(&bb);
    PyBuffer_Release(&bx);
    return result;
}

static PyMethodDef methods[] = {
    {"bind", py_bind, METH_VARARGS,
     "bind(dpotrf, dtrtrs, dsyevd): SciPy's cython_lapack capsules."},
    {"hessian_checks", py_hessian_checks, METH_VARARGS,
     "hessian_checks(H, g, k) -> (mingrad | None, positive definite, eigenvalues | None, info, "
     "(eigenvalues | None, info, positive definite) of H[k:, k:] | None)"},
    {"lower_solve_t", py_lower_solve_t, METH_VARARGS,
     "lower_solve_t(L, b, x) -> info: x solving L' x = b (LAPACK's dtrtrs, lower L)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "convcheck",
                                    "lme4's Hessian and scaled-gradient checks (see convcheck.c).",
                                    -1, methods};

PyMODINIT_FUNC PyInit_convcheck(void)
{
    PyObject *errors = PyImport_ImportModule("mixedfx.errors");
    if (errors == NULL)
        return NULL;
    ArgumentTypeError = PyObject_GetAttrString(errors, "ArgumentTypeError");
    Py_DECREF(errors);
    if (ArgumentTypeError == NULL)
        return NULL;
    return PyModule_Create(&module);
}
