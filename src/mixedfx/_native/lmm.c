/* The profiled-deviance evaluation of a linear mixed model, for one value of theta.
 *
 * Python (mixedfx.lmm.compiled) builds an Evaluator once per set of cross-products
 * (lmm/crossproducts.py) and calls it for every theta the optimizer tries. One call:
 *
 *   1. the templates T_t of every term from theta (a linear 0/1 map for lme4's unstructured
 *      and the diagonal structures; otherwise Python passes the packed templates);
 *   2. per level j of the first term: M_j = T1' A11_j T1 + I, its Cholesky factor L_j,
 *      log|L11|^2 = sum_j 2 log|L_j|, and W_j = T1 M_j^-1 T1' = G G' with G = T1 L_j^-T;
 *   3. the Schur complement S = Lr'(Arr - B W B')Lr + I_q (Lr = blockdiag of the other
 *      terms' templates, identity on the X and y rows), with B W B' from a dense B, from the
 *      stored pair products Q (targets <- Q vec(W)) or level by level from a sparse B;
 *   4. its Cholesky factor S = U'U (U upper, row-major: the lower factor of the transposed,
 *      Fortran-ordered matrix LAPACK would see), log|L_Z|^2, log|R_X|^2 and pwrss = U[r-1,r-1]^2;
 *   5. the ML deviance or REML criterion.
 *
 * Every sum runs in an order fixed by the model (levels, rows of B, columns), never by thread
 * or data-row order, and no BLAS is called, so the bits do not depend on the machine's BLAS
 * kernel or on running inside a thread pool. The GIL is released around the numeric loops.
 * Arrays cross the boundary through the buffer protocol (no NumPy headers); every buffer is
 * checked (dtype, shape, index ranges) when the Evaluator is built, and bad input raises
 * mixedfx.errors.ArgumentError / ArgumentTypeError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KMAX 32      /* largest number of columns of a term handled here */
#define TILE 256     /* rows and columns of P per tile of the level-major B W B' kernel */
#define TWO_PI 6.283185307179586476925286766559

static PyObject *ArgumentError = NULL;
static PyObject *ArgumentTypeError = NULL;

/* ------------------------------------------------------------------ buffers */

/* Strip a native/little-endian byte-order prefix from a buffer format. */
static const char *base_format(const char *f)
{
    if (f == NULL)
        return "B";
    if (*f == '@' || *f == '=' || *f == '<')
        return f + 1;
    return f;
}

static int is_float64(const Py_buffer *b)
{
    const char *f = base_format(b->format);
    return b->itemsize == 8 && f[0] == 'd' && f[1] == 0;
}

static int is_int(const Py_buffer *b, Py_ssize_t size)
{
    const char *f = base_format(b->format);
    if (b->itemsize != size || f[1] != 0)
        return 0;
    return f[0] == 'i' || f[0] == 'l' || f[0] == 'q' || f[0] == 'n';
}

/* A C-contiguous buffer of `ndim` dimensions with element kind 'd' (float64), 'i' (int32),
 * 'q' (int64) or 'x' (int32 or int64); `name` is the argument named in errors. */
static int get_array(PyObject *obj, Py_buffer *view, const char *name, char kind, int ndim,
                     int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(ArgumentTypeError,
                     "%s must be a C-contiguous%s array (a NumPy ndarray), got %.80s", name,
                     writable ? " writable" : "", Py_TYPE(obj)->tp_name);
        return -1;
    }
    int ok;
    const char *want;
    switch (kind) {
    case 'd': ok = is_float64(view); want = "float64"; break;
    case 'i': ok = is_int(view, 4); want = "int32"; break;
    case 'q': ok = is_int(view, 8); want = "int64"; break;
    default: ok = is_int(view, 4) || is_int(view, 8); want = "int32 or int64"; break;
    }
    if (!ok) {
        PyErr_Format(ArgumentTypeError, "%s must have dtype %s (buffer format '%s')", name,
                     want, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != ndim) {
        PyErr_Format(ArgumentError, "%s must have %d dimension(s), got %d", name, ndim,
                     view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static Py_ssize_t dim(const Py_buffer *b, int i) { return b->shape[i]; }

static void release(Py_buffer *b)
{
    if (b->obj != NULL)
        PyBuffer_Release(b);
}

/* ------------------------------------------------------------------ small dense algebra */

/* In place lower Cholesky factor of the k x k row-major matrix M; 0 or -1 (not PD). */
static int chol_small(double *M, int k)
{
    for (int j = 0; j < k; j++) {
        double d = M[j * k + j];
        for (int c = 0; c < j; c++)
            d -= M[j * k + c] * M[j * k + c];
        if (!(d > 0.0))
            return -1;
        d = sqrt(d);
        M[j * k + j] = d;
        for (int i = j + 1; i < k; i++) {
            double s = M[i * k + j];
            for (int c = 0; c < j; c++)
                s -= M[i * k + c] * M[j * k + c];
            M[i * k + j] = s / d;
        }
    }
    return 0;
}

/* Si[j] -= a0 R0[j] + a1 R1[j] + a2 R2[j] + a3 R3[j] for j in [0, m): four rows of the panel
 * applied in one pass over row i (restrict: the rows never overlap, so the loop vectorizes). */
static void update4(double *restrict Si, const double *restrict R0, const double *restrict R1,
                    const double *restrict R2, const double *restrict R3, double a0, double a1,
                    double a2, double a3, Py_ssize_t m)
{
    for (Py_ssize_t j = 0; j < m; j++)
        Si[j] -= ((a0 * R0[j] + a1 * R1[j]) + a2 * R2[j]) + a3 * R3[j];
}

static void update1(double *restrict Si, const double *restrict R0, double a0, Py_ssize_t m)
{
    for (Py_ssize_t j = 0; j < m; j++)
        Si[j] -= a0 * R0[j];
}

/* In place S = U'U with U upper triangular, row-major, r x r (only the upper triangle of S
 * is read; the lower triangle is zeroed on success). Right-looking in panels of four rows:
 * a panel is factored, then each trailing row i is updated by the panel's four rows in one
 * pass (columns j >= i); rows whose panel coefficients are all zero (crossed structures)
 * are skipped. The order of every sum is fixed by r alone. Returns 0, or k + 1 when the
 * k-th leading minor is not positive definite (LAPACK's info). */
static Py_ssize_t chol_upper(double *S, Py_ssize_t r)
{
    for (Py_ssize_t k0 = 0; k0 < r; k0 += 4) {
        Py_ssize_t nb = r - k0 < 4 ? r - k0 : 4;
        /* factor the panel rows k0 .. k0 + nb among themselves (all their columns) */
        for (Py_ssize_t k = k0; k < k0 + nb; k++) {
            double *Sk = S + k * r;
            double d = Sk[k];
            if (!(d > 0.0))
                return k + 1;
            d = sqrt(d);
            Sk[k] = d;
            double inv = 1.0 / d;
            for (Py_ssize_t j = k + 1; j < r; j++)
                Sk[j] *= inv;
            for (Py_ssize_t i = k + 1; i < k0 + nb; i++)
                if (Sk[i] != 0.0)
                    update1(S + i * r + i, Sk + i, Sk[i], r - i);
        }
        /* the trailing rows */
        const double *R0 = S + k0 * r;
        for (Py_ssize_t i = k0 + nb; i < r; i++) {
            double *Si = S + i * r + i;
            if (nb == 4) {
                const double *R1 = R0 + r, *R2 = R1 + r, *R3 = R2 + r;
                double a0 = R0[i], a1 = R1[i], a2 = R2[i], a3 = R3[i];
                if (a0 != 0.0 || a1 != 0.0 || a2 != 0.0 || a3 != 0.0)
                    update4(Si, R0 + i, R1 + i, R2 + i, R3 + i, a0, a1, a2, a3, r - i);
            }
            else
                for (Py_ssize_t t = 0; t < nb; t++) {
                    const double *Rt = R0 + t * r;
                    if (Rt[i] != 0.0)
                        update1(Si, Rt + i, Rt[i], r - i);
                }
        }
    }
    for (Py_ssize_t i = 1; i < r; i++)
        memset(S + i * r, 0, (size_t)i * sizeof(double));
    return 0;
}

/* ------------------------------------------------------------------ B W B' from level slices */

/* P[a, b] -= v_{a,j}' W_{start+j} v_{b,j} for each level j of the slice and its rows a <= b
 * (upper triangle of the row-major r x r P). The entries are regrouped by the tile of their
 * row, keeping level order, so that P is updated one TILE x TILE tile at a time (a tile stays
 * in cache); each entry of P still receives its levels in level order, so the sums are those
 * of the plain level-major loop, bit for bit. Returns 0 or -1 (out of memory). */
static int subtract_slice_core(const int64_t *indptr, Py_ssize_t n, const int32_t *rows,
                               const double *vals, int k1, const double *W, double *P,
                               Py_ssize_t r)
{
    Py_ssize_t nnz = (Py_ssize_t)indptr[n];
    Py_ssize_t nt = (r + TILE - 1) / TILE;
    int64_t *tptr = calloc((size_t)nt * (size_t)(n + 1), sizeof(int64_t));
    int64_t *fill = malloc(((size_t)nt * (size_t)n + 1) * sizeof(int64_t));
    int32_t *trows = malloc(((size_t)nnz + 1) * sizeof(int32_t));
    double *tvals = malloc(((size_t)nnz * (size_t)k1 + 1) * sizeof(double));
    double *tD = malloc(((size_t)nnz * (size_t)k1 + 1) * sizeof(double));
    if (!tptr || !fill || !trows || !tvals || !tD) {
        free(tptr); free(fill); free(trows); free(tvals); free(tD);
        return -1;
    }
    for (Py_ssize_t j = 0; j < n; j++)
        for (int64_t e = indptr[j]; e < indptr[j + 1]; e++)
            tptr[(rows[e] / TILE) * (n + 1) + j + 1] += 1;
    int64_t base = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        int64_t *tp = tptr + t * (n + 1);
        tp[0] = base;
        for (Py_ssize_t j = 0; j < n; j++)
            tp[j + 1] += tp[j];
        base = tp[n];
        memcpy(fill + t * n, tp, (size_t)n * sizeof(int64_t));
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        const double *Wj = W + j * k1 * k1;
        for (int64_t e = indptr[j]; e < indptr[j + 1]; e++) {
            Py_ssize_t t = rows[e] / TILE;
            int64_t q = fill[t * n + j]++;
            trows[q] = rows[e];
            for (int c = 0; c < k1; c++) {
                tvals[q * k1 + c] = vals[e * k1 + c];
                double acc = 0.0;
                for (int cc = 0; cc < k1; cc++)
                    acc += vals[e * k1 + cc] * Wj[cc * k1 + c];
                tD[q * k1 + c] = acc;
            }
        }
    }
    for (Py_ssize_t ti = 0; ti < nt; ti++) {
        for (Py_ssize_t tj = ti; tj < nt; tj++) {
            const int64_t *pa = tptr + ti * (n + 1), *pb = tptr + tj * (n + 1);
            for (Py_ssize_t j = 0; j < n; j++) {
                int64_t a0 = pa[j], a1 = pa[j + 1];
                if (a0 == a1)
                    continue;
                int64_t b0 = pb[j], b1 = pb[j + 1];
                if (b0 == b1)
                    continue;
                for (int64_t e = a0; e < a1; e++) {
                    double *Pa = P + (Py_ssize_t)trows[e] * r;
                    int64_t f0 = ti == tj ? e : b0;
                    if (k1 == 1) {
                        double d0 = tD[e];
                        for (int64_t f = f0; f < b1; f++)
                            Pa[trows[f]] -= d0 * tvals[f];
                    }
                    else if (k1 == 2) {
                        double d0 = tD[2 * e], d1 = tD[2 * e + 1];
                        for (int64_t f = f0; f < b1; f++)
                            Pa[trows[f]] -= d0 * tvals[2 * f] + d1 * tvals[2 * f + 1];
                    }
                    else {
                        for (int64_t f = f0; f < b1; f++) {
                            double acc = 0.0;
                            for (int c = 0; c < k1; c++)
                                acc += tD[e * k1 + c] * tvals[f * k1 + c];
                            Pa[trows[f]] -= acc;
                        }
                    }
                }
            }
        }
    }
    free(tptr); free(fill); free(trows); free(tvals); free(tD);
    return 0;
}

/* Validate a level slice (indptr int64 (n+1), rows int32 (nnz), vals float64 (nnz, k1))
 * against r rows; 0 or -1 with an exception set. */
static int check_slice(const Py_buffer *ip, const Py_buffer *rw, const Py_buffer *vl,
                       Py_ssize_t r, Py_ssize_t *n_out, int *k1_out)
{
    Py_ssize_t n = dim(ip, 0) - 1;
    const int64_t *indptr = ip->buf;
    const int32_t *rows = rw->buf;
    if (n < 0 || indptr[0] != 0) {
        PyErr_SetString(ArgumentError, "indptr must start at 0 and have one entry per level + 1");
        return -1;
    }
    for (Py_ssize_t j = 0; j < n; j++)
        if (indptr[j + 1] < indptr[j]) {
            PyErr_SetString(ArgumentError, "indptr must be non-decreasing");
            return -1;
        }
    Py_ssize_t nnz = dim(rw, 0);
    if (indptr[n] != nnz || dim(vl, 0) != nnz) {
        PyErr_Format(ArgumentError, "indptr ends at %lld but rows has %zd and vals %zd entries",
                     (long long)indptr[n], nnz, dim(vl, 0));
        return -1;
    }
    for (Py_ssize_t e = 0; e < nnz; e++)
        if (rows[e] < 0 || rows[e] >= r) {
            PyErr_Format(ArgumentError, "rows must lie in [0, %zd), got %d", r, (int)rows[e]);
            return -1;
        }
    Py_ssize_t k1 = dim(vl, 1);
    if (k1 < 1 || k1 > KMAX) {
        PyErr_Format(ArgumentError, "vals must have 1 to %d columns, got %zd", KMAX, k1);
        return -1;
    }
    *n_out = n;
    *k1_out = (int)k1;
    return 0;
}

/* subtract_slice(indptr, rows, vals, start, W, P): P <- P - B W B' on the upper triangle for
 * one level slice of B (levels start .. start + n of W). */
static PyObject *py_subtract_slice(PyObject *self, PyObject *args)
{
    PyObject *o_ip, *o_rw, *o_vl, *o_W, *o_P;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "OOOnOO:subtract_slice", &o_ip, &o_rw, &o_vl, &start, &o_W, &o_P))
        return NULL;
    Py_buffer ip = {0}, rw = {0}, vl = {0}, Wb = {0}, Pb = {0};
    PyObject *result = NULL;
    if (get_array(o_ip, &ip, "indptr", 'q', 1, 0) || get_array(o_rw, &rw, "rows", 'i', 1, 0) ||
        get_array(o_vl, &vl, "vals", 'd', 2, 0) || get_array(o_W, &Wb, "W", 'd', 3, 0) ||
        get_array(o_P, &Pb, "P", 'd', 2, 1))
        goto done;
    Py_ssize_t r = dim(&Pb, 0), n;
    int k1;
    if (dim(&Pb, 1) != r) {
        PyErr_SetString(ArgumentError, "P must be square");
        goto done;
    }
    if (check_slice(&ip, &rw, &vl, r, &n, &k1))
        goto done;
    if (start < 0 || dim(&Wb, 0) < start + n || dim(&Wb, 1) != k1 || dim(&Wb, 2) != k1) {
        PyErr_Format(ArgumentError, "W must have shape (>= %zd, %d, %d)", start + n, k1, k1);
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = subtract_slice_core(ip.buf, n, rw.buf, vl.buf, k1,
                             (const double *)Wb.buf + start * k1 * k1, Pb.buf, r);
    Py_END_ALLOW_THREADS
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(&ip); release(&rw); release(&vl); release(&Wb); release(&Pb);
    return result;
}

/* ------------------------------------------------------------------ the evaluator */

enum { GRAM_DENSE = 0, GRAM_PAIRS = 1, GRAM_SLICE = 2, GRAM_PAIR_ROWS = 3 };

typedef struct {
    PyObject_HEAD
    int k1;
    Py_ssize_t n1, r, q, p, nrest, ntpl, ntheta;
    double n_obs;
    int gram;
    int all_scalar_rest;
    Py_buffer A11, Arr, tmap;
    Py_buffer g0, g1, g2, g3;      /* dense: B3; pairs: data, indices, indptr, targets;
                                      pair rows: data, columns, row pointers, targets;
                                      slice: indptr, rows, vals */
    int pair_index_size;            /* 4 or 8: Q's row (pair rows: column) indices */
    Py_ssize_t ntargets;
    Py_ssize_t *roff, *rk, *rlev, *rtpl;   /* rest terms: offset, k, levels, template start */
    double *scratch;               /* cached work space (when not busy) */
    Py_ssize_t scratch_len;
    int busy;
} Evaluator;

/* doubles of work space one evaluation needs beyond P: templates, W, the dense path's row of
 * D = B W or the pair path's target sums, and a row buffer for the templates of the rest */
/* the largest r of a dense B whose B W B' is accumulated level by level beside step 2
 * (r(r+1)/2 running sums; r rows of B read in step): W is then never stored */
#define FUSED_RMAX 16

static int fused(const Evaluator *ev) { return ev->gram == GRAM_DENSE && ev->r <= FUSED_RMAX; }

static Py_ssize_t scratch_size(const Evaluator *ev)
{
    if (fused(ev))
        return ev->ntpl + KMAX * (ev->r + 1);
    Py_ssize_t s = ev->ntpl + ev->n1 * ev->k1 * ev->k1;
    Py_ssize_t extra = 0;
    if (ev->gram == GRAM_DENSE)
        extra = ev->n1 * ev->k1;
    else if (ev->gram == GRAM_PAIRS)
        extra = ev->ntargets;
    if (extra < KMAX * (ev->r + 1))
        extra = KMAX * (ev->r + 1);
    return s + extra;
}

/* The templates (packed: term 0 first, each k x k row-major) from x: theta through the map,
 * or the packed templates themselves when there is no map. */
static void fill_templates(const Evaluator *ev, const double *x, double *T)
{
    if (ev->tmap.obj == NULL) {
        memcpy(T, x, (size_t)ev->ntpl * sizeof(double));
        return;
    }
    const int64_t *map = ev->tmap.buf;
    for (Py_ssize_t i = 0; i < ev->ntpl; i++)
        T[i] = map[i] < 0 ? 0.0 : x[map[i]];
}

/* A sum of logarithms of positive numbers taken as logs of running products: one log per
 * ~100 factors instead of one per factor (the first block of a large model has one or two
 * logarithms per level). Factors outside [1e-100, 1e100] are logged one by one, and the
 * product is logged and reset when it leaves [1e-200, 1e200], so it never overflows or
 * underflows. The order of the operations is fixed by the order of the factors. */
typedef struct {
    double acc, prod;
} LogSum;

static void logsum_add(LogSum *s, double v)
{
    if (!(v <= 1e100 && v >= 1e-100)) {
        s->acc += log(v);
        return;
    }
    s->prod *= v;
    if (!(s->prod <= 1e200 && s->prod >= 1e-200)) {
        s->acc += log(s->prod);
        s->prod = 1.0;
    }
}

static double logsum_total(const LogSum *s) { return s->acc + log(s->prod); }

/* One level of step 2: from A_j (k x k) and T1, W_j = T1 M^-1 T1' (k x k, full) for
 * M = T1' A_j T1 + I, with M's Cholesky factor L's squared diagonal added to `ls`
 * (log|M| = sum_a log L_aa^2); -1 when M is not positive definite.
 * k = 2 (random intercept and slope), the common vector-valued term, is written out as
 * M = L D L' (L unit lower): d0 = m00, l = m10 / d0, d1 = m11 - l m10, and with
 * h_i = T1[i, 0], g_i = T1[i, 1] - l h_i (so T1 L^-T = [h, g]):
 * W = h h' / d0 + g g' / d1 — two divisions and no square root per level. */
static int level_w(int k, const double *Aj, const double *T1, double *Wj, LogSum *ls)
{
    if (k == 2) {
        double c00 = Aj[0] * T1[0] + Aj[1] * T1[2], c01 = Aj[0] * T1[1] + Aj[1] * T1[3];
        double c10 = Aj[2] * T1[0] + Aj[3] * T1[2], c11 = Aj[2] * T1[1] + Aj[3] * T1[3];
        double d0 = (T1[0] * c00 + T1[2] * c10) + 1.0;
        double m10 = T1[1] * c00 + T1[3] * c10;
        double m11 = (T1[1] * c01 + T1[3] * c11) + 1.0;
        if (!(d0 > 0.0))
            return -1;
        double i0 = 1.0 / d0;
        double l = m10 * i0;
        double d1 = m11 - l * m10;
        if (!(d1 > 0.0))
            return -1;
        double i1 = 1.0 / d1;
        logsum_add(ls, d0);
        logsum_add(ls, d1);
        double h0 = T1[0], h1 = T1[2];
        double g0 = T1[1] - l * h0, g1 = T1[3] - l * h1;
        Wj[0] = h0 * h0 * i0 + g0 * g0 * i1;
        Wj[1] = Wj[2] = h0 * h1 * i0 + g0 * g1 * i1;
        Wj[3] = h1 * h1 * i0 + g1 * g1 * i1;
        return 0;
    }
    double C[KMAX * KMAX], M[KMAX * KMAX], G[KMAX * KMAX];
    for (int b = 0; b < k; b++)           /* C = A_j T1 */
        for (int d = 0; d < k; d++) {
            double s = Aj[b * k] * T1[d];
            for (int c = 1; c < k; c++)
                s += Aj[b * k + c] * T1[c * k + d];
            C[b * k + d] = s;
        }
    for (int a = 0; a < k; a++)           /* M = T1' C + I */
        for (int d = 0; d < k; d++) {
            double s = T1[a] * C[d];
            for (int b = 1; b < k; b++)
                s += T1[b * k + a] * C[b * k + d];
            M[a * k + d] = s + (a == d ? 1.0 : 0.0);
        }
    if (chol_small(M, k))
        return -1;
    for (int a = 0; a < k; a++)
        logsum_add(ls, M[a * k + a] * M[a * k + a]);
    for (int i = 0; i < k; i++)           /* G = T1 L^-T: L G[i,:]' = T1[i,:]' */
        for (int a = 0; a < k; a++) {
            double s = T1[i * k + a];
            for (int b = 0; b < a; b++)
                s -= M[a * k + b] * G[i * k + b];
            G[i * k + a] = s / M[a * k + a];
        }
    for (int a = 0; a < k; a++)           /* W = G G' */
        for (int d = a; d < k; d++) {
            double s = G[a * k] * G[d * k];
            for (int c = 1; c < k; c++)
                s += G[a * k + c] * G[d * k + c];
            Wj[a * k + d] = s;
            Wj[d * k + a] = s;
        }
    return 0;
}

/* Step 2: W (n1, k1, k1) and log|L11|^2 = sum_j log|M_j|; -1 when some M_j is not
 * positive definite. */
static int first_block(const Evaluator *ev, const double *T1, double *W, double *ld1)
{
    const int k = ev->k1;
    const double *A = ev->A11.buf;
    LogSum ls = {0.0, 1.0};
    if (k == 1) {
        double t2 = T1[0] * T1[0];
        for (Py_ssize_t j = 0; j < ev->n1; j++) {
            double m = t2 * A[j] + 1.0;
            if (!(m > 0.0))
                return -1;
            W[j] = t2 / m;
            logsum_add(&ls, m);
        }
        *ld1 = logsum_total(&ls);
        return 0;
    }
    const int kk = k * k;
    for (Py_ssize_t j = 0; j < ev->n1; j++)
        if (level_w(k, A + j * kk, T1, W + j * kk, &ls))
            return -1;
    *ld1 = logsum_total(&ls);
    return 0;
}

/* Steps 2 and 3 (B W B' part) together for a dense B of at most FUSED_RMAX rows: per level
 * j, W_j (never stored), D_j = B_j W_j (r x k) and the running sums
 * s_ab += sum_c D_j[a, c] B_j[b, c] (a <= b); then P[a, b] -= s_ab. The sums run over
 * (j, c) in order, as `subtract_gram`'s dense loop runs them, so P gets the same bits;
 * `acc` holds r(r+1)/2 doubles. -1 when some M_j is not positive definite. */
static int first_block_dense(const Evaluator *ev, const double *T1, double *P, double *acc,
                             double *ld1)
{
    const int k = ev->k1;
    const Py_ssize_t r = ev->r, m = ev->n1 * k;
    const double *A = ev->A11.buf, *B = ev->g0.buf;
    LogSum ls = {0.0, 1.0};
    double Wj[KMAX * KMAX], D[FUSED_RMAX * KMAX];
    const Py_ssize_t npair = r * (r + 1) / 2;
    for (Py_ssize_t i = 0; i < npair; i++)
        acc[i] = 0.0;
    for (Py_ssize_t j = 0; j < ev->n1; j++) {
        if (k == 1) {
            double t2 = T1[0] * T1[0];
            double mj = t2 * A[j] + 1.0;
            if (!(mj > 0.0))
                return -1;
            Wj[0] = t2 / mj;
            logsum_add(&ls, mj);
        }
        else if (level_w(k, A + j * k * k, T1, Wj, &ls))
            return -1;
        const double *Bj = B + j * k;
        for (Py_ssize_t a = 0; a < r; a++)
            for (int c = 0; c < k; c++) {
                double s = Bj[a * m] * Wj[c];
                for (int d = 1; d < k; d++)
                    s += Bj[a * m + d] * Wj[d * k + c];
                D[a * k + c] = s;
            }
        Py_ssize_t i = 0;
        for (Py_ssize_t a = 0; a < r; a++)
            for (Py_ssize_t b = a; b < r; b++, i++) {
                double s = acc[i];
                for (int c = 0; c < k; c++)
                    s += D[a * k + c] * Bj[b * m + c];
                acc[i] = s;
            }
    }
    Py_ssize_t i = 0;
    for (Py_ssize_t a = 0; a < r; a++)
        for (Py_ssize_t b = a; b < r; b++, i++)
            P[a * r + b] -= acc[i];
    *ld1 = logsum_total(&ls);
    return 0;
}

/* Entry i of an int32 or int64 index array. */
static inline int64_t index_at(const Py_buffer *b, Py_ssize_t i)
{
    return b->itemsize == 4 ? (int64_t)((const int32_t *)b->buf)[i]
                            : ((const int64_t *)b->buf)[i];
}

/* Step 3, B W B' part: P <- P - B W B' on the upper triangle; work has scratch_size room. */
static int subtract_gram(const Evaluator *ev, const double *W, double *P, double *work)
{
    const Py_ssize_t r = ev->r;
    const int k = ev->k1;
    if (ev->gram == GRAM_DENSE) {
        const Py_ssize_t m = ev->n1 * k;
        const double *B = ev->g0.buf;
        double *D = work;
        for (Py_ssize_t a = 0; a < r; a++) {
            const double *Ba = B + a * m;
            if (k == 1)
                for (Py_ssize_t j = 0; j < m; j++)
                    D[j] = Ba[j] * W[j];
            else
                for (Py_ssize_t j = 0; j < ev->n1; j++) {
                    const double *Wj = W + j * k * k;
                    for (int c = 0; c < k; c++) {
                        double s = 0.0;
                        for (int d = 0; d < k; d++)
                            s += Ba[j * k + d] * Wj[d * k + c];
                        D[j * k + c] = s;
                    }
                }
            double *Pa = P + a * r;
            for (Py_ssize_t b = a; b < r; b++) {
                const double *Bb = B + b * m;
                double s = 0.0;
                for (Py_ssize_t j = 0; j < m; j++)
                    s += D[j] * Bb[j];
                Pa[b] -= s;
            }
        }
        return 0;
    }
    if (ev->gram == GRAM_PAIR_ROWS) {
        /* Q by target: each target's products in increasing column order, as the pairs
         * path adds them (the same sums, bit for bit), gathered from W (small, in cache)
         * instead of scattered into a vector of all targets */
        const double *data = ev->g0.buf;
        for (Py_ssize_t t = 0; t < ev->ntargets; t++) {
            int64_t e0 = index_at(&ev->g2, t), e1 = index_at(&ev->g2, t + 1);
            double y = 0.0;
            if (ev->pair_index_size == 4) {
                const int32_t *col = ev->g1.buf;
                for (int64_t e = e0; e < e1; e++)
                    y += data[e] * W[col[e]];
            }
            else {
                const int64_t *col = ev->g1.buf;
                for (int64_t e = e0; e < e1; e++)
                    y += data[e] * W[col[e]];
            }
            P[index_at(&ev->g3, t)] -= y;
        }
        return 0;
    }
    if (ev->gram == GRAM_PAIRS) {
        const double *data = ev->g0.buf;
        const int64_t *ptr = ev->g2.buf, *targets = ev->g3.buf;
        const Py_ssize_t ncol = ev->n1 * k * k;
        double *y = work;
        memset(y, 0, (size_t)ev->ntargets * sizeof(double));
        if (ev->pair_index_size == 4) {
            const int32_t *ind = ev->g1.buf;
            for (Py_ssize_t c = 0; c < ncol; c++) {
                double w = W[c];
                for (int64_t e = ptr[c]; e < ptr[c + 1]; e++)
                    y[ind[e]] += data[e] * w;
            }
        }
        else {
            const int64_t *ind = ev->g1.buf;
            for (Py_ssize_t c = 0; c < ncol; c++) {
                double w = W[c];
                for (int64_t e = ptr[c]; e < ptr[c + 1]; e++)
                    y[ind[e]] += data[e] * w;
            }
        }
        for (Py_ssize_t t = 0; t < ev->ntargets; t++)
            P[targets[t]] -= y[t];
        return 0;
    }
    return subtract_slice_core(ev->g0.buf, ev->n1, ev->g1.buf, ev->g2.buf, k, W, P, r);
}

/* Step 3, scaling: P <- Lr' P Lr (+ I on the random-effects diagonal). */
static void scale_rest(const Evaluator *ev, const double *T, double *P, double *work)
{
    const Py_ssize_t r = ev->r;
    if (ev->q == 0)
        return;
    if (ev->all_scalar_rest) {
        double *s = work;
        for (Py_ssize_t i = 0; i < r; i++)
            s[i] = 1.0;
        for (Py_ssize_t t = 0; t < ev->nrest; t++) {
            double v = T[ev->rtpl[t]];
            for (Py_ssize_t i = ev->roff[t]; i < ev->roff[t] + ev->rlev[t]; i++)
                s[i] = v;
        }
        for (Py_ssize_t a = 0; a < r; a++) {
            double *Pa = P + a * r;
            double sa = s[a];
            for (Py_ssize_t b = a; b < r; b++)
                Pa[b] = Pa[b] * sa * s[b];
        }
    }
    else {
        for (Py_ssize_t a = 0; a < r; a++)      /* the lower triangle from the upper */
            for (Py_ssize_t b = a + 1; b < r; b++)
                P[b * r + a] = P[a * r + b];
        double *buf = work;                     /* k rows (or columns) of P */
        for (Py_ssize_t t = 0; t < ev->nrest; t++) {
            const int k = (int)ev->rk[t];
            const double *Tt = T + ev->rtpl[t];
            for (Py_ssize_t l = 0; l < ev->rlev[t]; l++) {
                Py_ssize_t o = ev->roff[t] + l * k;
                /* rows: P[o+a, :] = sum_b T[b, a] P[o+b, :] */
                memcpy(buf, P + o * r, (size_t)(k * r) * sizeof(double));
                for (int a = 0; a < k; a++) {
                    double *dst = P + (o + a) * r;
                    for (Py_ssize_t c = 0; c < r; c++) {
                        double s = 0.0;
                        for (int b = 0; b < k; b++)
                            s += Tt[b * k + a] * buf[b * r + c];
                        dst[c] = s;
                    }
                }
                /* columns: P[:, o+a] = sum_b P[:, o+b] T[b, a] */
                for (Py_ssize_t c = 0; c < r; c++) {
                    double *row = P + c * r + o;
                    double tmp[KMAX];
                    for (int a = 0; a < k; a++) {
                        double s = 0.0;
                        for (int b = 0; b < k; b++)
                            s += row[b] * Tt[b * k + a];
                        tmp[a] = s;
                    }
                    memcpy(row, tmp, (size_t)k * sizeof(double));
                }
            }
        }
    }
    for (Py_ssize_t i = 0; i < ev->q; i++)
        P[i * r + i] += 1.0;
}

/* P <- the upper triangle of A (r x r, row-major): every step reads and writes the upper
 * triangle only (the scaling of vector-valued terms mirrors it first), so the lower half
 * of A_rr is never copied. */
static void copy_upper(double *P, const double *A, Py_ssize_t r)
{
    for (Py_ssize_t a = 0; a < r; a++)
        memcpy(P + a * r + a, A + a * r + a, (size_t)(r - a) * sizeof(double));
}

/* Steps 1-3: S into P (upper triangle valid); -1 not PD, -2 out of memory. */
static int build_schur(const Evaluator *ev, const double *x, double *P, double *scratch,
                       double *ld1)
{
    double *T = scratch, *W = T + ev->ntpl;
    double *work = fused(ev) ? W : W + ev->n1 * ev->k1 * ev->k1;
    fill_templates(ev, x, T);
    if (fused(ev)) {
        copy_upper(P, ev->Arr.buf, ev->r);
        if (first_block_dense(ev, T, P, work, ld1))
            return -1;
    }
    else {
        if (first_block(ev, T, W, ld1))
            return -1;
        copy_upper(P, ev->Arr.buf, ev->r);
        if (subtract_gram(ev, W, P, work))
            return -2;
    }
    scale_rest(ev, T, P, work);
    return 0;
}

/* Step 4 from a factored P: log|L_Z|^2, log|R_X|^2 and pwrss. */
static void factor_terms(const Evaluator *ev, const double *U, double ld1, double out[3])
{
    const Py_ssize_t r = ev->r;
    double lz = 0.0, lx = 0.0;
    for (Py_ssize_t i = 0; i < ev->q; i++)
        lz += log(U[i * r + i]);
    for (Py_ssize_t i = ev->q; i < ev->q + ev->p; i++)
        lx += log(U[i * r + i]);
    double d = U[(r - 1) * r + r - 1];
    out[0] = ld1 + 2.0 * lz;
    out[1] = 2.0 * lx;
    out[2] = d * d;
}

static double *take_scratch(Evaluator *ev, int *owned)
{
    if (!ev->busy && ev->scratch != NULL) {
        ev->busy = 1;
        *owned = 0;
        return ev->scratch;
    }
    *owned = 1;
    return malloc((size_t)ev->scratch_len * sizeof(double));
}

static void give_scratch(Evaluator *ev, double *s, int owned)
{
    if (owned)
        free(s);
    else
        ev->busy = 0;
}

/* Parse x (theta or packed templates) as a float64 vector of the right length. */
static int get_x(const Evaluator *ev, PyObject *o, Py_buffer *xb)
{
    if (get_array(o, xb, "theta", 'd', 1, 0))
        return -1;
    Py_ssize_t want = ev->tmap.obj != NULL ? ev->ntheta : ev->ntpl;
    if (dim(xb, 0) != want) {
        PyErr_Format(ArgumentError, "theta must have %zd values, got %zd", want, dim(xb, 0));
        PyBuffer_Release(xb);
        return -1;
    }
    return 0;
}

static int get_P(const Evaluator *ev, PyObject *o, Py_buffer *Pb)
{
    if (get_array(o, Pb, "P", 'd', 2, 1))
        return -1;
    if (dim(Pb, 0) != ev->r || dim(Pb, 1) != ev->r) {
        PyErr_Format(ArgumentError, "P must have shape (%zd, %zd)", ev->r, ev->r);
        PyBuffer_Release(Pb);
        return -1;
    }
    return 0;
}

/* Run build_schur (and the Cholesky when `factor`) without the GIL; returns the status
 * (0, -1 not PD, -2 no memory) and fills ld1 / out. */
static int run(Evaluator *ev, const double *x, double *P, int factor, double *ld1,
               double out[3])
{
    int owned;
    double *scratch = take_scratch(ev, &owned);
    if (scratch == NULL)
        return -2;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = build_schur(ev, x, P, scratch, ld1);
    if (rc == 0 && factor) {
        if (chol_upper(P, ev->r) != 0)
            rc = -1;
        else
            factor_terms(ev, P, *ld1, out);
    }
    Py_END_ALLOW_THREADS
    give_scratch(ev, scratch, owned);
    return rc;
}

/* The common part of schur / factor / deviance: parse (theta, P), run, release the buffers.
 * Returns the status of `run`, or -3 with an exception set when the arguments are bad. */
static int call(Evaluator *ev, PyObject *ox, PyObject *oP, int factor, double *ld1,
                double out[3])
{
    Py_buffer xb, Pb;
    if (get_x(ev, ox, &xb))
        return -3;
    if (get_P(ev, oP, &Pb)) {
        PyBuffer_Release(&xb);
        return -3;
    }
    int rc = run(ev, xb.buf, Pb.buf, factor, ld1, out);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&Pb);
    if (rc == -2)
        PyErr_NoMemory();
    return rc;
}

/* schur(x, P) -> log|L11|^2, or None when the first block is not positive definite;
 * factor(x, P) -> (log|L_Z|^2, log|R_X|^2, pwrss) or None; P then holds U (lower part 0). */
static PyObject *schur_or_factor(Evaluator *ev, PyObject *args, int factor)
{
    PyObject *ox, *oP;
    if (!PyArg_ParseTuple(args, factor ? "OO:factor" : "OO:schur", &ox, &oP))
        return NULL;
    double ld1 = 0.0, out[3];
    int rc = call(ev, ox, oP, factor, &ld1, out);
    if (rc < -1)
        return NULL;
    if (rc)
        Py_RETURN_NONE;
    if (!factor)
        return PyFloat_FromDouble(ld1);
    return Py_BuildValue("(ddd)", out[0], out[1], out[2]);
}

static PyObject *ev_schur(Evaluator *ev, PyObject *args) { return schur_or_factor(ev, args, 0); }

static PyObject *ev_factor(Evaluator *ev, PyObject *args) { return schur_or_factor(ev, args, 1); }

/* deviance(x, P, reml, ldW) -> the ML deviance (reml false) or REML criterion, +inf when
 * the system is not positive definite; P is an r x r work array. */
static PyObject *ev_deviance(Evaluator *ev, PyObject *args)
{
    PyObject *ox, *oP;
    int reml;
    double ldW;
    if (!PyArg_ParseTuple(args, "OOpd:deviance", &ox, &oP, &reml, &ldW))
        return NULL;
    double ld1 = 0.0, out[3];
    int rc = call(ev, ox, oP, 1, &ld1, out);
    if (rc < -1)
        return NULL;
    if (rc)
        return PyFloat_FromDouble(INFINITY);
    double pwrss = out[2], n = ev->n_obs, dev;
    if (!(pwrss > 0.0))
        return PyFloat_FromDouble(-INFINITY);
    if (reml) {
        double nmp = n - (double)ev->p;
        dev = out[0] - ldW + out[1] + nmp * (1.0 + log(TWO_PI * pwrss / nmp));
    }
    else
        dev = out[0] - ldW + n * (1.0 + log(TWO_PI * pwrss / n));
    return PyFloat_FromDouble(dev);
}

static void ev_dealloc(Evaluator *ev)
{
    release(&ev->A11); release(&ev->Arr); release(&ev->tmap);
    release(&ev->g0); release(&ev->g1); release(&ev->g2); release(&ev->g3);
    free(ev->roff);
    free(ev->scratch);
    Py_TYPE(ev)->tp_free((PyObject *)ev);
}

static PyMethodDef ev_methods[] = {
    {"schur", (PyCFunction)ev_schur, METH_VARARGS,
     "schur(theta, P) -> log|L11|^2 or None: the Schur complement S into P (upper triangle)."},
    {"factor", (PyCFunction)ev_factor, METH_VARARGS,
     "factor(theta, P) -> (log|L_Z|^2, log|R_X|^2, pwrss) or None; P holds S = U'U's U."},
    {"deviance", (PyCFunction)ev_deviance, METH_VARARGS,
     "deviance(theta, P, reml, ldW) -> ML deviance or REML criterion (+inf if not PD)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EvaluatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mixedfx._native.lmm.Evaluator",
    .tp_basicsize = sizeof(Evaluator),
    .tp_dealloc = (destructor)ev_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The profiled deviance of one set of LMM cross-products (build with evaluator()).",
    .tp_methods = ev_methods,
};

/* Validate the stored pair products (data, indices, indptr, targets). */
static int check_pairs(Evaluator *ev)
{
    Py_ssize_t ncol = ev->n1 * ev->k1 * ev->k1;
    Py_ssize_t nnz = dim(&ev->g0, 0);
    const int64_t *ptr = ev->g2.buf, *targets = ev->g3.buf;
    if (dim(&ev->g2, 0) != ncol + 1 || ptr[0] != 0 || ptr[ncol] != nnz ||
        dim(&ev->g1, 0) != nnz) {
        PyErr_Format(ArgumentError, "pair products: indptr must have %zd entries from 0 to the "
                     "%zd values", ncol + 1, nnz);
        return -1;
    }
    for (Py_ssize_t c = 0; c < ncol; c++)
        if (ptr[c + 1] < ptr[c]) {
            PyErr_SetString(ArgumentError, "pair products: indptr must be non-decreasing");
            return -1;
        }
    ev->ntargets = dim(&ev->g3, 0);
    for (Py_ssize_t t = 0; t < ev->ntargets; t++)
        if (targets[t] < 0 || targets[t] >= ev->r * ev->r) {
            PyErr_Format(ArgumentError, "pair products: targets must lie in [0, %zd)",
                         ev->r * ev->r);
            return -1;
        }
    ev->pair_index_size = (int)ev->g1.itemsize;
    for (Py_ssize_t e = 0; e < nnz; e++) {
        long long v = ev->pair_index_size == 4 ? ((const int32_t *)ev->g1.buf)[e]
                                               : ((const int64_t *)ev->g1.buf)[e];
        if (v < 0 || v >= ev->ntargets) {
            PyErr_Format(ArgumentError, "pair products: indices must lie in [0, %zd)",
                         ev->ntargets);
            return -1;
        }
    }
    return 0;
}

/* Validate the pair products by target (data, columns, row pointers, targets; the index
 * arrays int32 or int64). */
static int check_pair_rows(Evaluator *ev)
{
    Py_ssize_t ncol = ev->n1 * ev->k1 * ev->k1;
    Py_ssize_t nnz = dim(&ev->g0, 0);
    ev->ntargets = dim(&ev->g3, 0);
    if (dim(&ev->g2, 0) != ev->ntargets + 1 || index_at(&ev->g2, 0) != 0 ||
        index_at(&ev->g2, ev->ntargets) != nnz || dim(&ev->g1, 0) != nnz) {
        PyErr_Format(ArgumentError, "pair rows: the row pointers must have %zd entries from 0 "
                     "to the %zd values", ev->ntargets + 1, nnz);
        return -1;
    }
    for (Py_ssize_t t = 0; t < ev->ntargets; t++) {
        int64_t target = index_at(&ev->g3, t);
        if (index_at(&ev->g2, t + 1) < index_at(&ev->g2, t) || target < 0 ||
            target >= ev->r * ev->r) {
            PyErr_Format(ArgumentError, "pair rows: row pointers must be non-decreasing and "
                         "targets lie in [0, %zd)", ev->r * ev->r);
            return -1;
        }
    }
    ev->pair_index_size = (int)ev->g1.itemsize;
    for (Py_ssize_t e = 0; e < nnz; e++) {
        int64_t v = index_at(&ev->g1, e);
        if (v < 0 || v >= ncol) {
            PyErr_Format(ArgumentError, "pair rows: columns must lie in [0, %zd)", ncol);
            return -1;
        }
    }
    return 0;
}

/* evaluator(A11, Arr, p, rest, gram, tmap, ntheta, n) -> Evaluator
 *   A11   float64 (n1, k1, k1)           block-diagonal Z1'Z1
 *   Arr   float64 (r, r)                 [Z_rest X y]'[Z_rest X y]
 *   p     number of fixed effects
 *   rest  int64 (m, 3)                   per other term: row offset in Arr, k, levels
 *   gram  ("dense", B3 (r, n1, k1)) | ("pairs", data, indices, indptr, targets)
 *         | ("pair_rows", data, columns, row pointers, targets)
 *         | ("slice", indptr int64, rows int32, vals (nnz, k1))
 *   tmap  int64 (sum of k_t^2) or None   packed template entry -> theta index (-1: zero);
 *                                        None: callers pass the packed templates instead
 *   ntheta  length of theta;  n  number of observations */
static PyObject *py_evaluator(PyObject *self, PyObject *args)
{
    PyObject *oA, *oArr, *orest, *ogram, *omap;
    Py_ssize_t p, ntheta, n_obs;
    if (!PyArg_ParseTuple(args, "OOnOOOnn:evaluator", &oA, &oArr, &p, &orest, &ogram, &omap,
                          &ntheta, &n_obs))
        return NULL;
    Evaluator *ev = PyObject_New(Evaluator, &EvaluatorType);
    if (ev == NULL)
        return NULL;
    memset((char *)ev + sizeof(PyObject), 0, sizeof(Evaluator) - sizeof(PyObject));
    Py_buffer rest = {0};
    if (get_array(oA, &ev->A11, "A11", 'd', 3, 0) || get_array(oArr, &ev->Arr, "Arr", 'd', 2, 0) ||
        get_array(orest, &rest, "rest", 'q', 2, 0))
        goto fail;
    ev->n1 = dim(&ev->A11, 0);
    Py_ssize_t k1 = dim(&ev->A11, 1);
    if (k1 < 1 || k1 > KMAX || dim(&ev->A11, 2) != k1) {
        PyErr_Format(ArgumentError, "A11 must have shape (levels, k, k) with 1 <= k <= %d", KMAX);
        goto fail;
    }
    ev->k1 = (int)k1;
    ev->r = dim(&ev->Arr, 0);
    if (dim(&ev->Arr, 1) != ev->r || p < 0 || n_obs < 1 || ntheta < 0) {
        PyErr_SetString(ArgumentError, "Arr must be square, p >= 0 and n >= 1");
        goto fail;
    }
    ev->p = p;
    ev->n_obs = (double)n_obs;
    ev->ntheta = ntheta;
    if (dim(&rest, 1) != 3) {
        PyErr_SetString(ArgumentError, "rest must have shape (terms, 3)");
        goto fail;
    }
    ev->nrest = dim(&rest, 0);
    ev->roff = malloc((size_t)(4 * ev->nrest + 1) * sizeof(Py_ssize_t));
    if (ev->roff == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    ev->rk = ev->roff + ev->nrest;
    ev->rlev = ev->rk + ev->nrest;
    ev->rtpl = ev->rlev + ev->nrest;
    ev->ntpl = k1 * k1;
    ev->all_scalar_rest = 1;
    Py_ssize_t q = 0;
    for (Py_ssize_t t = 0; t < ev->nrest; t++) {
        const int64_t *row = (const int64_t *)rest.buf + 3 * t;
        if (row[0] != q || row[1] < 1 || row[1] > KMAX || row[2] < 0) {
            PyErr_SetString(ArgumentError, "rest: terms must be contiguous, with 1 <= k <= 32");
            goto fail;
        }
        ev->roff[t] = row[0];
        ev->rk[t] = row[1];
        ev->rlev[t] = row[2];
        ev->rtpl[t] = ev->ntpl;
        ev->ntpl += row[1] * row[1];
        if (row[1] != 1)
            ev->all_scalar_rest = 0;
        q += row[1] * row[2];
    }
    ev->q = q;
    if (q + p + 1 != ev->r) {
        PyErr_Format(ArgumentError, "Arr has %zd rows, expected q + p + 1 = %zd", ev->r,
                     q + p + 1);
        goto fail;
    }
    if (omap != Py_None) {
        if (get_array(omap, &ev->tmap, "tmap", 'q', 1, 0))
            goto fail;
        if (dim(&ev->tmap, 0) != ev->ntpl) {
            PyErr_Format(ArgumentError, "tmap must have %zd entries", ev->ntpl);
            goto fail;
        }
        const int64_t *map = ev->tmap.buf;
        for (Py_ssize_t i = 0; i < ev->ntpl; i++)
            if (map[i] >= ntheta) {
                PyErr_Format(ArgumentError, "tmap entries must be < %zd", ntheta);
                goto fail;
            }
    }
    if (!PyTuple_Check(ogram) || PyTuple_GET_SIZE(ogram) < 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(ogram, 0))) {
        PyErr_SetString(ArgumentTypeError, "gram must be a tuple (kind, arrays...)");
        goto fail;
    }
    const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(ogram, 0));
    Py_ssize_t glen = PyTuple_GET_SIZE(ogram);
    if (kind == NULL)
        goto fail;
    if (strcmp(kind, "dense") == 0 && glen == 2) {
        ev->gram = GRAM_DENSE;
        if (get_array(PyTuple_GET_ITEM(ogram, 1), &ev->g0, "B3", 'd', 3, 0))
            goto fail;
        if (dim(&ev->g0, 0) != ev->r || dim(&ev->g0, 1) != ev->n1 || dim(&ev->g0, 2) != k1) {
            PyErr_Format(ArgumentError, "B3 must have shape (%zd, %zd, %zd)", ev->r, ev->n1, k1);
            goto fail;
        }
    }
    else if (strcmp(kind, "pairs") == 0 && glen == 5) {
        ev->gram = GRAM_PAIRS;
        if (get_array(PyTuple_GET_ITEM(ogram, 1), &ev->g0, "data", 'd', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 2), &ev->g1, "indices", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 3), &ev->g2, "indptr", 'q', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 4), &ev->g3, "targets", 'q', 1, 0) ||
            check_pairs(ev))
            goto fail;
    }
    else if (strcmp(kind, "pair_rows") == 0 && glen == 5) {
        ev->gram = GRAM_PAIR_ROWS;
        if (get_array(PyTuple_GET_ITEM(ogram, 1), &ev->g0, "data", 'd', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 2), &ev->g1, "columns", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 3), &ev->g2, "row pointers", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 4), &ev->g3, "targets", 'x', 1, 0) ||
            check_pair_rows(ev))
            goto fail;
    }
    else if (strcmp(kind, "slice") == 0 && glen == 4) {
        ev->gram = GRAM_SLICE;
        Py_ssize_t n;
        int ks;
        if (get_array(PyTuple_GET_ITEM(ogram, 1), &ev->g0, "indptr", 'q', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 2), &ev->g1, "rows", 'i', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 3), &ev->g2, "vals", 'd', 2, 0) ||
            check_slice(&ev->g0, &ev->g1, &ev->g2, ev->r, &n, &ks))
            goto fail;
        if (n != ev->n1 || ks != ev->k1) {
            PyErr_SetString(ArgumentError, "the level slice must cover every level of A11");
            goto fail;
        }
    }
    else {
        PyErr_Format(ArgumentError, "gram must be ('dense', B3), ('pairs', data, indices, "
                     "indptr, targets), ('pair_rows', data, columns, row pointers, targets) "
                     "or ('slice', indptr, rows, vals), got '%s' with %zd arrays", kind,
                     glen - 1);
        goto fail;
    }
    ev->scratch_len = scratch_size(ev);
    ev->scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    if (ev->scratch == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    release(&rest);
    return (PyObject *)ev;
fail:
    release(&rest);
    Py_DECREF(ev);
    return NULL;
}

/* many thetas in one call, and the optimizer loop in C (defined at the end of the file) */
static PyObject *py_deviance_many(PyObject *self, PyObject *args);
static PyObject *py_bind_nlopt(PyObject *self, PyObject *args);
static PyObject *py_minimize(PyObject *self, PyObject *args);
static PyObject *py_newton(PyObject *self, PyObject *args);

static PyMethodDef module_methods[] = {
    {"evaluator", py_evaluator, METH_VARARGS,
     "evaluator(A11, Arr, p, rest, gram, tmap, ntheta, n) -> Evaluator of the profiled "
     "deviance for these cross-products."},
    {"subtract_slice", py_subtract_slice, METH_VARARGS,
     "subtract_slice(indptr, rows, vals, start, W, P): P <- P - B W B' (upper triangle) for "
     "one level-major slice of B."},
    {"deviance_many", py_deviance_many, METH_VARARGS,
     "deviance_many(ev, X, P, reml, ldW, out): out[i] <- deviance at row i of X (as "
     "Evaluator.deviance)."},
    {"bind_nlopt", py_bind_nlopt, METH_VARARGS,
     "bind_nlopt(addresses): the NLopt C functions minimize calls."},
    {"minimize", py_minimize, METH_VARARGS,
     "minimize(ev, P, reml, ldW, algorithm, x, lower, upper, xtol, ftol, maxeval, step, "
     "inf_limit, best, bad) -> (code, minf, evaluations, best_f, stop)."},
    {"newton", py_newton, METH_VARARGS,
     "newton(ev, P, reml, ldW, x, lower, upper, delta, ftol, maxiter, g, H) -> (status, f, "
     "evaluations, iterations, trace of H^-1): Newton's method with deriv12's derivatives "
     "(lmm_newton.h)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lmm_module = {
    PyModuleDef_HEAD_INIT, "mixedfx._native.lmm",
    "The compiled profiled-deviance evaluation of a linear mixed model.", -1, module_methods,
};

PyMODINIT_FUNC PyInit_lmm(void)
{
    PyObject *errors = PyImport_ImportModule("mixedfx.errors");
    if (errors == NULL)
        return NULL;
    ArgumentError = PyObject_GetAttrString(errors, "ArgumentError");
    ArgumentTypeError = PyObject_GetAttrString(errors, "ArgumentTypeError");
    Py_DECREF(errors);
    if (ArgumentError == NULL || ArgumentTypeError == NULL)
        return NULL;
    if (PyType_Ready(&EvaluatorType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&lmm_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&EvaluatorType);
    if (PyModule_AddObject(m, "Evaluator", (PyObject *)&EvaluatorType) < 0) {
        Py_DECREF(&EvaluatorType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------------------------ many thetas; the optimizer loop
 *
 * A small model's evaluation takes a microsecond or two, less than a call from Python costs:
 * `deviance_many` evaluates the deviance at every row of a matrix of thetas (the finite
 * differences of lme4's convergence checks) and `minimize` runs NLopt's optimizer with this
 * file's deviance as its C objective, so that no evaluation crosses into Python. Both compute
 * each value exactly as Evaluator.deviance does (same functions, same order), and `minimize`
 * calls the NLopt library the `nlopt` Python package wraps, through the addresses of its C
 * functions (`bind_nlopt`, given by mixedfx.lmm.native_opt): the optimizer sees the same
 * values and takes the same path as when it calls back into Python. Both take theta (a
 * template map is required) and keep the GIL during `minimize` (NLopt's per-run state is not
 * documented as thread-safe). */

/* The ML deviance or REML criterion at x into *dev, with the arithmetic of ev_deviance
 * (+inf when the system is not positive definite, -inf when pwrss <= 0); -2 when out of
 * memory, else 0. */
static int deviance_at(const Evaluator *ev, const double *x, double *P, double *scratch,
                       int reml, double ldW, double *dev)
{
    double ld1 = 0.0, out[3];
    int rc = build_schur(ev, x, P, scratch, &ld1);
    if (rc == -2)
        return -2;
    if (rc == 0 && chol_upper(P, ev->r) != 0)
        rc = -1;
    if (rc) {
        *dev = INFINITY;
        return 0;
    }
    factor_terms(ev, P, ld1, out);
    double pwrss = out[2], n = ev->n_obs;
    if (!(pwrss > 0.0)) {
        *dev = -INFINITY;
        return 0;
    }
    if (reml) {
        double nmp = n - (double)ev->p;
        *dev = out[0] - ldW + out[1] + nmp * (1.0 + log(TWO_PI * pwrss / nmp));
    }
    else
        *dev = out[0] - ldW + n * (1.0 + log(TWO_PI * pwrss / n));
    return 0;
}

static int check_evaluator(PyObject *o)
{
    if (!PyObject_TypeCheck(o, &EvaluatorType)) {
        PyErr_Format(ArgumentTypeError, "ev must be an Evaluator, got %.80s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (((Evaluator *)o)->tmap.obj == NULL) {
        PyErr_SetString(ArgumentError, "the evaluator has no template map (takes templates, "
                        "not theta)");
        return -1;
    }
    return 0;
}

/* deviance_many(ev, X, P, reml, ldW, out): out[i] = the deviance at X[i] (m x ntheta). */
static PyObject *py_deviance_many(PyObject *self, PyObject *args)
{
    PyObject *oev, *oX, *oP, *oout;
    int reml;
    double ldW;
    if (!PyArg_ParseTuple(args, "OOOpdO:deviance_many", &oev, &oX, &oP, &reml, &ldW, &oout))
        return NULL;
    if (check_evaluator(oev))
        return NULL;
    Evaluator *ev = (Evaluator *)oev;
    Py_buffer Xb = {0}, Pb = {0}, ob = {0};
    PyObject *result = NULL;
    double *scratch = NULL;
    if (get_array(oX, &Xb, "X", 'd', 2, 0) || get_P(ev, oP, &Pb) ||
        get_array(oout, &ob, "out", 'd', 1, 1))
        goto done;
    Py_ssize_t m = dim(&Xb, 0);
    if (dim(&Xb, 1) != ev->ntheta || dim(&ob, 0) != m) {
        PyErr_Format(ArgumentError, "X must have shape (m, %zd) and out m values", ev->ntheta);
        goto done;
    }
    scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m && rc == 0; i++)
        rc = deviance_at(ev, (const double *)Xb.buf + i * ev->ntheta, Pb.buf, scratch, reml,
                         ldW, (double *)ob.buf + i);
    Py_END_ALLOW_THREADS
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    free(scratch);
    release(&Xb); release(&Pb); release(&ob);
    return result;
}

/* NLopt's C interface (nlopt.h), as the functions' addresses */
typedef double (*nlopt_func_t)(unsigned, const double *, double *, void *);
static struct {
    void *(*create)(int, unsigned);
    void (*destroy)(void *);
    int (*set_lower_bounds)(void *, const double *);
    int (*set_upper_bounds)(void *, const double *);
    int (*set_min_objective)(void *, nlopt_func_t, void *);
    int (*set_xtol_abs1)(void *, double);
    int (*set_ftol_abs)(void *, double);
    int (*set_maxeval)(void *, int);
    int (*set_initial_step)(void *, const double *);
    int (*optimize)(void *, double *, double *);
    int (*force_stop)(void *);
} nlopt_api;
static int nlopt_bound = 0;

/* bind_nlopt((create, destroy, set_lower_bounds, set_upper_bounds, set_min_objective,
 *             set_xtol_abs1, set_ftol_abs, set_maxeval, set_initial_step, optimize,
 *             force_stop)) with each entry the address of that nlopt_* function */
static PyObject *py_bind_nlopt(PyObject *self, PyObject *args)
{
    PyObject *t;
    if (!PyArg_ParseTuple(args, "O!:bind_nlopt", &PyTuple_Type, &t))
        return NULL;
    void *a[11];
    if (PyTuple_GET_SIZE(t) != 11) {
        PyErr_SetString(ArgumentError, "bind_nlopt takes the addresses of 11 functions");
        return NULL;
    }
    for (int i = 0; i < 11; i++) {
        a[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(t, i));
        if (a[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(ArgumentError, "bind_nlopt: a function address is NULL");
            return NULL;
        }
    }
    nlopt_api.create = (void *(*)(int, unsigned))a[0];
    nlopt_api.destroy = (void (*)(void *))a[1];
    nlopt_api.set_lower_bounds = (int (*)(void *, const double *))a[2];
    nlopt_api.set_upper_bounds = (int (*)(void *, const double *))a[3];
    nlopt_api.set_min_objective = (int (*)(void *, nlopt_func_t, void *))a[4];
    nlopt_api.set_xtol_abs1 = (int (*)(void *, double))a[5];
    nlopt_api.set_ftol_abs = (int (*)(void *, double))a[6];
    nlopt_api.set_maxeval = (int (*)(void *, int))a[7];
    nlopt_api.set_initial_step = (int (*)(void *, const double *))a[8];
    nlopt_api.optimize = (int (*)(void *, double *, double *))a[9];
    nlopt_api.force_stop = (int (*)(void *))a[10];
    nlopt_bound = 1;
    Py_RETURN_NONE;
}

enum { STOP_NONE = 0, STOP_NAN = 1, STOP_NEGINF = 2, STOP_INF_STREAK = 3, STOP_MEMORY = 4 };

typedef struct {
    const Evaluator *ev;
    double *P, *scratch, *best, *bad;
    int reml;
    double ldW;
    void *opt;
    long evaluations, streak, inf_limit;
    double best_f;
    int have_best, stop;
} MinData;

/* The objective NLopt calls: the deviance, with the checks of mixedfx.optimize.driver._Guard
 * (NaN and -inf stop the run, +inf at every one of the first `inf_limit` points stops it,
 * the best point is kept). */
static double min_objective(unsigned n, const double *x, double *grad, void *data)
{
    MinData *d = data;
    double v;
    (void)grad;
    d->evaluations++;
    if (deviance_at(d->ev, x, d->P, d->scratch, d->reml, d->ldW, &v)) {
        d->stop = STOP_MEMORY;
        nlopt_api.force_stop(d->opt);
        return HUGE_VAL;
    }
    if (isnan(v) || v == -INFINITY) {
        d->stop = isnan(v) ? STOP_NAN : STOP_NEGINF;
        memcpy(d->bad, x, n * sizeof(double));
        nlopt_api.force_stop(d->opt);
        return v;
    }
    if (v < d->best_f) {
        d->best_f = v;
        d->have_best = 1;
        memcpy(d->best, x, n * sizeof(double));
    }
    if (v == INFINITY) {
        d->streak++;
        if (!d->have_best && d->streak >= d->inf_limit) {
            d->stop = STOP_INF_STREAK;
            nlopt_api.force_stop(d->opt);
        }
    }
    else
        d->streak = 0;
    return v;
}

/* minimize(ev, P, reml, ldW, algorithm, x, lower, upper, xtol, ftol, maxeval, step,
 *          inf_limit, best, bad) -> (code, minf, evaluations, best_f, stop)
 * x: the start on entry, NLopt's point on return; step: None or the initial step;
 * best / bad: receive the best point and the point where a NaN or -inf stopped the run. */
static PyObject *py_minimize(PyObject *self, PyObject *args)
{
    PyObject *oev, *oP, *ox, *olo, *ohi, *ostep, *obest, *obad;
    int reml, algorithm, maxeval;
    long inf_limit;
    double ldW, xtol, ftol;
    if (!PyArg_ParseTuple(args, "OOpdiOOOddiOlOO:minimize", &oev, &oP, &reml, &ldW,
                          &algorithm, &ox, &olo, &ohi, &xtol, &ftol, &maxeval, &ostep,
                          &inf_limit, &obest, &obad))
        return NULL;
    if (!nlopt_bound) {
        PyErr_SetString(ArgumentError, "minimize needs bind_nlopt first");
        return NULL;
    }
    if (check_evaluator(oev))
        return NULL;
    Evaluator *ev = (Evaluator *)oev;
    Py_ssize_t n = ev->ntheta;
    Py_buffer Pb = {0}, xb = {0}, lb = {0}, hb = {0}, sb = {0}, bb = {0}, db = {0};
    PyObject *result = NULL;
    double *scratch = NULL;
    void *opt = NULL;
    if (get_P(ev, oP, &Pb) || get_array(ox, &xb, "x", 'd', 1, 1) ||
        get_array(olo, &lb, "lower", 'd', 1, 0) || get_array(ohi, &hb, "upper", 'd', 1, 0) ||
        (ostep != Py_None && get_array(ostep, &sb, "step", 'd', 1, 0)) ||
        get_array(obest, &bb, "best", 'd', 1, 1) || get_array(obad, &db, "bad", 'd', 1, 1))
        goto done;
    if (n < 1 || dim(&xb, 0) != n || dim(&lb, 0) != n || dim(&hb, 0) != n ||
        dim(&bb, 0) != n || dim(&db, 0) != n || (sb.obj != NULL && dim(&sb, 0) != n)) {
        PyErr_Format(ArgumentError, "x, lower, upper, step, best and bad must have %zd values",
                     n);
        goto done;
    }
    scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    opt = scratch == NULL ? NULL : nlopt_api.create(algorithm, (unsigned)n);
    if (opt == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    MinData d = {ev, Pb.buf, scratch, bb.buf, db.buf, reml, ldW, opt, 0, 0, inf_limit,
                 INFINITY, 0, STOP_NONE};
    if (nlopt_api.set_lower_bounds(opt, lb.buf) < 0 ||
        nlopt_api.set_upper_bounds(opt, hb.buf) < 0 ||
        nlopt_api.set_min_objective(opt, min_objective, &d) < 0 ||
        nlopt_api.set_xtol_abs1(opt, xtol) < 0 || nlopt_api.set_ftol_abs(opt, ftol) < 0 ||
        nlopt_api.set_maxeval(opt, maxeval) < 0 ||
        (sb.obj != NULL && nlopt_api.set_initial_step(opt, sb.buf) < 0)) {
        PyErr_SetString(ArgumentError, "NLopt refused the optimizer's settings");
        goto done;
    }
    double minf = HUGE_VAL;
    int code = nlopt_api.optimize(opt, xb.buf, &minf);
    if (d.stop == STOP_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(idldi)", code, minf, d.evaluations, d.best_f, d.stop);
done:
    if (opt != NULL)
        nlopt_api.destroy(opt);
    free(scratch);
    release(&Pb); release(&xb); release(&lb); release(&hb); release(&sb); release(&bb);
    release(&db);
    return result;
}

#include "lmm_newton.h"   /* newton: a refit's optimization from a nearby optimum */
