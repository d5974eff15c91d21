/* Newton's method on the profiled deviance, for refits started at a nearby optimum.
 *
 * Objective-agnostic (a C function of x, `NewtonObjective`): included by a kernel's source after
 * Python.h and math.h, not a module of its own; lmm_newton.h binds it to the LMM's profiled
 * deviance.
 *
 * A refit (a bootstrap replicate, a simulated response) starts at the fitted theta, a few
 * standard errors from its own optimum, where the deviance is a smooth convex bowl. There
 * Newton's method with lme4's finite-difference derivatives (`deriv12`, step delta)
 *
 *     g_i  = (f(x + d e_i) - f(x - d e_i)) / 2d
 *     H_ii = (f(x + d e_i) - 2 f(x) + f(x - d e_i)) / d^2
 *     H_ij = (f(x+d e_i+d e_j) - f(x+d e_i-d e_j) - f(x-d e_i+d e_j) + f(x-d e_i-d e_j)) / 4d^2
 *
 * converges quadratically; from the fitted theta three to five iterations reach the optimum
 * to far below BOBYQA's tolerance (one microsecond or two per evaluation for a small model).
 * While stepping, H_ij (i != j) is the forward difference
 *     (f(x + d e_i + d e_j) - f(x + d e_i) - f(x + d e_j) + f(x)) / d^2
 * (1 + 2n + n(n-1)/2 evaluations per iteration); where the test passes, the three other
 * corners complete deriv12's central form and the test is repeated. The iteration
 *
 *     s = -H^-1 g  (Cholesky of H),  lambda^2 = g' H^-1 g,
 *     stop when lambda^2 / 2 <= ftol (the predicted decrease): x is returned with the g and H
 *     computed there (lme4's convergence check needs exactly these);
 *     else x <- x + t s with t at most 1 and at most half the way to a bound, halved until
 *     f decreases,
 *
 * gives up (a status > 0; the caller then runs its derivative-free optimizer) when H is not
 * positive definite, two steps in a row are cut short by a bound, a value is not finite,
 * no step length down to 2^-MAXHALF of it lowers f, or `maxiter` iterations do not satisfy
 * the test. The stencil
 * points and the derivative formulas are those of mixedfx.optimize.derivatives.deriv12 (each
 * moved coordinate x_i + d or x_i - d in one rounding, the same expressions), so g and H
 * are its numbers, bit for bit. */

#define NEWTON_NMAX 16      /* the largest number of parameters taken */
#define NEWTON_MAXHALF 8    /* step halvings before giving up */

enum { NEWTON_CONVERGED = 0, NEWTON_NOT_PD = 1, NEWTON_BOUND = 2, NEWTON_NOT_FINITE = 3,
       NEWTON_MAXITER = 4, NEWTON_NO_DESCENT = 5, NEWTON_MEMORY = 6 };

/* The function minimized: `f(ctx, x, &value)` returns 0, or -1 when out of memory; a value
 * of +inf marks a point outside the function's domain. `evals` counts the calls. */
typedef struct {
    int (*f)(void *ctx, const double *x, double *value);
    void *ctx;
    Py_ssize_t n;
    long evals;
} NewtonObjective;

/* f at x (and the counter); -1 when out of memory. */
static int newton_f(NewtonObjective *o, const double *x, double *f)
{
    o->evals++;
    return o->f(o->ctx, x, f) ? -1 : 0;
}

/* The stencil's values at one point: f(x + d e_i), f(x - d e_i), f(x + d e_i + d e_j). */
typedef struct {
    double fadd[NEWTON_NMAX], fsub[NEWTON_NMAX], faa[NEWTON_NMAX * NEWTON_NMAX];
} Stencil;

/* g and H at x (f0 = f(x) given) from 1 + 2n + n(n-1)/2 values: the central gradient and
 * Hessian diagonal of deriv12, and the forward off-diagonal
 *     H_ij = (f(x + d e_i + d e_j) - f(x + d e_i) - f(x + d e_j) + f(x)) / d^2
 * (error O(d), plenty for a Newton step; `newton_exact` completes deriv12's central form).
 * NEWTON_NOT_FINITE when a value is not finite, NEWTON_MEMORY when out of memory, else 0. */
static int newton_cheap(NewtonObjective *o, const double *x, double f0, double delta,
                        Stencil *st, double *g, double *H)
{
    Py_ssize_t n = o->n;
    double pt[NEWTON_NMAX], d2 = pow(delta, 2.0);
    memcpy(pt, x, (size_t)n * sizeof(double));
    for (Py_ssize_t i = 0; i < n; i++) {
        double fadd, fsub, faa;
        pt[i] = x[i] + delta;
        if (newton_f(o, pt, &fadd)) return NEWTON_MEMORY;
        pt[i] = x[i] + (-delta);
        if (newton_f(o, pt, &fsub)) return NEWTON_MEMORY;
        if (!isfinite(fadd) || !isfinite(fsub)) return NEWTON_NOT_FINITE;
        st->fadd[i] = fadd;
        st->fsub[i] = fsub;
        H[i * n + i] = (fadd - 2.0 * f0 + fsub) / d2;
        g[i] = (fadd - fsub) / (2.0 * delta);
        pt[i] = x[i] + delta;
        for (Py_ssize_t j = 0; j < i; j++) {
            pt[j] = x[j] + delta;
            if (newton_f(o, pt, &faa)) return NEWTON_MEMORY;
            pt[j] = x[j];
            if (!isfinite(faa)) return NEWTON_NOT_FINITE;
            st->faa[i * n + j] = faa;
            H[i * n + j] = H[j * n + i] = (faa - fadd - st->fadd[j] + f0) / d2;
        }
        pt[i] = x[i];
    }
    return 0;
}

/* deriv12's off-diagonal H_ij at x from the stencil of `newton_cheap` at x plus the three
 * other corners of each pair (3n(n-1)/2 values): g and H are then deriv12's, bit for bit. */
static int newton_exact(NewtonObjective *o, const double *x, double delta,
                        const Stencil *st, double *H)
{
    Py_ssize_t n = o->n;
    double pt[NEWTON_NMAX], d2 = pow(delta, 2.0);
    memcpy(pt, x, (size_t)n * sizeof(double));
    for (Py_ssize_t i = 0; i < n; i++) {
        double xi_add = x[i] + delta, xi_sub = x[i] + (-delta);
        for (Py_ssize_t j = 0; j < i; j++) {
            double faa = st->faa[i * n + j], fas, fsa, fss;
            double xj_add = x[j] + delta, xj_sub = x[j] + (-delta);
            pt[i] = xi_add; pt[j] = xj_sub;
            if (newton_f(o, pt, &fas)) return NEWTON_MEMORY;
            pt[i] = xi_sub; pt[j] = xj_add;
            if (newton_f(o, pt, &fsa)) return NEWTON_MEMORY;
            pt[j] = xj_sub;
            if (newton_f(o, pt, &fss)) return NEWTON_MEMORY;
            pt[j] = x[j];
            if (!isfinite(fas) || !isfinite(fsa) || !isfinite(fss)) return NEWTON_NOT_FINITE;
            H[i * n + j] = H[j * n + i] = (faa - fas - fsa + fss) / (4.0 * d2);
        }
        pt[i] = x[i];
    }
    return 0;
}

/* The lower Cholesky factor L of H (n x n, row-major) into L (row-major, lower triangle);
 * NEWTON_NOT_PD when H is not positive definite, else 0. */
static int newton_cholesky(Py_ssize_t n, const double *H, double *L)
{
    for (Py_ssize_t i = 0; i < n; i++)
        for (Py_ssize_t j = 0; j <= i; j++) {
            double v = H[i * n + j];
            for (Py_ssize_t k = 0; k < j; k++)
                v -= L[i * n + k] * L[j * n + k];
            if (i == j) {
                if (!(v > 0.0)) return NEWTON_NOT_PD;
                L[i * n + i] = sqrt(v);
            }
            else
                L[i * n + j] = v / L[j * n + j];
        }
    return 0;
}

/* s = -H^-1 g by the Cholesky factor of H (n x n, row-major), and lambda^2 = g's.
 * NEWTON_NOT_PD when H is not positive definite, else 0. */
static int newton_step(Py_ssize_t n, const double *H, const double *g, double *s,
                       double *lambda2)
{
    double L[NEWTON_NMAX * NEWTON_NMAX], z[NEWTON_NMAX];
    if (newton_cholesky(n, H, L)) return NEWTON_NOT_PD;
    double lam = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {          /* L z = g */
        double v = g[i];
        for (Py_ssize_t k = 0; k < i; k++)
            v -= L[i * n + k] * z[k];
        z[i] = v / L[i * n + i];
        lam += z[i] * z[i];
    }
    for (Py_ssize_t i = n - 1; i >= 0; i--) {     /* L' s = -z */
        double v = -z[i];
        for (Py_ssize_t k = i + 1; k < n; k++)
            v -= L[k * n + i] * s[k];
        s[i] = v / L[i * n + i];
    }
    *lambda2 = lam;
    return isfinite(lam) ? 0 : NEWTON_NOT_PD;
}

/* trace(H^-1) = ||L^-1||_F^2 for the Cholesky factor L of H (n x n row-major), or +inf when
 * H is not positive definite: 1 / trace(H^-1) is a lower bound of H's smallest eigenvalue,
 * for a cheap screen of lme4's convergence checks (mixedfx.lmm.refit_newton). */
static double newton_trace_inverse(Py_ssize_t n, const double *H)
{
    double L[NEWTON_NMAX * NEWTON_NMAX], z[NEWTON_NMAX], tr = 0.0;
    if (newton_cholesky(n, H, L)) return INFINITY;
    for (Py_ssize_t c = 0; c < n; c++)          /* column c of L^-1: L z = e_c */
        for (Py_ssize_t i = c; i < n; i++) {
            double v = i == c ? 1.0 : 0.0;
            for (Py_ssize_t k = c; k < i; k++)
                v -= L[i * n + k] * z[k];
            z[i] = v / L[i * n + i];
            tr += z[i] * z[i];
        }
    return tr;
}

/* The iteration of the header comment from x (updated in place); fills f, g, H at the
 * returned x and the counters; returns the status. */
static int newton_run(NewtonObjective *o, double *x, const double *lower, const double *upper,
                      double delta, double ftol, int maxiter, double *fx, double *g, double *H,
                      int *iters)
{
    Py_ssize_t n = o->n;
    double s[NEWTON_NMAX], trial[NEWTON_NMAX], f0, lambda2;
    Stencil st;
    int rc, exact = 0, at_bound = 0;
    if (newton_f(o, x, &f0)) return NEWTON_MEMORY;
    if (!isfinite(f0)) return NEWTON_NOT_FINITE;
    for (*iters = 0; ; (*iters)++) {
        *fx = f0;
        if (!exact) {
            rc = newton_cheap(o, x, f0, delta, &st, g, H);
            if (rc) return rc;
        }
        rc = newton_step(n, H, g, s, &lambda2);
        if (rc) return rc;
        if (0.5 * lambda2 <= ftol) {
            if (exact) return NEWTON_CONVERGED;
            /* converged on the cheap Hessian: complete deriv12's and test again */
            rc = newton_exact(o, x, delta, &st, H);
            if (rc) return rc;
            exact = 1;
            rc = newton_step(n, H, g, s, &lambda2);
            if (rc) return rc;
            if (0.5 * lambda2 <= ftol) return NEWTON_CONVERGED;
        }
        if (*iters >= maxiter) return NEWTON_MAXITER;
        /* step length: at most halfway to a bound; two such steps in a row give up (the
         * optimum is on the boundary: the derivative-free path's business) */
        double t = 1.0, ft = INFINITY;
        int limited = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            double room = s[i] < 0.0 ? x[i] - lower[i] : upper[i] - x[i];
            if (t * fabs(s[i]) > 0.5 * room) {
                t = 0.5 * room / fabs(s[i]);
                limited = 1;
            }
        }
        at_bound = limited ? at_bound + 1 : 0;
        if (at_bound >= 2 || !(t > 0.0)) return NEWTON_BOUND;
        int half;
        for (half = 0; half <= NEWTON_MAXHALF; half++, t *= 0.5) {
            for (Py_ssize_t i = 0; i < n; i++)
                trial[i] = x[i] + t * s[i];
            if (newton_f(o, trial, &ft)) return NEWTON_MEMORY;
            if (isnan(ft) || ft == -INFINITY) return NEWTON_NOT_FINITE;
            if (ft < f0) break;
        }
        if (half > NEWTON_MAXHALF) return NEWTON_NO_DESCENT;
        memcpy(x, trial, (size_t)n * sizeof(double));
        f0 = ft;
        exact = 0;
    }
}
