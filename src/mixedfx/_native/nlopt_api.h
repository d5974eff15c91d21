/* NLopt's C interface (nlopt.h) as the addresses of its functions, shared by the kernels that
 * run an optimizer loop in C (lmm.c's `minimize`, pirls_loop.h's `loop_minimize`). The
 * package never links NLopt: Python finds the functions in the nlopt module's own library
 * (optimize/native_run.nlopt_addresses) and hands their addresses to the kernel once, so the
 * loop calls the very code nlopt's Python binding runs. Each kernel is its own extension
 * module, so each holds its own copy of the table (static). The includer has included
 * Python.h, math.h and string.h. */

#ifndef MIXEDFX_NLOPT_API_H
#define MIXEDFX_NLOPT_API_H

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

/* Fill the table from `t`, a tuple of the addresses of nlopt_create, nlopt_destroy,
 * nlopt_set_lower_bounds, nlopt_set_upper_bounds, nlopt_set_min_objective,
 * nlopt_set_xtol_abs1, nlopt_set_ftol_abs, nlopt_set_maxeval, nlopt_set_initial_step,
 * nlopt_optimize and nlopt_force_stop. Returns 0, or -1 with `error` set (naming `caller`). */
static int nlopt_api_bind(PyObject *t, PyObject *error, const char *caller)
{
    void *a[11];
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 11) {
        PyErr_Format(error, "%s takes a tuple of the addresses of 11 functions", caller);
        return -1;
    }
    for (int i = 0; i < 11; i++) {
        a[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(t, i));
        if (a[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(error, "%s: a function address is NULL", caller);
            return -1;
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
    return 0;
}

/* The objective guard of mixedfx.optimize.driver._Guard, one rule for every kernel's NLopt
 * objective: a NaN or -inf value stops the run (GUARD_NAN, GUARD_NEGINF; its point copied to
 * `bad`), the best value and point are kept (`best_f`, `best`), and +inf at every one of the
 * first `inf_limit` points (no finite value yet) stops it (GUARD_INF_STREAK). The stop codes
 * are the ones Python reads (optimize/native_run.STOP_*); a kernel's own codes follow them. */
enum { GUARD_NONE = 0, GUARD_NAN = 1, GUARD_NEGINF = 2, GUARD_INF_STREAK = 3 };

typedef struct {
    double *best, *bad;      /* receive the best point, and the point of a NaN or -inf */
    void *opt;               /* the NLopt optimizer the guard stops */
    long streak, inf_limit;  /* +inf values in a row; how many stop a run without a best */
    double best_f;           /* the best value so far (+inf: none) */
    int have_best, stop;     /* whether best holds a point; why the run stopped (0: it did not) */
} NloptGuard;

/* A guard for optimizer `opt` writing to best and bad (n values each). */
static inline NloptGuard guard_new(void *opt, double *best, double *bad, long inf_limit)
{
    NloptGuard g = {best, bad, opt, 0, inf_limit, INFINITY, 0, GUARD_NONE};
    return g;
}

/* The value v at the n-vector x, as NLopt is to see it, after the guard's checks (which may
 * stop the run: `stop` set and NLopt's force_stop called). */
static inline double guard_value(NloptGuard *g, unsigned n, const double *x, double v)
{
    if (isnan(v) || v == -INFINITY) {
        g->stop = isnan(v) ? GUARD_NAN : GUARD_NEGINF;
        memcpy(g->bad, x, n * sizeof(double));
        nlopt_api.force_stop(g->opt);
        return v;
    }
    if (v < g->best_f) {
        g->best_f = v;
        g->have_best = 1;
        memcpy(g->best, x, n * sizeof(double));
    }
    if (v == INFINITY) {
        g->streak++;
        if (!g->have_best && g->streak >= g->inf_limit) {
            g->stop = GUARD_INF_STREAK;
            nlopt_api.force_stop(g->opt);
        }
    }
    else
        g->streak = 0;
    return v;
}

#endif
