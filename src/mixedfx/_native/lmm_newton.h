/* newton: Newton's method (newton.h) on the profiled deviance of an Evaluator, for refits.
 *
 * Included by lmm.c after the Evaluator and `deviance_at`; not a module of its own. */

#include "newton.h"

typedef struct {
    const Evaluator *ev;
    double *P, *scratch, ldW;
    int reml;
} LmmDeviance;

/* NewtonObjective's function: the ML deviance or REML criterion at x (`deviance_at`). */
static int lmm_deviance(void *ctx, const double *x, double *value)
{
    LmmDeviance *d = ctx;
    return deviance_at(d->ev, x, d->P, d->scratch, d->reml, d->ldW, value) ? -1 : 0;
}

/* newton(ev, P, reml, ldW, x, lower, upper, delta, ftol, maxiter, g, H[, fac])
 *     -> (status, f, evaluations, iterations, trace of H^-1)
 * x: the start on entry, the last point on return; g (n) and H (n x n) receive deriv12's
 * derivatives there (meaningful when status is 0, NEWTON_CONVERGED). With `fac` (3 doubles)
 * and status 0, P receives the factor at x and fac (log|L_Z|^2, log|R_X|^2, pwrss), as
 * Evaluator.factor(x, P) gives them (fac[0] NaN when S is not positive definite there);
 * this is not an evaluation (not counted). Holds the GIL, as `minimize` does: a refit's run
 * takes well under a millisecond. */
static PyObject *py_newton(PyObject *self, PyObject *args)
{
    PyObject *oev, *oP, *ox, *olo, *ohi, *og, *oH, *ofac = Py_None;
    int reml, maxiter;
    double ldW, delta, ftol;
    if (!PyArg_ParseTuple(args, "OOpdOOOddiOO|O:newton", &oev, &oP, &reml, &ldW, &ox, &olo,
                          &ohi, &delta, &ftol, &maxiter, &og, &oH, &ofac))
        return NULL;
    if (check_evaluator(oev))
        return NULL;
    Evaluator *ev = (Evaluator *)oev;
    Py_ssize_t n = ev->ntheta;
    Py_buffer Pb = {0}, xb = {0}, lb = {0}, hb = {0}, gb = {0}, Hb = {0}, fb = {0};
    PyObject *result = NULL;
    double *scratch = NULL;
    if (get_P(ev, oP, &Pb) || get_array(ox, &xb, "x", 'd', 1, 1) ||
        get_array(olo, &lb, "lower", 'd', 1, 0) || get_array(ohi, &hb, "upper", 'd', 1, 0) ||
        get_array(og, &gb, "g", 'd', 1, 1) || get_array(oH, &Hb, "H", 'd', 2, 1) ||
        (ofac != Py_None && get_array(ofac, &fb, "fac", 'd', 1, 1)))
        goto done;
    if (fb.obj != NULL && dim(&fb, 0) != 3) {
        PyErr_SetString(ArgumentError, "fac must have 3 values");
        goto done;
    }
    if (n < 1 || n > NEWTON_NMAX || dim(&xb, 0) != n || dim(&lb, 0) != n ||
        dim(&hb, 0) != n || dim(&gb, 0) != n || dim(&Hb, 0) != n || dim(&Hb, 1) != n) {
        PyErr_Format(ArgumentError, "newton takes 1 to %d thetas; x, lower, upper and g must "
                     "have %zd values and H shape (%zd, %zd)", NEWTON_NMAX, n, n, n);
        goto done;
    }
    if (!(delta > 0.0) || !(ftol >= 0.0) || maxiter < 0) {
        PyErr_SetString(ArgumentError, "newton needs delta > 0, ftol >= 0 and maxiter >= 0");
        goto done;
    }
    scratch = malloc((size_t)ev->scratch_len * sizeof(double));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double fx = NAN;
    int iters = 0;
    LmmDeviance d = {ev, Pb.buf, scratch, ldW, reml};
    NewtonObjective o = {lmm_deviance, &d, n, 0};
    int status = newton_run(&o, xb.buf, lb.buf, hb.buf, delta, ftol, maxiter, &fx, gb.buf,
                            Hb.buf, &iters);
    long evals = o.evals;
    if (status == NEWTON_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    double trinv = status == NEWTON_CONVERGED ? newton_trace_inverse(n, Hb.buf) : NAN;
    if (status == NEWTON_CONVERGED && fb.obj != NULL) {
        /* the factor at x: Evaluator.factor's steps (build_schur, chol_upper, factor_terms) */
        double ld1 = 0.0, *fac = fb.buf;
        int rc = build_schur(ev, xb.buf, Pb.buf, scratch, &ld1);
        if (rc == -2) {
            PyErr_NoMemory();
            goto done;
        }
        if (rc == 0 && chol_upper(Pb.buf, ev->r) == 0)
            factor_terms(ev, Pb.buf, ld1, fac);
        else
            fac[0] = fac[1] = fac[2] = NAN;
    }
    result = Py_BuildValue("(idlid)", status, fx, evals, iters, trinv);
done:
    free(scratch);
    release(&Pb); release(&xb); release(&lb); release(&hb); release(&gb); release(&Hb);
    release(&fb);
    return result;
}
