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
 * kernel or on running inside a thread pool. (The one exception is factor_sn, the supernodal
 * factor of a large sparse S, which calls SciPy's LAPACK / BLAS as the dense path's dpotrf
 * does; see its section.) The GIL is released around the numeric loops.
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

/* The entries of a reordered S (supernodal plan) as one stream sorted by their place in P:
 * the targets (A_ab - (B W B')_ab) and the other nonzeros of Arr (A_ab alone, no products),
 * each with its Arr value, its rows' terms and its products of Q copied beside it, so that
 * building S reads every array once, front to back, and writes P column by column. */
typedef struct {
    Py_ssize_t n;                  /* entries */
    int64_t *colp;                 /* column c of the Fortran-ordered P: colp[c] .. colp[c+1] */
    int32_t *row;                  /* each entry's row (>= its column) */
    double *A;                     /* each entry's A_ab */
    unsigned char *term;           /* each entry's row and column terms (2 per entry) */
    int64_t *qp;                   /* each entry's products: q[qp[i] .. qp[i+1]] */
    double *q;
    int32_t *qc;                   /* ... and their columns of W (levels or classes) */
} SnStream;

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
    Py_buffer g4;                  /* pair rows by class: the level standing for each
                                      class (columns then index classes), else unset */
    Py_ssize_t nclass;             /* columns of Q: classes, or n1 k1^2 */
    unsigned char *tterm;          /* fused S (pair rows): the rest terms of each target's
                                      row and column (nrest: an X or y row), 2 per target */
    int64_t *xpos;                 /* ... and A_rr's upper nonzeros that are not targets */
    unsigned char *xterm;
    Py_ssize_t nextra;
    Py_ssize_t nsn, maxw, maxm;    /* supernodes; widest; most rows below one */
    int64_t *snp, *srp;            /* supernode s: columns snp[s] .. snp[s+1], rows below
                                      srows[srp[s] .. srp[s+1]] */
    int32_t *srows;
    SnStream *stream;              /* S's entries in the supernodal order (set_order), else
                                      NULL */
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
    if (fused(ev))       /* k = 2: every level's W_j too (first_block_dense_pair) */
        return ev->ntpl + KMAX * (ev->r + 1) + (ev->k1 == 2 ? 4 * ev->n1 : 0);
    Py_ssize_t s = ev->ntpl + ev->n1 * ev->k1 * ev->k1;
    if (ev->g4.obj != NULL)
        s += ev->nclass;               /* W by class */
    Py_ssize_t extra = 0;
    if (ev->gram == GRAM_DENSE)
        extra = ev->n1 * ev->k1;
    else if (ev->gram == GRAM_PAIRS)
        extra = ev->ntargets;
    if (extra < KMAX * (ev->r + 1))
        extra = KMAX * (ev->r + 1);
    if (ev->nsn > 0)                   /* the supernodal panel and its update */
        extra += ev->maxm * ev->maxw + ev->maxm * ev->maxm;
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

static inline void logsum_add(LogSum *s, double v)
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
static inline int level_w2(const double *Aj, const double *T1, double *Wj, LogSum *ls)
{
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

static int level_w(int k, const double *Aj, const double *T1, double *Wj, LogSum *ls)
{
    if (k == 2)
        return level_w2(Aj, T1, Wj, ls);
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

/* first_block_dense for a scalar first term (k = 1), with the same operations in the same
 * order: per level w_j = t^2 / m_j, D_a = B[a, j] w_j and acc_ab += D_a B[b, j] (a <= b).
 * Level j's column of B is copied to a contiguous row first, so that the updates of the
 * running sums, independent of each other, run as vector operations (each sum still gets
 * one product and one addition per level, so the bits are those of the general loop). */
static int first_block_dense_scalar(const Evaluator *ev, const double *T1, double *P,
                                    double *acc, double *ld1)
{
    const Py_ssize_t r = ev->r, m = ev->n1;
    const double *A = ev->A11.buf, *B = ev->g0.buf;
    const double t2 = T1[0] * T1[0];
    LogSum ls = {0.0, 1.0};
    double col[FUSED_RMAX], D[FUSED_RMAX];
    const Py_ssize_t npair = r * (r + 1) / 2;
    for (Py_ssize_t i = 0; i < npair; i++)
        acc[i] = 0.0;
    for (Py_ssize_t j = 0; j < m; j++) {
        double mj = t2 * A[j] + 1.0;
        if (!(mj > 0.0))
            return -1;
        double wj = t2 / mj;
        logsum_add(&ls, mj);
        for (Py_ssize_t a = 0; a < r; a++) {
            col[a] = B[a * m + j];
            D[a] = col[a] * wj;
        }
        double *acc_a = acc;
        for (Py_ssize_t a = 0; a < r; a++) {
            const double da = D[a];
            for (Py_ssize_t b = a; b < r; b++)
                acc_a[b - a] += da * col[b];
            acc_a += r - a;
        }
    }
    Py_ssize_t i = 0;
    for (Py_ssize_t a = 0; a < r; a++)
        for (Py_ssize_t b = a; b < r; b++, i++)
            P[a * r + b] -= acc[i];
    *ld1 = logsum_total(&ls);
    return 0;
}

/* first_block_dense for a first term of two columns (k = 2, a random intercept and slope),
 * with the same operations in the same order: per level W_j (level_w2), D_a = B_a,j W_j
 * and acc_ab = (acc_ab + D_a0 B_b,j0) + D_a1 B_b,j1 (a <= b), level j's columns of B
 * copied to contiguous rows first. The W_j of all levels are formed first (after acc in
 * the scratch, 4 n1 doubles), in level order: each level's two divisions no longer wait
 * behind the previous level's sums. */
static int first_block_dense_pair(const Evaluator *ev, const double *T1, double *P,
                                  double *acc, double *ld1)
{
    const Py_ssize_t r = ev->r, m = ev->n1 * 2;
    const double *A = ev->A11.buf, *B = ev->g0.buf;
    LogSum ls = {0.0, 1.0};
    double col0[FUSED_RMAX], col1[FUSED_RMAX], D0[FUSED_RMAX], D1[FUSED_RMAX];
    const Py_ssize_t npair = r * (r + 1) / 2;
    /* every level's W_j first (the levels' divisions then overlap), then the sums */
    double *W = acc + npair;
    for (Py_ssize_t j = 0; j < ev->n1; j++)
        if (level_w2(A + j * 4, T1, W + j * 4, &ls))
            return -1;
    for (Py_ssize_t i = 0; i < npair; i++)
        acc[i] = 0.0;
    for (Py_ssize_t j = 0; j < ev->n1; j++) {
        const double *Wj = W + j * 4;
        const double *Bj = B + j * 2;
        for (Py_ssize_t a = 0; a < r; a++) {
            double c0 = Bj[a * m], c1 = Bj[a * m + 1];
            col0[a] = c0;
            col1[a] = c1;
            D0[a] = c0 * Wj[0] + c1 * Wj[2];
            D1[a] = c0 * Wj[1] + c1 * Wj[3];
        }
        double *acc_a = acc;
        for (Py_ssize_t a = 0; a < r; a++) {
            const double d0 = D0[a], d1 = D1[a];
            for (Py_ssize_t b = a; b < r; b++)
                acc_a[b - a] = (acc_a[b - a] + d0 * col0[b]) + d1 * col1[b];
            acc_a += r - a;
        }
    }
    Py_ssize_t i = 0;
    for (Py_ssize_t a = 0; a < r; a++)
        for (Py_ssize_t b = a; b < r; b++, i++)
            P[a * r + b] -= acc[i];
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
    if (k == 1)
        return first_block_dense_scalar(ev, T1, P, acc, ld1);
    if (k == 2)
        return first_block_dense_pair(ev, T1, P, acc, ld1);
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

/* (B W B') at target t from Q by target: sum_e Q_e W[column_e] in increasing column order
 * (W indexed by Q's columns: the levels' W, or W by class). */
static inline double pair_row_sum(const Evaluator *ev, Py_ssize_t t, const double *W)
{
    const double *data = ev->g0.buf;
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
    return y;
}

/* Step 3 in one pass over the targets, for pair rows and scalar rest terms (ev->tterm set):
 * S = Lr'(Arr - B W B')Lr + I_q with Lr diagonal, one factor s_t per term (1 on the X and
 * y rows). Every upper entry of S is either a target (A_ab - y_ab) s_a s_b, a nonzero of
 * Arr outside the targets A_ab s_a s_b, or 0, so P's upper triangle is zeroed and only
 * those entries written: no pass copying Arr and none scaling P. Each entry gets the
 * bits of copy_upper + subtract_gram + scale_rest: ((A_ab - y) s_a) s_b. */
static void fused_targets_schur(const Evaluator *ev, const double *T, const double *W,
                                double *P)
{
    const Py_ssize_t r = ev->r;
    const double *A = ev->Arr.buf;
    double s[256];
    for (Py_ssize_t t = 0; t < ev->nrest; t++)
        s[t] = T[ev->rtpl[t]];
    s[ev->nrest] = 1.0;
    for (Py_ssize_t a = 0; a < r; a++)
        memset(P + a * r + a, 0, (size_t)(r - a) * sizeof(double));
    const unsigned char *tt = ev->tterm;
    for (Py_ssize_t t = 0; t < ev->ntargets; t++) {
        int64_t g = index_at(&ev->g3, t);
        P[g] = ((A[g] - pair_row_sum(ev, t, W)) * s[tt[2 * t]]) *
                            s[tt[2 * t + 1]];
    }
    for (Py_ssize_t e = 0; e < ev->nextra; e++) {
        int64_t g = ev->xpos[e];
        P[g] = (A[g] * s[ev->xterm[2 * e]]) * s[ev->xterm[2 * e + 1]];
    }
    for (Py_ssize_t i = 0; i < ev->q; i++)
        P[i * r + i] += 1.0;
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
        for (Py_ssize_t t = 0; t < ev->ntargets; t++)
            P[index_at(&ev->g3, t)] -= pair_row_sum(ev, t, W);
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

static int build_schur_in(const Evaluator *ev, const double *x, double *P, double *scratch,
                          double *ld1, int ordered);
static void stream_schur(const Evaluator *ev, const double *T, const double *W, double *P);

/* Steps 1-3: S into P (upper triangle valid); -1 not PD, -2 out of memory. */
static int build_schur(const Evaluator *ev, const double *x, double *P, double *scratch,
                       double *ld1)
{
    return build_schur_in(ev, x, P, scratch, ld1, 0);
}

/* build_schur, with S's rows and columns in the supernodal order when `ordered`. */
static int build_schur_in(const Evaluator *ev, const double *x, double *P, double *scratch,
                          double *ld1, int ordered)
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
        const double *Wq = W;          /* W as Q's columns index it */
        if (ev->g4.obj != NULL) {      /* by class: one level's W stands for its class */
            const int64_t *rep = ev->g4.buf;
            double *Wc = work;
            for (Py_ssize_t c = 0; c < ev->nclass; c++)
                Wc[c] = W[rep[c]];
            Wq = Wc;
            work += ev->nclass;
        }
        if (ev->tterm != NULL) {
            if (ordered)
                stream_schur(ev, T, Wq, P);
            else
                fused_targets_schur(ev, T, Wq, P);
            return 0;
        }
        copy_upper(P, ev->Arr.buf, ev->r);
        if (subtract_gram(ev, Wq, P, work))
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

static void stream_free(SnStream *st)
{
    if (st == NULL)
        return;
    free(st->colp); free(st->row); free(st->A); free(st->term); free(st->qp); free(st->q);
    free(st->qc);
    free(st);
}

static void ev_dealloc(Evaluator *ev)
{
    release(&ev->A11); release(&ev->Arr); release(&ev->tmap);
    release(&ev->g0); release(&ev->g1); release(&ev->g2); release(&ev->g3);
    release(&ev->g4);
    free(ev->roff);
    free(ev->tterm); free(ev->xpos); free(ev->xterm);
    free(ev->snp); free(ev->srp); free(ev->srows);
    stream_free(ev->stream);
    free(ev->scratch);
    Py_TYPE(ev)->tp_free((PyObject *)ev);
}

/* ------------------------------------------------------------------ supernodal Cholesky
 *
 * For a large, sparse S (crossed terms: InstEval's 1,145 rows are 20% nonzero) the rows and
 * columns are reordered once (mixedfx.lmm.supernodal: minimum degree, postordered elimination
 * tree, relaxed supernodes; the X and y rows stay last) and S is built straight in that order
 * (stream_schur). The factor is then computed supernode by
 * supernode, right-looking, in P itself read as the Fortran-ordered lower triangle
 * A(i, j) = P[j * r + i] (i >= j):
 *
 *   for each supernode J = [j0, j1) with rows R below it:
 *     A(J, J) <- chol(A(J, J))                           (LAPACK dpotrf, or a square root)
 *     F = A(R, J) L_JJ^-T                                (gathered, BLAS dtrsm)
 *     A(R, R) <- A(R, R) - F F'                          (BLAS dsyrk, scattered back)
 *
 * Only the diagonal of the factor is kept (the log-determinants and pwrss read nothing
 * else), so F is never written back. The BLAS and LAPACK routines are SciPy's
 * (scipy.linalg.cython_blas / cython_lapack, bound once by bind_blas); with one BLAS thread,
 * as a fit of this size runs, the sums follow the factor's structure alone. Supernodes
 * narrower than SN_BLAS_MIN columns are updated by plain loops. */

typedef void (*potrf_fn)(char *, int *, double *, int *, int *);
typedef void (*trsm_fn)(char *, char *, char *, char *, int *, int *, double *, double *, int *,
                        double *, int *);
typedef void (*syrk_fn)(char *, char *, int *, int *, double *, double *, int *, double *,
                        double *, int *);
static struct {
    potrf_fn potrf;
    trsm_fn trsm;
    syrk_fn syrk;
} blas_api;

#define SN_BLAS_MIN 4

/* The supernodal factor of the reordered S in P; work holds maxm * (maxw + maxm) doubles.
 * Returns 0, or k + 1 when the k-th leading minor is not positive definite. */
static Py_ssize_t sn_factor(const Evaluator *ev, double *A, double *work)
{
    int r = (int)ev->r;
    double one = 1.0;
    double *F = work, *C = work + ev->maxm * ev->maxw;
    char cL = 'L', cR = 'R', cT = 'T', cN = 'N';
    /* C is zero between updates: zeroed once here, each entry the scatter reads is zeroed
     * again after it (in cache), and dsyrk (beta = 1) touches no other; so dsyrk need not
     * clear its m x m output for every supernode (with beta = 0 OpenBLAS does, ~10 MB of
     * stores an InstEval evaluation). 0 + x is x: the same update as with beta = 0. */
    memset(C, 0, (size_t)(ev->maxm * ev->maxm) * sizeof(double));
    for (Py_ssize_t sn = 0; sn < ev->nsn; sn++) {
        int j0 = (int)ev->snp[sn], w = (int)(ev->snp[sn + 1] - ev->snp[sn]);
        int m = (int)(ev->srp[sn + 1] - ev->srp[sn]);
        const int32_t *R = ev->srows + ev->srp[sn];
        double *D = A + (Py_ssize_t)j0 * r + j0;
        if (w == 1) {
            if (!(D[0] > 0.0))
                return j0 + 1;
            D[0] = sqrt(D[0]);
        }
        else {
            int info = 0;
            blas_api.potrf(&cL, &w, D, &r, &info);
            if (info != 0)
                return j0 + info;
        }
        if (m == 0)
            continue;
        for (int c = 0; c < w; c++) {                 /* F = A(R, J) */
            const double *col = A + (Py_ssize_t)(j0 + c) * r;
            for (int i = 0; i < m; i++)
                F[(Py_ssize_t)c * m + i] = col[R[i]];
        }
        if (w == 1) {
            double d = D[0];
            for (int i = 0; i < m; i++)
                F[i] /= d;
        }
        else
            blas_api.trsm(&cR, &cL, &cT, &cN, &m, &w, &one, D, &r, F, &m);
        if (w >= SN_BLAS_MIN) {
            blas_api.syrk(&cL, &cN, &m, &w, &one, F, &m, &one, C, &m);
            for (int b = 0; b < m; b++) {
                double *col = A + (Py_ssize_t)R[b] * r;
                double *Cb = C + (Py_ssize_t)b * m;
                for (int a = b; a < m; a++) {
                    col[R[a]] -= Cb[a];
                    Cb[a] = 0.0;
                }
            }
        }
        else
            for (int b = 0; b < m; b++) {
                double *col = A + (Py_ssize_t)R[b] * r;
                for (int a = b; a < m; a++) {
                    double acc = F[a] * F[b];
                    for (int c = 1; c < w; c++)
                        acc += F[(Py_ssize_t)c * m + a] * F[(Py_ssize_t)c * m + b];
                    col[R[a]] -= acc;
                }
            }
    }
    return 0;
}

/* bind_blas(dpotrf, dtrsm, dsyrk): the capsules of scipy.linalg.cython_lapack.dpotrf,
 * cython_blas.dtrsm and cython_blas.dsyrk. */
static PyObject *py_bind_blas(PyObject *self, PyObject *args)
{
    PyObject *c[3];
    if (!PyArg_ParseTuple(args, "OOO:bind_blas", &c[0], &c[1], &c[2]))
        return NULL;
    void *f[3];
    for (int i = 0; i < 3; i++) {
        if (!PyCapsule_CheckExact(c[i])) {
            PyErr_SetString(ArgumentTypeError, "bind_blas takes three PyCapsules");
            return NULL;
        }
        f[i] = PyCapsule_GetPointer(c[i], PyCapsule_GetName(c[i]));
        if (f[i] == NULL)
            return NULL;
    }
    blas_api.potrf = (potrf_fn)f[0];
    blas_api.trsm = (trsm_fn)f[1];
    blas_api.syrk = (syrk_fn)f[2];
    Py_RETURN_NONE;
}

/* The stream of a supernodal order (SnStream): the targets (landing at tdest) and the other
 * nonzeros of Arr (at xdest) sorted by their place in P (a counting sort on the row, a
 * stable one on the column, then each column by number of products). Q's columns are
 * stored as int32 (set_order checks that they fit). NULL when out of memory. */
/* One stable counting-sort pass: out <- in ordered by key[in[k]] (keys in [0, nkey)). */
static void counting_pass(const int64_t *in, int64_t *out, Py_ssize_t n, const int64_t *key,
                          int64_t *cnt, Py_ssize_t nkey)
{
    memset(cnt, 0, ((size_t)nkey + 1) * sizeof(int64_t));
    for (Py_ssize_t k = 0; k < n; k++)
        cnt[key[in[k]] + 1]++;
    for (Py_ssize_t c = 0; c < nkey; c++)
        cnt[c + 1] += cnt[c];
    for (Py_ssize_t k = 0; k < n; k++)
        out[cnt[key[in[k]]]++] = in[k];
}

static SnStream *stream_build(const Evaluator *ev, const int64_t *tdest, const int64_t *xdest)
{
    const Py_ssize_t r = ev->r, nt = ev->ntargets, n = nt + ev->nextra;
    const Py_ssize_t nq = dim(&ev->g0, 0);
    Py_ssize_t maxlen = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        Py_ssize_t len = (Py_ssize_t)(index_at(&ev->g2, t + 1) - index_at(&ev->g2, t));
        if (len > maxlen)
            maxlen = len;
    }
    const Py_ssize_t nkey = (r > maxlen + 1 ? r : maxlen + 1);
    SnStream *st = calloc(1, sizeof(SnStream));
    int64_t *cnt = malloc(((size_t)nkey + 1) * sizeof(int64_t));
    int64_t *key = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *ord = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *tmp = malloc((size_t)(n + 1) * sizeof(int64_t));
    if (st != NULL) {
        st->n = n;
        st->colp = malloc((size_t)(r + 1) * sizeof(int64_t));
        st->row = malloc((size_t)(n + 1) * sizeof(int32_t));
        st->A = malloc((size_t)(n + 1) * sizeof(double));
        st->term = malloc((size_t)(2 * n + 1));
        st->qp = malloc((size_t)(n + 1) * sizeof(int64_t));
        st->q = malloc((size_t)(nq + 1) * sizeof(double));
        st->qc = malloc((size_t)(nq + 1) * sizeof(int32_t));
    }
    if (st == NULL || cnt == NULL || key == NULL || ord == NULL || tmp == NULL || !st->colp ||
        !st->row || !st->A || !st->term || !st->qp || !st->q || !st->qc) {
        stream_free(st);
        free(cnt); free(key); free(ord); free(tmp);
        return NULL;
    }
#define DEST(i) ((i) < nt ? tdest[i] : xdest[(i) - nt])
    /* by column, then number of products, then row: three stable counting sorts from the
     * last key to the first */
    for (Py_ssize_t i = 0; i < n; i++) {
        ord[i] = i;
        key[i] = DEST(i) % r;
    }
    counting_pass(ord, tmp, n, key, cnt, r);
    for (Py_ssize_t i = 0; i < n; i++)
        key[i] = i < nt ? index_at(&ev->g2, i + 1) - index_at(&ev->g2, i) : 0;
    counting_pass(tmp, ord, n, key, cnt, maxlen + 1);
    for (Py_ssize_t i = 0; i < n; i++)
        key[i] = DEST(i) / r;
    counting_pass(ord, tmp, n, key, cnt, r);
    memcpy(st->colp, cnt, (size_t)r * sizeof(int64_t));      /* cnt[c]: column c's end */
    memmove(st->colp + 1, st->colp, (size_t)r * sizeof(int64_t));
    st->colp[0] = 0;
    const double *A = ev->Arr.buf, *data = ev->g0.buf;
    st->qp[0] = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        const int64_t i = tmp[j];
        st->row[j] = (int32_t)(DEST(i) % r);
        int64_t o = st->qp[j];
        if (i < nt) {
            st->A[j] = A[index_at(&ev->g3, i)];
            st->term[2 * j] = ev->tterm[2 * i];
            st->term[2 * j + 1] = ev->tterm[2 * i + 1];
            const int64_t e0 = index_at(&ev->g2, i), e1 = index_at(&ev->g2, i + 1);
            memcpy(st->q + o, data + e0, (size_t)(e1 - e0) * sizeof(double));
            if (ev->pair_index_size == 4)
                memcpy(st->qc + o, (const int32_t *)ev->g1.buf + e0,
                       (size_t)(e1 - e0) * sizeof(int32_t));
            else
                for (int64_t e = e0; e < e1; e++)
                    st->qc[o + e - e0] = (int32_t)((const int64_t *)ev->g1.buf)[e];
            o += e1 - e0;
        }
        else {
            st->A[j] = A[ev->xpos[i - nt]];
            st->term[2 * j] = ev->xterm[2 * (i - nt)];
            st->term[2 * j + 1] = ev->xterm[2 * (i - nt) + 1];
        }
        st->qp[j + 1] = o;
    }
#undef DEST
    free(cnt); free(key); free(ord); free(tmp);
    return st;
}

/* One entry of the stream: ((A_ab - sum_e q_e W[c_e]) s_a) s_b, the products added in their
 * stored order from 0 (pair_row_sum's sum). */
static inline double stream_entry(const SnStream *st, Py_ssize_t i, const double *W,
                                  const double *s)
{
    double y = 0.0;
    for (int64_t e = st->qp[i]; e < st->qp[i + 1]; e++)
        y += st->q[e] * W[st->qc[e]];
    return ((st->A[i] - y) * s[st->term[2 * i]]) * s[st->term[2 * i + 1]];
}

/* Step 3 in the supernodal order from the stream: P's columns (Fortran-ordered lower
 * triangle) one after another, each zeroed below its diagonal and then given its entries
 * ((A_ab - y_ab) s_a) s_b and the 1 of the random-effects diagonal. The sums of four
 * entries run side by side (four independent chains; each entry still adds its own
 * products in order from 0), so every entry has the bits fused_targets_schur gives it. */
static void stream_schur(const Evaluator *ev, const double *T, const double *W, double *P)
{
    const SnStream *st = ev->stream;
    const Py_ssize_t r = ev->r;
    const int64_t *qp = st->qp;
    const double *q = st->q;
    const int32_t *qc = st->qc;
    double s[256];
    for (Py_ssize_t t = 0; t < ev->nrest; t++)
        s[t] = T[ev->rtpl[t]];
    s[ev->nrest] = 1.0;
    for (Py_ssize_t c = 0; c < r; c++) {
        double *col = P + c * r;
        memset(col + c, 0, (size_t)(r - c) * sizeof(double));
        Py_ssize_t i = st->colp[c];
        const Py_ssize_t hi = st->colp[c + 1];
        for (; i + 4 <= hi; i += 4) {
            const int64_t e0 = qp[i], e1 = qp[i + 1], e2 = qp[i + 2], e3 = qp[i + 3];
            const int64_t e4 = qp[i + 4];
            int64_t m = e1 - e0;
            if (e2 - e1 < m)
                m = e2 - e1;
            if (e3 - e2 < m)
                m = e3 - e2;
            if (e4 - e3 < m)
                m = e4 - e3;
            double y0 = 0.0, y1 = 0.0, y2 = 0.0, y3 = 0.0;
            for (int64_t k = 0; k < m; k++) {
                y0 += q[e0 + k] * W[qc[e0 + k]];
                y1 += q[e1 + k] * W[qc[e1 + k]];
                y2 += q[e2 + k] * W[qc[e2 + k]];
                y3 += q[e3 + k] * W[qc[e3 + k]];
            }
            for (int64_t e = e0 + m; e < e1; e++)
                y0 += q[e] * W[qc[e]];
            for (int64_t e = e1 + m; e < e2; e++)
                y1 += q[e] * W[qc[e]];
            for (int64_t e = e2 + m; e < e3; e++)
                y2 += q[e] * W[qc[e]];
            for (int64_t e = e3 + m; e < e4; e++)
                y3 += q[e] * W[qc[e]];
            const unsigned char *tm = st->term + 2 * i;
            col[st->row[i]] = ((st->A[i] - y0) * s[tm[0]]) * s[tm[1]];
            col[st->row[i + 1]] = ((st->A[i + 1] - y1) * s[tm[2]]) * s[tm[3]];
            col[st->row[i + 2]] = ((st->A[i + 2] - y2) * s[tm[4]]) * s[tm[5]];
            col[st->row[i + 3]] = ((st->A[i + 3] - y3) * s[tm[6]]) * s[tm[7]];
        }
        for (; i < hi; i++)
            col[st->row[i]] = stream_entry(st, i, W, s);
        if (c < ev->q)
            col[c] += 1.0;
    }
}

/* set_order(new_index, sn_ptr, row_ptr, rows): the supernodal plan. new_index (int64, r):
 * the position of each row of S in the new order (a permutation keeping the X and y rows,
 * q .. r-1, in place); sn_ptr (int64, nsn + 1): the supernodes' first columns (new order),
 * from 0 to r; row_ptr (int64, nsn + 1) and rows (int32): each supernode's rows below it,
 * increasing, past its last column. Needs the fused pair-row form of S. */
static PyObject *ev_set_order(Evaluator *ev, PyObject *args)
{
    PyObject *on, *osn, *orp, *orw;
    if (!PyArg_ParseTuple(args, "OOOO:set_order", &on, &osn, &orp, &orw))
        return NULL;
    if (ev->tterm == NULL || ev->busy || ev->nclass > INT32_MAX) {
        PyErr_SetString(ArgumentError, "set_order needs an idle evaluator of pair rows with "
                        "scalar terms past the first (and fewer than 2^31 columns of W)");
        return NULL;
    }
    Py_buffer nb = {0}, sb = {0}, pb = {0}, rb = {0};
    PyObject *result = NULL;
    const Py_ssize_t r = ev->r;
    if (get_array(on, &nb, "new_index", 'q', 1, 0) || get_array(osn, &sb, "sn_ptr", 'q', 1, 0) ||
        get_array(orp, &pb, "row_ptr", 'q', 1, 0) || get_array(orw, &rb, "rows", 'i', 1, 0))
        goto done;
    const int64_t *nw = nb.buf, *sp = sb.buf, *rp = pb.buf;
    const int32_t *rw = rb.buf;
    Py_ssize_t nsn = dim(&sb, 0) - 1, nrows = dim(&rb, 0);
    if (dim(&nb, 0) != r || nsn < 1 || dim(&pb, 0) != nsn + 1 || sp[0] != 0 || sp[nsn] != r ||
        rp[0] != 0 || rp[nsn] != nrows) {
        PyErr_Format(ArgumentError, "set_order: new_index must have %zd entries, sn_ptr and "
                     "row_ptr one more than the supernodes, from 0 to %zd and to the rows", r, r);
        goto done;
    }
    {
        char *seen = calloc((size_t)r, 1);
        int bad = seen == NULL;
        for (Py_ssize_t i = 0; i < r && !bad; i++) {
            bad = nw[i] < 0 || nw[i] >= r || seen[nw[i]] || (i >= ev->q && nw[i] != i);
            if (!bad)
                seen[nw[i]] = 1;
        }
        free(seen);
        if (bad) {
            PyErr_SetString(ArgumentError, "set_order: new_index must be a permutation that "
                            "keeps the X and y rows last");
            goto done;
        }
    }
    Py_ssize_t maxw = 1, maxm = 0;
    for (Py_ssize_t k = 0; k < nsn; k++) {
        if (sp[k + 1] <= sp[k] || rp[k + 1] < rp[k]) {
            PyErr_SetString(ArgumentError, "set_order: sn_ptr must increase, row_ptr not "
                            "decrease");
            goto done;
        }
        for (int64_t e = rp[k]; e < rp[k + 1]; e++)
            if (rw[e] < sp[k + 1] || rw[e] >= r || (e > rp[k] && rw[e] <= rw[e - 1])) {
                PyErr_SetString(ArgumentError, "set_order: a supernode's rows must increase "
                                "and lie past its columns");
                goto done;
            }
        if (sp[k + 1] - sp[k] > maxw)
            maxw = sp[k + 1] - sp[k];
        if (rp[k + 1] - rp[k] > maxm)
            maxm = rp[k + 1] - rp[k];
    }
    int64_t *tdest = malloc((size_t)(ev->ntargets + 1) * sizeof(int64_t));
    int64_t *xdest = malloc((size_t)(ev->nextra + 1) * sizeof(int64_t));
    int64_t *snp = malloc((size_t)(nsn + 1) * sizeof(int64_t));
    int64_t *srp = malloc((size_t)(nsn + 1) * sizeof(int64_t));
    int32_t *srows = malloc((size_t)(nrows + 1) * sizeof(int32_t));
    if (!tdest || !xdest || !snp || !srp || !srows) {
        free(tdest); free(xdest); free(snp); free(srp); free(srows);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < ev->ntargets + ev->nextra; t++) {
        int64_t g = t < ev->ntargets ? index_at(&ev->g3, t) : ev->xpos[t - ev->ntargets];
        int64_t a = nw[g / r], b = nw[g % r];
        int64_t d = a <= b ? a * r + b : b * r + a;
        if (t < ev->ntargets)
            tdest[t] = d;
        else
            xdest[t - ev->ntargets] = d;
    }
    SnStream *stream = stream_build(ev, tdest, xdest);
    free(tdest);
    free(xdest);
    if (stream == NULL) {
        free(snp); free(srp); free(srows);
        PyErr_NoMemory();
        goto done;
    }
    memcpy(snp, sp, (size_t)(nsn + 1) * sizeof(int64_t));
    memcpy(srp, rp, (size_t)(nsn + 1) * sizeof(int64_t));
    memcpy(srows, rw, (size_t)nrows * sizeof(int32_t));
    free(ev->snp); free(ev->srp); free(ev->srows);
    stream_free(ev->stream);
    ev->stream = stream;
    ev->snp = snp; ev->srp = srp; ev->srows = srows;
    ev->nsn = nsn; ev->maxw = maxw; ev->maxm = maxm;
    ev->scratch_len = scratch_size(ev);
    free(ev->scratch);
    ev->scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    if (ev->scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    release(&nb); release(&sb); release(&pb); release(&rb);
    return result;
}

/* factor_sn(x, P) -> (log|L_Z|^2, log|R_X|^2, pwrss) or None (not positive definite): S
 * built in the supernodal order and factored supernode by supernode (set_order and
 * bind_blas first); P then holds the factor's diagonal, the rest is work space. */
static PyObject *sn_call(Evaluator *ev, PyObject *args, int factor)
{
    PyObject *ox, *oP;
    if (!PyArg_ParseTuple(args, factor ? "OO:factor_sn" : "OO:schur_sn", &ox, &oP))
        return NULL;
    if (ev->nsn == 0 || blas_api.potrf == NULL) {
        PyErr_SetString(ArgumentError, "factor_sn needs set_order and bind_blas first");
        return NULL;
    }
    Py_buffer xb, Pb;
    if (get_x(ev, ox, &xb))
        return NULL;
    if (get_P(ev, oP, &Pb)) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    int owned;
    double *scratch = take_scratch(ev, &owned);
    double ld1 = 0.0, out[3];
    int rc = -2;
    if (scratch != NULL) {
        Py_BEGIN_ALLOW_THREADS
        rc = build_schur_in(ev, xb.buf, Pb.buf, scratch, &ld1, 1);
        if (rc == 0 && factor) {
            double *work = scratch + ev->scratch_len - ev->maxm * (ev->maxw + ev->maxm);
            if (sn_factor(ev, Pb.buf, work) != 0)
                rc = -1;
            else
                factor_terms(ev, Pb.buf, ld1, out);
        }
        Py_END_ALLOW_THREADS
        give_scratch(ev, scratch, owned);
    }
    PyBuffer_Release(&xb);
    PyBuffer_Release(&Pb);
    if (rc == -2)
        return PyErr_NoMemory();
    if (rc)
        Py_RETURN_NONE;
    if (!factor)
        return PyFloat_FromDouble(ld1);
    return Py_BuildValue("(ddd)", out[0], out[1], out[2]);
}

static PyObject *ev_factor_sn(Evaluator *ev, PyObject *args) { return sn_call(ev, args, 1); }

/* schur_sn(x, P) -> log|L11|^2 or None: S alone, built in the supernodal order as factor_sn
 * builds it (P[i, j] = S(new i, new j) for i <= j; the lower part of P is not written). */
static PyObject *ev_schur_sn(Evaluator *ev, PyObject *args) { return sn_call(ev, args, 0); }

static PyObject *ev_supernodal(Evaluator *ev, PyObject *noargs)
{
    return PyBool_FromLong(ev->nsn > 0);
}

static PyMethodDef ev_methods[] = {
    {"set_order", (PyCFunction)ev_set_order, METH_VARARGS,
     "set_order(new_index, sn_ptr, row_ptr, rows): the supernodal plan (see factor_sn)."},
    {"factor_sn", (PyCFunction)ev_factor_sn, METH_VARARGS,
     "factor_sn(theta, P) -> (log|L_Z|^2, log|R_X|^2, pwrss) or None, by supernodes."},
    {"schur_sn", (PyCFunction)ev_schur_sn, METH_VARARGS,
     "schur_sn(theta, P) -> log|L11|^2 or None: S in the supernodal order (upper triangle)."},
    {"supernodal", (PyCFunction)ev_supernodal, METH_NOARGS,
     "supernodal() -> whether set_order gave a supernodal plan."},
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
    if (ev->g4.obj != NULL) {          /* columns are classes of levels */
        const int64_t *rep = ev->g4.buf;
        ncol = dim(&ev->g4, 0);
        if (ev->k1 != 1) {
            PyErr_SetString(ArgumentError, "pair rows by class need a scalar first term");
            return -1;
        }
        for (Py_ssize_t c = 0; c < ncol; c++)
            if (rep[c] < 0 || rep[c] >= ev->n1) {
                PyErr_Format(ArgumentError, "pair rows: class levels must lie in [0, %zd)",
                             ev->n1);
                return -1;
            }
    }
    ev->nclass = ncol;
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

/* The tables of fused_targets_schur, when it applies (pair rows, every rest term scalar,
 * targets strictly increasing on the upper triangle): the terms of each target's row and
 * column, and the upper nonzeros of Arr that are not targets (found by walking the upper
 * triangle beside the sorted targets). Leaves ev->tterm NULL when it does not apply;
 * -1 when out of memory. */
static int fused_targets_tables(Evaluator *ev)
{
    const Py_ssize_t r = ev->r, nt = ev->ntargets;
    if (!ev->all_scalar_rest || ev->nrest < 1 || ev->nrest > 254)
        return 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        int64_t g = index_at(&ev->g3, t);
        if (g / r > g % r || (t > 0 && g <= index_at(&ev->g3, t - 1)))
            return 0;
    }
    unsigned char *term = malloc((size_t)r);
    unsigned char *tt = malloc((size_t)(2 * nt + 1));
    if (term == NULL || tt == NULL) {
        free(term); free(tt);
        PyErr_NoMemory();
        return -1;
    }
    memset(term, (int)ev->nrest, (size_t)r);
    for (Py_ssize_t t = 0; t < ev->nrest; t++)
        memset(term + ev->roff[t], (int)t, (size_t)ev->rlev[t]);
    for (Py_ssize_t t = 0; t < nt; t++) {
        int64_t g = index_at(&ev->g3, t);
        tt[2 * t] = term[g / r];
        tt[2 * t + 1] = term[g % r];
    }
    const double *A = ev->Arr.buf;
    Py_ssize_t nx = 0;
    for (int pass = 0; pass < 2; pass++) {
        Py_ssize_t t = 0;
        nx = 0;
        for (Py_ssize_t a = 0; a < r; a++)
            for (Py_ssize_t b = a; b < r; b++) {
                int64_t g = (int64_t)a * r + b;
                while (t < nt && index_at(&ev->g3, t) < g)
                    t++;
                if (A[g] == 0.0 || (t < nt && index_at(&ev->g3, t) == g))
                    continue;
                if (pass == 1) {
                    ev->xpos[nx] = g;
                    ev->xterm[2 * nx] = term[a];
                    ev->xterm[2 * nx + 1] = term[b];
                }
                nx++;
            }
        if (pass == 0) {
            ev->xpos = malloc((size_t)(nx + 1) * sizeof(int64_t));
            ev->xterm = malloc((size_t)(2 * nx + 1));
            if (ev->xpos == NULL || ev->xterm == NULL) {
                free(term); free(tt);
                PyErr_NoMemory();
                return -1;
            }
        }
    }
    free(term);
    ev->nextra = nx;
    ev->tterm = tt;
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
    else if (strcmp(kind, "pair_rows") == 0 && (glen == 5 || glen == 6)) {
        ev->gram = GRAM_PAIR_ROWS;
        if (get_array(PyTuple_GET_ITEM(ogram, 1), &ev->g0, "data", 'd', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 2), &ev->g1, "columns", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 3), &ev->g2, "row pointers", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ogram, 4), &ev->g3, "targets", 'x', 1, 0) ||
            (glen == 6 && get_array(PyTuple_GET_ITEM(ogram, 5), &ev->g4, "class levels",
                                    'q', 1, 0)) ||
            check_pair_rows(ev) || fused_targets_tables(ev))
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
                     "indptr, targets), ('pair_rows', data, columns, row pointers, targets"
                     "[, class levels]) or ('slice', indptr, rows, vals), got '%s' with %zd "
                     "arrays", kind,
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

/* build_pair_rows(indptr, rows, vals, r, classes, nclass)
 *   -> (targets, row pointers, columns, data) as bytearrays (int64, int64, int32, float64).
 * Q by target built straight from a level-major B of a scalar first term (indptr int64 over
 * the n1 levels, rows int64 increasing within each level, vals float64): for every level j
 * and pair of its rows a <= b the product B[a, j] B[b, j] goes to target a r + b (targets
 * in increasing order) and column classes[j]; the products of one target and class are
 * summed in level order, each target's classes in increasing order. With classes[j] = j
 * these are WeightedGram's pair products by target, without the sparse conversions. Uses
 * an r x r index map (the caller bounds r). */
static PyObject *py_build_pair_rows(PyObject *self, PyObject *args)
{
    PyObject *oip, *orw, *ovl, *ocl;
    Py_ssize_t r, nclass;
    if (!PyArg_ParseTuple(args, "OOOnOn:build_pair_rows", &oip, &orw, &ovl, &r, &ocl, &nclass))
        return NULL;
    Py_buffer ib = {0}, rb = {0}, vb = {0}, cb = {0};
    PyObject *result = NULL, *ot = NULL, *op = NULL, *oc = NULL, *od = NULL;
    int32_t *map = NULL, *last = NULL;
    int64_t *lev = NULL, *pos = NULL;
    if (get_array(oip, &ib, "indptr", 'q', 1, 0) || get_array(orw, &rb, "rows", 'q', 1, 0) ||
        get_array(ovl, &vb, "vals", 'd', 1, 0) || get_array(ocl, &cb, "classes", 'q', 1, 0))
        goto done;
    Py_ssize_t n1 = dim(&ib, 0) - 1, nnz = dim(&rb, 0);
    const int64_t *ip = ib.buf, *rows = rb.buf, *cls = cb.buf;
    const double *vals = vb.buf;
    if (n1 < 0 || ip[0] != 0 || ip[n1] != nnz || dim(&vb, 0) != nnz || dim(&cb, 0) != n1 ||
        r < 1 || r > 46340 || nclass < 1 || nclass > INT32_MAX) {
        PyErr_SetString(ArgumentError, "build_pair_rows: indptr must run from 0 to the entries "
                        "of rows and vals, classes have one entry per level, 1 <= r <= 46340");
        goto done;
    }
    for (Py_ssize_t j = 0; j < n1; j++) {
        if (ip[j + 1] < ip[j] || cls[j] < 0 || cls[j] >= nclass) {
            PyErr_SetString(ArgumentError, "build_pair_rows: indptr must not decrease and "
                            "classes lie in [0, nclass)");
            goto done;
        }
        for (int64_t e = ip[j]; e < ip[j + 1]; e++)
            if (rows[e] < 0 || rows[e] >= r || (e > ip[j] && rows[e] <= rows[e - 1])) {
                PyErr_SetString(ArgumentError, "build_pair_rows: rows must increase within a "
                                "level and lie in [0, r)");
                goto done;
            }
    }
    map = calloc((size_t)r * (size_t)r, sizeof(int32_t));
    lev = malloc((size_t)(n1 + nclass + 1) * sizeof(int64_t));
    if (map == NULL || lev == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* the levels by class, in level order within a class (a counting sort) */
    int64_t *start = lev + n1;
    for (Py_ssize_t c = 0; c <= nclass; c++)
        start[c] = 0;
    for (Py_ssize_t j = 0; j < n1; j++)
        start[cls[j] + 1]++;
    for (Py_ssize_t c = 0; c < nclass; c++)
        start[c + 1] += start[c];
    for (Py_ssize_t j = 0; j < n1; j++)
        lev[start[cls[j]]++] = j;
    Py_ssize_t nt = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n1; j++)
        for (int64_t e = ip[j]; e < ip[j + 1]; e++)
            for (int64_t f = e; f < ip[j + 1]; f++)
                map[rows[e] * r + rows[f]] = 1;
    for (Py_ssize_t g = 0; g < r * r && !overflow; g++)
        if (map[g]) {
            if (nt == INT32_MAX - 1)
                overflow = 1;
            map[g] = (int32_t)++nt;          /* 1 + the target's index */
        }
    Py_END_ALLOW_THREADS
    if (overflow) {
        PyErr_NoMemory();
        goto done;
    }
    last = malloc((size_t)(nt + 1) * sizeof(int32_t));
    pos = calloc((size_t)(nt + 1), sizeof(int64_t));
    ot = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(nt * sizeof(int64_t)));
    op = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)((nt + 1) * sizeof(int64_t)));
    if (last == NULL || pos == NULL || ot == NULL || op == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int64_t *targets = (int64_t *)PyByteArray_AS_STRING(ot);
    int64_t *ptr = (int64_t *)PyByteArray_AS_STRING(op);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t g = 0; g < r * r; g++)
        if (map[g])
            targets[map[g] - 1] = g;
    for (Py_ssize_t t = 0; t < nt; t++)
        last[t] = -1;
    for (Py_ssize_t i = 0; i < n1; i++) {             /* entries per target: its classes */
        int64_t j = lev[i];
        int32_t c = (int32_t)cls[j];
        for (int64_t e = ip[j]; e < ip[j + 1]; e++)
            for (int64_t f = e; f < ip[j + 1]; f++) {
                int32_t t = map[rows[e] * r + rows[f]] - 1;
                if (last[t] != c) {
                    last[t] = c;
                    pos[t + 1]++;
                }
            }
    }
    for (Py_ssize_t t = 0; t < nt; t++)
        pos[t + 1] += pos[t];
    memcpy(ptr, pos, (size_t)(nt + 1) * sizeof(int64_t));
    Py_END_ALLOW_THREADS
    Py_ssize_t total = (Py_ssize_t)ptr[nt];
    oc = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int32_t)));
    od = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(double)));
    if (oc == NULL || od == NULL)
        goto done;
    int32_t *cols = (int32_t *)PyByteArray_AS_STRING(oc);
    double *data = (double *)PyByteArray_AS_STRING(od);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < nt; t++)
        last[t] = -1;
    for (Py_ssize_t i = 0; i < n1; i++) {
        int64_t j = lev[i];
        int32_t c = (int32_t)cls[j];
        for (int64_t e = ip[j]; e < ip[j + 1]; e++)
            for (int64_t f = e; f < ip[j + 1]; f++) {
                int32_t t = map[rows[e] * r + rows[f]] - 1;
                double v = vals[e] * vals[f];
                if (last[t] != c) {
                    last[t] = c;
                    cols[pos[t]] = c;
                    data[pos[t]++] = v;
                }
                else
                    data[pos[t] - 1] += v;
            }
    }
    Py_END_ALLOW_THREADS
    result = PyTuple_Pack(4, ot, op, oc, od);
done:
    free(map); free(lev); free(last); free(pos);
    Py_XDECREF(ot); Py_XDECREF(op); Py_XDECREF(oc); Py_XDECREF(od);
    release(&ib); release(&rb); release(&vb); release(&cb);
    return result;
}

/* ------------------------------------------------------------------ minimum-degree order
 *
 * min_degree(targets, Arr, q, max_nnz, budget) -> None | (order, col_ptr, col_rows)
 *
 * A fill-reducing order of S's random-effects block (q x q) from its pattern: the upper
 * targets a r + b of B W B' and the nonzeros of Arr[:q, :q]. The elimination graph is kept
 * as one bit row per node (its closed neighbourhood); each step eliminates a node of least
 * external degree (its neighbours outside its own supervariable: nodes of equal closed
 * neighbourhoods; ties to the lowest index) together with its whole supervariable (mass
 * elimination), then joins the neighbourhoods of the nodes left around it. Since a node's
 * neighbours at its elimination are the rows of its column of the Cholesky factor, the
 * column patterns come out of the same pass. order: old index by new position (int64);
 * col_ptr (int64, q + 1) and col_rows (int32, new labels, increasing): the rows below the
 * diagonal of each column of L in the new order. None when the pattern has more than
 * max_nnz off-diagonal nonzeros or the factor's work (sum of squared column counts) passes
 * budget: then a dense factorization is expected to serve better. */
/* A table counting equal hashes (open addressing, 2^k slots, at least twice the nodes of one
 * call): key, count and the slots in use (to clear them after the call). */
typedef struct {
    uint64_t *key;
    int64_t *count;
    int64_t *used;
    int64_t mask;
} HashCount;

/* bits set in x; index of its lowest set bit (x != 0) */
#if defined(__GNUC__) || defined(__clang__)
static inline int bit_count(uint64_t x) { return __builtin_popcountll(x); }
static inline int low_bit(uint64_t x) { return __builtin_ctzll(x); }
#else
static inline int bit_count(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
static inline int low_bit(uint64_t x) { return bit_count((x & (0 - x)) - 1); }
#endif

static inline uint64_t md_hash(const uint64_t *row, const uint64_t *alive, Py_ssize_t W)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (Py_ssize_t w = 0; w < W; w++) {
        h ^= (row[w] & alive[w]) + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
        h *= 0xBF58476D1CE4E5B9ULL;
    }
    return h;
}

static inline int md_equal(const uint64_t *a, const uint64_t *b, const uint64_t *alive,
                           Py_ssize_t W)
{
    for (Py_ssize_t w = 0; w < W; w++)
        if ((a[w] ^ b[w]) & alive[w])
            return 0;
    return 1;
}

static inline int64_t md_count(const uint64_t *row, const uint64_t *alive, Py_ssize_t W)
{
    int64_t c = 0;
    for (Py_ssize_t w = 0; w < W; w++)
        c += bit_count(row[w] & alive[w]);
    return c;
}

/* External degrees of the nodes in `nodes` (n of them): closed-neighbourhood size minus the
 * number of those nodes with the same closed neighbourhood, found by equal 64-bit hashes
 * of the neighbourhoods (a collision could only make one degree, so the order, a little
 * worse: the patterns are computed exactly whatever the order). */
static void md_degrees(const uint64_t *adj, const uint64_t *alive, Py_ssize_t W,
                       const int32_t *nodes, Py_ssize_t n, uint64_t *hash, HashCount *tab,
                       int64_t *deg)
{
    Py_ssize_t nused = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h = md_hash(adj + (Py_ssize_t)nodes[i] * W, alive, W);
        hash[i] = h;
        int64_t slot = (int64_t)(h & (uint64_t)tab->mask);
        while (tab->count[slot] != 0 && tab->key[slot] != h)
            slot = (slot + 1) & tab->mask;
        if (tab->count[slot] == 0) {
            tab->key[slot] = h;
            tab->used[nused++] = slot;
        }
        tab->count[slot]++;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t slot = (int64_t)(hash[i] & (uint64_t)tab->mask);
        while (tab->key[slot] != hash[i])
            slot = (slot + 1) & tab->mask;
        deg[nodes[i]] = md_count(adj + (Py_ssize_t)nodes[i] * W, alive, W) - tab->count[slot];
    }
    for (Py_ssize_t k = 0; k < nused; k++)
        tab->count[tab->used[k]] = 0;
}

static int int32_order(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : (x > y);
}

static PyObject *py_min_degree(PyObject *self, PyObject *args)
{
    PyObject *ot, *oA;
    Py_ssize_t q;
    long long max_nnz;
    double budget;
    if (!PyArg_ParseTuple(args, "OOnLd:min_degree", &ot, &oA, &q, &max_nnz, &budget))
        return NULL;
    Py_buffer tb = {0}, ab = {0};
    PyObject *result = NULL, *oo = NULL, *op = NULL, *orw = NULL;
    uint64_t *adj = NULL, *alive = NULL, *rowv = NULL;
    int64_t *deg = NULL, *pos = NULL;
    int32_t *nodes = NULL, *rows = NULL;
    uint64_t *hash = NULL;
    HashCount tab = {NULL, NULL, NULL, 0};
    if (get_array(ot, &tb, "targets", 'q', 1, 0) || get_array(oA, &ab, "Arr", 'd', 2, 0))
        goto done;
    const Py_ssize_t r = dim(&ab, 0);
    if (dim(&ab, 1) != r || q < 1 || q > r || q > 65536) {
        PyErr_SetString(ArgumentError, "min_degree: Arr must be square and 1 <= q <= its rows "
                        "(at most 65536)");
        goto done;
    }
    const int64_t *tg = tb.buf;
    const double *A = ab.buf;
    const Py_ssize_t nt = dim(&tb, 0), W = (q + 63) / 64;
    for (Py_ssize_t t = 0; t < nt; t++)
        if (tg[t] < 0 || tg[t] >= (int64_t)r * r) {
            PyErr_Format(ArgumentError, "min_degree: targets must lie in [0, %zd)", r * r);
            goto done;
        }
    adj = calloc((size_t)(q * W), sizeof(uint64_t));
    alive = calloc((size_t)W, sizeof(uint64_t));
    rowv = malloc((size_t)W * sizeof(uint64_t));
    deg = malloc((size_t)q * sizeof(int64_t));
    pos = malloc((size_t)(q + 1) * sizeof(int64_t));
    nodes = malloc((size_t)q * sizeof(int32_t));
    hash = malloc((size_t)q * sizeof(uint64_t));
    int64_t nslot = 1;
    while (nslot < 2 * q)
        nslot *= 2;
    tab.mask = nslot - 1;
    tab.key = malloc((size_t)nslot * sizeof(uint64_t));
    tab.count = calloc((size_t)nslot, sizeof(int64_t));
    tab.used = malloc((size_t)q * sizeof(int64_t));
    oo = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(q * sizeof(int64_t)));
    op = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)((q + 1) * sizeof(int64_t)));
    if (!adj || !alive || !rowv || !deg || !pos || !nodes || !hash || !tab.key || !tab.count ||
        !tab.used || !oo || !op) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int64_t *order = (int64_t *)PyByteArray_AS_STRING(oo);
    int64_t *cp = (int64_t *)PyByteArray_AS_STRING(op);
    int status = 0;                                   /* 1: no plan, 2: out of memory */
    Py_ssize_t cap = 0, len = 0;
    Py_BEGIN_ALLOW_THREADS
#define SETBIT(a, b) (adj[(Py_ssize_t)(a) * W + (b) / 64] |= (uint64_t)1 << ((b) % 64))
    for (Py_ssize_t t = 0; t < nt; t++) {
        int64_t a = tg[t] / r, b = tg[t] % r;
        if (a < q && b < q && a != b) {
            SETBIT(a, b);
            SETBIT(b, a);
        }
    }
    for (Py_ssize_t a = 0; a < q; a++)
        for (Py_ssize_t b = a + 1; b < q; b++)
            if (A[a * r + b] != 0.0) {
                SETBIT(a, b);
                SETBIT(b, a);
            }
    int64_t nnz = 0;
    for (Py_ssize_t a = 0; a < q; a++) {
        nnz += md_count(adj + a * W, adj + a * W, W);
        SETBIT(a, a);
        alive[a / 64] |= (uint64_t)1 << (a % 64);
        nodes[a] = (int32_t)a;
    }
#undef SETBIT
    if (nnz > max_nnz)
        status = 1;
    else
        md_degrees(adj, alive, W, nodes, q, hash, &tab, deg);
    double flops = 0.0;
    Py_ssize_t k = 0;
    cp[0] = 0;
    while (status == 0 && k < q) {
        Py_ssize_t v = -1;
        for (Py_ssize_t u = 0; u < q; u++)
            if ((alive[u / 64] >> (u % 64) & 1) && (v < 0 || deg[u] < deg[v]))
                v = u;
        const uint64_t *av = adj + v * W;
        for (Py_ssize_t w = 0; w < W; w++)
            rowv[w] = av[w] & alive[w];
        /* v's supervariable (nodes of rowv with v's closed neighbourhood) and the rest */
        Py_ssize_t nm = 0, nn = 0;
        int32_t *members = nodes, *nb = nodes + q;    /* nb grows down from the end */
        for (Py_ssize_t w = 0; w < W; w++)
            for (uint64_t bits = rowv[w]; bits; bits &= bits - 1) {
                Py_ssize_t u = w * 64 + low_bit(bits);
                if (u == v || md_equal(adj + u * W, rowv, alive, W))
                    members[nm++] = (int32_t)u;
                else
                    *--nb = (int32_t)u, nn++;
            }
        for (Py_ssize_t i = 0; i < nm; i++) {
            Py_ssize_t u = members[i], cnt = nm - 1 - i + nn;
            flops += (double)cnt * (double)cnt;
            if (len + cnt > cap) {
                Py_ssize_t nc = 2 * cap + cnt + 1024;
                int32_t *nr = realloc(rows, (size_t)nc * sizeof(int32_t));
                if (nr == NULL) {
                    status = 2;
                    break;
                }
                rows = nr;
                cap = nc;
            }
            for (Py_ssize_t j = i + 1; j < nm; j++)
                rows[len++] = members[j];
            for (Py_ssize_t j = 0; j < nn; j++)
                rows[len++] = nb[j];
            order[k++] = u;
            cp[k] = len;
            alive[u / 64] &= ~((uint64_t)1 << (u % 64));
        }
        if (status == 0 && flops > budget)
            status = 1;
        if (status != 0)
            break;
        for (Py_ssize_t j = 0; j < nn; j++) {           /* join the neighbourhoods */
            uint64_t *au = adj + (Py_ssize_t)nb[j] * W;
            for (Py_ssize_t w = 0; w < W; w++)
                au[w] |= rowv[w];
        }
        md_degrees(adj, alive, W, nb, nn, hash, &tab, deg);
    }
    if (status == 0) {                                 /* the rows in the new labels */
        for (Py_ssize_t i = 0; i < q; i++)
            pos[order[i]] = i;
        for (Py_ssize_t e = 0; e < len; e++)
            rows[e] = (int32_t)pos[rows[e]];
        for (Py_ssize_t j = 0; j < q; j++)
            qsort(rows + cp[j], (size_t)(cp[j + 1] - cp[j]), sizeof(int32_t), int32_order);
    }
    Py_END_ALLOW_THREADS
    if (status == 2) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == 1) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    orw = PyByteArray_FromStringAndSize(len ? (const char *)rows : NULL,
                                        (Py_ssize_t)(len * sizeof(int32_t)));
    if (orw == NULL)
        goto done;
    result = PyTuple_Pack(3, oo, op, orw);
done:
    free(adj); free(alive); free(rowv); free(deg); free(pos); free(nodes); free(rows);
    free(hash); free(tab.key); free(tab.count); free(tab.used);
    Py_XDECREF(oo); Py_XDECREF(op); Py_XDECREF(orw);
    release(&tb); release(&ab);
    return result;
}

/* many thetas in one call, and the optimizer loop in C (defined at the end of the file) */
static PyObject *py_deviance_many(PyObject *self, PyObject *args);
static PyObject *py_bind_nlopt(PyObject *self, PyObject *args);
static PyObject *py_minimize(PyObject *self, PyObject *args);
static PyObject *py_crossproducts(PyObject *self, PyObject *args);
static PyObject *py_response_products(PyObject *self, PyObject *args);
static PyObject *py_deriv12(PyObject *self, PyObject *args);
static PyObject *py_newton(PyObject *self, PyObject *args);

static PyMethodDef module_methods[] = {
    {"evaluator", py_evaluator, METH_VARARGS,
     "evaluator(A11, Arr, p, rest, gram, tmap, ntheta, n) -> Evaluator of the profiled "
     "deviance for these cross-products."},
    {"bind_blas", py_bind_blas, METH_VARARGS,
     "bind_blas(dpotrf, dtrsm, dsyrk): SciPy's LAPACK / BLAS capsules factor_sn calls."},
    {"build_pair_rows", py_build_pair_rows, METH_VARARGS,
     "build_pair_rows(indptr, rows, vals, r, classes, nclass) -> (targets, row pointers, "
     "columns, data): B's pair products by target for a scalar first term."},
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
    {"crossproducts", py_crossproducts, METH_VARARGS,
     "crossproducts(codes, values, levels, X, y, sqrt_w, order, A11, B, Arr, Xy, WXy) -> "
     "bool: the blocks of [Z X y]'W[Z X y] with a dense B in the canonical row order "
     "(order None: the rows as they are, False when they are not canonical)."},
    {"response_products", py_response_products, METH_VARARGS,
     "response_products(codes, values, levels, X, y, sqrt_w, order, B0, Arr0, B, Arr, Xy, "
     "WXy): crossproducts' blocks with X or y for a new response y, the others copied from "
     "B0 and Arr0."},
    {"deriv12", py_deriv12, METH_VARARGS,
     "deriv12(ev, x, fx, delta, P, reml, ldW, g, H) -> evaluations: lme4's central-difference "
     "gradient and Hessian of the deviance at x (as optimize.derivatives.deriv12)."},
    {"min_degree", py_min_degree, METH_VARARGS,
     "min_degree(targets, Arr, q, max_nnz, budget) -> None or (order, col_ptr, col_rows): a "
     "minimum-degree order of S's random-effects block and its factor's column patterns."},
    {"newton", py_newton, METH_VARARGS,
     "newton(ev, P, reml, ldW, x, lower, upper, delta, ftol, maxiter, g, H[, fac]) -> (status, "
     "f, evaluations, iterations, trace of H^-1): Newton's method with deriv12's derivatives "
     "(lmm_newton.h); with fac, the factor at the optimum in P and its terms in fac."},
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

#include "nlopt_api.h"

/* bind_nlopt((create, destroy, set_lower_bounds, set_upper_bounds, set_min_objective,
 *             set_xtol_abs1, set_ftol_abs, set_maxeval, set_initial_step, optimize,
 *             force_stop)) with each entry the address of that nlopt_* function */
static PyObject *py_bind_nlopt(PyObject *self, PyObject *args)
{
    PyObject *t;
    if (!PyArg_ParseTuple(args, "O!:bind_nlopt", &PyTuple_Type, &t))
        return NULL;
    if (nlopt_api_bind(t, ArgumentError, "bind_nlopt") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* what stopped a run besides NLopt itself: the guard's codes (nlopt_api.h), or memory */
enum { STOP_MEMORY = GUARD_INF_STREAK + 1 };

typedef struct {
    const Evaluator *ev;
    double *P, *scratch;
    int reml;
    double ldW;
    long evaluations;
    NloptGuard guard;
} MinData;

/* The objective NLopt calls: the deviance, through the guard of
 * mixedfx.optimize.driver._Guard (`guard_value`). */
static double min_objective(unsigned n, const double *x, double *grad, void *data)
{
    MinData *d = data;
    double v;
    (void)grad;
    d->evaluations++;
    if (deviance_at(d->ev, x, d->P, d->scratch, d->reml, d->ldW, &v)) {
        d->guard.stop = STOP_MEMORY;
        nlopt_api.force_stop(d->guard.opt);
        return HUGE_VAL;
    }
    return guard_value(&d->guard, n, x, v);
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
    MinData d = {ev, Pb.buf, scratch, reml, ldW, 0, guard_new(opt, bb.buf, db.buf, inf_limit)};
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
    if (d.guard.stop == STOP_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(idldi)", code, minf, d.evaluations, d.guard.best_f, d.guard.stop);
done:
    if (opt != NULL)
        nlopt_api.destroy(opt);
    free(scratch);
    release(&Pb); release(&xb); release(&lb); release(&hb); release(&sb); release(&bb);
    release(&db);
    return result;
}

/* ------------------------------------------------------------------ the cross-products
 *
 * crossproducts(codes, values, levels, X, y, sqrt_w, order, A11, B, Arr, Xy, WXy) -> bool
 *
 * The blocks of [Z X y]' W [Z X y] that lmm/crossproducts.py's CrossProductBuilder.compute
 * gives for a dense B, in one pass over the rows, without Z as a sparse matrix: with the
 * terms' grouping codes c_t (n), values V_t (n x k_t), the rows taken in the model's
 * canonical order (i -> order[i]; lmm/row_order.py) and w = sqrt_w^2 (1 without weights),
 *
 *   A11[j, a, b]            = sum over rows at level j of term 0 of  w (V0_a V0_b)
 *   B[o_t + c_t k_t + a, c_0 k_0 + b] += w (V_t,a V0_b)        (rest terms t: the Z_rest rows)
 *   B[q + m, c_0 k_0 + b]  += V0_b (Xy_m w)                     (the X and y rows)
 *   Arr[o_t + c_t k_t + a, o_s + c_s k_s + b] += w (V_t,a V_s,b)
 *   Arr[o_t + c_t k_t + a, q + m] += V_t,a (Xy_m w)  (and its transpose)
 *   Xy[i] = [X y][order[i]],  WXy[i] = Xy[i] w
 *
 * Every sum runs over the rows in order, each term formed as above: the same operations,
 * in the same order, as the builder's bincounts and CSR products, so the blocks are the same
 * bits. Arr[q:, q:] = Xy' WXy is left to the caller (the builder takes it from BLAS).
 * order None: the rows are taken as they are when they already are in the canonical order
 * (lexicographically non-decreasing in the codes, the values, the columns of X, sqrt_w and
 * y, the keys of lmm/row_order.py), and False is returned, with nothing written, when they
 * are not. The outputs must be C-contiguous float64 of the shapes implied by the inputs:
 * A11 (levels_0, k_0, k_0), B (q + p + 1, levels_0 k_0), Arr (q + p + 1, q + p + 1),
 * Xy and WXy (n, p + 1), with q = sum over the rest terms of levels_t k_t. */

#define XP_MAXTERMS 64

typedef struct {
    Py_ssize_t n, p, m, q, r, q1;
    const void *codes[XP_MAXTERMS];
    int code_size[XP_MAXTERMS];
    const double *vals[XP_MAXTERMS];
    Py_ssize_t k[XP_MAXTERMS], lev[XP_MAXTERMS], off[XP_MAXTERMS];
    const double *X, *y, *sw;
    const int64_t *order;
} XpInput;

static inline int64_t xp_code(const XpInput *in, int t, Py_ssize_t i)
{
    return in->code_size[t] == 4 ? (int64_t)((const int32_t *)in->codes[t])[i]
                                 : ((const int64_t *)in->codes[t])[i];
}

/* -1, 0 or 1 as b sorts before, ties with or after a. */
static inline int xp_order(double a, double b) { return b < a ? -1 : (b > a ? 1 : 0); }

/* -1, 0 or 1 as row i sorts before, ties with or after row h in the canonical order. */
static int xp_compare(const XpInput *in, Py_ssize_t h, Py_ssize_t i)
{
    int c;
    for (int t = 0; t < in->m; t++) {
        int64_t a = xp_code(in, t, h), b = xp_code(in, t, i);
        if (a != b)
            return b < a ? -1 : 1;
    }
    for (int t = 0; t < in->m; t++)
        for (Py_ssize_t a = 0; a < in->k[t]; a++)
            if ((c = xp_order(in->vals[t][h * in->k[t] + a], in->vals[t][i * in->k[t] + a])))
                return c;
    for (Py_ssize_t j = 0; j < in->p; j++)
        if ((c = xp_order(in->X[h * in->p + j], in->X[i * in->p + j])))
            return c;
    if (in->sw != NULL && (c = xp_order(in->sw[h], in->sw[i])))
        return c;
    return xp_order(in->y[h], in->y[i]);
}

static int xp_sorted(const XpInput *in)
{
    for (Py_ssize_t i = 1; i < in->n; i++)
        if (xp_compare(in, i - 1, i) < 0)
            return 0;
    return 1;
}

static void xp_accumulate(const XpInput *in, double *A11, double *B, double *Arr, double *Xy,
                          double *WXy)
{
    const Py_ssize_t n = in->n, p = in->p, p1 = p + 1, q = in->q, r = in->r, q1 = in->q1;
    const Py_ssize_t k1 = in->k[0];
    Py_ssize_t col[XP_MAXTERMS];            /* each rest term's first row in B and Arr */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t s = in->order != NULL ? (Py_ssize_t)in->order[i] : i;
        double w = 1.0;
        if (in->sw != NULL)
            w = in->sw[s] * in->sw[s];
        double *xy = Xy + i * p1, *wxy = WXy + i * p1;
        for (Py_ssize_t j = 0; j < p; j++)
            xy[j] = in->X[s * p + j];
        xy[p] = in->y[s];
        for (Py_ssize_t j = 0; j < p1; j++)
            wxy[j] = xy[j] * w;
        const double *v0 = in->vals[0] + s * k1;
        Py_ssize_t c0 = (Py_ssize_t)xp_code(in, 0, s) * k1;
        double *Aj = A11 + c0 * k1;
        for (Py_ssize_t a = 0; a < k1; a++)
            for (Py_ssize_t b = a; b < k1; b++)
                Aj[a * k1 + b] += w * (v0[a] * v0[b]);
        for (Py_ssize_t b = 0; b < k1; b++)
            for (Py_ssize_t j = 0; j < p1; j++)
                B[(q + j) * q1 + c0 + b] += v0[b] * wxy[j];
        for (int t = 1; t < in->m; t++)
            col[t] = in->off[t] + (Py_ssize_t)xp_code(in, t, s) * in->k[t];
        for (int t = 1; t < in->m; t++) {
            const double *vt = in->vals[t] + s * in->k[t];
            for (Py_ssize_t a = 0; a < in->k[t]; a++) {
                Py_ssize_t row = col[t] + a;
                for (Py_ssize_t b = 0; b < k1; b++)
                    B[row * q1 + c0 + b] += w * (vt[a] * v0[b]);
                for (int u = 1; u < in->m; u++) {
                    const double *vu = in->vals[u] + s * in->k[u];
                    for (Py_ssize_t b = 0; b < in->k[u]; b++)
                        Arr[row * r + col[u] + b] += w * (vt[a] * vu[b]);
                }
                for (Py_ssize_t j = 0; j < p1; j++)
                    Arr[row * r + q + j] += vt[a] * wxy[j];
            }
        }
    }
    for (Py_ssize_t j = 0; j < in->lev[0]; j++)
        for (Py_ssize_t a = 0; a < k1; a++)
            for (Py_ssize_t b = a + 1; b < k1; b++)
                A11[(j * k1 + b) * k1 + a] = A11[(j * k1 + a) * k1 + b];
    for (Py_ssize_t a = 0; a < q; a++)
        for (Py_ssize_t j = 0; j < p1; j++)
            Arr[(q + j) * r + a] = Arr[a * r + q + j];
}

/* Parse and check the inputs; the buffers are appended to `views` (count in *nv). */
static int xp_input(XpInput *in, PyObject *ocodes, PyObject *ovals, PyObject *olev,
                    PyObject *oX, PyObject *oy, PyObject *osw, PyObject *oorder,
                    Py_buffer *views, int *nv)
{
    if (!PyTuple_Check(ocodes) || !PyTuple_Check(ovals) || !PyTuple_Check(olev)) {
        PyErr_SetString(ArgumentTypeError, "codes, values and levels must be tuples");
        return -1;
    }
    Py_ssize_t m = PyTuple_GET_SIZE(ocodes);
    if (m < 1 || m > XP_MAXTERMS || PyTuple_GET_SIZE(ovals) != m ||
        PyTuple_GET_SIZE(olev) != m) {
        PyErr_Format(ArgumentError, "codes, values and levels must hold the same number "
                     "(1 to %d) of terms", XP_MAXTERMS);
        return -1;
    }
    in->m = m;
    Py_buffer *bx = &views[(*nv)++], *by = &views[(*nv)++];
    if (get_array(oX, bx, "X", 'd', 2, 0) || get_array(oy, by, "y", 'd', 1, 0))
        return -1;
    in->n = dim(bx, 0);
    in->p = dim(bx, 1);
    in->X = bx->buf;
    in->y = by->buf;
    if (dim(by, 0) != in->n) {
        PyErr_SetString(ArgumentError, "y must have one value per row of X");
        return -1;
    }
    in->sw = NULL;
    if (osw != Py_None) {
        Py_buffer *b = &views[(*nv)++];
        if (get_array(osw, b, "sqrt_w", 'd', 1, 0))
            return -1;
        if (dim(b, 0) != in->n) {
            PyErr_SetString(ArgumentError, "sqrt_w must have one value per row of X");
            return -1;
        }
        in->sw = b->buf;
    }
    in->q = 0;
    for (Py_ssize_t t = 0; t < m; t++) {
        Py_buffer *bc = &views[(*nv)++], *bv = &views[(*nv)++];
        if (get_array(PyTuple_GET_ITEM(ocodes, t), bc, "codes", 'x', 1, 0) ||
            get_array(PyTuple_GET_ITEM(ovals, t), bv, "values", 'd', 2, 0))
            return -1;
        Py_ssize_t lev = PyLong_AsSsize_t(PyTuple_GET_ITEM(olev, t));
        if (lev == -1 && PyErr_Occurred())
            return -1;
        if (dim(bc, 0) != in->n || dim(bv, 0) != in->n || dim(bv, 1) < 1 || lev < 1) {
            PyErr_SetString(ArgumentError, "each term needs n codes, n x k values (k >= 1) "
                             "and at least one level");
            return -1;
        }
        in->codes[t] = bc->buf;
        in->code_size[t] = (int)bc->itemsize;
        in->vals[t] = bv->buf;
        in->k[t] = dim(bv, 1);
        in->lev[t] = lev;
        in->off[t] = t == 0 ? 0 : in->q;
        if (t > 0)
            in->q += lev * in->k[t];
        for (Py_ssize_t i = 0; i < in->n; i++) {
            int64_t c = xp_code(in, (int)t, i);
            if (c < 0 || c >= lev) {
                PyErr_Format(ArgumentError, "codes of term %zd must lie in [0, %zd)", t, lev);
                return -1;
            }
        }
    }
    in->q1 = in->lev[0] * in->k[0];
    in->r = in->q + in->p + 1;
    in->order = NULL;
    if (oorder != Py_None) {
        Py_buffer *b = &views[(*nv)++];
        if (get_array(oorder, b, "order", 'q', 1, 0))
            return -1;
        if (dim(b, 0) != in->n) {
            PyErr_SetString(ArgumentError, "order must have one entry per row");
            return -1;
        }
        in->order = b->buf;
        char *seen = calloc((size_t)in->n + 1, 1);
        if (seen == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < in->n; i++) {
            int64_t s = in->order[i];
            if (s < 0 || s >= in->n || seen[s]) {
                free(seen);
                PyErr_SetString(ArgumentError, "order must be a permutation of the rows");
                return -1;
            }
            seen[s] = 1;
        }
        free(seen);
    }
    return 0;
}

static int xp_output(PyObject *o, Py_buffer *b, const char *name, int ndim, Py_ssize_t d0,
                     Py_ssize_t d1, Py_ssize_t d2, int zero)
{
    if (get_array(o, b, name, 'd', ndim, 1))
        return -1;
    if (dim(b, 0) != d0 || dim(b, 1) != d1 || (ndim == 3 && dim(b, 2) != d2)) {
        if (ndim == 3)
            PyErr_Format(ArgumentError, "%s must have shape (%zd, %zd, %zd)", name, d0, d1, d2);
        else
            PyErr_Format(ArgumentError, "%s must have shape (%zd, %zd)", name, d0, d1);
        return -1;
    }
    if (zero)
        memset(b->buf, 0, (size_t)b->len);
    return 0;
}

static PyObject *py_crossproducts(PyObject *self, PyObject *args)
{
    PyObject *ocodes, *ovals, *olev, *oX, *oy, *osw, *oorder, *oA, *oB, *oArr, *oXy, *oWXy;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO:crossproducts", &ocodes, &ovals, &olev, &oX,
                          &oy, &osw, &oorder, &oA, &oB, &oArr, &oXy, &oWXy))
        return NULL;
    Py_buffer views[2 * XP_MAXTERMS + 9];
    memset(views, 0, sizeof(views));
    int nv = 0, sorted = 1;
    PyObject *result = NULL;
    XpInput in;
    if (xp_input(&in, ocodes, ovals, olev, oX, oy, osw, oorder, views, &nv))
        goto done;
    if (in.order == NULL) {
        Py_BEGIN_ALLOW_THREADS
        sorted = xp_sorted(&in);
        Py_END_ALLOW_THREADS
    }
    if (sorted) {
        Py_buffer *bA = &views[nv++], *bB = &views[nv++], *bR = &views[nv++];
        Py_buffer *bXy = &views[nv++], *bW = &views[nv++];
        const Py_ssize_t k1 = in.k[0];
        if (xp_output(oA, bA, "A11", 3, in.lev[0], k1, k1, 1) ||
            xp_output(oB, bB, "B", 2, in.r, in.q1, 0, 1) ||
            xp_output(oArr, bR, "Arr", 2, in.r, in.r, 0, 1) ||
            xp_output(oXy, bXy, "Xy", 2, in.n, in.p + 1, 0, 0) ||
            xp_output(oWXy, bW, "WXy", 2, in.n, in.p + 1, 0, 0))
            goto done;
        Py_BEGIN_ALLOW_THREADS
        xp_accumulate(&in, bA->buf, bB->buf, bR->buf, bXy->buf, bW->buf);
        Py_END_ALLOW_THREADS
    }
    result = PyBool_FromLong(sorted);
done:
    for (int i = 0; i < nv; i++)
        release(&views[i]);
    return result;
}

/* ------------------------------------------------------------------ a new response's blocks
 *
 * response_products(codes, values, levels, X, y, sqrt_w, order, B0, Arr0, B, Arr, Xy, WXy)
 *
 * For a refit (a new response y, the same terms, X, weights and canonical row order): the
 * blocks of crossproducts(codes, values, levels, X, y, sqrt_w, order, ...) that involve X or
 * y, computed as xp_accumulate computes them (every sum over the rows in `order`, each term
 * formed the same way, so the same bits):
 *
 *   B[q + m, c_0 k_0 + b]          = sum V0_b (Xy_m w)          (the X and y rows of B)
 *   Arr[o_t + c_t k_t + a, q + m]  = sum V_t,a (Xy_m w)  and its transpose
 *   Xy[i] = [X y][order[i]],  WXy[i] = Xy[i] w
 *
 * while the blocks without them are copied from B0 and Arr0, another response's blocks of the
 * same model (B[:q] = B0[:q], Arr[:q, :q] = Arr0[:q, :q]): A11 and the Z_rest products are
 * those of any response. Arr[q:, q:] = Xy' WXy is left to the caller, as crossproducts does.
 * `order` (int64, a permutation of the rows) is required. Shapes as crossproducts'; B0 and
 * Arr0 have B's and Arr's. */
static void xp_response(const XpInput *in, const double *B0, const double *Arr0, double *B,
                        double *Arr, double *Xy, double *WXy)
{
    const Py_ssize_t n = in->n, p = in->p, p1 = p + 1, q = in->q, r = in->r, q1 = in->q1;
    const Py_ssize_t k1 = in->k[0];
    memcpy(B, B0, (size_t)(q * q1) * sizeof(double));
    memset(B + q * q1, 0, (size_t)(p1 * q1) * sizeof(double));
    for (Py_ssize_t a = 0; a < q; a++) {
        memcpy(Arr + a * r, Arr0 + a * r, (size_t)q * sizeof(double));
        memset(Arr + a * r + q, 0, (size_t)p1 * sizeof(double));
    }
    /* the inputs as local pointers (the stores to B and Xy cannot then make the compiler
     * read them again from `in` at every row) */
    const int64_t *order = in->order;
    const double *X = in->X, *y = in->y, *sw = in->sw, *vals0 = in->vals[0];
    const int32_t *codes32 = in->code_size[0] == 4 ? in->codes[0] : NULL;
    const int64_t *codes64 = in->code_size[0] == 4 ? NULL : in->codes[0];
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t s = (Py_ssize_t)order[i];
        double w = 1.0;
        if (sw != NULL)
            w = sw[s] * sw[s];
        double *xy = Xy + i * p1, *wxy = WXy + i * p1;
        for (Py_ssize_t j = 0; j < p; j++) {
            xy[j] = X[s * p + j];
            wxy[j] = xy[j] * w;
        }
        xy[p] = y[s];
        wxy[p] = xy[p] * w;
        const double *v0 = vals0 + s * k1;
        Py_ssize_t c0 = (Py_ssize_t)(codes32 != NULL ? codes32[s] : codes64[s]) * k1;
        double *Bc = B + q * q1 + c0;
        for (Py_ssize_t b = 0; b < k1; b++)
            for (Py_ssize_t j = 0; j < p1; j++)
                Bc[j * q1 + b] += v0[b] * wxy[j];
        for (int t = 1; t < in->m; t++) {
            const double *vt = in->vals[t] + s * in->k[t];
            Py_ssize_t row = in->off[t] + (Py_ssize_t)xp_code(in, t, s) * in->k[t];
            for (Py_ssize_t a = 0; a < in->k[t]; a++)
                for (Py_ssize_t j = 0; j < p1; j++)
                    Arr[(row + a) * r + q + j] += vt[a] * wxy[j];
        }
    }
    for (Py_ssize_t a = 0; a < q; a++)
        for (Py_ssize_t j = 0; j < p1; j++)
            Arr[(q + j) * r + a] = Arr[a * r + q + j];
}

static PyObject *py_response_products(PyObject *self, PyObject *args)
{
    PyObject *ocodes, *ovals, *olev, *oX, *oy, *osw, *oorder, *oB0, *oA0, *oB, *oArr, *oXy,
        *oWXy;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOO:response_products", &ocodes, &ovals, &olev,
                          &oX, &oy, &osw, &oorder, &oB0, &oA0, &oB, &oArr, &oXy, &oWXy))
        return NULL;
    if (oorder == Py_None) {
        PyErr_SetString(ArgumentError, "response_products needs the row order");
        return NULL;
    }
    Py_buffer views[2 * XP_MAXTERMS + 10];
    memset(views, 0, sizeof(views));
    int nv = 0;
    PyObject *result = NULL;
    XpInput in;
    if (xp_input(&in, ocodes, ovals, olev, oX, oy, osw, oorder, views, &nv))
        goto done;
    Py_buffer *b0 = &views[nv++], *a0 = &views[nv++], *bB = &views[nv++], *bR = &views[nv++];
    Py_buffer *bXy = &views[nv++], *bW = &views[nv++];
    if (get_array(oB0, b0, "B0", 'd', 2, 0) || get_array(oA0, a0, "Arr0", 'd', 2, 0))
        goto done;
    if (dim(b0, 0) != in.r || dim(b0, 1) != in.q1 || dim(a0, 0) != in.r ||
        dim(a0, 1) != in.r) {
        PyErr_Format(ArgumentError, "B0 and Arr0 must have shapes (%zd, %zd) and (%zd, %zd)",
                     in.r, in.q1, in.r, in.r);
        goto done;
    }
    if (xp_output(oB, bB, "B", 2, in.r, in.q1, 0, 0) ||
        xp_output(oArr, bR, "Arr", 2, in.r, in.r, 0, 0) ||
        xp_output(oXy, bXy, "Xy", 2, in.n, in.p + 1, 0, 0) ||
        xp_output(oWXy, bW, "WXy", 2, in.n, in.p + 1, 0, 0))
        goto done;
    if (bB->buf == b0->buf || bR->buf == a0->buf) {
        PyErr_SetString(ArgumentError, "B and Arr must not be B0 and Arr0");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    xp_response(&in, b0->buf, a0->buf, bB->buf, bR->buf, bXy->buf, bW->buf);
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    for (int i = 0; i < nv; i++)
        release(&views[i]);
    return result;
}

/* ------------------------------------------------------------------ lme4's deriv12
 *
 * deriv12(ev, x, fx, delta, P, reml, ldW, g, H) -> number of evaluations
 *
 * mixedfx.optimize.derivatives.deriv12 in one call: the deviance (as deviance_at) at the
 * points x + delta e_i, x - delta e_i and, for j < i, x +- delta e_i +- delta e_j (++, +-,
 * -+, --), in that order, and from them, with d2 = pow(delta, 2) as Python's delta**2,
 *   g_i  = (f(+i) - f(-i)) / (2 delta)
 *   H_ii = ((f(+i) - 2 fx) + f(-i)) / d2
 *   H_ij = H_ji = (((f(++) - f(+-)) - f(-+)) + f(--)) / (4 d2)
 * the same operations in the same order as the Python function, so the same bits. */
static PyObject *py_deriv12(PyObject *self, PyObject *args)
{
    PyObject *oev, *ox, *oP, *og, *oH;
    double fx, delta, ldW;
    int reml;
    if (!PyArg_ParseTuple(args, "OOddOpdOO:deriv12", &oev, &ox, &fx, &delta, &oP, &reml,
                          &ldW, &og, &oH))
        return NULL;
    if (check_evaluator(oev))
        return NULL;
    Evaluator *ev = (Evaluator *)oev;
    const Py_ssize_t n = ev->ntheta;
    Py_buffer xb = {0}, Pb = {0}, gb = {0}, Hb = {0};
    PyObject *result = NULL;
    double *scratch = NULL, *pt = NULL;
    if (get_array(ox, &xb, "x", 'd', 1, 0) || get_P(ev, oP, &Pb) ||
        get_array(og, &gb, "g", 'd', 1, 1) || get_array(oH, &Hb, "H", 'd', 2, 1))
        goto done;
    if (dim(&xb, 0) != n || dim(&gb, 0) != n || dim(&Hb, 0) != n || dim(&Hb, 1) != n) {
        PyErr_Format(ArgumentError, "x and g must have %zd values and H shape (%zd, %zd)", n,
                     n, n);
        goto done;
    }
    scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    pt = malloc((size_t)(n + 1) * sizeof(double));
    if (scratch == NULL || pt == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *x = xb.buf;
    double *g = gb.buf, *H = Hb.buf;
    const double d2 = pow(delta, 2.0);
    long evaluations = 0;
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        double fadd, fsub;
        memcpy(pt, x, (size_t)n * sizeof(double));
        pt[i] = x[i] + delta;
        rc |= deviance_at(ev, pt, Pb.buf, scratch, reml, ldW, &fadd);
        pt[i] = x[i] + (-delta);
        rc |= deviance_at(ev, pt, Pb.buf, scratch, reml, ldW, &fsub);
        evaluations += 2;
        H[i * n + i] = ((fadd - 2.0 * fx) + fsub) / d2;
        g[i] = (fadd - fsub) / (2.0 * delta);
        for (Py_ssize_t j = 0; j < i && rc == 0; j++) {
            double f[4];
            for (int c = 0; c < 4; c++) {
                pt[i] = c < 2 ? x[i] + delta : x[i] + (-delta);
                pt[j] = c % 2 == 0 ? x[j] + delta : x[j] + (-delta);
                rc |= deviance_at(ev, pt, Pb.buf, scratch, reml, ldW, &f[c]);
            }
            pt[j] = x[j];
            evaluations += 4;
            H[i * n + j] = H[j * n + i] = (((f[0] - f[1]) - f[2]) + f[3]) / (4.0 * d2);
        }
    }
    Py_END_ALLOW_THREADS
    if (rc) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyLong_FromLong(evaluations);
done:
    free(scratch);
    free(pt);
    release(&xb); release(&Pb); release(&gb); release(&Hb);
    return result;
}
#include "lmm_newton.h"   /* newton: a refit's optimization from a nearby optimum */
