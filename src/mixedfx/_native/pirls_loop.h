/* The GLMM objective over whole optimizer runs, in C (included by pirls.c: one translation
 * unit with the PIRLS functions above it).
 *
 * A small GLMM's PIRLS solve takes a few microseconds; calling it from NLopt through Python
 * (the `nlopt` package's callback, the driver's guard, GlmmObjective.__call__ and the
 * kernel's argument parsing) costs several times that, for each of the 60-90 evaluations of
 * a glmer fit. Four entry points remove those calls:
 *
 * - `loop_minimize`: NLopt's optimizer (BOBYQA by default) run from C with the objective of
 *   mixedfx.glmm.objective.GlmmObjective as its C objective, carrying the warm start from
 *   one evaluation to the next as the Python objective does, and on request the objective
 *   once more at the end point with a finer PIRLS step tolerance and the whitening's
 *   L_XX^-T from the factor with X there (`loop_end`: stage 1's optimum, evaluated again
 *   for stage 2's start and whitening);
 * - `loop_values`: that objective at each row of a matrix of points, in order, with the same
 *   carry (the central-difference gradient at the optimum);
 * - `devfun_values`: lme4's stage-2 devfun (objective.Lme4Devfun) at each row of a matrix
 *   of points (the forward-difference Hessian behind vcov(beta));
 * - `loop_post`: the sequence after the optimum (the value there, the central gradient
 *   and the devfun's forward Hessian, their points built in C) in one call, as the last two
 *   would give it;
 * and `whitening_t` forms stage 2's map M = L_XX^-T from the stage-1 factor.
 *
 * One evaluation at x, as GlmmObjective.__call__ (x = theta in stage 1; x = (theta, gamma)
 * with beta = beta1 + M gamma in stage 2; x = (theta, beta) otherwise):
 *   Lambda's templates from theta through the 0/1 template map (lme4's unstructured and the
 *   diagonal structures); the warm start u0 = T_new^-1 T_old u of the last state whose value
 *   was finite (b = Lambda u kept; `carry_term`); PIRLS from (u0, beta) (beta updated in
 *   stage 1), once more from u = 0 when it fails, +inf when that fails too; the factor formed
 *   again at the mode's weights when the last step exceeds lag_tol; the value
 *     nAGQ <= 1:  aic_constant - 2 sum kernel + ||u||^2 + log|L|^2
 *     nAGQ > 1:   sum dev.resids + ||u||^2 + the adaptive Gauss-Hermite correction (`agq_sum`)
 *   and the state kept when the value is finite (NaN counts as +inf, as in Python). Every
 *   operation is the one the Python objective runs, in the same order, so the optimizer sees
 *   the same values and takes the same path. A case only the Python objective handles (the
 *   Laplace factor at the mode not positive definite: value_at raises) stops the run with
 *   LOOP_PYTHON, and the caller runs it again in Python from the same start.
 *
 * NLopt is the C library inside the `nlopt` Python package's extension module, reached
 * through the addresses of its functions (`loop_bind_nlopt`, given by
 * mixedfx.glmm.native_loop). The GIL is released for the whole NLopt run (for each PIRLS
 * solve in loop_values) and signals are checked between evaluations, at the first and then
 * at most every LOOP_SIGNAL_PERIOD seconds (Ctrl-C stops a long run).
 */

#include <time.h>

#include "nlopt_api.h"

/* loop_bind_nlopt((create, destroy, set_lower_bounds, set_upper_bounds, set_min_objective,
 *                  set_xtol_abs1, set_ftol_abs, set_maxeval, set_initial_step, optimize,
 *                  force_stop)): each entry the address of that nlopt_* function */
static PyObject *py_loop_bind_nlopt(PyObject *self, PyObject *args)
{
    PyObject *t;
    if (!PyArg_ParseTuple(args, "O!:loop_bind_nlopt", &PyTuple_Type, &t))
        return NULL;
    if (nlopt_api_bind(t, PyExc_ValueError, "loop_bind_nlopt") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* what stopped a run (besides NLopt itself); LOOP_PYTHON: redo the run in Python */
enum { LOOP_NONE = 0, LOOP_NAN = 1, LOOP_NEGINF = 2, LOOP_INF_STREAK = 3, LOOP_NOMEM = 4,
       LOOP_PYTHON = 5, LOOP_PYERR = 6 };
/* how x maps to (theta, beta) */
enum { X_THETA = 1, X_WHITENED = 2, X_THETA_BETA = 3 };

/* sum_j log L_jj^2 - 2 sum_j log sum_k w_k exp(-dg_jk / 2 + z_k^2 / 2) for one scalar term
 * (GlmmObjective._agq_correction), dg_jk the change of level j's deviance residuals + u^2
 * when u_j moves to u_j + z_k / L_jj. Returns -1 when out of memory, else 0. */
static int agq_sum(const Model *m, const double *beta, const double *u0, const double *Ljj,
                   const double *z, const double *w, Py_ssize_t nq, double *result)
{
    Py_ssize_t nl = m->nl[0];
    int rc = 0;
    double *xb = (double *)malloc(sizeof(double) * (m->n + 1));
    double *g0 = (double *)calloc(nl + 1, sizeof(double));
    double *g = (double *)calloc(nl + 1, sizeof(double));
    double *acc = (double *)calloc(nl + 1, sizeof(double));
    double *uk = (double *)malloc(sizeof(double) * (nl + 1));
    if (!xb || !g0 || !g || !acc || !uk) rc = -1;
    else {
        xbeta(m, beta, xb);
        double t0 = m->T[0][0];
        for (Py_ssize_t k = -1; k < nq; k++) {
            double *gk = k < 0 ? g0 : g;
            for (Py_ssize_t j = 0; j < nl; j++) {
                uk[j] = k < 0 ? u0[j] : u0[j] + z[k] * (1.0 / Ljj[j]);
                gk[j] = 0.0;
            }
            if (k >= 0 && z[k] == 0) {
                for (Py_ssize_t j = 0; j < nl; j++) acc[j] += w[k];
                continue;
            }
            for (Py_ssize_t i = 0; i < m->n; i++) {
                Py_ssize_t j = m->codes[i];
                double eta = m->off[i] + xb[i] + m->vals[0][i] * (uk[j] * t0);
                gk[j] += dev_resid(m, m->y[i], linkinv(m, eta), m->wt[i]);
            }
            for (Py_ssize_t j = 0; j < nl; j++) gk[j] += uk[j] * uk[j];
            if (k >= 0)
                for (Py_ssize_t j = 0; j < nl; j++)
                    acc[j] += w[k] * exp(-(g[j] - g0[j]) / 2 + z[k] * z[k] / 2);
        }
        double s1 = 0.0, s2 = 0.0;
        for (Py_ssize_t j = 0; j < nl; j++) { s1 += log(Ljj[j]); s2 += log(acc[j]); }
        *result = 2 * s1 - 2 * s2;
    }
    free(xb); free(g0); free(g); free(acc); free(uk);
    return rc;
}

/* The objective's model, settings and carried state */
typedef struct {
    Model m;
    Py_ssize_t nx, ntheta, ntpl, l11, nq;
    int xmap, nagq, stop_stag, refactor;
    Py_ssize_t maxit;
    double aic_const, lag_tol, step_tol, tol;
    const int64_t *tmap;                  /* packed templates <- theta (-1: zero) */
    const double *beta1, *M;              /* X_WHITENED: beta = beta1 + M gamma */
    const double *nodes, *weights;        /* nAGQ > 1 */
    double *T;                            /* the templates at the point evaluated */
    double *Tcur;                         /* ... and at the carried state */
    double *u0, *b0, *uzero;
    State cur, nw;                        /* the carried state; the one being computed */
    double *L11cur, *L11nw;
    Factor f, fz;                         /* PIRLS's factor, the one at the mode's weights */
    PirlsWork work;                       /* PIRLS's iterates */
    double *xbz;                          /* X beta at the mode (the factor at its weights);
                                           * devfun_values: g^-1(eta0) */
    double ld_cur, lag_cur, ld_nw, lag_nw;
    int its_cur, its_nw, have_T, have_state;
    long evaluations;
} Loop;

static void loop_free(Loop *L)
{
    free(L->T); free(L->Tcur); free(L->u0); free(L->b0); free(L->uzero);
    free(L->L11cur); free(L->L11nw); free(L->xbz);
    state_free(&L->cur); state_free(&L->nw);
    factor_free(&L->f); factor_free(&L->fz); work_free(&L->work);
}

/* spec = (nx, ntheta, xmap, nagq, maxit, stop_on_stagnation, refactor,
 *         aic_constant, lag_tol, step_tol, tol,
 *         tmap, beta1 | None, M | None, nodes | None, weights | None)
 * (Python numbers, then arrays); templates: one k x k array per term (any values: the loop
 * fills its own from theta); start = (u, beta, packed templates | None): the carried
 * state. Allocates the loop's buffers (loop_free releases them; the struct must be zeroed
 * first). */
static int loop_parse(Buffers *bufs, PyObject *model, PyObject *templates, PyObject *spec,
                      PyObject *start, Loop *L)
{
    PyObject *otmap, *obeta1, *oM, *onodes, *oweights;
    if (!PyTuple_Check(spec) || !PyTuple_Check(start) || PyTuple_GET_SIZE(start) != 3) {
        PyErr_SetString(PyExc_TypeError, "pirls loop: spec and start must be tuples (start: 3)");
        return -1;
    }
    if (!PyArg_ParseTuple(spec, "nniinppddddOOOOO:pirls loop spec", &L->nx, &L->ntheta,
                          &L->xmap, &L->nagq, &L->maxit, &L->stop_stag, &L->refactor,
                          &L->aic_const, &L->lag_tol, &L->step_tol, &L->tol, &otmap, &obeta1,
                          &oM, &onodes, &oweights))
        return -1;
    Py_buffer *tv = &bufs->views[bufs->count];
    L->tmap = (const int64_t *)get_buf(bufs, otmap, -1, 0, 0, "tmap");
    if (!L->tmap) return -1;
    L->ntpl = tv->len / 8;
    if (parse_model(bufs, model, templates, &L->m) < 0) return -1;
    Model *m = &L->m;
    /* each term's template: its slice of the loop's own buffer */
    L->T = (double *)calloc(L->ntpl + 1, sizeof(double));
    if (!L->T) { PyErr_NoMemory(); return -1; }
    Py_ssize_t off = 0, t, i;
    for (t = 0; t < m->nt; t++) { m->T[t] = L->T + off; off += m->k[t] * m->k[t]; }
    if (off != L->ntpl) {
        PyErr_SetString(PyExc_ValueError, "pirls loop: tmap does not match the terms");
        return -1;
    }
    for (i = 0; i < L->ntpl; i++)
        if (L->tmap[i] >= L->ntheta) {
            PyErr_SetString(PyExc_ValueError, "pirls loop: tmap index out of range");
            return -1;
        }
    Py_ssize_t p_x = L->xmap == X_THETA ? 0 : m->p;
    if (L->ntheta < 1 || L->nx != L->ntheta + p_x || L->xmap < X_THETA ||
        L->xmap > X_THETA_BETA) {
        PyErr_SetString(PyExc_ValueError, "pirls loop: x must hold theta (and beta or gamma)");
        return -1;
    }
    L->beta1 = L->M = L->nodes = L->weights = NULL;
    if (L->xmap == X_WHITENED && m->p > 0) {
        if (!(L->beta1 = (const double *)get_buf(bufs, obeta1, m->p, 1, 0, "beta1"))) return -1;
        if (!(L->M = (const double *)get_buf(bufs, oM, m->p * m->p, 1, 0, "M"))) return -1;
    }
    L->nq = 0;
    if (L->nagq > 1) {
        if (m->nt != 1 || m->k[0] != 1) {
            PyErr_SetString(PyExc_ValueError, "pirls loop: nAGQ > 1 needs one scalar term");
            return -1;
        }
        Py_buffer *zv = &bufs->views[bufs->count];
        if (!(L->nodes = (const double *)get_buf(bufs, onodes, -1, 1, 0, "nodes"))) return -1;
        L->nq = zv->len / 8;
        if (!(L->weights = (const double *)get_buf(bufs, oweights, L->nq, 1, 0, "weights"))) return -1;
    }
    const double *su = (const double *)get_buf(bufs, PyTuple_GET_ITEM(start, 0), m->q_tot, 1, 0, "start u");
    if (!su) return -1;
    const double *sb = (const double *)get_buf(bufs, PyTuple_GET_ITEM(start, 1), m->p, 1, 0, "start beta");
    if (!sb) return -1;
    const double *sT = NULL;
    if (PyTuple_GET_ITEM(start, 2) != Py_None &&
        !(sT = (const double *)get_buf(bufs, PyTuple_GET_ITEM(start, 2), L->ntpl, 1, 0, "start templates")))
        return -1;
    L->l11 = m->nl[0] * m->k[0] * m->k[0];
    L->Tcur = (double *)calloc(L->ntpl + 1, sizeof(double));
    L->u0 = (double *)calloc(m->q_tot + 1, sizeof(double));
    L->uzero = (double *)calloc(m->q_tot + 1, sizeof(double));
    L->b0 = (double *)calloc(m->p + 1, sizeof(double));
    L->L11cur = (double *)calloc(L->l11 + 1, sizeof(double));
    L->L11nw = (double *)calloc(L->l11 + 1, sizeof(double));
    L->xbz = (double *)calloc(m->n + 1, sizeof(double));
    if (!L->xbz || !L->Tcur || !L->u0 || !L->uzero || !L->b0 || !L->L11cur || !L->L11nw ||
        !state_alloc(m, &L->cur) || !state_alloc(m, &L->nw)) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(L->cur.u, su, sizeof(double) * m->q_tot);
    memcpy(L->cur.beta, sb, sizeof(double) * m->p);
    L->have_T = sT != NULL;
    if (sT) memcpy(L->Tcur, sT, sizeof(double) * L->ntpl);
    L->have_state = 0;
    L->evaluations = 0;
    return 0;
}

/* u <- T_new^-1 T_old u for each level of a term (GlmmObjective._carry_u): b = Lambda u is
 * kept while theta moves. Scalar terms: u (T_old / T_new) unless T_new <= 1e-10; wider
 * ones: v = T_old u (c = 0..a, in order), then forward substitution with T_new, unless a
 * diagonal entry of T_new is 0 (singular: u kept). */
static void carry_term(Py_ssize_t k, Py_ssize_t nl, const double *Told, const double *Tnew,
                       const double *u, double *out)
{
    Py_ssize_t l, a, c;
    if (k == 1) {
        double t = Tnew[0];
        if (t > 1e-10) {
            double ratio = Told[0] / t;
            for (l = 0; l < nl; l++) out[l] = u[l] * ratio;
        } else
            memcpy(out, u, sizeof(double) * nl);
        return;
    }
    for (a = 0; a < k; a++)
        if (Tnew[a * k + a] == 0.0) {
            memcpy(out, u, sizeof(double) * nl * k);
            return;
        }
    for (l = 0; l < nl; l++) {
        const double *ul = u + l * k;
        double v[8], *w = out + l * k;
        for (a = 0; a < k; a++) {
            double acc = Told[a * k] * ul[0];
            for (c = 1; c <= a; c++) acc = acc + Told[a * k + c] * ul[c];
            v[a] = acc;
        }
        for (a = 0; a < k; a++) {
            double s = v[a];
            for (c = 0; c < a; c++) s = s - Tnew[a * k + c] * w[c];
            w[a] = s / Tnew[a * k + a];
        }
    }
}

/* PIRLS from (u0, b0) into L->nw, with the Laplace factor at the mode's weights when the last
 * step exceeds `refactor_above` (as the kernel's `run`); ST_*. The factors and iterates are
 * the loop's own, kept from one solve to the next. */
static int loop_pirls(Loop *L, const double *u0, int update_beta)
{
    const Model *m = &L->m;
    RunOpts o = {0, update_beta, L->stop_stag, 0, L->maxit, L->step_tol, L->tol, 0.0,
                 L->refactor ? L->lag_tol : INFINITY};
    int status = run_pirls(m, u0, L->b0, NULL, &o, &L->nw, &L->f, &L->work);
    Factor *fl = &L->f;
    if (status == ST_OK && o.lag > o.refactor_above) {
        if (!factor_ready(m, &L->fz, 0)) status = ST_NOMEM;
        else {
            xbeta(m, L->nw.beta, L->xbz);
            if (factorize(m, &L->fz, &L->nw, L->xbz) == ST_OK) { fl = &L->fz; o.lag = 0.0; }
        }
    }
    if (status == ST_OK) {
        memcpy(L->L11nw, fl->L11, sizeof(double) * L->l11);
        L->ld_nw = factor_ldl2(m, fl);
        L->lag_nw = o.lag;
        L->its_nw = o.iterations;
    }
    return status;
}

/* beta = beta1 + M gamma (X_WHITENED), each entry's columns summed in order (as
 * mixedfx.glmm.whitening.Whitening sums them) */
static void whitened_beta(const Loop *L, const double *g, double *beta)
{
    Py_ssize_t p = L->m.p, i, j;
    for (i = 0; i < p; i++) {
        double acc = L->M[i * p] * g[0];
        for (j = 1; j < p; j++) acc = acc + L->M[i * p + j] * g[j];
        beta[i] = L->beta1[i] + acc;
    }
}

/* The objective at x (see the top of this file) into *value; LOOP_NONE, LOOP_NOMEM or
 * LOOP_PYTHON. Runs without the GIL. */
static int loop_value(Loop *L, const double *x, double *value)
{
    Model *m = &L->m;
    Py_ssize_t t, i, p = m->p;
    L->evaluations++;
    for (i = 0; i < L->ntpl; i++) L->T[i] = L->tmap[i] < 0 ? 0.0 : x[L->tmap[i]];
    int update_beta = L->xmap == X_THETA;
    if (update_beta)
        memcpy(L->b0, L->cur.beta, sizeof(double) * p);
    else if (L->xmap == X_THETA_BETA)
        memcpy(L->b0, x + L->ntheta, sizeof(double) * p);
    else
        whitened_beta(L, x + L->ntheta, L->b0);
    const double *u0 = L->cur.u;
    if (L->have_T) {
        Py_ssize_t toff = 0;
        for (t = 0; t < m->nt; t++) {
            carry_term(m->k[t], m->nl[t], L->Tcur + toff, L->T + toff,
                       L->cur.u + m->uoff[t], L->u0 + m->uoff[t]);
            toff += m->k[t] * m->k[t];
        }
        u0 = L->u0;
    }
    int st = loop_pirls(L, u0, update_beta);
    if (st == ST_NOMEM) return LOOP_NOMEM;
    if (st != ST_OK) {
        st = loop_pirls(L, L->uzero, update_beta);
        if (st == ST_NOMEM) return LOOP_NOMEM;
    }
    if (st != ST_OK) {
        *value = INFINITY;
        return LOOP_NONE;
    }
    if (!(L->lag_nw <= (L->lag_tol > 0.0 ? L->lag_tol : 0.0)))
        return LOOP_PYTHON;          /* value_at would factor again, and fail */
    double v;
    State *s = &L->nw;
    if (L->nagq <= 1)
        v = (L->aic_const - 2.0 * s->kern + s->ussq) + L->ld_nw;
    else {
        double corr = 0.0;      /* L_jj: each level's 1 x 1 block of L11 */
        if (agq_sum(m, s->beta, s->u, L->L11nw, L->nodes, L->weights, L->nq, &corr))
            return LOOP_NOMEM;
        v = (s->dev + s->ussq) + corr;
    }
    if (isfinite(v)) {
        State tmp = L->cur; L->cur = L->nw; L->nw = tmp;
        double *tl = L->L11cur; L->L11cur = L->L11nw; L->L11nw = tl;
        L->ld_cur = L->ld_nw; L->lag_cur = L->lag_nw; L->its_cur = L->its_nw;
        memcpy(L->Tcur, L->T, sizeof(double) * L->ntpl);
        L->have_T = 1;
        L->have_state = 1;
    } else if (isnan(v))
        v = INFINITY;
    *value = v;
    return LOOP_NONE;
}

/* out: one buffer of q_tot + p + 2 n + l11 + ntpl doubles receiving u, beta, eta, mu, L11
 * and the templates of the carried state, in that order, when one was reached; the scalars
 * (dev, ussq, kernel, ldL2, lag, iterations) as a tuple, None without a state */
static PyObject *loop_state_out(Loop *L, Buffers *bufs, PyObject *out)
{
    Model *m = &L->m;
    if (!L->have_state) Py_RETURN_NONE;
    Py_ssize_t q = m->q_tot, p = m->p, n = m->n;
    double *o = (double *)get_buf(bufs, out, q + p + 2 * n + L->l11 + L->ntpl, 1, 1, "out");
    if (!o) return NULL;
    memcpy(o, L->cur.u, sizeof(double) * q);
    memcpy(o + q, L->cur.beta, sizeof(double) * p);
    memcpy(o + q + p, L->cur.eta, sizeof(double) * n);
    memcpy(o + q + p + n, L->cur.mu, sizeof(double) * n);
    memcpy(o + q + p + 2 * n, L->L11cur, sizeof(double) * L->l11);
    memcpy(o + q + p + 2 * n + L->l11, L->Tcur, sizeof(double) * L->ntpl);
    return Py_BuildValue("(dddddi)", L->cur.dev, L->cur.ussq, L->cur.kern, L->ld_cur,
                         L->lag_cur, L->its_cur);
}

typedef struct {
    Loop *L;
    NloptGuard guard;       /* _Guard's checks (nlopt_api.h); its `stop` takes LOOP_* too */
    PyThreadState *ts;      /* the caller's thread state while NLopt runs without the GIL */
    double next_check;      /* monotonic seconds at which signals are checked next */
} LoopRun;

/* the guard's stop codes are LOOP_NAN, LOOP_NEGINF and LOOP_INF_STREAK (a negative array
 * size, a compile error, if they part) */
typedef char loop_guard_codes[((int)LOOP_NAN == (int)GUARD_NAN &&
                               (int)LOOP_NEGINF == (int)GUARD_NEGINF &&
                               (int)LOOP_INF_STREAK == (int)GUARD_INF_STREAK) ? 1 : -1];

/* monotonic wall-clock seconds */
static double loop_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* how often (seconds) a run takes the GIL back to check for signals (Ctrl-C) */
#define LOOP_SIGNAL_PERIOD 0.02

/* The objective NLopt calls: the value, through the guard of
 * mixedfx.optimize.driver._Guard (`guard_value`) */
static double loop_objective(unsigned n, const double *x, double *grad, void *data)
{
    LoopRun *d = data;
    double v = INFINITY;
    int rc;
    (void)grad;
    /* NLopt runs without the GIL (released once for the whole run, not per evaluation);
     * it is taken back to check for signals at the first evaluation and then at most every
     * LOOP_SIGNAL_PERIOD seconds */
    double now = loop_now();
    if (now >= d->next_check) {
        PyEval_RestoreThread(d->ts);
        int sig = PyErr_CheckSignals();
        d->ts = PyEval_SaveThread();
        d->next_check = now + LOOP_SIGNAL_PERIOD;
        if (sig < 0) {
            d->guard.stop = LOOP_PYERR;
            nlopt_api.force_stop(d->guard.opt);
            return HUGE_VAL;
        }
    }
    rc = loop_value(d->L, x, &v);
    if (rc != LOOP_NONE) {
        d->guard.stop = rc;
        nlopt_api.force_stop(d->guard.opt);
        return HUGE_VAL;
    }
    return guard_value(&d->guard, n, x, v);
}

/* M = L_XX^-T (p x p, row-major) from the fixed-effects block L_XX of a dense trailing
 * factor P (r x r, row-major, X's columns from q on), as mixedfx.glmm.whitening.whitening forms it
 * (`_lower_inverse_rows`, then the transpose): N = L_XX^-1 row by row by forward
 * substitution, s = e_i; s_j <- s_j - L_ic N_cj (c < i, j <= c, in order); N_i = s / L_ii.
 * The same IEEE operations in the same order, so the same bits. Returns 0, or 1 when the
 * block has an entry that is not finite or a zero diagonal, or M an entry that is not finite
 * (the caller then takes the Python path, which reaches the same conclusion); -1 when out
 * of memory. */
static int whitening_of(const double *P, Py_ssize_t r, Py_ssize_t q, Py_ssize_t p, double *M)
{
    Py_ssize_t i, j, c;
    const double *Lq = P + q * r + q;          /* L_ic = Lq[i * r + c] */
    for (i = 0; i < p; i++) {
        for (j = 0; j < p; j++)
            if (!isfinite(Lq[i * r + j])) return 1;
        if (Lq[i * r + i] == 0) return 1;
    }
    double *N = (double *)malloc(sizeof(double) * (p * p + 1));
    if (!N) return -1;
    for (i = 0; i < p; i++) {
        double *s = N + i * p;
        for (j = 0; j < p; j++) s[j] = 0.0;
        s[i] = 1.0;
        for (c = 0; c < i; c++) {
            double lic = Lq[i * r + c];
            const double *rc = N + c * p;
            for (j = 0; j <= c; j++) s[j] = s[j] - lic * rc[j];
        }
        double d = Lq[i * r + i];
        for (j = 0; j < p; j++) s[j] = s[j] / d;
    }
    int rc = 0;
    for (i = 0; i < p; i++)
        for (j = 0; j < p; j++) {
            M[i * p + j] = N[j * p + i];
            if (!isfinite(M[i * p + j])) rc = 1;
        }
    free(N);
    return rc;
}

/* The objective once more at NLopt's end point x after a run (the `end` argument of
 * loop_minimize): what GlmmObjective.__call__(x) gives next with PIRLS's step tolerance set
 * to `step_tol` (mixedfx.glmm.fit: stage 1's optimum evaluated again for stage 2's start),
 * and, with M given, the whitening's M = L_XX^-T (`whitening_of`) of the factor with X at
 * the state it reaches, formed as NativePirls.factor(state, templates, with_x=True) forms it
 * (a fresh factor over the same rows, templates and weights: the same bits). end =
 * (step_tol, out, M | None): out receives the state (as loop_state_out), M (p x p) the
 * matrix. Returns (value, state scalars, M status: 0 formed, else not (-1: not asked)), or
 * None when the evaluation reached no new state (+inf: PIRLS failed; LOOP_PYTHON): the
 * caller then evaluates in Python, which gives the same. */
static PyObject *loop_end(Loop *L, Buffers *bufs, PyObject *end, const double *x)
{
    Model *m = &L->m;
    if (!PyTuple_Check(end) || PyTuple_GET_SIZE(end) != 3) {
        PyErr_SetString(PyExc_TypeError, "pirls loop: end must be (step_tol, out, M | None)");
        return NULL;
    }
    double step_tol = PyFloat_AsDouble(PyTuple_GET_ITEM(end, 0));
    if (step_tol == -1.0 && PyErr_Occurred()) return NULL;
    double *M = NULL;
    if (PyTuple_GET_ITEM(end, 2) != Py_None &&
        !(M = (double *)get_buf(bufs, PyTuple_GET_ITEM(end, 2), m->p * m->p, 1, 1, "end M")))
        return NULL;
    double v = INFINITY;
    int stop, status = -1, nomem = 0;
    L->step_tol = step_tol;
    Py_BEGIN_ALLOW_THREADS
    stop = loop_value(L, x, &v);
    /* into the loop's PIRLS factor, no longer needed (factor_ready: with X, its buffers
     * read as a fresh allocation's, as NativePirls.factor's own) */
    if (stop == LOOP_NONE && isfinite(v) && M && m->p > 0) {
        Factor *fx = &L->f;
        if (!factor_ready(m, fx, 1)) nomem = 1;
        else if (factorize(m, fx, &L->cur, NULL) != ST_OK) status = 1;
        else {
            status = whitening_of(fx->P, fx->r, m->q_rest, m->p, M);
            if (status < 0) nomem = 1;
        }
    }
    Py_END_ALLOW_THREADS
    if (stop == LOOP_NOMEM || nomem) return PyErr_NoMemory();
    if (stop != LOOP_NONE || !isfinite(v)) Py_RETURN_NONE;
    PyObject *sc = loop_state_out(L, bufs, PyTuple_GET_ITEM(end, 1));
    if (!sc) return NULL;
    return Py_BuildValue("(dNi)", v, sc, status);
}

/* loop_minimize(model, templates, spec, start, algorithm, x, lower, upper, xtol, ftol, maxeval, step,
 *               inf_limit, best, bad, out[, end[, x_mapped]])
 *   -> (code, minf, evaluations, best_f, stop, state scalars | None[, end result | None])
 * x: the start on entry, NLopt's point on return; step: None or the initial step; best /
 * bad: receive the best point and the point where a NaN or -inf stopped the run; out: the
 * carried state at the end (see loop_state_out). end (None: not asked): after a run that
 * NLopt ended with success (code > 0) and the objective did not stop, the objective at x
 * once more (`loop_end`, its result; not counted in `evaluations`). x_mapped (None: not
 * asked; X_WHITENED only): receives NLopt's point as (theta, beta = beta1 + M gamma). */
static PyObject *py_loop_minimize(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *spec, *start, *ox, *olo, *ohi, *ostep, *obest, *obad, *out;
    PyObject *end = NULL, *end_result = NULL, *oxm = Py_None;
    int algorithm, maxeval;
    long inf_limit;
    double xtol, ftol;
    if (!PyArg_ParseTuple(args, "OOOOiOOOddiOlOOO|OO:loop_minimize", &model, &templates, &spec,
                          &start, &algorithm, &ox, &olo, &ohi, &xtol, &ftol, &maxeval, &ostep,
                          &inf_limit, &obest, &obad, &out, &end, &oxm))
        return NULL;
    if (!nlopt_bound) {
        PyErr_SetString(PyExc_RuntimeError, "loop_minimize needs loop_bind_nlopt first");
        return NULL;
    }
    Buffers bufs;
    bufs.count = 0;
    Loop L;
    memset(&L, 0, sizeof L);
    PyObject *result = NULL, *st = NULL;
    void *opt = NULL;
    if (loop_parse(&bufs, model, templates, spec, start, &L) < 0) goto done;
    Py_ssize_t n = L.nx;
    double *x = (double *)get_buf(&bufs, ox, n, 1, 1, "x");
    const double *lo = x ? (const double *)get_buf(&bufs, olo, n, 1, 0, "lower") : NULL;
    const double *hi = lo ? (const double *)get_buf(&bufs, ohi, n, 1, 0, "upper") : NULL;
    const double *step = NULL;
    if (!hi || (ostep != Py_None && !(step = (const double *)get_buf(&bufs, ostep, n, 1, 0, "step"))))
        goto done;
    double *best = (double *)get_buf(&bufs, obest, n, 1, 1, "best");
    double *bad = best ? (double *)get_buf(&bufs, obad, n, 1, 1, "bad") : NULL;
    if (!bad) goto done;
    double *xm = NULL;
    if (oxm != Py_None) {
        if (L.xmap != X_WHITENED || L.m.p < 1) {
            PyErr_SetString(PyExc_ValueError, "pirls loop: x_mapped needs a whitened x");
            goto done;
        }
        if (!(xm = (double *)get_buf(&bufs, oxm, n, 1, 1, "x_mapped"))) goto done;
    }
    if (n < 1 || !(opt = nlopt_api.create(algorithm, (unsigned)n))) {
        PyErr_SetString(PyExc_ValueError, "pirls loop: NLopt could not create the optimizer");
        goto done;
    }
    LoopRun d = {&L, guard_new(opt, best, bad, inf_limit), NULL, 0.0};
    if (nlopt_api.set_lower_bounds(opt, lo) < 0 || nlopt_api.set_upper_bounds(opt, hi) < 0 ||
        nlopt_api.set_min_objective(opt, loop_objective, &d) < 0 ||
        nlopt_api.set_xtol_abs1(opt, xtol) < 0 || nlopt_api.set_ftol_abs(opt, ftol) < 0 ||
        nlopt_api.set_maxeval(opt, maxeval) < 0 ||
        (step && nlopt_api.set_initial_step(opt, step) < 0)) {
        PyErr_SetString(PyExc_ValueError, "NLopt refused the optimizer's settings");
        goto done;
    }
    double minf = HUGE_VAL;
    d.ts = PyEval_SaveThread();
    int code = nlopt_api.optimize(opt, x, &minf);
    PyEval_RestoreThread(d.ts);
    if (d.guard.stop == LOOP_PYERR) goto done;    /* the signal handler's exception */
    if (d.guard.stop == LOOP_NOMEM) { PyErr_NoMemory(); goto done; }
    if (!(st = loop_state_out(&L, &bufs, out))) goto done;
    if (xm) {
        memcpy(xm, x, sizeof(double) * L.ntheta);
        whitened_beta(&L, x + L.ntheta, xm + L.ntheta);
    }
    long evaluations = L.evaluations;
    if (end == NULL) {
        result = Py_BuildValue("(idldiO)", code, minf, evaluations, d.guard.best_f,
                               d.guard.stop, st);
        goto done;
    }
    if (end != Py_None && code > 0 && d.guard.stop == LOOP_NONE && L.have_state) {
        if (!(end_result = loop_end(&L, &bufs, end, x))) goto done;
    } else {
        Py_INCREF(Py_None);
        end_result = Py_None;
    }
    result = Py_BuildValue("(idldiOO)", code, minf, evaluations, d.guard.best_f, d.guard.stop,
                           st, end_result);
done:
    Py_XDECREF(st);
    Py_XDECREF(end_result);
    if (opt) nlopt_api.destroy(opt);
    loop_free(&L);
    release_all(&bufs);
    return result;
}

/* A points argument pair: the values (writable doubles, any count n) and the points X
 * (n rows of L->nx doubles) they are computed at; n, or -1 with the exception set. */
static Py_ssize_t get_points(Buffers *bufs, const Loop *L, PyObject *ov, PyObject *oX,
                             const char *vname, const char *xname, double **values,
                             const double **X)
{
    Py_buffer *vv = &bufs->views[bufs->count];
    *X = NULL;
    *values = (double *)get_buf(bufs, ov, -1, 1, 1, vname);
    if (!*values) return -1;
    Py_ssize_t n = vv->len / 8;
    *X = (const double *)get_buf(bufs, oX, n * L->nx, 1, 0, xname);
    return *X ? n : -1;
}

/* loop_values(model, templates, spec, start, X, values, out) -> (evaluations, stop, state scalars | None):
 * values[i] = the objective at X[i] (m x nx), in order, each from the state the last finite
 * one left (GlmmObjective.__call__ point by point) */
static PyObject *py_loop_values(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *spec, *start, *oX, *ov, *out;
    if (!PyArg_ParseTuple(args, "OOOOOOO:loop_values", &model, &templates, &spec, &start, &oX,
                          &ov, &out))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Loop L;
    memset(&L, 0, sizeof L);
    PyObject *result = NULL, *st = NULL;
    if (loop_parse(&bufs, model, templates, spec, start, &L) < 0) goto done;
    double *values;
    const double *X;
    Py_ssize_t npts = get_points(&bufs, &L, ov, oX, "values", "X", &values, &X);
    if (npts < 0) goto done;
    int stop = LOOP_NONE;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < npts && stop == LOOP_NONE; i++)
        stop = loop_value(&L, X + i * L.nx, values + i);
    Py_END_ALLOW_THREADS
    if (stop == LOOP_NOMEM) { PyErr_NoMemory(); goto done; }
    if (!(st = loop_state_out(&L, &bufs, out))) goto done;
    result = Py_BuildValue("(liO)", L.evaluations, stop, st);
done:
    Py_XDECREF(st);
    loop_free(&L);
    release_all(&bufs);
    return result;
}

/* lme4's stage-2 devfun at each row of X (m x nx) into values, the loop's own buffers reused
 * (py_devfun_values and loop_post): PIRLS in its beta-fixed mode 1 from the linear
 * predictor eta0 (canonical order) and u0, +inf where it fails; GlmmObjective.value_at at
 * its state and last factor. Returns 1 when out of memory. Runs without the GIL. */
static int loop_devfun_points(Loop *L, const double *u0, const double *eta0, const double *X,
                              Py_ssize_t npts, double *values, double tol, Py_ssize_t maxit)
{
    Model *m = &L->m;
    int nomem = 0;
    /* every point starts from eta0: its mean g^-1(eta0) formed once */
    for (Py_ssize_t i = 0; i < m->n; i++) L->xbz[i] = linkinv(m, eta0[i]);
    for (Py_ssize_t i = 0; i < npts && !nomem; i++) {
        const double *x = X + i * L->nx;
        for (Py_ssize_t a = 0; a < L->ntpl; a++) L->T[a] = L->tmap[a] < 0 ? 0.0 : x[L->tmap[a]];
        RunOpts o = {1, 0, L->stop_stag, 0, maxit, L->step_tol, tol, 0.0, INFINITY, L->xbz};
        Factor *fp = &L->f;
        int status = run_pirls(m, u0, x + L->ntheta, eta0, &o, &L->nw, fp, &L->work);
        double v = INFINITY;
        if (status == ST_NOMEM) nomem = 1;
        else if (status == ST_OK) {
            State *s = &L->nw;
            if (L->nagq <= 1)
                v = (L->aic_const - 2.0 * s->kern + s->ussq) + factor_ldl2(m, fp);
            else {
                double corr = 0.0;
                /* Ljj: the first entry of each level's 1 x 1 block */
                if (agq_sum(m, s->beta, s->u, fp->L11, L->nodes, L->weights, L->nq, &corr))
                    nomem = 1;
                v = (s->dev + s->ussq) + corr;
            }
        }
        values[i] = v;
    }
    return nomem;
}

/* devfun_values(model, templates, spec, start, eta0, X, values, tol, maxit) -> None:
 * values[i] = lme4's stage-2 devfun at X[i] = (theta, beta) (objective.Lme4Devfun: PIRLS in
 * its beta-fixed mode 1 from the linear predictor eta0 (canonical order) and the start's u,
 * +inf where it fails; GlmmObjective.value_at at its state and last factor) */
static PyObject *py_devfun_values(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *spec, *start, *oeta, *oX, *ov;
    double tol;
    Py_ssize_t maxit;
    if (!PyArg_ParseTuple(args, "OOOOOOOdn:devfun_values", &model, &templates, &spec, &start,
                          &oeta, &oX, &ov, &tol, &maxit))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Loop L;
    memset(&L, 0, sizeof L);
    PyObject *result = NULL;
    if (loop_parse(&bufs, model, templates, spec, start, &L) < 0) goto done;
    if (L.xmap != X_THETA_BETA) {
        PyErr_SetString(PyExc_ValueError, "devfun_values: points are (theta, beta)");
        goto done;
    }
    Model *m = &L.m;
    const double *eta0 = (const double *)get_buf(&bufs, oeta, m->n, 1, 0, "eta0");
    if (!eta0) goto done;
    double *values;
    const double *X;
    Py_ssize_t npts = get_points(&bufs, &L, ov, oX, "values", "X", &values, &X);
    if (npts < 0) goto done;
    int nomem;
    Py_BEGIN_ALLOW_THREADS
    nomem = loop_devfun_points(&L, L.cur.u, eta0, X, npts, values, tol, maxit);
    Py_END_ALLOW_THREADS
    if (nomem) { PyErr_NoMemory(); goto done; }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    loop_free(&L);
    release_all(&bufs);
    return result;
}

/* The points of the sequence after the optimum x (n coordinates, step delta), written as
 * mixedfx.optimize.derivatives builds them, bit for bit:
 *   X (2n + 1 rows): x itself, then for each i the central gradient's x + delta e_i and
 *     x - delta e_i (`central_gradient_points`: x_m + 0 and x_m - 0 off i, so a -0 stays
 *     -0 only in the second);
 *   Xd (1 + n + n(n+1)/2 rows): x itself, x + delta e_i (x_m + 0 off i), then for i <= j
 *     (x + delta e_i) + delta e_j, each coordinate summed in that order
 *     (`forward_hessian_points`). */
static void post_points(const double *x, Py_ssize_t n, double delta, double *X, double *Xd)
{
    Py_ssize_t i, j, m;
    double *r = X;
    memcpy(r, x, sizeof(double) * n);
    r += n;
    for (i = 0; i < n; i++) {
        for (m = 0; m < n; m++) r[m] = x[m] + 0.0;
        r[i] = x[i] + delta;
        r += n;
        for (m = 0; m < n; m++) r[m] = x[m] - 0.0;
        r[i] = x[i] - delta;
        r += n;
    }
    r = Xd;
    memcpy(r, x, sizeof(double) * n);
    r += n;
    const double *single = r;
    for (i = 0; i < n; i++) {
        for (m = 0; m < n; m++) r[m] = x[m] + 0.0;
        r[i] = x[i] + delta;
        r += n;
    }
    for (i = 0; i < n; i++)
        for (j = i; j < n; j++) {
            const double *si = single + i * n;
            for (m = 0; m < n; m++) r[m] = si[m] + 0.0;
            r[j] = si[j] + delta;
            r += n;
        }
}

/* loop_post(model, templates, spec, start, x, out_first, out_last, eta1, u0, g, H, delta,
 *           delta2, tol, maxit)
 *   -> (evaluations, stop, value, first scalars | None, last scalars | None):
 * the sequence after the optimum x = (theta, beta) in one call (mixedfx.glmm.fit.fit_glmm),
 * at the points `post_points` builds:
 *   the GLMM objective at x, then at the central gradient's points, in order, warm starts
 *     carried (as loop_values), the state after x written to out_first and the state after
 *     the last point to out_last (each as loop_values' `out`; its scalars None while no
 *     state was reached); value = the objective at x;
 *   g[i] = (f(x + delta e_i) - f(x - delta e_i)) / (2 delta) (`central_gradient_from`);
 *   lme4's stage-2 devfun at the forward Hessian's points (as devfun_values from start
 *     (u0, 0) and eta0 = offset + (eta1 - offset) row by row, eta1 the stage-1 linear
 *     predictor: objective.Lme4Devfun.eta0), evaluated after the objective's points, and
 *     H[i][j] = H[j][i] = (d(x + delta e_i + delta e_j) - d(x + delta e_i) - d(x + delta e_j)
 *     + d(x)) / delta2 for i <= j (`forward_hessian_from`; delta2 = delta**2 as Python forms
 *     it);
 * unless a point stopped with LOOP_PYTHON (then g and H are not written and the caller
 * redoes everything in Python). */
static PyObject *py_loop_post(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *spec, *start, *ox, *out1, *out2, *oeta, *ou0, *og, *oH;
    double delta, delta2, tol;
    Py_ssize_t maxit;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOdddn:loop_post", &model, &templates, &spec, &start,
                          &ox, &out1, &out2, &oeta, &ou0, &og, &oH, &delta, &delta2, &tol,
                          &maxit))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Loop L;
    memset(&L, 0, sizeof L);
    PyObject *result = NULL, *st1 = NULL, *st2 = NULL;
    double *X = NULL, *Xd = NULL, *vals = NULL, *dvals = NULL, *eta0 = NULL;
    if (loop_parse(&bufs, model, templates, spec, start, &L) < 0) goto done;
    if (L.xmap != X_THETA_BETA) {
        PyErr_SetString(PyExc_ValueError, "loop_post: points are (theta, beta)");
        goto done;
    }
    Model *m = &L.m;
    Py_ssize_t n = L.nx, i, j;
    const double *x = (const double *)get_buf(&bufs, ox, n, 1, 0, "x");
    const double *eta1 = x ? (const double *)get_buf(&bufs, oeta, m->n, 1, 0, "eta1") : NULL;
    const double *u0 = eta1 ? (const double *)get_buf(&bufs, ou0, m->q_tot, 1, 0, "u0") : NULL;
    double *g = u0 ? (double *)get_buf(&bufs, og, n, 1, 1, "g") : NULL;
    double *H = g ? (double *)get_buf(&bufs, oH, n * n, 1, 1, "H") : NULL;
    if (!H) goto done;
    Py_ssize_t npts = 2 * n + 1, nd = 1 + n + n * (n + 1) / 2;
    X = (double *)malloc(sizeof(double) * npts * n);
    Xd = (double *)malloc(sizeof(double) * nd * n);
    vals = (double *)malloc(sizeof(double) * npts);
    dvals = (double *)malloc(sizeof(double) * nd);
    eta0 = (double *)malloc(sizeof(double) * (m->n + 1));
    if (!X || !Xd || !vals || !dvals || !eta0) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < m->n; i++) eta0[i] = m->off[i] + (eta1[i] - m->off[i]);
    post_points(x, n, delta, X, Xd);
    int stop;
    Py_BEGIN_ALLOW_THREADS
    stop = loop_value(&L, X, vals);
    Py_END_ALLOW_THREADS
    if (stop == LOOP_NOMEM) { PyErr_NoMemory(); goto done; }
    if (stop != LOOP_NONE) {
        result = Py_BuildValue("(lidOO)", L.evaluations, stop, vals[0], Py_None, Py_None);
        goto done;
    }
    if (!(st1 = loop_state_out(&L, &bufs, out1))) goto done;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    for (i = 1; i < npts && stop == LOOP_NONE; i++)
        stop = loop_value(&L, X + i * n, vals + i);
    if (stop == LOOP_NONE) nomem = loop_devfun_points(&L, u0, eta0, Xd, nd, dvals, tol, maxit);
    Py_END_ALLOW_THREADS
    if (stop == LOOP_NOMEM || nomem) { PyErr_NoMemory(); goto done; }
    if (stop == LOOP_NONE) {
        const double two_delta = 2.0 * delta, fx = dvals[0], *fi = dvals + 1,
            *pair = dvals + 1 + n;
        for (i = 0; i < n; i++) g[i] = (vals[1 + 2 * i] - vals[2 + 2 * i]) / two_delta;
        for (i = 0; i < n; i++)
            for (j = i; j < n; j++) {
                H[i * n + j] = H[j * n + i] = (*pair - fi[i] - fi[j] + fx) / delta2;
                pair++;
            }
    }
    if (!(st2 = loop_state_out(&L, &bufs, out2))) goto done;
    result = Py_BuildValue("(lidOO)", L.evaluations, stop, vals[0], st1, st2);
done:
    Py_XDECREF(st1);
    Py_XDECREF(st2);
    free(X); free(Xd); free(vals); free(dvals); free(eta0);
    loop_free(&L);
    release_all(&bufs);
    return result;
}

/* whitening_t(Lrr, q, p, Mt) -> ok: stage 2's whitening map M = L_XX^-T (mixedfx.glmm
 * .whitening) from the p x p block L_XX of the stage-1 factor Lrr (C-ordered r x r) at
 * (q, q), into Mt (p x p, C-ordered), as `whitening_of` forms it; ok: True when M was formed
 * and is finite, False when the block has an entry that is not finite or a zero diagonal
 * entry, or M an entry that is not finite (the caller then optimizes beta unwhitened). */
static PyObject *py_whitening_t(PyObject *self, PyObject *args)
{
    PyObject *oL, *oM;
    Py_ssize_t q, p;
    if (!PyArg_ParseTuple(args, "OnnO:whitening_t", &oL, &q, &p, &oM))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    PyObject *result = NULL;
    Py_buffer *lv = &bufs.views[bufs.count];
    const double *Lrr = (const double *)get_buf(&bufs, oL, -1, 1, 0, "Lrr");
    if (!Lrr) goto done;
    Py_ssize_t r = lv->ndim == 2 ? lv->shape[0] : -1;
    if (r < 1 || lv->shape[1] != r || p < 1 || q < 0 || q + p > r) {
        PyErr_SetString(PyExc_ValueError, "whitening_t: Lrr must be r x r with the p x p "
                        "block at (q, q) inside it");
        goto done;
    }
    double *Mt = (double *)get_buf(&bufs, oM, p * p, 1, 1, "Mt");
    if (!Mt) goto done;
    int rc = whitening_of(Lrr, r, q, p, Mt);
    if (rc < 0) { PyErr_NoMemory(); goto done; }
    result = PyBool_FromLong(rc == 0);
done:
    release_all(&bufs);
    return result;
}

/* ---- the starting GLM ----------------------------------------------------------------------
 * glm_start(model, templates, eta, mu, beta_out, maxit) -> (status, iterations): R's glm.fit
 * IRLS for the fixed effects alone (Pirls.initial_state) from the linear predictor eta and
 * mean mu of the family's mustart (canonical row order; both overwritten): with the IRLS
 * weights w = wt mu_eta^2 / V(mu) and working response z = eta - offset + (y - mu) / mu_eta,
 * beta = argmin ||sqrt(w) (z - X beta)||^2 by Householder QR (plain C, a fixed order), then
 * eta = offset + X beta, mu = g^-1(eta) and the deviance, until it changes by at most
 * 1e-10 (|dev| + 0.1). status 0: done; 1: a weight or working response not finite; 2: the
 * weighted X is (numerically) rank deficient (the caller's least squares decides). */
/* d[t] = sum_{i=j}^{n-1} v_i c[t]_i for t < nb <= 4: each sum from 0 in the order of i, as
 * one dot after another would form it (the same bits), the nb independent sums interleaved
 * in registers */
static void qr_dots(const double *restrict v, double *const *c, Py_ssize_t nb, Py_ssize_t j,
                    Py_ssize_t n, double *d)
{
    Py_ssize_t i;
    double d0 = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0;
    if (nb == 4) {
        const double *c0 = c[0], *c1 = c[1], *c2 = c[2], *c3 = c[3];
        for (i = j; i < n; i++) {
            double x = v[i];
            d0 += x * c0[i]; d1 += x * c1[i]; d2 += x * c2[i]; d3 += x * c3[i];
        }
    } else if (nb == 3) {
        const double *c0 = c[0], *c1 = c[1], *c2 = c[2];
        for (i = j; i < n; i++) {
            double x = v[i];
            d0 += x * c0[i]; d1 += x * c1[i]; d2 += x * c2[i];
        }
    } else if (nb == 2) {
        const double *c0 = c[0], *c1 = c[1];
        for (i = j; i < n; i++) { double x = v[i]; d0 += x * c0[i]; d1 += x * c1[i]; }
    } else {
        const double *c0 = c[0];
        for (i = j; i < n; i++) d0 += v[i] * c0[i];
    }
    d[0] = d0; d[1] = d1; d[2] = d2; d[3] = d3;
}

/* a_i -= f v_i for i = j .. n-1 (a and v distinct columns; elementwise, so written four at a
 * time for the compiler's vector code: each value's operations are the same) */
static void qr_reflect(double *restrict a, const double *restrict v, double f, Py_ssize_t j,
                       Py_ssize_t n)
{
    Py_ssize_t i = j;
    for (; i + 4 <= n; i += 4) {
        a[i] -= f * v[i]; a[i + 1] -= f * v[i + 1];
        a[i + 2] -= f * v[i + 2]; a[i + 3] -= f * v[i + 3];
    }
    for (; i < n; i++) a[i] -= f * v[i];
}

static int wls_qr(double *A, double *b, Py_ssize_t n, Py_ssize_t p, double *beta)
{
    /* A: n x p column-major (column j at A + j n), b: n; both overwritten */
    Py_ssize_t i, j, k;
    double rmax = 0.0;
    for (j = 0; j < p; j++) {
        double *aj = A + j * n, s = 0.0;
        for (i = j; i < n; i++) s += aj[i] * aj[i];
        double norm = sqrt(s);
        if (!(norm > 0.0) || !isfinite(norm)) return 2;
        double alpha = aj[j] > 0 ? -norm : norm;
        double v0 = aj[j] - alpha, vn2 = s - aj[j] * aj[j] + v0 * v0;
        aj[j] = v0;                     /* v = (v0, a_{j+1..n-1}) */
        if (vn2 > 0.0) {
            /* reflect columns j+1 .. p-1 of A, then b (column p of [A b]) */
            for (k = j + 1; k <= p; k += 4) {
                Py_ssize_t nb = p + 1 - k < 4 ? p + 1 - k : 4;
                double *c[4];
                for (Py_ssize_t t = 0; t < nb; t++) c[t] = k + t < p ? A + (k + t) * n : b;
                double d[4];
                qr_dots(aj, c, nb, j, n, d);
                for (Py_ssize_t t = 0; t < nb; t++) qr_reflect(c[t], aj, 2.0 * d[t] / vn2, j, n);
            }
        }
        aj[j] = alpha;                  /* R's diagonal */
        if (fabs(alpha) > rmax) rmax = fabs(alpha);
    }
    for (j = 0; j < p; j++)
        if (!(fabs(A[j * n + j]) > 1e-10 * rmax)) return 2;
    for (j = p - 1; j >= 0; j--) {
        double s = b[j];
        for (k = j + 1; k < p; k++) s -= A[k * n + j] * beta[k];
        beta[j] = s / A[j * n + j];
    }
    return 0;
}

static PyObject *py_glm_start(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *oeta, *omu, *ob;
    Py_ssize_t maxit;
    if (!PyArg_ParseTuple(args, "OOOOOn:glm_start", &model, &templates, &oeta, &omu, &ob, &maxit))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Model m;
    if (parse_model(&bufs, model, templates, &m) < 0) goto fail;
    double *eta = (double *)get_buf(&bufs, oeta, m.n, 1, 1, "eta");
    double *mu = eta ? (double *)get_buf(&bufs, omu, m.n, 1, 1, "mu") : NULL;
    double *beta = mu ? (double *)get_buf(&bufs, ob, m.p, 1, 1, "beta_out") : NULL;
    if (!beta) goto fail;
    int status = 0;
    Py_ssize_t it = 0, n = m.n, p = m.p, i, c;
    Py_BEGIN_ALLOW_THREADS
    double *A = (double *)malloc(sizeof(double) * (n * p + 1));
    double *b = (double *)malloc(sizeof(double) * (n + 1));
    if (!A || !b) status = -1;
    double dev_old = INFINITY;
    for (it = 1; status == 0 && it <= maxit; it++) {
        for (i = 0; i < n; i++) {
            /* after the first pass mu = g^-1(eta) here, so the logit's mu_eta, expit(eta)
             * (1 - expit(eta)) inside the threshold, is mu (1 - mu): the same value */
            double me = it > 1 && m.link == L_LOGIT && fabs(eta[i]) <= THRESH
                            ? mu[i] * (1 - mu[i]) : mu_eta(&m, eta[i]);
            double w = m.wt[i] * (me * me) / variance(&m, mu[i]);
            double z = eta[i] - m.off[i] + (m.y[i] - mu[i]) / me;
            double sw = sqrt(w);
            if (!isfinite(sw) || !isfinite(z)) { status = 1; break; }
            for (c = 0; c < p; c++) A[c * n + i] = m.X[i * p + c] * sw;
            b[i] = z * sw;
        }
        if (status) break;
        if (p == 0) break;
        status = wls_qr(A, b, n, p, beta);
        if (status) break;
        double dev = 0.0;
        for (i = 0; i < n; i++) {
            double acc = 0.0;
            for (c = 0; c < p; c++) acc += m.X[i * p + c] * beta[c];
            eta[i] = m.off[i] + acc;
            mu[i] = linkinv(&m, eta[i]);
            dev += dev_resid(&m, m.y[i], mu[i], m.wt[i]);
        }
        if (fabs(dev - dev_old) <= 1e-10 * (fabs(dev) + 0.1)) break;
        dev_old = dev;
    }
    free(A); free(b);
    Py_END_ALLOW_THREADS
    release_all(&bufs);
    if (status < 0) return PyErr_NoMemory();
    return Py_BuildValue("(in)", status, it);
fail:
    release_all(&bufs);
    return NULL;
}
