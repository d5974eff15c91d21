/* A dense Cholesky factorization divided into square tiles, run by worker threads that each
 * take the next ready tile operation from one shared list (dynamic scheduling).
 *
 * With the n x n symmetric positive definite matrix S split into nb x nb tiles S_ij
 * (i >= j, the last row and column of tiles possibly narrower), the lower factor L (S = L L')
 * is, tile by tile (right-looking):
 *
 *   for k = 0 .. T-1:   L_kk = chol(S_kk)                            (POTRF)
 *                       L_ik = S_ik L_kk^-T           for i > k      (TRSM)
 *                       S_ij <- S_ij - L_ik L_jk'     for i >= j > k (GEMM; SYRK when i = j)
 *
 * A tile operation is ready when its inputs are final: S_ij's update of step k needs L_ik and
 * L_jk and the update of step k - 1 of S_ij; the POTRF / TRSM of S_ij needs all its j updates
 * (and L_jj). Each tile keeps the number of updates it has received, so the updates of a tile
 * are applied in the order k = 0, 1, ..., one BLAS call each with the same operands whatever
 * thread runs it and whenever: the factor is the same bits for any number of workers and any
 * schedule (it depends on the tile sizes and the BLAS kernel only). Below the diagonal the
 * TRSM and GEMM calls take h tiles of a column at once (a block, fixed by n, nb and h): a
 * tall product runs OpenBLAS's kernels at nearly their full speed, a 256^3 one at ~80%. A worker that gets less
 * CPU time than the others (a busy machine) simply takes fewer operations; idle workers wait
 * on a condition variable (no spinning), so a descheduled worker costs the others nothing
 * but the operation it holds. Ready operations are taken by the column of the tile they
 * write (the next panel first: the factorization's critical path), then POTRF / TRSM before
 * updates, then by row.
 *
 * The BLAS and LAPACK routines are those of SciPy's `cython_blas` / `cython_lapack` (passed
 * in once as capsules, `bind`), called on tiles in place (leading dimension n); they must run
 * single-threaded (the caller holds BLAS at one thread: mixedfx.optimize.threads), the
 * threads here being the parallelism.
 *
 * The matrix is given C-ordered with its upper triangle filled: that is the lower triangle of
 * the Fortran-ordered matrix the routines see, as for scipy.linalg.lapack.dpotrf(P.T, lower=1).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "capsule.h"
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <pthread.h>
#define HAVE_THREADS 1
#else
#define HAVE_THREADS 0
#endif

#define MAX_WORKERS 64

typedef void (*dgemm_t)(char *, char *, int *, int *, int *, double *, double *, int *,
                        double *, int *, double *, double *, int *);
typedef void (*dsyrk_t)(char *, char *, int *, int *, double *, double *, int *, double *,
                        double *, int *);
typedef void (*dtrsm_t)(char *, char *, char *, char *, int *, int *, double *, double *,
                        int *, double *, int *);
typedef void (*dpotrf_t)(char *, int *, double *, int *, int *);

static struct {
    dgemm_t dgemm;
    dsyrk_t dsyrk;
    dtrsm_t dtrsm;
    dpotrf_t dpotrf;
} api;
static int bound = 0;

static PyObject *ArgumentError = NULL;
static PyObject *ArgumentTypeError = NULL;

/* ------------------------------------------------------------------ the schedule */

enum { PENDING = 0, RUNNING = 1, DONE = 2 };
enum { NONE = 0, FINAL = 1, UPDATE = 2 };

/* A block is one tile column's diagonal tile (b = 0), or a group of up to h tiles below it
 * (b >= 1: tile rows j + 1 + (b - 1) h .. j + b h): the unit of one BLAS call. Taller
 * blocks make fewer, more efficient calls; the grouping is fixed by (n, nb, h). */
typedef struct {
    double *A;          /* Fortran-ordered n x n, lower triangle used */
    int n, nb, h, T, clean;
    int *first;         /* per column j: index of its diagonal block; then its groups */
    int *count;         /* per block: updates received (0 .. j) */
    char *state;        /* per block: PENDING / RUNNING / DONE (factored or solved) */
    char *final;        /* per tile (i, j), i >= j: L_ij final */
    int remaining;      /* blocks not DONE */
    int info;           /* 0, or the order of the first leading minor not positive definite */
    int stop;
#if HAVE_THREADS
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
} Work;

static inline int tix(int i, int j) { return i * (i + 1) / 2 + j; }
static inline int width(const Work *w, int i) { return i == w->T - 1 ? w->n - i * w->nb : w->nb; }
static inline double *tile(const Work *w, int i, int j)
{
    return w->A + (size_t)j * w->nb * (size_t)w->n + (size_t)i * w->nb;
}
static inline int groups(const Work *w, int j) { return (w->T - 1 - j + w->h - 1) / w->h; }

/* Tile rows [*lo, *hi) of block b of column j. */
static void rows_of(const Work *w, int j, int b, int *lo, int *hi)
{
    if (b == 0) {
        *lo = j;
        *hi = j + 1;
        return;
    }
    *lo = j + 1 + (b - 1) * w->h;
    *hi = *lo + w->h < w->T ? *lo + w->h : w->T;
}

static int rows_final(const Work *w, int lo, int hi, int k)
{
    for (int i = lo; i < hi; i++)
        if (!w->final[tix(i, k)])
            return 0;
    return 1;
}

/* The next ready operation (kind, column j, block b), or NONE; marks the block RUNNING. */
static int pick(Work *w, int *pj, int *pb)
{
    for (int j = 0; j < w->T; j++) {
        int nbk = 1 + groups(w, j), base = w->first[j];
        for (int pass = 0; pass < 2; pass++) {
            for (int b = 0; b < nbk; b++) {
                int t = base + b;
                if (w->state[t] != PENDING)
                    continue;
                int c = w->count[t], lo, hi, ready;
                if (pass == 0)      /* POTRF of a diagonal tile, TRSM below it */
                    ready = c == j && (b == 0 || w->final[tix(j, j)]);
                else {              /* the update of step c: L_ic (i in the block), L_jc */
                    rows_of(w, j, b, &lo, &hi);
                    ready = c < j && w->final[tix(j, c)] && rows_final(w, lo, hi, c);
                }
                if (ready) {
                    w->state[t] = RUNNING;
                    *pj = j;
                    *pb = b;
                    return pass == 0 ? FINAL : UPDATE;
                }
            }
        }
    }
    return NONE;
}

/* Zero the lower factor's upper triangle over block b of column j (the transposed
 * position), as LAPACK's clean result has it. */
static void zero_upper(const Work *w, int j, int b)
{
    int mj = width(w, j), lo, hi;
    if (b == 0) {
        double *a = tile(w, j, j);
        for (int c = 1; c < mj; c++)
            memset(a + (size_t)c * w->n, 0, sizeof(double) * (size_t)c);
        return;
    }
    rows_of(w, j, b, &lo, &hi);
    int cols = (hi - lo - 1) * w->nb + width(w, hi - 1);
    double *a = tile(w, j, lo);         /* rows of tile j, columns of tiles lo .. hi - 1 */
    for (int c = 0; c < cols; c++)
        memset(a + (size_t)c * w->n, 0, sizeof(double) * (size_t)mj);
}

/* Run one operation; returns LAPACK's info of a POTRF (0 otherwise). */
static int run_op(const Work *w, int kind, int j, int b)
{
    int lda = w->n, mj = width(w, j), info = 0, lo, hi;
    double one = 1.0, minus = -1.0;
    rows_of(w, j, b, &lo, &hi);
    int m = (hi - lo - 1) * w->nb + width(w, hi - 1);
    if (kind == FINAL) {
        if (b == 0)
            api.dpotrf("L", &mj, tile(w, j, j), &lda, &info);
        else
            api.dtrsm("R", "L", "T", "N", &m, &mj, &one, tile(w, j, j), &lda, tile(w, lo, j),
                      &lda);
        if (info == 0 && w->clean)
            zero_upper(w, j, b);
        return info;
    }
    int k = w->count[w->first[j] + b], nbk = w->nb;   /* step k < j: a full tile column */
    if (b == 0)
        api.dsyrk("L", "N", &mj, &nbk, &minus, tile(w, j, k), &lda, &one, tile(w, j, j), &lda);
    else
        api.dgemm("N", "T", &m, &mj, &nbk, &minus, tile(w, lo, k), &lda, tile(w, j, k), &lda,
                  &one, tile(w, lo, j), &lda);
    return 0;
}

static void finish_op(Work *w, int kind, int j, int b, int info)
{
    int t = w->first[j] + b, lo, hi;
    if (kind == UPDATE) {
        w->count[t]++;
        w->state[t] = PENDING;
        return;
    }
    if (info != 0) {
        if (w->info == 0 || j * w->nb + info < w->info)
            w->info = j * w->nb + info;
        w->stop = 1;
        w->state[t] = PENDING;
        return;
    }
    rows_of(w, j, b, &lo, &hi);
    for (int i = lo; i < hi; i++)
        w->final[tix(i, j)] = 1;
    w->state[t] = DONE;
    w->remaining--;
}

#if HAVE_THREADS
static void *worker(void *arg)
{
    Work *w = (Work *)arg;
    int j, b;
    pthread_mutex_lock(&w->mu);
    while (!w->stop && w->remaining > 0) {
        int kind = pick(w, &j, &b);
        if (kind == NONE) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        int info = run_op(w, kind, j, b);
        pthread_mutex_lock(&w->mu);
        finish_op(w, kind, j, b, info);
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
#endif

/* Factor with `workers` threads (the caller's included), tiles of nb, blocks of h tiles;
 * returns 0 or LAPACK's info, or -1 when out of memory. */
static int factor(double *A, int n, int nb, int h, int workers, int clean)
{
    Work w;
    memset(&w, 0, sizeof w);
    w.A = A;
    w.n = n;
    w.nb = nb;
    w.h = h;
    w.T = (n + nb - 1) / nb;
    w.clean = clean;
    int ntiles = w.T * (w.T + 1) / 2, nblocks = 0;
    w.first = malloc(sizeof(int) * (size_t)w.T);
    if (w.first != NULL)
        for (int j = 0; j < w.T; j++) {
            w.first[j] = nblocks;
            nblocks += 1 + groups(&w, j);
        }
    w.count = calloc((size_t)nblocks, sizeof(int));
    w.state = calloc((size_t)nblocks, 1);
    w.final = calloc((size_t)ntiles, 1);
    if (w.first == NULL || w.count == NULL || w.state == NULL || w.final == NULL) {
        free(w.first);
        free(w.count);
        free(w.state);
        free(w.final);
        return -1;
    }
    w.remaining = nblocks;
#if HAVE_THREADS
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th[MAX_WORKERS];
    int started = 0;
    for (int t = 1; t < workers && t < MAX_WORKERS; t++) {
        if (pthread_create(&th[started], NULL, worker, &w) != 0)
            break;                      /* fewer workers: the same result, later */
        started++;
    }
    worker(&w);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
#else
    (void)workers;
    int j, b;
    while (!w.stop && w.remaining > 0) {
        int kind = pick(&w, &j, &b);
        finish_op(&w, kind, j, b, run_op(&w, kind, j, b));
    }
#endif
    free(w.first);
    free(w.count);
    free(w.state);
    free(w.final);
    return w.info;
}

/* ------------------------------------------------------------------ Python entry points */

/* bind(dgemm, dsyrk, dtrsm, dpotrf): the routines, as capsules of SciPy's cython_blas and
 * cython_lapack. */
static PyObject *py_bind(PyObject *self, PyObject *args)
{
    PyObject *c[4];
    static const char *names[4] = {"dgemm", "dsyrk", "dtrsm", "dpotrf"};
    if (!PyArg_ParseTuple(args, "OOOO:bind", &c[0], &c[1], &c[2], &c[3]))
        return NULL;
    void *p[4];
    for (int i = 0; i < 4; i++)
        if ((p[i] = capsule_pointer(ArgumentTypeError, c[i], names[i])) == NULL)
            return NULL;
    api.dgemm = (dgemm_t)p[0];
    api.dsyrk = (dsyrk_t)p[1];
    api.dtrsm = (dtrsm_t)p[2];
    api.dpotrf = (dpotrf_t)p[3];
    bound = 1;
    Py_RETURN_NONE;
}

/* potrf(A, nb, h, workers, clean) -> info */
static PyObject *py_potrf(PyObject *self, PyObject *args)
{
    PyObject *oa;
    int nb, h, workers, clean;
    if (!PyArg_ParseTuple(args, "Oiiip:potrf", &oa, &nb, &h, &workers, &clean))
        return NULL;
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "tiled.potrf: bind() the BLAS routines first");
        return NULL;
    }
    if (nb < 1 || h < 1 || workers < 1) {
        PyErr_Format(ArgumentError, "nb, h and workers must be >= 1, got %d, %d and %d", nb, h,
                     workers);
        return NULL;
    }
    Py_buffer b;
    if (PyObject_GetBuffer(oa, &b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) {
        PyErr_Clear();
        PyErr_Format(ArgumentTypeError, "A must be a C-contiguous writable float64 array, got "
                     "%.80s", Py_TYPE(oa)->tp_name);
        return NULL;
    }
    const char *f = b.format ? b.format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (b.ndim != 2 || b.shape[0] != b.shape[1] || b.itemsize != 8 || strcmp(f, "d") != 0
            || b.shape[0] > 46340) {
        PyErr_SetString(ArgumentError, "A must be a square float64 array (at most 46340 rows)");
        PyBuffer_Release(&b);
        return NULL;
    }
    int n = (int)b.shape[0], info = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        info = factor((double *)b.buf, n, nb, h, workers, clean);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&b);
    if (info == -1)
        return PyErr_NoMemory();
    return PyLong_FromLong(info);
}

static PyMethodDef methods[] = {
    {"bind", py_bind, METH_VARARGS,
     "bind(dgemm, dsyrk, dtrsm, dpotrf): the BLAS / LAPACK routines (SciPy capsules)."},
    {"potrf", py_potrf, METH_VARARGS,
     "potrf(A, nb, h, workers, clean) -> info: the lower Cholesky factor of the Fortran view "
     "of the C-ordered A (its upper triangle) in place, in nb x nb tiles (below-diagonal "
     "updates and solves h tiles at a time) run by `workers` threads; info as LAPACK's "
     "dpotrf."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tiled",
                                    "Tiled dense Cholesky with dynamic scheduling.", -1,
                                    methods};

PyMODINIT_FUNC PyInit_tiled(void)
{
    PyObject *errors = PyImport_ImportModule("mixedfx.errors");
    if (errors == NULL)
        return NULL;
    ArgumentError = PyObject_GetAttrString(errors, "ArgumentError");
    ArgumentTypeError = PyObject_GetAttrString(errors, "ArgumentTypeError");
    Py_DECREF(errors);
    if (ArgumentError == NULL || ArgumentTypeError == NULL)
        return NULL;
    return PyModule_Create(&module);
}
