/* The PIRLS engine's setup, before the first solve (included by pirls.c).
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
