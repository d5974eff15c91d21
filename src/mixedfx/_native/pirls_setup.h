/* The PIRLS engine's setup, before the first solve (included by pirls.c): the canonical
 * row order (row_order), the log-likelihood's mu-free sums (likelihood_sums) and the starting
 * GLM's means (start_means), each with the bits of the NumPy path it replaces.
 *
 * likelihood_sums(family, y, n, wt, lgamma1) -> (status, saturated_sum, aic_constant, need):
 * the two mu-free sums Pirls._likelihood_sums takes from families.Family in NumPy / SciPy,
 * over rows already in the canonical order, for the binomial (family 0) and Poisson (1)
 * families:
 *
 *   saturated_sum = sum_i sat_i, with xlogy(a, b) = 0 when a = 0 (b not NaN), else a log b:
 *     binomial  sat_i = wt_i (xlogy(y_i, y_i) + xlogy(1 - y_i, 1 - y_i))
 *     Poisson   sat_i = wt_i (xlogy(y_i, y_i) - y_i)
 *   aic_constant (the mu-free part of R's family$aic):
 *     binomial  -2 sum_i f_i ((G(s_i) - G(k_i)) - G(s_i - k_i)), with m = n when some n_i > 1
 *               else wt, f_i = wt_i / m_i (0 when m_i <= 0), s_i = rint(m_i), k_i = rint(m_i y_i)
 *     Poisson    2 sum_i wt_i G(y_i)
 *   where G(j) = log Gamma(j + 1) = lgamma1[j]: a table the caller fills with SciPy's gammaln
 *   at 1, 2, ..., so every value is SciPy's own. SciPy's xlogy is a log b with the C library's
 *   log, as here; every elementwise step is the one NumPy takes (same operations, same order,
 *   no contraction: -ffp-contract=off), and each sum is NumPy's add.reduce of a contiguous
 *   array: 0.0 + pairwise_sum (blocks of at most 128 summed in 8 interleaved accumulators,
 *   longer runs split in halves rounded down to a multiple of 8), so both sums have the
 *   NumPy path's bits (tests/glmm/test_pirls_kernel_setup.py).
 *
 * status 0: done; 1: lgamma1 is too short, `need` entries are needed (the caller extends the
 * table and calls again); 2: some G argument is not a whole number in [0, 2^31) (a
 * non-integer count, NaN, a negative size): the caller's NumPy path decides. */

#define PW_BLOCK 128

/* NumPy's pairwise summation of a[0..n-1] (numpy/_core/src/umath/loops_utils.h.src) */
static double np_pairwise_sum(const double *a, Py_ssize_t n)
{
    if (n < 8) {
        double res = 0.;
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= PW_BLOCK) {
        double r[8], res;
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

/* np.add.reduce of a contiguous float64 array: the identity 0.0 plus the pairwise sum */
static double np_sum(const double *a, Py_ssize_t n) { return 0.0 + np_pairwise_sum(a, n); }

/* SciPy's xlogy(x, y) */
static double sp_xlogy(double x, double y) { return x == 0 && !isnan(y) ? 0.0 : x * log(y); }

/* j when v is a whole number in [0, 2^31), else -1 */
static Py_ssize_t whole_index(double v)
{
    if (!(v >= 0.0 && v < 2147483648.0) || v != floor(v)) return -1;
    return (Py_ssize_t)v;
}

static PyObject *py_likelihood_sums(PyObject *self, PyObject *args)
{
    int family;
    PyObject *oy, *on, *owt, *otab;
    if (!PyArg_ParseTuple(args, "iOOOO:likelihood_sums", &family, &oy, &on, &owt, &otab))
        return NULL;
    if (family != F_BINOMIAL && family != F_POISSON) {
        PyErr_SetString(PyExc_ValueError, "likelihood_sums: family must be 0 (binomial) or 1 "
                                          "(Poisson)");
        return NULL;
    }
    Buffers bufs;
    bufs.count = 0;
    PyObject *result = NULL;
    Py_buffer *yv = &bufs.views[0];
    const double *y = (const double *)get_buf(&bufs, oy, -1, 1, 0, "y");
    if (!y) goto done;
    Py_ssize_t n = yv->len / 8, i;
    const double *nn = (const double *)get_buf(&bufs, on, n, 1, 0, "n");
    const double *wt = nn ? (const double *)get_buf(&bufs, owt, n, 1, 0, "wt") : NULL;
    if (!wt) goto done;
    Py_buffer *tv = &bufs.views[bufs.count];
    const double *tab = (const double *)get_buf(&bufs, otab, -1, 1, 0, "lgamma1");
    if (!tab) goto done;
    Py_ssize_t ntab = tv->len / 8;
    double *rows = (double *)malloc(sizeof(double) * (2 * n + 1));
    if (!rows) { PyErr_NoMemory(); goto done; }
    double *sat = rows, *con = rows + n;
    int status = 0;
    Py_ssize_t need = 0;
    if (family == F_BINOMIAL) {
        const double *m = wt;
        for (i = 0; i < n; i++)
            if (nn[i] > 1) { m = nn; break; }
        for (i = 0; i < n && status == 0; i++) {
            double q = 1 - y[i];
            sat[i] = wt[i] * (sp_xlogy(y[i], y[i]) + sp_xlogy(q, q));
            double size = rint(m[i]), k = rint(m[i] * y[i]), rest = size - k;
            Py_ssize_t js = whole_index(size), jk = whole_index(k), jr = whole_index(rest);
            if (js < 0 || jk < 0 || jr < 0) { status = 2; break; }
            Py_ssize_t top = js > jk ? js : jk;
            if (jr > top) top = jr;
            if (top >= ntab) {
                if (top + 1 > need) need = top + 1;
                continue;
            }
            double f = m[i] > 0 ? wt[i] / m[i] : 0.0;
            con[i] = ((tab[js] - tab[jk]) - tab[jr]) * f;
        }
    } else {
        for (i = 0; i < n && status == 0; i++) {
            sat[i] = wt[i] * (sp_xlogy(y[i], y[i]) - y[i]);
            Py_ssize_t j = whole_index(y[i]);
            if (j < 0) { status = 2; break; }
            if (j >= ntab) {
                if (j + 1 > need) need = j + 1;
                continue;
            }
            con[i] = wt[i] * tab[j];
        }
    }
    if (status == 0 && need > 0) status = 1;
    double sat_sum = 0.0, aic = 0.0;
    if (status == 0) {
        sat_sum = np_sum(sat, n);
        aic = (family == F_BINOMIAL ? -2.0 : 2.0) * np_sum(con, n);
    }
    free(rows);
    result = Py_BuildValue("(iddn)", status, sat_sum, aic, need);
done:
    release_all(&bufs);
    return result;
}

/* ---- the canonical row order ------------------------------------------------------------
 * row_order(keys, out) -> 1 (out is the identity), 0 (another permutation) or -1 (a key of a
 * type not taken here, or without a buffer: out unset, the caller's np.lexsort decides): the
 * stable lexicographic
 * order of the rows by the keys, most significant first (lmm.row_order.canonical_rows up to
 * SMALL_ROWS rows), as np.lexsort(keys[::-1]) gives it. `keys`: a tuple of 1-d arrays (one
 * key each) and 2-d arrays (each column a key, in column order), with any strides, of float64
 * or 8/4-byte signed integers; out: n int64. Doubles compare as NumPy sorts them (a < b, or b
 * NaN and a not: NaNs last and tied with each other; -0 ties with +0), integers as integers.
 * A stable sort by the whole key tuple has one result, which is np.lexsort's (a stable sort
 * by each key in turn from the least significant): here a bottom-up merge sort of the row
 * indices, the left run taken on ties. */

#define ROW_ORDER_MAXKEYS 256

typedef struct {
    const char *base;
    Py_ssize_t stride;
    int kind;                           /* 0: double, 1: int64, 2: int32 */
} RowKey;

static int row_cmp(const RowKey *keys, int nk, Py_ssize_t a, Py_ssize_t b)
{
    for (int j = 0; j < nk; j++) {
        const char *pa = keys[j].base + a * keys[j].stride, *pb = keys[j].base + b * keys[j].stride;
        if (keys[j].kind == 0) {
            double x = *(const double *)pa, y = *(const double *)pb;
            if (x < y || (y != y && x == x)) return -1;
            if (y < x || (x != x && y == y)) return 1;
        } else if (keys[j].kind == 1) {
            int64_t x = *(const int64_t *)pa, y = *(const int64_t *)pb;
            if (x != y) return x < y ? -1 : 1;
        } else {
            int32_t x = *(const int32_t *)pa, y = *(const int32_t *)pb;
            if (x != y) return x < y ? -1 : 1;
        }
    }
    return 0;
}

static int key_kind(const Py_buffer *v)
{
    const char *fmt = v->format ? v->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    if (fmt[0] == '\0' || fmt[1] != '\0') return -1;
    if (*fmt == 'd' && v->itemsize == 8) return 0;
    if ((*fmt == 'q' || *fmt == 'l') && v->itemsize == 8) return 1;
    if ((*fmt == 'i' || *fmt == 'l') && v->itemsize == 4) return 2;
    return -1;
}

static PyObject *py_row_order(PyObject *self, PyObject *args)
{
    PyObject *tup, *oout;
    if (!PyArg_ParseTuple(args, "O!O:row_order", &PyTuple_Type, &tup, &oout)) return NULL;
    Py_ssize_t na = PyTuple_GET_SIZE(tup), n = -1, i;
    if (na > MAXBUF - 1) return PyLong_FromLong(-1);
    Buffers bufs;
    bufs.count = 0;
    PyObject *result = NULL;
    RowKey keys[ROW_ORDER_MAXKEYS];
    int nk = 0, unsupported = 0;
    for (Py_ssize_t a = 0; a < na && !unsupported; a++) {
        Py_buffer *v = &bufs.views[bufs.count];
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(tup, a), v, PyBUF_RECORDS_RO) < 0) {
            PyErr_Clear();                  /* e.g. datetimes: np.lexsort decides */
            unsupported = 1;
            break;
        }
        bufs.count++;
        int kind = key_kind(v);
        if (kind < 0 || v->ndim < 1 || v->ndim > 2) { unsupported = 1; break; }
        if (n < 0) n = v->shape[0];
        if (v->shape[0] != n) {
            PyErr_SetString(PyExc_ValueError, "row_order: every key must have the same rows");
            goto done;
        }
        Py_ssize_t cols = v->ndim == 2 ? v->shape[1] : 1;
        for (Py_ssize_t c = 0; c < cols; c++) {
            if (nk >= ROW_ORDER_MAXKEYS) { unsupported = 1; break; }
            keys[nk].base = (const char *)v->buf + (v->ndim == 2 ? c * v->strides[1] : 0);
            keys[nk].stride = v->strides[0];
            keys[nk].kind = kind;
            nk++;
        }
    }
    if (unsupported) { result = PyLong_FromLong(-1); goto done; }
    if (n < 0) n = 0;
    int64_t *out = (int64_t *)get_buf(&bufs, oout, n, 0, 1, "out");
    if (!out) goto done;
    int64_t *tmp = (int64_t *)malloc(sizeof(int64_t) * (n + 1));
    if (!tmp) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < n; i++) out[i] = i;
    int64_t *src = out, *dst = tmp;
    for (Py_ssize_t width = 1; width < n; width *= 2) {
        for (Py_ssize_t lo = 0; lo < n; lo += 2 * width) {
            Py_ssize_t mid = lo + width < n ? lo + width : n;
            Py_ssize_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            Py_ssize_t l = lo, r = mid, d = lo;
            while (l < mid && r < hi)
                dst[d++] = row_cmp(keys, nk, src[r], src[l]) < 0 ? src[r++] : src[l++];
            while (l < mid) dst[d++] = src[l++];
            while (r < hi) dst[d++] = src[r++];
        }
        int64_t *t = src; src = dst; dst = t;
    }
    if (src != out) memcpy(out, src, sizeof(int64_t) * n);
    free(tmp);
    int identity = 1;
    for (i = 0; i < n && identity; i++) identity = out[i] == i;
    result = PyLong_FromLong(identity);
done:
    release_all(&bufs);
    return result;
}

/* ---- the starting GLM's means ---------------------------------------------------------------
 * start_means(family, y, wt, mu_out, arg_out): the family's mustart (R's initialize) and the
 * argument of the canonical link's log, for Pirls.initial_state's compiled start, as NumPy
 * forms them elementwise (the same operations, so the same bits):
 *   binomial (logit)  mu = (wt y + 0.5) / (wt + 1),  arg = mu / (1 - mu)  (eta = log arg)
 *   Poisson (log)     mu = y + 0.1,                  arg = mu             (eta = log arg)
 * The log itself is left to NumPy (the link's own np.log, whose bits may differ from the C
 * library's). */
static PyObject *py_start_means(PyObject *self, PyObject *args)
{
    int family;
    PyObject *oy, *owt, *omu, *oarg;
    if (!PyArg_ParseTuple(args, "iOOOO:start_means", &family, &oy, &owt, &omu, &oarg))
        return NULL;
    if (family != F_BINOMIAL && family != F_POISSON) {
        PyErr_SetString(PyExc_ValueError, "start_means: family must be 0 (binomial) or 1 "
                                          "(Poisson)");
        return NULL;
    }
    Buffers bufs;
    bufs.count = 0;
    Py_buffer *yv = &bufs.views[0];
    const double *y = (const double *)get_buf(&bufs, oy, -1, 1, 0, "y");
    if (!y) goto fail;
    Py_ssize_t n = yv->len / 8, i;
    const double *wt = (const double *)get_buf(&bufs, owt, n, 1, 0, "wt");
    double *mu = wt ? (double *)get_buf(&bufs, omu, n, 1, 1, "mu_out") : NULL;
    double *arg = mu ? (double *)get_buf(&bufs, oarg, n, 1, 1, "arg_out") : NULL;
    if (!arg) goto fail;
    if (family == F_BINOMIAL)
        for (i = 0; i < n; i++) {
            double m = (wt[i] * y[i] + 0.5) / (wt[i] + 1);
            mu[i] = m;
            arg[i] = m / (1 - m);
        }
    else
        for (i = 0; i < n; i++) mu[i] = arg[i] = y[i] + 0.1;
    release_all(&bufs);
    Py_RETURN_NONE;
fail:
    release_all(&bufs);
    return NULL;
}
