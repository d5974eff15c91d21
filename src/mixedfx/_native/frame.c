/* Small passes of the model frame's first steps and of the GLM response's set-up, each one C
 * call where NumPy needs several calls on arrays of a few dozen cells (a small fit's frame
 * costs more in per-call overhead than in arithmetic). Every function either fills its
 * outputs exactly as the NumPy expressions named below do (the same IEEE operations on the
 * same operands, in the same order; built with -ffp-contract=off) or only decides something
 * the caller then does the same way whichever answer it gets (see each function).
 *
 *   bounded(x)                       1-D float64 x: 2 when every |x_i| <= 2^1000, 1 when
 *                                    every x_i is finite (some larger), 0 otherwise (NaN or
 *                                    +-Inf): np.isfinite(x).all() is (result > 0)
 *   category_codes(codes, out, k)    integer codes (1, 2, 4 or 8 bytes) copied to int64 `out`
 *                                    (np.asarray(codes, dtype=np.int64)); -1 when a code is
 *                                    outside 0..k-1, else 1 when every code 0..k-1 occurs
 *                                    (np.bincount(codes, minlength=k).all()), else 0
 *   binomial_counts(raw, y, n, wt)   raw: (m, 2) float64 cbind(successes, failures). 1 when
 *                                    a cell is negative (np.fmin.reduce(raw) < 0), else 2
 *                                    when a cell is more than 1e-7 from the nearest integer
 *                                    (np.fmax.reduce(abs(raw - raw.round())) > 1e-7; NaN
 *                                    cells fail neither test, as there), or 3 when one is
 *                                    +Inf (found first: NumPy's lines warn about it); else 0 with
 *                                    n = s + f, wt = n, y = s / n where n > 0 and 0 elsewhere
 *                                    (np.divide(s, n, out=zeros, where=n > 0))
 *   clear_pivots(X)                  (m, p) float64 X, 1 <= p <= 8: with the Gram matrix
 *                                    G = X'X (summed over rows in order), -2 when a G_jj is
 *                                    above 1e300 or NaN, else 1 when every pivot of G's
 *                                    Gaussian elimination exceeds 1e-6 G_jj
 *                                    (frame.rank._clear_pivots), else 0; -1 for other shapes
 *   column_sums(out, cols, program)  (m, k) float64 `out`: column j is the j-th expression of
 *                                    `program` (bytes, postfix: c < 16 pushes cols[c], 250
 *                                    negates, 251 adds, 252 subtracts the top from the one
 *                                    below, 253 stores the top in the next column of out),
 *                                    row by row: the same IEEE operation per cell as NumPy's
 *                                    elementwise -a, a + b, a - b on the whole columns
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAXP 8          /* (frame.rank asks for up to 6 columns; small stack arrays) */

/* a C-contiguous buffer; `kind` 'd' (float64), 'i' (signed integers of any width) or 'l'
 * (int64); `writable` for outputs. Returns 0 and fills `v`, or -1 with an exception set. */
static int get_view(PyObject *obj, Py_buffer *v, char kind, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT |
                                   (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const char *fmt = v->format ? v->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    int ok;
    if (kind == 'd')
        ok = strcmp(fmt, "d") == 0 && v->itemsize == 8;
    else if (kind == 'l')
        ok = (strcmp(fmt, "l") == 0 || strcmp(fmt, "q") == 0) && v->itemsize == 8;
    else
        ok = fmt[1] == '\0' && strchr("bhilq", fmt[0]) != NULL &&
             (v->itemsize == 1 || v->itemsize == 2 || v->itemsize == 4 || v->itemsize == 8);
    if (!ok) {
        PyBuffer_Release(v);
        PyErr_Format(PyExc_ValueError, "frame kernel: %s has the wrong item type", what);
        return -1;
    }
    return 0;
}

static int check_args(Py_ssize_t nargs, Py_ssize_t want, const char *name)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "frame kernel: %s takes %zd arguments", name, want);
        return -1;
    }
    return 0;
}

static PyObject *py_bounded(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v;
    if (check_args(nargs, 1, "bounded") < 0 || get_view(args[0], &v, 'd', 0, "x") < 0)
        return NULL;
    const double *x = (const double *)v.buf;
    Py_ssize_t m = v.len / 8;
    const double big = ldexp(1.0, 1000);
    int result = 2;
    for (Py_ssize_t i = 0; i < m; i++) {
        double a = fabs(x[i]);
        if (!(a <= big)) {
            if (!isfinite(a)) { result = 0; break; }
            result = 1;
        }
    }
    PyBuffer_Release(&v);
    return PyLong_FromLong(result);
}

static PyObject *py_category_codes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer c, o;
    if (check_args(nargs, 3, "category_codes") < 0) return NULL;
    Py_ssize_t k = PyLong_AsSsize_t(args[2]);
    if (k == -1 && PyErr_Occurred()) return NULL;
    if (k < 0) { PyErr_SetString(PyExc_ValueError, "frame kernel: k < 0"); return NULL; }
    if (get_view(args[0], &c, 'i', 0, "codes") < 0) return NULL;
    if (get_view(args[1], &o, 'l', 1, "out") < 0) { PyBuffer_Release(&c); return NULL; }
    Py_ssize_t m = c.len / c.itemsize;
    if (o.len != m * 8) {
        PyBuffer_Release(&c); PyBuffer_Release(&o);
        PyErr_SetString(PyExc_ValueError, "frame kernel: out must have one cell per code");
        return NULL;
    }
    int64_t *out = (int64_t *)o.buf;
    for (Py_ssize_t i = 0; i < m; i++) {
        switch (c.itemsize) {
        case 1: out[i] = ((const int8_t *)c.buf)[i]; break;
        case 2: out[i] = ((const int16_t *)c.buf)[i]; break;
        case 4: out[i] = ((const int32_t *)c.buf)[i]; break;
        default: out[i] = ((const int64_t *)c.buf)[i]; break;
        }
    }
    PyBuffer_Release(&c);
    PyBuffer_Release(&o);
    int result = 1;
    unsigned char *seen = (unsigned char *)PyMem_Calloc(k > 0 ? (size_t)k : 1, 1);
    if (!seen) return PyErr_NoMemory();
    Py_ssize_t distinct = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t code = out[i];
        if (code < 0 || code >= k) { result = -1; break; }
        if (!seen[code]) { seen[code] = 1; distinct++; }
    }
    PyMem_Free(seen);
    if (result == 1 && distinct != k) result = 0;
    return PyLong_FromLong(result);
}

static PyObject *py_binomial_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer r, vy, vn, vw;
    if (check_args(nargs, 4, "binomial_counts") < 0) return NULL;
    if (get_view(args[0], &r, 'd', 0, "raw") < 0) return NULL;
    if (get_view(args[1], &vy, 'd', 1, "y") < 0) { PyBuffer_Release(&r); return NULL; }
    if (get_view(args[2], &vn, 'd', 1, "n") < 0) {
        PyBuffer_Release(&r); PyBuffer_Release(&vy); return NULL;
    }
    if (get_view(args[3], &vw, 'd', 1, "wt") < 0) {
        PyBuffer_Release(&r); PyBuffer_Release(&vy); PyBuffer_Release(&vn); return NULL;
    }
    Py_ssize_t m = vy.len / 8;
    int result = 0;
    if (r.len != 2 * m * 8 || vn.len != m * 8 || vw.len != m * 8) {
        PyErr_SetString(PyExc_ValueError, "frame kernel: binomial_counts needs raw (m, 2) and "
                        "three outputs of m cells");
        result = -1;
    }
    const double *raw = (const double *)r.buf;
    double *y = (double *)vy.buf, *n = (double *)vn.buf, *wt = (double *)vw.buf;
    if (result == 0)
        for (Py_ssize_t i = 0; i < 2 * m; i++)
            if (raw[i] < 0) { result = 1; break; }
    if (result == 0)
        for (Py_ssize_t i = 0; i < 2 * m; i++) {
            if (isinf(raw[i])) { result = 3; break; }   /* NumPy warns there: its lines run */
            if (fabs(raw[i] - rint(raw[i])) > 1e-7) { result = 2; break; }
        }
    if (result == 0)
        for (Py_ssize_t i = 0; i < m; i++) {
            double s = raw[2 * i], t = s + raw[2 * i + 1];
            n[i] = t;
            wt[i] = t;
            y[i] = t > 0 ? s / t : 0.0;
        }
    PyBuffer_Release(&r); PyBuffer_Release(&vy); PyBuffer_Release(&vn); PyBuffer_Release(&vw);
    if (result < 0) return NULL;
    return PyLong_FromLong(result);
}

static PyObject *py_clear_pivots(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v;
    if (check_args(nargs, 1, "clear_pivots") < 0 || get_view(args[0], &v, 'd', 0, "X") < 0)
        return NULL;
    if (v.ndim != 2 || v.shape[1] < 1 || v.shape[1] > MAXP) {
        PyBuffer_Release(&v);
        return PyLong_FromLong(-1);
    }
    Py_ssize_t m = v.shape[0];
    int p = (int)v.shape[1];
    const double *X = (const double *)v.buf;
    double G[MAXP * MAXP], A[MAXP * MAXP];
    for (int j = 0; j < p; j++)
        for (int k = j; k < p; k++) G[j * p + k] = 0.0;
    for (Py_ssize_t i = 0; i < m; i++) {
        const double *row = X + i * p;
        for (int j = 0; j < p; j++) {
            double a = row[j];
            for (int k = j; k < p; k++) G[j * p + k] += a * row[k];
        }
    }
    PyBuffer_Release(&v);
    for (int j = 0; j < p; j++)         /* then |G_jk| and its partial sums are finite too */
        if (!(G[j * p + j] <= 1e300)) return PyLong_FromLong(-2);
    for (int j = 0; j < p; j++)
        for (int k = j; k < p; k++) A[j * p + k] = G[j * p + k];
    const double clear = 1e-3;
    for (int j = 0; j < p; j++) {
        double gjj = G[j * p + j], pivot = A[j * p + j];
        if (!(gjj > 0 && pivot > clear * clear * gjj)) return PyLong_FromLong(0);
        for (int i = j + 1; i < p; i++) {
            double f = A[j * p + i] / pivot;
            if (f != 0)
                for (int k = i; k < p; k++) A[i * p + k] -= f * A[j * p + k];
        }
    }
    return PyLong_FromLong(1);
}

enum { OP_NEG = 250, OP_ADD = 251, OP_SUB = 252, OP_STORE = 253, MAXCOLS = 16, MAXSTACK = 32 };

static PyObject *py_column_sums(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer vo, vp, vc[MAXCOLS];
    int got = 0, result = -1;
    if (check_args(nargs, 3, "column_sums") < 0) return NULL;
    PyObject *cols = args[1];
    if (!PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) > MAXCOLS) {
        PyErr_SetString(PyExc_TypeError, "frame kernel: columns must be a tuple of at most "
                        "16 arrays");
        return NULL;
    }
    Py_ssize_t nc = PyTuple_GET_SIZE(cols);
    if (get_view(args[0], &vo, 'd', 1, "out") < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &vp, PyBUF_SIMPLE) < 0) { PyBuffer_Release(&vo); return NULL; }
    if (vo.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "frame kernel: out must be (n, k)");
        goto done;
    }
    Py_ssize_t n = vo.shape[0], k = vo.shape[1];
    for (; got < nc; got++) {
        if (get_view(PyTuple_GET_ITEM(cols, got), &vc[got], 'd', 0, "a column") < 0) goto done;
        if (vc[got].len != n * 8) {
            got++;
            PyErr_SetString(PyExc_ValueError, "frame kernel: a column's length is not n");
            goto done;
        }
    }
    /* the program: checked once (stack depth, column indices, one store per output) */
    const unsigned char *prog = (const unsigned char *)vp.buf;
    Py_ssize_t len = vp.len, depth = 0, stores = 0;
    for (Py_ssize_t t = 0; t < len; t++) {
        unsigned char op = prog[t];
        if (op < MAXCOLS) {
            if (op >= nc || ++depth > MAXSTACK) break;
        } else if (op == OP_NEG) {
            if (depth < 1) break;
        } else if (op == OP_ADD || op == OP_SUB) {
            if (depth < 2) break;
            depth--;
        } else if (op == OP_STORE) {
            if (depth != 1 || stores >= k) break;
            depth = 0;
            stores++;
        } else break;
        if (t == len - 1 && depth == 0 && stores == k) result = 0;
    }
    if (result < 0) {
        PyErr_SetString(PyExc_ValueError, "frame kernel: malformed column_sums program");
        goto done;
    }
    double *out = (double *)vo.buf;
    const double *src[MAXCOLS];
    for (Py_ssize_t c = 0; c < nc; c++) src[c] = (const double *)vc[c].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        double stack[MAXSTACK];
        int top = 0;
        Py_ssize_t j = 0;
        for (Py_ssize_t t = 0; t < len; t++) {
            unsigned char op = prog[t];
            if (op < MAXCOLS) stack[top++] = src[op][i];
            else if (op == OP_NEG) stack[top - 1] = -stack[top - 1];
            else if (op == OP_ADD) { top--; stack[top - 1] = stack[top - 1] + stack[top]; }
            else if (op == OP_SUB) { top--; stack[top - 1] = stack[top - 1] - stack[top]; }
            else out[i * k + j++] = stack[--top];
        }
    }
done:
    for (int c = 0; c < got; c++) PyBuffer_Release(&vc[c]);
    PyBuffer_Release(&vp);
    PyBuffer_Release(&vo);
    if (result < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bounded", (PyCFunction)(void (*)(void))py_bounded, METH_FASTCALL,
     "bounded(x): 2 if every |x_i| <= 2**1000, 1 if all finite, else 0"},
    {"category_codes", (PyCFunction)(void (*)(void))py_category_codes, METH_FASTCALL,
     "category_codes(codes, out, k): codes as int64 in out; -1 bad code, 1 all used, 0 not"},
    {"binomial_counts", (PyCFunction)(void (*)(void))py_binomial_counts, METH_FASTCALL,
     "binomial_counts(raw, y, n, wt): 1 negative, 2 non-integer, else 0 and y, n, wt set"},
    {"clear_pivots", (PyCFunction)(void (*)(void))py_clear_pivots, METH_FASTCALL,
     "clear_pivots(X): 1 if X'X's elimination pivots are all clear, 0 if not, -1 bad shape"},
    {"column_sums", (PyCFunction)(void (*)(void))py_column_sums, METH_FASTCALL,
     "column_sums(out, columns, program): out[:, j] from sums and differences of columns"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "frame",
                                    "Small passes of the model frame and GLM response.", -1,
                                    methods};

PyMODINIT_FUNC PyInit_frame(void) { return PyModule_Create(&moddef); }
