/* PIRLS (penalized iteratively reweighted least squares) for GLMM conditional modes, in C.
 *
 * One call runs a whole PIRLS solve at fixed theta (and beta when beta is not updated), as
 * mixedfx.glmm.pirls.Pirls.run does it in NumPy (mode 0), or as lme4's stage-2 devfun
 * evaluates (mode 1, mixedfx.glmm.objective.Lme4Devfun): IRLS weights and working response
 * from the family and link, the weighted cross-products of [Z X z] over the rows, the blocked
 * Cholesky factor (one k1 x k1 block per level of the first term, a dense Schur complement for
 * the other terms, X and z), the solve for beta and u, step-halving on the penalized deviance.
 * `factor` gives the factor of Lambda'Z'WZ Lambda + I at a state's weights, `agq` the adaptive
 * Gauss-Hermite correction for one scalar term.
 *
 * Arrays cross the boundary through the buffer protocol (C-contiguous float64 / int64), rows
 * in the model's canonical order, so every sum runs in an order fixed by the model. No BLAS:
 * the loops are plain C and run without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { F_BINOMIAL, F_POISSON, F_GAMMA, F_INVGAUSS, F_GAUSSIAN, F_NEGBIN };
enum { L_LOGIT, L_PROBIT, L_CAUCHIT, L_CLOGLOG, L_IDENTITY, L_LOG, L_SQRT, L_INVERSE, L_INVSQ };
enum { ST_OK = 0, ST_HALVING = 1, ST_MAXIT = 2, ST_NOTPD = 3, ST_FAIL = 4, ST_NOMEM = 5 };

#define MAXT 32
#define MAX_HALVINGS 30
#define ROUNDING_PDEV 1e-10
#define EPS DBL_EPSILON
#define THRESH 30.0
#define XW 8              /* [X z] columns up to which rows_scalar runs its fixed-width loops */
#define SCHUR_BLOCK 8     /* scalar first-term levels per pass of the dense Schur update */
#define LOG_CHUNK 256      /* rows per product of logit factors 1 + e (see evaluate_at_eta) */

/* loops over a compile-time count of [X z] columns unrolled (so their sums stay in registers);
 * a hint only: the operations and their order are those of the loop as written */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#define ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 64")
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define UNROLL
#define ALWAYS_INLINE inline
#endif


/* The row loops compiled twice on x86-64 Linux with glibc (GCC >= 6 / clang >= 14: ifunc):
 * for the baseline ISA and for AVX2 (no FMA: -ffp-contract=off, and target "avx2" does not
 * enable it), picked once at load time by the CPU. Only the vector width of the elementwise loops
 * changes: every sum keeps its operations and their order, so both clones give the same bits. */
#if defined(__clang__)
#define CLONES_COMPILER (__clang_major__ >= 14)
#elif defined(__GNUC__)
#define CLONES_COMPILER (__GNUC__ >= 6)
#else
#define CLONES_COMPILER 0
#endif
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && CLONES_COMPILER \
    && !defined(MIXEDFX_NO_CLONES)
#define HOT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HOT_CLONES
#endif

typedef struct {
    int fam, link, canonical, has_kernel;
    double nbth, sat_sum, probit_th, cauchit_th;
    Py_ssize_t n, p, nt, q_rest, S, nnz, q_tot;
    const double *X, *y, *wt, *off;
    const int64_t *codes;                 /* nt x n */
    const double *vals[MAXT];             /* per term n x k */
    int ones[MAXT];                       /* a scalar term whose values are all exactly 1 */
    int wt_other, wt_no_one;              /* some row's prior weight is not 1; none is 1 */
    Py_ssize_t k[MAXT], nl[MAXT], uoff[MAXT + 1], roff[MAXT + 1];
    const int64_t *slot_pos, *lvl_ptr, *rho;
    const double *T[MAXT];                /* per term k x k lower template, row-major */
} Model;

/* ---- exp on [-THRESH, 0] ------------------------------------------------------------------ */

/* exp(x) for -THRESH <= x <= 0 (the logit rows' exp(-|eta|)), in plain double arithmetic, so
 * the same bits on every IEEE machine (no FMA: -ffp-contract=off), inline and without a
 * branch (the compiler may run several at once). Tang's table method: k = round(x N / ln2)
 * with N = 128, r = x - k ln2 / N (Cody-Waite: ln2/N = LN2N_HI + LN2N_LO, LN2N_HI of 21
 * significant bits, so k LN2N_HI is exact for |k| < 2^32, and x - k LN2N_HI is exact by
 * Sterbenz's lemma), |r| <= ln2 / 256; exp(x) = 2^m 2^(j/N) exp(r) with k = 128 m + j, 0 <= j
 * < 128, 2^(j/N) = EXP_T[j][0] + EXP_T[j][1] (the nearest double and the nearest double to the
 * rest, from 60-digit decimal arithmetic), exp(r) - 1 = r + r^2 (1/2 + r (1/6 + r (1/24 +
 * r/120))) (Taylor: the next term is below 6e-19). The sum s + (t + s p) rounds once at
 * the end; the error before that is below 2e-18 relative, so the result is within 0.51 ulp
 * of exp(x) (against 60-digit exp over 10^6 points: at most 0.5094 ulp, 99.9% correctly
 * rounded; tests/glmm/test_pirls_kernel.py); the scaling by 2^m (m >= -44) is exact.
 * exp(-0) = exp(0) = 1 exactly. This replaces libm's exp (also within about 0.51 ulp, but
 * called per row): the logit rows' mu, weights and deviance differ from libm's in the last
 * bit of about 0.1% of the rows. */
#define LN2N_HI 0x1.62e4200000000p-8
#define LN2N_LO 0x1.fdf473de6af28p-29
#define INV_LN2N 0x1.71547652b82fep+7
#define EXP_SHIFT 0x1.8p52          /* x + EXP_SHIFT rounds x to an integer in the low bits */

static const double EXP_T[128][2] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0163da9fb3335p+0, 0x1.b61299ab8cdb7p-54},
    {0x1.02c9a3e778061p+0, -0x1.19083535b085dp-56},
    {0x1.04315e86e7f85p+0, -0x1.0a31c1977c96ep-54},
    {0x1.059b0d3158574p+0, 0x1.d73e2a475b465p-55},
    {0x1.0706b29ddf6dep+0, -0x1.c91dfe2b13c27p-55},
    {0x1.0874518759bc8p+0, 0x1.186be4bb284ffp-57},
    {0x1.09e3ecac6f383p+0, 0x1.1487818316136p-54},
    {0x1.0b5586cf9890fp+0, 0x1.8a62e4adc610bp-54},
    {0x1.0cc922b7247f7p+0, 0x1.01edc16e24f71p-54},
    {0x1.0e3ec32d3d1a2p+0, 0x1.03a1727c57b53p-59},
    {0x1.0fb66affed31bp+0, -0x1.b9bedc44ebd7bp-57},
    {0x1.11301d0125b51p+0, -0x1.6c51039449b3ap-54},
    {0x1.12abdc06c31ccp+0, -0x1.1b514b36ca5c7p-58},
    {0x1.1429aaea92de0p+0, -0x1.32fbf9af1369ep-54},
    {0x1.15a98c8a58e51p+0, 0x1.2406ab9eeab0ap-55},
    {0x1.172b83c7d517bp+0, -0x1.19041b9d78a76p-55},
    {0x1.18af9388c8deap+0, -0x1.11023d1970f6cp-54},
    {0x1.1a35beb6fcb75p+0, 0x1.e5b4c7b4968e4p-55},
    {0x1.1bbe084045cd4p+0, -0x1.95386352ef607p-54},
    {0x1.1d4873168b9aap+0, 0x1.e016e00a2643cp-54},
    {0x1.1ed5022fcd91dp+0, -0x1.1df98027bb78cp-54},
    {0x1.2063b88628cd6p+0, 0x1.dc775814a8495p-55},
    {0x1.21f49917ddc96p+0, 0x1.2a97e9494a5eep-55},
    {0x1.2387a6e756238p+0, 0x1.9b07eb6c70573p-54},
    {0x1.251ce4fb2a63fp+0, 0x1.ac155bef4f4a4p-55},
    {0x1.26b4565e27cddp+0, 0x1.2bd339940e9d9p-55},
    {0x1.284dfe1f56381p+0, -0x1.a4c3a8c3f0d7ep-54},
    {0x1.29e9df51fdee1p+0, 0x1.612e8afad1255p-55},
    {0x1.2b87fd0dad990p+0, -0x1.10adcd6381aa4p-59},
    {0x1.2d285a6e4030bp+0, 0x1.0024754db41d5p-54},
    {0x1.2ecafa93e2f56p+0, 0x1.1ca0f45d52383p-56},
    {0x1.306fe0a31b715p+0, 0x1.6f46ad23182e4p-55},
    {0x1.32170fc4cd831p+0, 0x1.a9ce78e18047cp-55},
    {0x1.33c08b26416ffp+0, 0x1.32721843659a6p-54},
    {0x1.356c55f929ff1p+0, -0x1.b5cee5c4e4628p-55},
    {0x1.371a7373aa9cbp+0, -0x1.63aeabf42eae2p-54},
    {0x1.38cae6d05d866p+0, -0x1.e958d3c9904bdp-54},
    {0x1.3a7db34e59ff7p+0, -0x1.5e436d661f5e3p-56},
    {0x1.3c32dc313a8e5p+0, -0x1.efff8375d29c3p-54},
    {0x1.3dea64c123422p+0, 0x1.ada0911f09ebcp-55},
    {0x1.3fa4504ac801cp+0, -0x1.7d023f956f9f3p-54},
    {0x1.4160a21f72e2ap+0, -0x1.ef3691c309278p-58},
    {0x1.431f5d950a897p+0, -0x1.1c7dde35f7999p-55},
    {0x1.44e086061892dp+0, 0x1.89b7a04ef80d0p-59},
    {0x1.46a41ed1d0057p+0, 0x1.c944bd1648a76p-54},
    {0x1.486a2b5c13cd0p+0, 0x1.3c1a3b69062f0p-56},
    {0x1.4a32af0d7d3dep+0, 0x1.9cb62f3d1be56p-54},
    {0x1.4bfdad5362a27p+0, 0x1.d4397afec42e2p-56},
    {0x1.4dcb299fddd0dp+0, 0x1.8ecdbbc6a7833p-54},
    {0x1.4f9b2769d2ca7p+0, -0x1.4b309d25957e3p-54},
    {0x1.516daa2cf6642p+0, -0x1.f768569bd93efp-55},
    {0x1.5342b569d4f82p+0, -0x1.07abe1db13cadp-55},
    {0x1.551a4ca5d920fp+0, -0x1.d689cefede59bp-55},
    {0x1.56f4736b527dap+0, 0x1.9bb2c011d93adp-54},
    {0x1.58d12d497c7fdp+0, 0x1.295e15b9a1de8p-55},
    {0x1.5ab07dd485429p+0, 0x1.6324c054647adp-54},
    {0x1.5c9268a5946b7p+0, 0x1.c4b1b816986a2p-60},
    {0x1.5e76f15ad2148p+0, 0x1.ba6f93080e65ep-54},
    {0x1.605e1b976dc09p+0, -0x1.3e2429b56de47p-54},
    {0x1.6247eb03a5585p+0, -0x1.383c17e40b497p-54},
    {0x1.6434634ccc320p+0, -0x1.c483c759d8933p-55},
    {0x1.6623882552225p+0, -0x1.bb60987591c34p-54},
    {0x1.68155d44ca973p+0, 0x1.038ae44f73e65p-57},
    {0x1.6a09e667f3bcdp+0, -0x1.bdd3413b26456p-54},
    {0x1.6c012750bdabfp+0, -0x1.2895667ff0b0dp-56},
    {0x1.6dfb23c651a2fp+0, -0x1.bbe3a683c88abp-57},
    {0x1.6ff7df9519484p+0, -0x1.83c0f25860ef6p-55},
    {0x1.71f75e8ec5f74p+0, -0x1.16e4786887a99p-55},
    {0x1.73f9a48a58174p+0, -0x1.0a8d96c65d53cp-54},
    {0x1.75feb564267c9p+0, -0x1.0245957316dd3p-54},
    {0x1.780694fde5d3fp+0, 0x1.866b80a02162dp-54},
    {0x1.7a11473eb0187p+0, -0x1.41577ee04992fp-55},
    {0x1.7c1ed0130c132p+0, 0x1.f124cd1164dd6p-54},
    {0x1.7e2f336cf4e62p+0, 0x1.05d02ba15797ep-56},
    {0x1.80427543e1a12p+0, -0x1.27c86626d972bp-54},
    {0x1.82589994cce13p+0, -0x1.d4c1dd41532d8p-54},
    {0x1.8471a4623c7adp+0, -0x1.8d684a341cdfbp-55},
    {0x1.868d99b4492edp+0, -0x1.fc6f89bd4f6bap-54},
    {0x1.88ac7d98a6699p+0, 0x1.994c2f37cb53ap-54},
    {0x1.8ace5422aa0dbp+0, 0x1.6e9f156864b27p-54},
    {0x1.8cf3216b5448cp+0, -0x1.0d55e32e9e3aap-56},
    {0x1.8f1ae99157736p+0, 0x1.5cc13a2e3976cp-55},
    {0x1.9145b0b91ffc6p+0, -0x1.dd6792e582524p-54},
    {0x1.93737b0cdc5e5p+0, -0x1.75fc781b57ebcp-57},
    {0x1.95a44cbc8520fp+0, -0x1.64b7c96a5f039p-56},
    {0x1.97d829fde4e50p+0, -0x1.d185b7c1b85d1p-54},
    {0x1.9a0f170ca07bap+0, -0x1.173bd91cee632p-54},
    {0x1.9c49182a3f090p+0, 0x1.c7c46b071f2bep-56},
    {0x1.9e86319e32323p+0, 0x1.824ca78e64c6ep-56},
    {0x1.a0c667b5de565p+0, -0x1.359495d1cd533p-54},
    {0x1.a309bec4a2d33p+0, 0x1.6305c7ddc36abp-54},
    {0x1.a5503b23e255dp+0, -0x1.d2f6edb8d41e1p-54},
    {0x1.a799e1330b358p+0, 0x1.bcb7ecac563c7p-54},
    {0x1.a9e6b5579fdbfp+0, 0x1.0fac90ef7fd31p-54},
    {0x1.ac36bbfd3f37ap+0, -0x1.f9234cae76cd0p-55},
    {0x1.ae89f995ad3adp+0, 0x1.7a1cd345dcc81p-54},
    {0x1.b0e07298db666p+0, -0x1.bdef54c80e425p-54},
    {0x1.b33a2b84f15fbp+0, -0x1.2805e3084d708p-57},
    {0x1.b59728de5593ap+0, -0x1.c71dfbbba6de3p-54},
    {0x1.b7f76f2fb5e47p+0, -0x1.5584f7e54ac3bp-56},
    {0x1.ba5b030a1064ap+0, -0x1.efcd30e54292ep-54},
    {0x1.bcc1e904bc1d2p+0, 0x1.23dd07a2d9e84p-55},
    {0x1.bf2c25bd71e09p+0, -0x1.efdca3f6b9c73p-54},
    {0x1.c199bdd85529cp+0, 0x1.11065895048ddp-55},
    {0x1.c40ab5fffd07ap+0, 0x1.b4537e083c60ap-54},
    {0x1.c67f12e57d14bp+0, 0x1.2884dff483cadp-54},
    {0x1.c8f6d9406e7b5p+0, 0x1.1acbc48805c44p-56},
    {0x1.cb720dcef9069p+0, 0x1.503cbd1e949dbp-56},
    {0x1.cdf0b555dc3fap+0, -0x1.dd83b53829d72p-55},
    {0x1.d072d4a07897cp+0, -0x1.cbc3743797a9cp-54},
    {0x1.d2f87080d89f2p+0, -0x1.d487b719d8578p-54},
    {0x1.d5818dcfba487p+0, 0x1.2ed02d75b3707p-55},
    {0x1.d80e316c98398p+0, -0x1.11ec18beddfe8p-54},
    {0x1.da9e603db3285p+0, 0x1.c2300696db532p-54},
    {0x1.dd321f301b460p+0, 0x1.2da5778f018c3p-54},
    {0x1.dfc97337b9b5fp+0, -0x1.1a5cd4f184b5cp-54},
    {0x1.e264614f5a129p+0, -0x1.7b627817a1496p-54},
    {0x1.e502ee78b3ff6p+0, 0x1.39e8980a9cc8fp-55},
    {0x1.e7a51fbc74c83p+0, 0x1.2d522ca0c8de2p-54},
    {0x1.ea4afa2a490dap+0, -0x1.e9c23179c2893p-54},
    {0x1.ecf482d8e67f1p+0, -0x1.c93f3b411ad8cp-54},
    {0x1.efa1bee615a27p+0, 0x1.dc7f486a4b6b0p-54},
    {0x1.f252b376bba97p+0, 0x1.3a1a5bf0d8e43p-54},
    {0x1.f50765b6e4540p+0, 0x1.9d3e12dd8a18bp-54},
    {0x1.f7bfdad9cbe14p+0, -0x1.dbb12d006350ap-54},
    {0x1.fa7c1819e90d8p+0, 0x1.74853f3a5931ep-55},
    {0x1.fd3c22b8f71f1p+0, 0x1.2eb74966579e7p-57},
};

static inline double exp_neg(double x)
{
    double z = x * INV_LN2N + EXP_SHIFT, kd = z - EXP_SHIFT, two_m;   /* kd = k, exactly */
    double r = (x - kd * LN2N_HI) - kd * LN2N_LO;
    double p = r + (r * r) * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120))));
    uint64_t zb, kb, mb;
    memcpy(&zb, &z, sizeof zb);
    kb = zb - UINT64_C(0x4338000000000000);           /* k mod 2^64: j = k mod 128, */
    mb = (UINT64_C(1023) << 52) + ((kb & ~(uint64_t)127) << 45);   /* 2^m = 2^((k - j)/128) */
    memcpy(&two_m, &mb, sizeof two_m);
    const double *T = EXP_T[kb & 127];
    return (T[0] + (T[1] + T[0] * p)) * two_m;
}

/* e_c = exp_neg(-|eta_c|) for c < EXP_BLOCK in fixed-width loops (the compiler's vector
 * code; each value's operations are exp_neg's, so the same bits). |eta_c| > THRESH or NaN
 * give a meaningless e_c (no trap, no index out of the table). */
#define EXP_BLOCK 4
static inline void exp_neg_block(const double *restrict eta, double *restrict e)
{
    double x[EXP_BLOCK], z[EXP_BLOCK], p[EXP_BLOCK], two_m[EXP_BLOCK];
    uint64_t zb[EXP_BLOCK], jb[EXP_BLOCK], mb[EXP_BLOCK];
    int c;
    for (c = 0; c < EXP_BLOCK; c++) {
        x[c] = -fabs(eta[c]);
        z[c] = x[c] * INV_LN2N + EXP_SHIFT;
        double kd = z[c] - EXP_SHIFT;
        double r = (x[c] - kd * LN2N_HI) - kd * LN2N_LO;
        p[c] = r + (r * r) * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120))));
    }
    memcpy(zb, z, sizeof zb);
    for (c = 0; c < EXP_BLOCK; c++) {
        uint64_t kb = zb[c] - UINT64_C(0x4338000000000000);
        jb[c] = kb & 127;
        mb[c] = (UINT64_C(1023) << 52) + ((kb & ~(uint64_t)127) << 45);
    }
    memcpy(two_m, mb, sizeof two_m);
    for (c = 0; c < EXP_BLOCK; c++) {
        double sj = EXP_T[jb[c]][0], tj = EXP_T[jb[c]][1];
        e[c] = (sj + (tj + sj * p[c])) * two_m[c];
    }
}

/* e_i = exp_neg(-|eta_i|) for i < n (see exp_neg_block) */
HOT_CLONES static void exp_neg_rows(const double *restrict eta, double *restrict e, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + EXP_BLOCK <= n; i += EXP_BLOCK) exp_neg_block(eta + i, e + i);
    for (; i < n; i++) e[i] = exp_neg(-fabs(eta[i]));
}

/* ---- log1p on [0, 1] --------------------------------------------------------------------- */

/* log(1 + e) for 0 <= e <= 1 (the logit rows' log(1 + exp(-|eta|)) of rows with a prior
 * weight), in plain double arithmetic: the same bits on every IEEE machine (no FMA:
 * -ffp-contract=off), inline and without a branch. Table method: j = round(128 e), a = j/128,
 * A = 1 + a (at most 8 significant bits), log1p(e) = log(A) + log1p(v) with v = (e - a)/A,
 * |v| <= 2^-8. e - a is exact (Sterbenz); v0 = (e - a) RN(1/A) and its remainder
 * w = ((e - a) - v0 A) / A, the product v0 A formed exactly from v0 split into 45 + 8 bits, so
 * v = v0 + w to about 2^-105 relative. log1p(v) = v0 + w (1 - v0) + v0^2 P(v0), P the series
 * -1/2 + v/3 - ... - v^6/8 (the next term below 2^-64 v). log(A) = LOG1P_T[j][0] +
 * LOG1P_T[j][1] (the nearest double and the nearest double to the rest, from 60-digit
 * decimal arithmetic); log(A)_hi + v0 is summed exactly (Fast2Sum, |log A| >= |v0| or
 * log A = 0), so only the last addition rounds a value of the result's size: within about
 * 0.502 ulp of log1p(e) (tests/glmm/test_pirls_kernel_log1p.py: against 60-digit decimal and
 * against the C library's). log1p(0) = 0 and log1p(1) = RN(log 2). Outside [0, 1] or NaN the
 * value is meaningless (no trap, no index out of the table). */
static const double LOG1P_T[256][2] = {   /* rows 129-255: zeros */
    {0x0.0p+0, 0x0.0p+0},
    {0x1.fe02a6b106789p-8, -0x1.e44b7e3711ebfp-67},
    {0x1.fc0a8b0fc03e4p-7, -0x1.83092c59642a1p-62},
    {0x1.7b91b07d5b11bp-6, -0x1.5b602ace3a510p-60},
    {0x1.f829b0e783300p-6, 0x1.33e3f04f1ef23p-60},
    {0x1.39e87b9febd60p-5, -0x1.5bfa937f551bbp-59},
    {0x1.77458f632dcfcp-5, 0x1.18d3ca87b9296p-59},
    {0x1.b42dd711971bfp-5, -0x1.eb9759c130499p-60},
    {0x1.f0a30c01162a6p-5, 0x1.85f325c5bbacdp-59},
    {0x1.16536eea37ae1p-4, -0x1.79da3e8c22cdap-60},
    {0x1.341d7961bd1d1p-4, -0x1.b599f227becbbp-58},
    {0x1.51b073f06183fp-4, 0x1.a49e39a1a8be4p-58},
    {0x1.6f0d28ae56b4cp-4, -0x1.906d99184b992p-58},
    {0x1.8c345d6319b21p-4, -0x1.4a697ab3424a9p-61},
    {0x1.a926d3a4ad563p-4, 0x1.942f48aa70ea9p-58},
    {0x1.c5e548f5bc743p-4, 0x1.5d617ef8161b1p-60},
    {0x1.e27076e2af2e6p-4, -0x1.61578001e0162p-60},
    {0x1.fec9131dbeabbp-4, -0x1.5746b9981b36cp-58},
    {0x1.0d77e7cd08e59p-3, 0x1.9a5dc5e9030acp-57},
    {0x1.1b72ad52f67a0p-3, 0x1.483023472cd74p-58},
    {0x1.29552f81ff523p-3, 0x1.301771c407dbfp-57},
    {0x1.371fc201e8f74p-3, 0x1.de6cb62af18a0p-58},
    {0x1.44d2b6ccb7d1ep-3, 0x1.9f4f6543e1f88p-57},
    {0x1.526e5e3a1b438p-3, -0x1.746ff8a470d3ap-57},
    {0x1.5ff3070a793d4p-3, -0x1.bc60efafc6f6ep-58},
    {0x1.6d60fe719d21dp-3, -0x1.caae268ecd179p-57},
    {0x1.7ab890210d909p-3, 0x1.be36b2d6a0608p-59},
    {0x1.87fa06520c911p-3, -0x1.bf7fdbfa08d9ap-57},
    {0x1.9525a9cf456b4p-3, 0x1.d904c1d4e2e26p-57},
    {0x1.a23bc1fe2b563p-3, 0x1.93711b07a998cp-59},
    {0x1.af3c94e80bff3p-3, -0x1.398cff3641985p-58},
    {0x1.bc286742d8cd6p-3, 0x1.4fce744870f55p-58},
    {0x1.c8ff7c79a9a22p-3, -0x1.4f689f8434012p-57},
    {0x1.d5c216b4fbb91p-3, 0x1.6e443597e4d40p-57},
    {0x1.e27076e2af2e6p-3, -0x1.61578001e0162p-59},
    {0x1.ef0adcbdc5936p-3, 0x1.48637950dc20dp-57},
    {0x1.fb9186d5e3e2bp-3, -0x1.caaae64f21acbp-57},
    {0x1.0402594b4d041p-2, -0x1.28ec217a5022dp-57},
    {0x1.0a324e27390e3p-2, 0x1.7dcfde8061c03p-56},
    {0x1.1058bf9ae4ad5p-2, 0x1.89fa0ab4cb31dp-58},
    {0x1.1675cababa60ep-2, 0x1.ce63eab883717p-61},
    {0x1.1c898c16999fbp-2, -0x1.0e5c62aff1c44p-60},
    {0x1.22941fbcf7966p-2, -0x1.76f5eb09628afp-56},
    {0x1.2895a13de86a3p-2, 0x1.7ad24c13f040ep-56},
    {0x1.2e8e2bae11d31p-2, -0x1.8f4cdb95ebdf9p-56},
    {0x1.347dd9a987d55p-2, -0x1.4dd4c580919f8p-57},
    {0x1.3a64c556945eap-2, -0x1.c68651945f97cp-57},
    {0x1.404308686a7e4p-2, -0x1.0bcfb6082ce6dp-56},
    {0x1.4618bc21c5ec2p-2, 0x1.f42decdeccf1dp-56},
    {0x1.4be5f957778a1p-2, -0x1.259b35b04813dp-57},
    {0x1.51aad872df82dp-2, 0x1.3927ac19f55e3p-59},
    {0x1.5767717455a6cp-2, 0x1.526adb283660cp-56},
    {0x1.5d1bdbf5809cap-2, 0x1.4236383dc7fe1p-56},
    {0x1.62c82f2b9c795p-2, 0x1.7b7af915300e5p-57},
    {0x1.686c81e9b14afp-2, -0x1.ddea0f7f58e3dp-57},
    {0x1.6e08eaa2ba1e4p-2, -0x1.cfb1b39ca3a0fp-56},
    {0x1.739d7f6bbd007p-2, -0x1.8c76ceb014b04p-56},
    {0x1.792a55fdd47a2p-2, 0x1.f057691fe9ed7p-56},
    {0x1.7eaf83b82afc3p-2, 0x1.92ce979ed2950p-56},
    {0x1.842d1da1e8b17p-2, 0x1.24ec519784676p-56},
    {0x1.89a3386c1425bp-2, -0x1.29639dfbbf0fbp-56},
    {0x1.8f11e873662c7p-2, 0x1.f85da755a61a3p-56},
    {0x1.947941c2116fbp-2, -0x1.16cc8bae0bbe4p-56},
    {0x1.99d958117e08bp-2, -0x1.a2b6889dc3e72p-57},
    {0x1.9f323ecbf984cp-2, -0x1.a92e513217f5cp-59},
    {0x1.a484090e5bb0ap-2, 0x1.5fe535b875a75p-57},
    {0x1.a9cec9a9a084ap-2, -0x1.cadec02b436afp-56},
    {0x1.af1293247786bp-2, 0x1.133844a15dc28p-58},
    {0x1.b44f77bcc8f63p-2, -0x1.cd04495459c78p-56},
    {0x1.b9858969310fbp-2, 0x1.663ec53e23bc4p-56},
    {0x1.beb4d9da71b7cp-2, -0x1.0f3c590a887cap-59},
    {0x1.c3dd7a7cdad4dp-2, 0x1.cecf052dea69bp-56},
    {0x1.c8ff7c79a9a22p-2, -0x1.4f689f8434012p-56},
    {0x1.ce1af0b85f3ebp-2, 0x1.edf4af2ab4267p-56},
    {0x1.d32fe7e00ebd5p-2, 0x1.877b232fafa37p-56},
    {0x1.d83e7258a2f3ep-2, 0x1.41456e8bb2511p-56},
    {0x1.dd46a04c1c4a1p-2, -0x1.0467656d8b892p-56},
    {0x1.e24881a7c6c26p-2, 0x1.cbd8f45954a46p-58},
    {0x1.e744261d68788p-2, -0x1.c825c90c344b9p-58},
    {0x1.ec399d2468cc0p-2, 0x1.75cee53f35397p-58},
    {0x1.f128f5faf06edp-2, -0x1.328df13bb38c3p-56},
    {0x1.f6123fa7028acp-2, 0x1.8515b0f2db341p-56},
    {0x1.faf588f78f31fp-2, -0x1.328260d8abca0p-57},
    {0x1.ffd2e0857f498p-2, 0x1.565f40d9321afp-56},
    {0x1.02552a5a5d0ffp-1, -0x1.cb1cb51408c00p-56},
    {0x1.04bdf9da926d2p-1, 0x1.97f304022c9dfp-55},
    {0x1.0723e5c1cdf40p-1, 0x1.395e58e2445bbp-55},
    {0x1.0986f4f573521p-1, -0x1.1b8095ac02f01p-55},
    {0x1.0be72e4252a83p-1, -0x1.259da11330801p-55},
    {0x1.0e44985d1cc8cp-1, -0x1.22a3442d2d384p-58},
    {0x1.109f39e2d4c97p-1, -0x1.0e09b27a4373ap-60},
    {0x1.12f719593efbcp-1, 0x1.4c048c671f435p-55},
    {0x1.154c3d2f4d5eap-1, -0x1.59c33171a6876p-55},
    {0x1.179eabbd899a1p-1, -0x1.00e7c6417e0b4p-55},
    {0x1.19ee6b467c96fp-1, -0x1.9d1a11443f10cp-56},
    {0x1.1c3b81f713c25p-1, -0x1.0dac1c4c810e9p-55},
    {0x1.1e85f5e7040d0p-1, 0x1.ef62cd2f9f1e3p-56},
    {0x1.20cdcd192ab6ep-1, -0x1.b2bf0bc229014p-55},
    {0x1.23130d7bebf43p-1, -0x1.f48725e374d6ep-55},
    {0x1.2555bce98f7cbp-1, 0x1.e021d6d6881e7p-56},
    {0x1.2795e1289b11bp-1, -0x1.487c0c246978ep-57},
    {0x1.29d37fec2b08bp-1, -0x1.bd1949a2d1982p-56},
    {0x1.2c0e9ed448e8cp-1, -0x1.1a158f3917586p-55},
    {0x1.2e47436e40268p-1, 0x1.0150861a4886bp-55},
    {0x1.307d7334f10bep-1, 0x1.fb590a1f566dap-57},
    {0x1.32b1339121d71p-1, 0x1.902ab5b3d916bp-56},
    {0x1.34e289d9ce1d3p-1, 0x1.6eb92d885ce4fp-57},
    {0x1.37117b54747b6p-1, -0x1.d117edbdd9103p-56},
    {0x1.393e0d3562a1ap-1, -0x1.58eef67f2483ap-55},
    {0x1.3b68449fffc23p-1, -0x1.41c484f9e9b26p-55},
    {0x1.3d9026a7156fbp-1, -0x1.6fef670bd4b62p-55},
    {0x1.3fb5b84d16f42p-1, 0x1.6d3a754172aefp-55},
    {0x1.41d8fe84672aep-1, 0x1.9192f30bd1806p-55},
    {0x1.43f9fe2f9ce67p-1, 0x1.e9c9ee6d83b86p-55},
    {0x1.4618bc21c5ec2p-1, 0x1.f42decdeccf1dp-55},
    {0x1.48353d1ea88dfp-1, 0x1.cf57a2ecc07f4p-55},
    {0x1.4a4f85db03ebbp-1, 0x1.13dfa3d3761b6p-60},
    {0x1.4c679afccee3ap-1, -0x1.3a5c4c8b39e41p-55},
    {0x1.4e7d811b75bb1p-1, -0x1.8d3d9ea6e9ea9p-55},
    {0x1.50913cc01686bp-1, 0x1.2f2ce96c2d5b1p-55},
    {0x1.52a2d265bc5abp-1, -0x1.1883750ea4d0ap-57},
    {0x1.54b2467999498p-1, -0x1.5baaf5d2f09f4p-55},
    {0x1.56bf9d5b3f399p-1, 0x1.0471885cd8ff3p-55},
    {0x1.58cadb5cd7989p-1, 0x1.849792ec98458p-56},
    {0x1.5ad404c359f2dp-1, -0x1.35955683f7196p-59},
    {0x1.5cdb1dc6c1765p-1, -0x1.cc2470e8a3df4p-55},
    {0x1.5ee02a9241675p-1, 0x1.c358257f49082p-55},
    {0x1.60e32f44788d9p-1, -0x1.ac1bb52fa589bp-56},
    {0x1.62e42fefa39efp-1, 0x1.abc9e3b39803fp-56},
};

/* the table row of x: j = round(128 x) mod 256 (rows past 128 only for x outside [0, 1]) */
static inline uint64_t log1p_row(double z)
{
    uint64_t zb;
    memcpy(&zb, &z, sizeof zb);
    return (zb - UINT64_C(0x4338000000000000)) & 255;
}

/* v with its last 8 significand bits cleared (v's leading 45 bits) */
static inline double lead45(double v)
{
    uint64_t vb;
    memcpy(&vb, &v, sizeof vb);
    vb &= ~(uint64_t)255;
    memcpy(&v, &vb, sizeof v);
    return v;
}

/* log1p_01 given z = 128 e + EXP_SHIFT and e's table row T */
static inline double log1p_tail(double e, double z, const double *T)
{
    double kd = z - EXP_SHIFT;                                  /* kd = j, exactly */
    double A = 1.0 + kd * 0x1p-7, d = e - kd * 0x1p-7, inv = 1.0 / A;
    double v = d * inv, vh = lead45(v);
    double r = (d - vh * A) - (v - vh) * A;                     /* d - v A, exactly */
    double w = r * inv;
    double P = -0.5 + v * (1.0 / 3 + v * (-0.25 + v * (0.2 + v * (-1.0 / 6 + v * (1.0 / 7
               - v * 0.125)))));
    double t = T[1] + ((w - v * w) + (v * v) * P);
    double s = T[0] + v;
    double err = v - (s - T[0]);
    return s + (err + t);
}

static inline double log1p_01(double e)
{
    double z = e * 128.0 + EXP_SHIFT;
    return log1p_tail(e, z, LOG1P_T[log1p_row(z)]);
}

/* l_c = log1p_01(e_c) for c < LOG1P_BLOCK in fixed-width loops (the compiler's vector code;
 * each value's operations are log1p_01's, so the same bits) */
#define LOG1P_BLOCK 4
static ALWAYS_INLINE void log1p_block(const double *restrict e, double *restrict l)
{
    double z[LOG1P_BLOCK], inv[LOG1P_BLOCK], lhi[LOG1P_BLOCK], llo[LOG1P_BLOCK];
    double A[LOG1P_BLOCK], d[LOG1P_BLOCK], v[LOG1P_BLOCK], vh[LOG1P_BLOCK];
    uint64_t zb[LOG1P_BLOCK], vb[LOG1P_BLOCK];
    int c;
    for (c = 0; c < LOG1P_BLOCK; c++) {
        z[c] = e[c] * 128.0 + EXP_SHIFT;
        double kd = z[c] - EXP_SHIFT;
        A[c] = 1.0 + kd * 0x1p-7;
        d[c] = e[c] - kd * 0x1p-7;
    }
    memcpy(zb, z, sizeof zb);
    for (c = 0; c < LOG1P_BLOCK; c++) zb[c] = (zb[c] - UINT64_C(0x4338000000000000)) & 255;
    for (c = 0; c < LOG1P_BLOCK; c++) inv[c] = 1.0 / A[c];
    for (c = 0; c < LOG1P_BLOCK; c++) {
        lhi[c] = LOG1P_T[zb[c]][0];
        llo[c] = LOG1P_T[zb[c]][1];
    }
    for (c = 0; c < LOG1P_BLOCK; c++) v[c] = d[c] * inv[c];
    memcpy(vb, v, sizeof vb);
    for (c = 0; c < LOG1P_BLOCK; c++) vb[c] &= ~(uint64_t)255;
    memcpy(vh, vb, sizeof vh);
    for (c = 0; c < LOG1P_BLOCK; c++) {
        double vc = v[c];
        double r = (d[c] - vh[c] * A[c]) - (vc - vh[c]) * A[c];
        double w = r * inv[c];
        double P = -0.5 + vc * (1.0 / 3 + vc * (-0.25 + vc * (0.2 + vc * (-1.0 / 6 + vc * (1.0 / 7
                   - vc * 0.125)))));
        double t = llo[c] + ((w - vc * w) + (vc * vc) * P);
        double s = lhi[c] + vc;
        double err = vc - (s - lhi[c]);
        l[c] = s + (err + t);
    }
}

/* l_i = log1p_01(e_i) for i < n (see log1p_block) */
HOT_CLONES static void log1p_rows(const double *restrict e, double *restrict l, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + LOG1P_BLOCK <= n; i += LOG1P_BLOCK) log1p_block(e + i, l + i);
    for (; i < n; i++) l[i] = log1p_01(e[i]);
}

/* ---- families and links -------------------------------------------------------------- */

static double ndtr(double a)
{
    /* the standard normal CDF as cephes' ndtr (scipy.special.ndtr) */
    double x = a * M_SQRT1_2, z = fabs(x), y;
    if (z < M_SQRT1_2)
        return 0.5 + 0.5 * erf(x);
    y = 0.5 * erfc(z);
    return x > 0 ? 1.0 - y : y;
}

/* 1 / (1 + exp(-x)) for |x| <= THRESH (its callers' range), exp(-|x|) as evaluate_at_eta
 * forms it, so the same mu from eta wherever it is formed */
static double expit(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp_neg(-x));
    double e = exp_neg(x);
    return e / (1.0 + e);
}

static double linkinv(const Model *m, double eta)
{
    switch (m->link) {
    case L_LOGIT:
        if (eta < -THRESH) return EPS / (1 + EPS);
        if (eta > THRESH) return (1.0 / EPS) / (1 + 1.0 / EPS);
        return expit(eta);
    case L_PROBIT: {
        double e = eta < -m->probit_th ? -m->probit_th : eta > m->probit_th ? m->probit_th : eta;
        return ndtr(e);
    }
    case L_CAUCHIT: {
        double e = eta < -m->cauchit_th ? -m->cauchit_th
                   : eta > m->cauchit_th ? m->cauchit_th : eta;
        return atan2(1.0, -e) / M_PI;
    }
    case L_CLOGLOG: {
        double v = -expm1(-exp(eta));
        return v < EPS ? EPS : v > 1 - EPS ? 1 - EPS : v;
    }
    case L_IDENTITY: return eta;
    case L_LOG: { double v = exp(eta); return v > EPS ? v : EPS; }
    case L_SQRT: return eta * eta;
    case L_INVERSE: return 1 / eta;
    default: return 1 / sqrt(eta);
    }
}

static double mu_eta(const Model *m, double eta)
{
    switch (m->link) {
    case L_LOGIT: {
        if (fabs(eta) > THRESH) return EPS;
        double p = expit(eta);
        return p * (1 - p);
    }
    case L_PROBIT: { double v = exp(-eta * eta / 2.0) / sqrt(2 * M_PI); return v > EPS ? v : EPS; }
    case L_CAUCHIT: { double v = 1.0 / M_PI / (1.0 + eta * eta); return v > EPS ? v : EPS; }
    case L_CLOGLOG: {
        double e = eta < 700.0 ? eta : 700.0;
        double v = exp(e) * exp(-exp(e));
        return v > EPS ? v : EPS;
    }
    case L_IDENTITY: return 1.0;
    case L_LOG: { double v = exp(eta); return v > EPS ? v : EPS; }
    case L_SQRT: return 2 * eta;
    case L_INVERSE: return -1 / (eta * eta);
    default: return -1 / (2 * pow(eta, 1.5));
    }
}

static double variance(const Model *m, double mu)
{
    switch (m->fam) {
    case F_BINOMIAL: return mu * (1 - mu);
    case F_POISSON: return mu;
    case F_GAMMA: return mu * mu;
    case F_INVGAUSS: return mu * mu * mu;
    case F_NEGBIN: return mu + mu * mu / m->nbth;
    default: return 1.0;
    }
}

static double xlogy_ratio(double y, double mu) { return y == 0 ? 0.0 : y * log(y / mu); }

/* R's dev.resids for one observation */
static double dev_resid(const Model *m, double y, double mu, double wt)
{
    switch (m->fam) {
    case F_BINOMIAL: return 2 * wt * (xlogy_ratio(y, mu) + xlogy_ratio(1 - y, 1 - mu));
    case F_POISSON: return 2 * (y > 0 ? wt * (y * log(y / mu) - (y - mu)) : mu * wt);
    case F_GAMMA: return -2 * wt * (log(y == 0 ? 1.0 : y / mu) - (y - mu) / mu);
    case F_INVGAUSS: return wt * ((y - mu) * (y - mu)) / (y * (mu * mu));
    case F_NEGBIN: {
        double th = m->nbth;
        return 2 * wt * (xlogy_ratio(y, mu) - (y + th) * log((y + th) / (mu + th)));
    }
    default: return wt * ((y - mu) * (y - mu));
    }
}

/* the mu-dependent part of the log-likelihood (families with a saturated split) */
static double kernel(const Model *m, double y, double mu, double wt)
{
    switch (m->fam) {
    case F_BINOMIAL: return wt * (y * log(mu) + (1 - y) * log1p(-mu));
    case F_POISSON: return wt * (y * log(mu) - mu);
    default: return wt * (y * log(mu) - (y + m->nbth) * log(mu + m->nbth));
    }
}

static int valid_mu(const Model *m, double mu)
{
    if (m->fam == F_GAUSSIAN) return 1;
    if (!isfinite(mu) || !(mu > 0)) return 0;
    return m->fam != F_BINOMIAL || mu < 1;
}

/* ---- states ---------------------------------------------------------------------------- */

typedef struct {
    double *u, *beta, *eta, *mu;
    double dev, ussq, kern, pdev;
    int valid;
} State;

static void evaluate_at_eta(const Model *m, State *s);

/* cond ? a : b for two values already formed, by a bit mask: the same value as the
 * conditional expression, in a form the compiler's vectorizer takes (the row passes below
 * run it over fixed-width blocks of rows) */
static inline double pick(int cond, double a, double b)
{
    uint64_t ab, bb, mk = (uint64_t)0 - (uint64_t)cond;
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (mk & ab) | (~mk & bb);
    memcpy(&a, &ab, sizeof a);
    return a;
}

/* The weighted logit rows of a chunk whose rows all have another prior weight than 1 and
 * are all in range (row r below nb, e_r = exp(-|eta_r|) in mb[r] on entry), as the row that
 * ends a run in evaluate_at_eta sums them: l_r = log1p_01(e_r), mu_r = (eta_r >= 0 ? 1 :
 * e_r) / (1 + e_r) into mb[r], the linear term wt_r (eta_r >= 0 ? (1 - y_r) eta_r :
 * -(y_r eta_r)) added to *lin and wt_r l_r to *lsum, in row order. The values in blocks of 4
 * rows (log1p_block, then the selects by bit mask: vector code) and the rest one by one,
 * each by the same operations; each block's terms are added as it is formed, so the two
 * sums run beside the next block's values. */
static ALWAYS_INLINE void logit_sums(Py_ssize_t nb, const double *restrict eb,
                                     double *restrict mb, const double *restrict yb,
                                     const double *restrict wb, double *lin, double *lsum)
{
    Py_ssize_t r = 0;
    double la = *lin, ls = *lsum;
    int c;
    for (; r + 4 <= nb; r += 4) {
        double l[4], ta[4];
        log1p_block(mb + r, l);
        for (c = 0; c < 4; c++) {
            double et = eb[r + c], e = mb[r + c], yi = yb[r + c], wi = wb[r + c];
            int ge = et >= 0;
            mb[r + c] = pick(ge, 1.0, e) / (1.0 + e);
            ta[c] = wi * pick(ge, (1 - yi) * et, -(yi * et));
            l[c] = wi * l[c];
        }
        for (c = 0; c < 4; c++) {
            la += ta[c];
            ls += l[c];
        }
    }
    for (; r < nb; r++) {
        double et = eb[r], e = mb[r], yi = yb[r], wi = wb[r], l = log1p_01(e);
        mb[r] = (et >= 0 ? 1.0 : e) / (1.0 + e);
        la += wi * (et >= 0 ? (1 - yi) * et : -(yi * et));
        ls += wi * l;
    }
    *lin = la;
    *lsum = ls;
}

/* 1 when |eta_r| <= THRESH for every r < nb (NaN: 0), in blocks of 4 (vector code) */
static ALWAYS_INLINE int rows_in_range(const double *restrict eta, Py_ssize_t nb)
{
    uint64_t ok[4] = {1, 1, 1, 1};
    Py_ssize_t r = 0;
    int c;
    for (; r + 4 <= nb; r += 4)
        for (c = 0; c < 4; c++) ok[c] &= (uint64_t)(fabs(eta[r + c]) <= THRESH);
    for (; r < nb; r++) ok[0] &= (uint64_t)(fabs(eta[r]) <= THRESH);
    return (int)(ok[0] & ok[1] & ok[2] & ok[3]);
}

/* evaluate_ws's linear predictor for one scalar term (k = 1) and X beta given: b_l = 0 + u_l t
 * per level (the accumulation of the general loop, which starts at +0), then eta_i =
 * (off_i + xb_i) + v_i b_(c_i) (ONES: the term's values are all 1, and 1 b = b exactly), the
 * general loops' operations in their order; in blocks of 4 (vector code) and the rest one
 * by one */
static ALWAYS_INLINE void eta_one(Py_ssize_t n, Py_ssize_t nl, double t, const double *restrict u,
                                  double *restrict b, const double *restrict off,
                                  const double *restrict xb, const double *restrict v,
                                  const int64_t *restrict codes, double *restrict eta,
                                  const int ONES)
{
    Py_ssize_t i = 0;
    int c;
    for (; i + 4 <= nl; i += 4)
        for (c = 0; c < 4; c++) b[i + c] = 0.0 + u[i + c] * t;
    for (; i < nl; i++) b[i] = 0.0 + u[i] * t;
    for (i = 0; i + 4 <= n; i += 4)
        for (c = 0; c < 4; c++) {
            double bi = b[codes[i + c]];
            eta[i + c] = (off[i + c] + xb[i + c]) + (ONES ? bi : v[i + c] * bi);
        }
    for (; i < n; i++) {
        double bi = b[codes[i]];
        eta[i] = (off[i] + xb[i]) + (ONES ? bi : v[i] * bi);
    }
}

/* eta = offset + X beta + sum_t Z_t (T_t u_t), mu, the deviance, ||u||^2; `b`: workspace of
 * q_tot values (NULL: allocated here) */
HOT_CLONES static void evaluate_ws(const Model *m, State *s, const double *xb, double *bws)
{
    Py_ssize_t n = m->n, i, t, a, c;
    double *b = bws;
    /* b_t = u_t T_t' per level, computed once (q_tot values) */
    if (!b) b = (double *)malloc(sizeof(double) * (m->q_tot ? m->q_tot : 1));
    if (!b) {                       /* out of memory: a state PIRLS can only reject */
        s->dev = s->ussq = s->kern = s->pdev = NAN;
        s->valid = 0;
        return;
    }
    if (xb && m->nt == 1 && m->k[0] == 1) {      /* one scalar term: eta_one */
        if (m->ones[0])
            eta_one(n, m->nl[0], m->T[0][0], s->u, b, m->off, xb, m->vals[0], m->codes, s->eta, 1);
        else
            eta_one(n, m->nl[0], m->T[0][0], s->u, b, m->off, xb, m->vals[0], m->codes, s->eta, 0);
        if (b != bws) free(b);
        evaluate_at_eta(m, s);
        return;
    }
    for (t = 0; t < m->nt; t++) {
        Py_ssize_t kt = m->k[t], l;
        const double *T = m->T[t], *u = s->u + m->uoff[t];
        double *bt = b + m->uoff[t];
        for (l = 0; l < m->nl[t]; l++)
            for (a = 0; a < kt; a++) {
                double acc = 0.0;
                for (c = 0; c < kt; c++) acc += u[l * kt + c] * T[a * kt + c];
                bt[l * kt + a] = acc;
            }
    }
    int all_scalar = 1;
    for (t = 0; t < m->nt; t++)
        if (m->k[t] != 1) all_scalar = 0;
    if (xb && all_scalar) {
        /* scalar terms: the same sums in the same order, all terms of a row in one pass */
        double *restrict eta = s->eta;
        const double *restrict off = m->off;
        if (m->nt == 2) {
            const double *restrict v0 = m->vals[0], *restrict v1 = m->vals[1];
            const double *b0 = b + m->uoff[0], *b1 = b + m->uoff[1];
            const int64_t *restrict c0 = m->codes, *restrict c1 = m->codes + n;
            if (m->ones[0] && m->ones[1])       /* intercept terms: 1 b = b exactly */
                for (i = 0; i < n; i++) {
                    double e = off[i] + xb[i];
                    e = e + b0[c0[i]];
                    eta[i] = e + b1[c1[i]];
                }
            else
                for (i = 0; i < n; i++) {
                    double e = off[i] + xb[i];
                    e = e + v0[i] * b0[c0[i]];
                    eta[i] = e + v1[i] * b1[c1[i]];
                }
        } else {
            for (i = 0; i < n; i++) eta[i] = off[i] + xb[i];
            for (t = 0; t < m->nt; t++) {
                const double *restrict v = m->vals[t], *bt = b + m->uoff[t];
                const int64_t *restrict ct = m->codes + t * n;
                for (i = 0; i < n; i++) eta[i] = eta[i] + v[i] * bt[ct[i]];
            }
        }
        i = n;
    } else
        i = 0;
    for (; i < n; i++) {
        double e;
        if (xb) e = m->off[i] + xb[i];
        else {
            double acc = 0.0;
            for (c = 0; c < m->p; c++) acc += m->X[i * m->p + c] * s->beta[c];
            e = m->off[i] + acc;
        }
        for (t = 0; t < m->nt; t++) {
            Py_ssize_t kt = m->k[t];
            const double *v = m->vals[t] + i * kt;
            const double *bt = b + m->uoff[t] + m->codes[t * n + i] * kt;
            if (kt == 1) e = e + v[0] * bt[0];
            else {
                double acc = 0.0;
                for (a = 0; a < kt; a++) acc += v[a] * bt[a];
                e = e + acc;
            }
        }
        s->eta[i] = e;
    }
    if (b != bws) free(b);
    evaluate_at_eta(m, s);
}

static void evaluate(const Model *m, State *s, const double *xb) { evaluate_ws(m, s, xb, NULL); }

/* mu = g^-1(eta), the deviance (or the log-likelihood kernel), ||u||^2 at the state's eta */
HOT_CLONES static void evaluate_at_eta(const Model *m, State *s)
{
    Py_ssize_t n = m->n, i;
    double ussq = 0.0, dev = 0.0, kern = 0.0;
    int valid = 1;
    for (i = 0; i < m->q_tot; i++) ussq += s->u[i] * s->u[i];
    int logit = m->fam == F_BINOMIAL && m->link == L_LOGIT;
    /* logit rows: with e = exp(-|eta|) and l = log(1 + e), log mu = -l - max(-eta, 0) and
     * log(1 - mu) = -l - max(eta, 0), so the kernel is -sum wt l - sum wt (y max(-eta, 0) +
     * (1 - y) max(eta, 0)). For rows of weight 1, sum l is the log of the product of the
     * factors 1 + e in (1, 2], taken in chunks of LOG_CHUNK rows (no overflow): one log per
     * chunk instead of one log1p per row. Each product's relative rounding error is at most
     * LOG_CHUNK ulp, i.e. an absolute error below 3e-14 in its log, far below the rounding
     * of the kernel's sum itself; other weights take wt log1p(e) row by row. */
    double lsum = 0.0, lin = 0.0, prod = 1.0;
    int inchunk = 0;
    const double *restrict eta = s->eta, *restrict y = m->y, *restrict wt = m->wt;
    double *restrict mu = s->mu;
    /* rows of another weight: log1p(e) of each row of a block of LOG_CHUNK rows in one vector
     * pass (log1p_rows) before the block's rows are summed, in the rows' order as before */
    double l1p[LOG_CHUNK];
    int weighted = logit && m->wt_other;
    if (logit) exp_neg_rows(eta, mu, n);       /* e = exp(-|eta|) into mu */
    for (Py_ssize_t blk = 0; blk < n; blk += LOG_CHUNK) {
        Py_ssize_t bend = blk + LOG_CHUNK < n ? blk + LOG_CHUNK : n;
        i = blk;
        if (weighted && m->wt_no_one && rows_in_range(eta + blk, bend - blk)) {
            logit_sums(bend - blk, eta + blk, mu + blk, y + blk, wt + blk, &lin, &lsum);
            continue;
        }
        if (weighted) log1p_rows(mu + blk, l1p, bend - blk);
        if (weighted && m->wt_no_one) {
            /* no row of weight 1: every in-range row is summed as the row that ends a run
             * below (the same operations in the same order), without the run's loop */
            for (; i < bend; i++) {
                double et = eta[i];
                if (fabs(et) <= THRESH) {
                    double e = mu[i], ope = 1.0 + e, yi = y[i], wi = wt[i];
                    mu[i] = et >= 0 ? 1.0 / ope : e / ope;
                    lin += wi * (et >= 0 ? (1 - yi) * et : -(yi * et));
                    lsum += wi * l1p[i - blk];
                } else {
                    double mi = linkinv(m, et);
                    mu[i] = mi;
                    if (!valid_mu(m, mi)) valid = 0;
                    if (m->has_kernel) kern += kernel(m, y[i], mi, wt[i]);
                    else dev += dev_resid(m, y[i], mi, wt[i]);
                }
            }
            continue;
        }
        while (i < bend) {
            if (logit) {
                /* a run of in-range rows of weight 1 up to the chunk's end, with no call in
                 * the loop (so its sums stay in registers); then the chunk's log */
                Py_ssize_t lim = i + (LOG_CHUNK - inchunk), i0 = i;
                double ln = lin, pr = prod;
                if (lim > bend) lim = bend;
                for (; i < lim; i++) {
                    double et = eta[i], e = mu[i], ope = 1.0 + e, yi = y[i];
                    if (!(fabs(et) <= THRESH) || wt[i] != 1.0) break;
                    mu[i] = et >= 0 ? 1.0 / ope : e / ope;
                    ln += (et >= 0 ? (1 - yi) * et : -(yi * et));
                    pr *= ope;
                }
                lin = ln;
                prod = pr;
                inchunk += (int)(i - i0);
                if (inchunk == LOG_CHUNK) {
                    lsum += log(prod);
                    prod = 1.0;
                    inchunk = 0;
                }
                if (i == lim) continue;
            }
            /* the row that ended the run: in range with another weight, or out of range */
            double et = eta[i];
            if (logit && fabs(et) <= THRESH) {
                double e = mu[i], ope = 1.0 + e, yi = y[i], wi = wt[i];
                mu[i] = et >= 0 ? 1.0 / ope : e / ope;
                lin += wi * (et >= 0 ? (1 - yi) * et : -(yi * et));
                lsum += wi * l1p[i - blk];
            } else {
                double mi = linkinv(m, et);
                mu[i] = mi;
                if (!valid_mu(m, mi)) valid = 0;
                if (m->has_kernel) kern += kernel(m, y[i], mi, wt[i]);
                else dev += dev_resid(m, y[i], mi, wt[i]);
            }
            i++;
        }
    }
    if (inchunk) lsum += log(prod);
    if (logit) kern += -lsum - lin;
    if (m->has_kernel) dev = 2.0 * (m->sat_sum - kern);
    s->dev = dev;
    s->ussq = ussq;
    s->kern = kern;
    s->pdev = dev + ussq;
    s->valid = valid;
}

/* ---- the blocked factor ------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t pp, r;            /* pp: X columns in the system (p or 0); r = q_rest + pp + 1 */
    double *A11, *L11, *W1, *Bz, *BXY, *P, *xy, *sol;
    double *G, *H, *gd, *bws;     /* workspaces: the Schur step's level block, evaluate's b */
    double *wrow, *zrow;          /* per row: IRLS weight, working response (less X beta) */
    double *PX;                   /* rows_scalar: Z_rest'W[X z] by rest row, XW columns */
    double *gd4;                  /* schur_block: SCHUR_BLOCK dense g and W_j g (zeros between uses) */
    unsigned char *xcols;         /* rows_scalar: per row, the count and list of [X z] columns
                                   * with a nonzero X (z last), XW + 1 bytes; NULL until formed */
    Py_ssize_t *R;
    double t2;                    /* a scalar first term's template squared (factor_ldl2) */
    double pwrss;
} Factor;

/* The next `len` doubles of a block being carved (pieces a whole number of 8 doubles apart) */
static double *carve(double **next, Py_ssize_t len)
{
    double *out = *next;
    *next += (len + 7) / 8 * 8;
    return out;
}

/* A factor's arrays, carved from one allocation (A11 at its start) in place of one
 * allocation each: a solve through `run` allocates its factors afresh. The zero-between-uses
 * workspaces (gd, gd4) start zeroed, the others are written before they are read. */
static int factor_alloc(const Model *m, Factor *f, int with_x)
{
    Py_ssize_t k1 = m->k[0], n1 = m->nl[0], kk = k1 * k1, pp, r, j;
    pp = f->pp = with_x ? m->p : 0;
    r = f->r = m->q_rest + pp + 1;
    Py_ssize_t maxm = 0;              /* the most Z_rest rows any first-term level meets */
    if (m->q_rest)
        for (j = 0; j < n1; j++) {
            Py_ssize_t mj = (Py_ssize_t)(m->lvl_ptr[j + 1] - m->lvl_ptr[j]);
            if (mj > maxm) maxm = mj;
        }
    Py_ssize_t mmax = maxm + pp + 1;
    Py_ssize_t rlen = (Py_ssize_t)((sizeof(Py_ssize_t) * mmax + sizeof(double) - 1) / sizeof(double));
    Py_ssize_t lens[17] = {n1 * kk, n1 * kk, n1 * kk, m->nnz * k1 + 1, n1 * k1 * (pp + 1),
                           r * r, pp + 1, r + m->q_tot + 1, mmax * k1, mmax * k1, rlen, r,
                           m->q_tot + 1, m->n + 1, m->n + 1, m->q_rest * XW + 1,
                           2 * SCHUR_BLOCK * r};
    size_t total = 0;
    for (j = 0; j < 17; j++) total += (size_t)((lens[j] + 7) / 8 * 8);
    double *next = (double *)malloc(sizeof(double) * total);
    f->xcols = NULL;
    if (!next) {
        f->A11 = NULL;
        return 0;
    }
    f->A11 = carve(&next, lens[0]);
    f->L11 = carve(&next, lens[1]);
    f->W1 = carve(&next, lens[2]);
    f->Bz = carve(&next, lens[3]);
    f->BXY = carve(&next, lens[4]);
    f->P = carve(&next, lens[5]);
    f->xy = carve(&next, lens[6]);
    f->sol = carve(&next, lens[7]);
    f->G = carve(&next, lens[8]);
    f->H = carve(&next, lens[9]);
    f->R = (Py_ssize_t *)carve(&next, lens[10]);
    f->gd = carve(&next, lens[11]);
    f->bws = carve(&next, lens[12]);
    f->wrow = carve(&next, lens[13]);
    f->zrow = carve(&next, lens[14]);
    f->PX = carve(&next, lens[15]);
    f->gd4 = carve(&next, lens[16]);
    memset(f->gd, 0, sizeof(double) * r);
    memset(f->gd4, 0, sizeof(double) * 2 * SCHUR_BLOCK * r);
    return 1;
}

/* releases the buffers and zeroes the struct (a freed factor is an unallocated one) */
static void factor_free(Factor *f)
{
    free(f->A11);                   /* the block every array was carved from */
    free(f->xcols);
    memset(f, 0, sizeof *f);
}

/* A factor's buffers for a model, kept from one solve to the next when the caller holds the
 * factor (the compiled loop: one allocation per loop call, not per solve). An unallocated
 * factor (zeroed) or one formed with the other X setting is allocated afresh; a kept one
 * gets its zero-between-uses workspaces zeroed again (a failed factorization may leave them
 * dirty), so a solve sees the same buffers' meaning as a fresh allocation. 0: out of memory. */
static int factor_ready(const Model *m, Factor *f, int with_x)
{
    if (f->A11 && f->pp == (with_x ? m->p : 0)) {
        memset(f->gd, 0, sizeof(double) * f->r);
        memset(f->gd4, 0, sizeof(double) * 2 * SCHUR_BLOCK * f->r);
        return 1;
    }
    if (f->A11) factor_free(f);
    if (factor_alloc(m, f, with_x)) return 1;
    factor_free(f);
    return 0;
}

/* sum_k a[k] b[k] over k < len, in four interleaved partial sums (a fixed order) */
static double dot(const double *a, const double *b, Py_ssize_t len)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    Py_ssize_t k = 0;
    for (; k + 4 <= len; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < len; k++) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

/* y[k] -= a x[k] for k < len */
static void sub_scaled(double *restrict y, const double *restrict x, double a, Py_ssize_t len)
{
    Py_ssize_t k = 0;
    for (; k + 4 <= len; k += 4) {
        y[k] -= a * x[k];
        y[k + 1] -= a * x[k + 1];
        y[k + 2] -= a * x[k + 2];
        y[k + 3] -= a * x[k + 3];
    }
    for (; k < len; k++) y[k] -= a * x[k];
}

/* in place lower Cholesky of an n x n row-major matrix (lower triangle read); 0 on success */
static int cholesky(double *A, Py_ssize_t n)
{
    Py_ssize_t i, j;
    for (j = 0; j < n; j++) {
        double *Lj = A + j * n;
        double d = Lj[j] - dot(Lj, Lj, j);
        if (!(d > 0)) return 1;
        d = sqrt(d);
        Lj[j] = d;
        for (i = j + 1; i < n; i++) {
            double *Li = A + i * n;
            Li[j] = (Li[j] - dot(Li, Lj, j)) / d;
        }
    }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) A[i * n + j] = 0.0;
    return 0;
}

#define MAX_LOCAL_X 16        /* X columns + 1 up to which the scalar row loop keeps sums local */

/* IRLS weight W and working response z - offset of row i at the state's mu */
static inline void irls_wz(const Model *m, const State *s, Py_ssize_t i, double *w, double *z)
{
    double eta = s->eta[i], mu = s->mu[i], me, W;
    if (m->canonical) {
        me = variance(m, mu);
        if (!(me >= EPS)) me = (me != me) ? me : EPS;     /* np.maximum keeps NaN */
        W = m->wt[i] * me;
    } else {
        me = mu_eta(m, eta);
        W = m->wt[i] * me * me / variance(m, mu);
    }
    *z = eta - m->off[i] + (m->y[i] - mu) / me;
    *w = W;
}

/* weights_rows's row of the canonical binomial (BINOM) or Poisson case: me = max(mu (1 - mu)
 * or mu, EPS) (a NaN kept, as np.maximum does: me < EPS is false for NaN), *w = wt me, and
 * the return value z = eta - off + (y - mu) / me */
static ALWAYS_INLINE double canonical_wz(double eta, double mu, double y, double wt, double off,
                                         double *w, const int BINOM)
{
    double me = BINOM ? mu * (1 - mu) : mu;
    me = pick(me < EPS, EPS, me);
    *w = wt * me;
    return eta - off + (y - mu) / me;
}

/* canonical_wz of every row into W, Z (less (X beta)_i when XB: the rounded z_i, then the
 * subtraction), in blocks of 4 rows (vector code) and the rest one by one */
static ALWAYS_INLINE void canonical_rows(Py_ssize_t n, const double *restrict eta,
                                         const double *restrict mu, const double *restrict y,
                                         const double *restrict wt, const double *restrict off,
                                         const double *restrict xb, double *restrict W,
                                         double *restrict Z, const int BINOM, const int XB)
{
    Py_ssize_t i = 0;
    int c;
    for (; i + 4 <= n; i += 4)
        for (c = 0; c < 4; c++) {
            double z = canonical_wz(eta[i + c], mu[i + c], y[i + c], wt[i + c], off[i + c],
                                    W + i + c, BINOM);
            Z[i + c] = XB ? z - xb[i + c] : z;
        }
    for (; i < n; i++) {
        double z = canonical_wz(eta[i], mu[i], y[i], wt[i], off[i], W + i, BINOM);
        Z[i] = XB ? z - xb[i] : z;
    }
}

/* IRLS weights W_i and working responses z_i - offset_i (less (X beta)_i when xb is given) of
 * every row into f->wrow, f->zrow: elementwise, so any loop order gives the same bits as
 * irls_wz row by row; the canonical binomial and Poisson cases without the family switch and
 * with (X beta)_i taken off in the same pass (canonical_rows) */
HOT_CLONES static void weights_rows(const Model *m, Factor *f, const State *s, const double *xb)
{
    Py_ssize_t n = m->n, i;
    double *restrict W = f->wrow, *restrict Z = f->zrow;
    if (m->canonical && (m->fam == F_BINOMIAL || m->fam == F_POISSON)) {
        const double *eta = s->eta, *mu = s->mu, *y = m->y, *wt = m->wt, *off = m->off;
        if (m->fam == F_BINOMIAL) {
            if (xb) canonical_rows(n, eta, mu, y, wt, off, xb, W, Z, 1, 1);
            else canonical_rows(n, eta, mu, y, wt, off, xb, W, Z, 1, 0);
        } else {
            if (xb) canonical_rows(n, eta, mu, y, wt, off, xb, W, Z, 0, 1);
            else canonical_rows(n, eta, mu, y, wt, off, xb, W, Z, 0, 0);
        }
        return;
    }
    for (i = 0; i < n; i++) irls_wz(m, s, i, W + i, Z + i);
    if (xb)
        for (i = 0; i < n; i++) Z[i] = Z[i] - xb[i];
}

/* The row loop of `factorize` when every term is scalar (k = 1) and [X z] has at most
 * MAX_LOCAL_X columns: `rows_local` specialised (the same products added to each sum in the
 * same row order, so the same bits), with the weights and working responses formed first in
 * one elementwise pass (`weights_rows`), and no per-row work for the working response
 * column beyond its products. */
static void rows_local(const Model *m, Factor *f, const State *s, const double *xb);

/* rows_scalar's loop with X in the system (PW = p columns, 1 <= PW < XW) and at most one
 * scalar rest term (S <= 1), for a compile-time PW (`rows_x_dense` instantiates it): every
 * product of the row's [X z], zeros of X included, in fixed-width loops without a branch
 * per column. This is the sum the sparse column lists of rows_scalar (and rows_local) stand
 * for: each of these sums starts at +0 and is never -0 (x + -x rounds to +0), so a product
 * of a zero of X, +-0 when its other factor is finite (a finite weight and working response,
 * and no X w_i overflowing), leaves it unchanged, and a non-finite weight or working
 * response takes every column there too. The same products added to each sum in the
 * same row order, so the same bits. Rows of the lower triangle run to an even length (pairs
 * for the compiler's vectorizer), [X z] zero-padded to XW: the extra products land in sums
 * above the diagonal or past [X z], which are never read. */
static ALWAYS_INLINE void rows_x_pw(const Model *m, Factor *f, const Py_ssize_t PW,
                                     const int ONES)
{
    const Py_ssize_t pp1 = PW + 1, pe = (pp1 + 1) & ~(Py_ssize_t)1;    /* pp1 <= pe <= XW */
    Py_ssize_t n = m->n, i, c, d, q = m->q_rest, r = f->r, jcur = -1;
    const double *restrict X = m->X, *restrict v1 = m->vals[0];
    const double *restrict W = f->wrow, *restrict Z = f->zrow;
    const double *restrict v2 = q ? m->vals[1] : NULL;
    const int64_t *restrict c1 = m->codes, *restrict c2 = q ? m->codes + n : NULL;
    const int64_t *restrict pos = m->slot_pos;
    double *restrict P = f->P, *restrict PX = f->PX, *restrict Bz = f->Bz;
    double *restrict A11 = f->A11, *restrict BXY = f->BXY;
    Py_ssize_t off2 = q ? m->roff[1] : 0;
    double accA = 0.0, accB[XW], accP[XW * XW], xy[XW], xw[XW];
    for (c = 0; c < XW; c++) {
        accB[c] = xy[c] = xw[c] = 0.0;
        for (d = 0; d < XW; d++) accP[c * XW + d] = 0.0;
    }
    for (i = 0; i < n; i++) {
        double w = W[i], v = ONES ? 1.0 : v1[i];      /* 1 v = v: the compiler drops it */
        const double *restrict x = X + i * PW;
        Py_ssize_t j = c1[i];
        if (j != jcur) {
            if (jcur >= 0) {
                A11[jcur] = accA;
                for (c = 0; c < pp1; c++) BXY[jcur * pp1 + c] = accB[c];
            }
            jcur = j;
            accA = A11[j];
            for (c = 0; c < pp1; c++) accB[c] = BXY[j * pp1 + c];
        }
        accA += w * (v * v);
#pragma GCC unroll 8
        for (c = 0; c < PW; c++) xy[c] = x[c];
        xy[PW] = Z[i];
#pragma GCC unroll 8
        for (c = 0; c < pe; c++) xw[c] = xy[c] * w;
#pragma GCC unroll 8
        for (c = 0; c < pe; c++) accB[c] += v * xw[c];
#pragma GCC unroll 8
        for (c = 0; c < pp1; c++) {
            double xc = xy[c];
#pragma GCC unroll 8
            for (d = 0; d < ((c + 2) & ~(Py_ssize_t)1); d++) accP[c * XW + d] += xc * xw[d];
        }
        if (!q) continue;
        double va = ONES ? 1.0 : v2[i];
        Py_ssize_t ra = off2 + c2[i];
        double *restrict PXa = PX + ra * XW;
        Bz[pos[i]] += w * (va * v);
        P[ra * r + ra] += w * (va * va);
#pragma GCC unroll 8
        for (c = 0; c < pe; c++) PXa[c] += va * xw[c];
    }
    if (jcur >= 0) {
        A11[jcur] = accA;
        for (c = 0; c < pp1; c++) BXY[jcur * pp1 + c] = accB[c];
    }
    for (c = 0; c < pp1; c++) {
        for (d = 0; d <= c; d++) P[(q + c) * r + q + d] = accP[c * XW + d];
        for (Py_ssize_t a = 0; a < q; a++) P[(q + c) * r + a] = PX[a * XW + c];
    }
}

/* rows_x_pw at the model's number of X columns (1 to XW - 1) */
HOT_CLONES static void rows_x_dense(const Model *m, Factor *f)
{
    if (m->ones[0] && (!m->q_rest || m->ones[1])) {
        switch (f->pp) {        /* intercept terms: rows_x_pw without the products by 1 */
        case 1: rows_x_pw(m, f, 1, 1); break;
        case 2: rows_x_pw(m, f, 2, 1); break;
        case 3: rows_x_pw(m, f, 3, 1); break;
        case 4: rows_x_pw(m, f, 4, 1); break;
        case 5: rows_x_pw(m, f, 5, 1); break;
        case 6: rows_x_pw(m, f, 6, 1); break;
        default: rows_x_pw(m, f, 7, 1); break;
        }
        return;
    }
    switch (f->pp) {
    case 1: rows_x_pw(m, f, 1, 0); break;
    case 2: rows_x_pw(m, f, 2, 0); break;
    case 3: rows_x_pw(m, f, 3, 0); break;
    case 4: rows_x_pw(m, f, 4, 0); break;
    case 5: rows_x_pw(m, f, 5, 0); break;
    case 6: rows_x_pw(m, f, 6, 0); break;
    default: rows_x_pw(m, f, 7, 0); break;
    }
}

/* rows_scalar's loop for two scalar terms and no X (S = 1, pp = 0), every index in a local;
 * ONES: both terms' values are 1 (m->ones), their products left out (1 x = x exactly) */
static ALWAYS_INLINE void rows_two(const Model *m, Factor *f, const int ONES)
{
    Py_ssize_t n = m->n, i, a, q = m->q_rest, r = f->r, jcur = -1;
    double *P = f->P, *PX = f->PX;
    const double *v1all = m->vals[0], *W = f->wrow, *Z = f->zrow;
    const int64_t *c1 = m->codes;
    /* two scalar terms and no X: the same products and sums, every index in a local */
    const double *restrict v2 = m->vals[1];
    const int64_t *restrict c2 = m->codes + n, *restrict pos = m->slot_pos;
    double *restrict Bz = f->Bz, a0 = 0.0, b0 = 0.0, p0 = 0.0;
    Py_ssize_t off2 = m->roff[1];
    for (i = 0; i < n; i++) {
        double w = W[i], zr = Z[i], zw = zr * w;
        double v = ONES ? 1.0 : v1all[i], va = ONES ? 1.0 : v2[i];   /* 1 x = x: dropped */
        Py_ssize_t j = c1[i], ra = off2 + c2[i];
        if (j != jcur) {
            if (jcur >= 0) {
                f->A11[jcur] = a0;
                f->BXY[jcur] = b0;
            }
            jcur = j;
            a0 = f->A11[j];
            b0 = f->BXY[j];
        }
        a0 += w * (v * v);
        b0 += v * zw;
        p0 += zr * zw;
        Bz[pos[i]] += w * (va * v);
        P[ra * r + ra] += w * (va * va);
        PX[ra * XW] += va * zw;
    }
    if (jcur >= 0) {
        f->A11[jcur] = a0;
        f->BXY[jcur] = b0;
    }
    P[q * r + q] = p0;
    for (a = 0; a < q; a++) P[q * r + a] = PX[a * XW];
}

HOT_CLONES static void rows_scalar(const Model *m, Factor *f, const State *s, const double *xb)
{
    Py_ssize_t n = m->n, i, a, c, d, q = m->q_rest, pp = f->pp, pp1 = pp + 1, r = f->r;
    Py_ssize_t S = m->S, jcur = -1;
    double *P = f->P, *PX = f->PX;
    const double *v1all = m->vals[0], *W = f->wrow, *Z = f->zrow;
    const int64_t *c1 = m->codes;
    /* [X z] of the row zero-padded to XW columns, and the sums over it: a zero of X adds +-0
     * to a sum that is +0 or nonzero (finite weights), so adding the products of X's zeros
     * changes no bit of the sums (rows_local skips them); the padding columns are not kept */
    double xy[XW], xw[XW], accA = 0.0, accB[XW], accP[XW * XW];
    Py_ssize_t rho_s[MAXT];
    double v_s[MAXT];
    weights_rows(m, f, s, xb);
    for (c = 0; c < XW; c++) {
        accB[c] = xy[c] = 0.0;
        for (d = 0; d < XW; d++) accP[c * XW + d] = 0.0;
    }
    memset(PX, 0, sizeof(double) * q * XW);
    if (pp && S <= 1) {
        rows_x_dense(m, f);
        return;
    }
    if (pp == 0 && S == 1) {
        if (m->ones[0] && m->ones[1])
            rows_two(m, f, 1);
        else
            rows_two(m, f, 0);
        return;
    }
    unsigned char allc[XW], *xcols = f->xcols;
    const unsigned char *cl = allc;
    Py_ssize_t nc = 1, e;
    for (c = 0; c < XW; c++) allc[c] = (unsigned char)c;
    if (pp && !xcols) {                 /* X's nonzero columns per row, once per factor */
        xcols = f->xcols = (unsigned char *)malloc((size_t)n * (XW + 1));
        if (!xcols) {
            rows_local(m, f, s, xb);
            return;
        }
        for (i = 0; i < n; i++) {
            unsigned char *xc = xcols + i * (XW + 1), k = 0;
            for (c = 0; c < pp; c++)
                if (m->X[i * pp + c] != 0.0) xc[1 + k++] = (unsigned char)c;
            xc[1 + k++] = (unsigned char)pp;
            xc[0] = k;
        }
    }
    for (i = 0; i < n; i++) {
        double w = W[i], zr = Z[i], v = v1all[i];
        Py_ssize_t j = c1[i];
        if (j != jcur) {
            if (jcur >= 0) {
                f->A11[jcur] = accA;
                for (c = 0; c < pp1; c++) f->BXY[jcur * pp1 + c] = accB[c];
            }
            jcur = j;
            accA = f->A11[j];
            for (c = 0; c < pp1; c++) accB[c] = f->BXY[j * pp1 + c];
        }
        accA += w * (v * v);
        if (pp == 0) {
            accB[0] += v * (zr * w);
            accP[0] += zr * (zr * w);
            xw[0] = zr * w;
        } else {
            /* the columns the row contributes to: with a finite weight and working response
             * the zeros of X add only +-0 (see rows_local); else every column */
            for (c = 0; c < pp; c++) xy[c] = m->X[i * pp + c];
            xy[pp] = zr;
            if (isfinite(w) && isfinite(zr)) {
                cl = xcols + i * (XW + 1) + 1;
                nc = cl[-1];
            } else {
                cl = allc;
                nc = pp1;
            }
            for (e = 0; e < nc; e++) {
                Py_ssize_t ce = cl[e], g;
                double xe = xy[ce], xwe = xe * w, *accr = accP + ce * XW;
                xw[e] = xwe;
                accB[ce] += v * xwe;
                for (g = 0; g <= e; g++) accr[cl[g]] += xe * xw[g];
            }
        }
        if (!q) continue;
        const int64_t *pos = m->slot_pos + i * S;
        if (S == 1) {               /* one rest term: the loops below with a = d = 0 */
            double va = m->vals[1][i];
            Py_ssize_t ra = m->roff[1] + m->codes[n + i];
            f->Bz[pos[0]] += w * (va * v);
            P[ra * r + ra] += w * (va * va);
            double *PXa = PX + ra * XW;
            if (pp == 0)
                PXa[0] += va * xw[0];
            else
                for (e = 0; e < nc; e++) PXa[cl[e]] += va * xw[e];
            continue;
        }
        for (a = 0; a < S; a++) {
            rho_s[a] = m->roff[a + 1] + m->codes[(a + 1) * n + i];
            v_s[a] = m->vals[a + 1][i];
        }
        for (a = 0; a < S; a++) {
            double va = v_s[a];
            Py_ssize_t ra = rho_s[a];
            f->Bz[pos[a]] += w * (va * v);
            double *Pra = P + ra * r;
            for (d = 0; d <= a; d++) Pra[rho_s[d]] += w * (va * v_s[d]);
            double *PXa = PX + ra * XW;
            if (pp == 0)
                PXa[0] += va * xw[0];
            else
                for (e = 0; e < nc; e++) PXa[cl[e]] += va * xw[e];
        }
    }
    if (jcur >= 0) {
        f->A11[jcur] = accA;
        for (c = 0; c < pp1; c++) f->BXY[jcur * pp1 + c] = accB[c];
    }
    for (c = 0; c < pp1; c++) {
        for (d = 0; d <= c; d++) P[(q + c) * r + q + d] = accP[c * XW + d];
        for (a = 0; a < q; a++) P[(q + c) * r + a] = PX[a * XW + c];
    }
}

/* The row loop of `factorize` when [X z] has at most MAX_LOCAL_X columns (k1 <= 8 always):
 * the same products, added to each sum in the same row order as the general loop (so the
 * same bits), but the sums of the current first-term level (its block of A11 and its rows of
 * B over [X z]) and of [X z]'W[X z] are held in locals, written back when the level changes,
 * instead of being read and written through memory at every row. The Z_rest columns of a
 * row come in increasing order (terms by offset, then coefficients), so the lower triangle of
 * their products is the pairs d <= a. */
static void rows_local(const Model *m, Factor *f, const State *s, const double *xb)
{
    Py_ssize_t n = m->n, i, a, b, c, d, t, q = m->q_rest, pp = f->pp, pp1 = pp + 1, r = f->r;
    Py_ssize_t S = m->S, nrest = m->nt - 1, k1 = m->k[0], kk = k1 * k1, kp = k1 * pp1;
    double *P = f->P;
    const double *v1all = m->vals[0];
    const int64_t *c1 = m->codes;
    double xy[MAX_LOCAL_X], accA[64], accB[8 * MAX_LOCAL_X], accP[MAX_LOCAL_X * MAX_LOCAL_X];
    Py_ssize_t rho_s[MAXT * 4], jcur = -1, cols[MAX_LOCAL_X], e;
    double v_s[MAXT * 4];
    int scalar_rest = 1;
    for (t = 1; t < m->nt; t++)
        if (m->k[t] != 1) scalar_rest = 0;
    for (c = 0; c < pp1; c++)
        for (d = 0; d <= c; d++) accP[c * MAX_LOCAL_X + d] = 0.0;
    for (i = 0; i < n; i++) {
        double w, z;
        irls_wz(m, s, i, &w, &z);
        for (c = 0; c < pp; c++) xy[c] = m->X[i * m->p + c];
        xy[pp] = xb ? z - xb[i] : z;
        /* the columns of [X z] this row contributes to: with a finite weight and working
         * response, a zero X entry adds only zeros (+-0 to a sum that is +0 or nonzero
         * leaves it unchanged), so skipping it changes no bit */
        Py_ssize_t nc = 0;
        if (pp == 0)
            cols[nc++] = 0;
        else if (isfinite(w) && isfinite(xy[pp])) {
            for (c = 0; c < pp; c++)
                if (xy[c] != 0.0) cols[nc++] = c;
            cols[nc++] = pp;
        } else
            for (c = 0; c < pp1; c++) cols[nc++] = c;
        Py_ssize_t j = c1[i];
        if (j != jcur) {              /* plain loops: a few values, no library call */
            if (jcur >= 0) {
                for (a = 0; a < kk; a++) f->A11[jcur * kk + a] = accA[a];
                for (a = 0; a < kp; a++) f->BXY[jcur * kp + a] = accB[a];
            }
            jcur = j;
            for (a = 0; a < kk; a++) accA[a] = f->A11[j * kk + a];
            for (a = 0; a < kp; a++) accB[a] = f->BXY[j * kp + a];
        }
        const double *v1 = v1all + i * k1;
        if (k1 == 1) {
            double v = v1[0];
            accA[0] += w * (v * v);
            if (nc == pp1)
                for (c = 0; c < pp1; c++) accB[c] += v * (xy[c] * w);
            else
                for (e = 0; e < nc; e++) accB[cols[e]] += v * (xy[cols[e]] * w);
        } else {
            for (a = 0; a < k1; a++)
                for (b = a; b < k1; b++) accA[a * k1 + b] += w * (v1[a] * v1[b]);
            if (nc == pp1)
                for (b = 0; b < k1; b++)
                    for (c = 0; c < pp1; c++) accB[b * pp1 + c] += v1[b] * (xy[c] * w);
            else
                for (b = 0; b < k1; b++)
                    for (e = 0; e < nc; e++)
                        accB[b * pp1 + cols[e]] += v1[b] * (xy[cols[e]] * w);
        }
        if (q) {
            const int64_t *pos = m->slot_pos + i * S;
            if (scalar_rest) {
                for (t = 0; t < nrest; t++) {
                    rho_s[t] = m->roff[t + 1] + m->codes[(t + 1) * n + i];
                    v_s[t] = m->vals[t + 1][i];
                }
            } else {
                Py_ssize_t sidx = 0;
                for (t = 1; t < m->nt; t++) {
                    Py_ssize_t kt = m->k[t], code = m->codes[t * n + i];
                    for (a = 0; a < kt; a++, sidx++) {
                        rho_s[sidx] = m->roff[t] + code * kt + a;
                        v_s[sidx] = m->vals[t][i * kt + a];
                    }
                }
            }
            for (a = 0; a < S; a++) {
                double va = v_s[a];
                Py_ssize_t ra = rho_s[a];
                double *Bzr = f->Bz + pos[a] * k1;
                for (b = 0; b < k1; b++) Bzr[b] += w * (va * v1[b]);
                double *Pra = P + ra * r;
                for (d = 0; d <= a; d++) Pra[rho_s[d]] += w * (va * v_s[d]);
                if (nc == pp1)
                    for (c = 0; c < pp1; c++) P[(q + c) * r + ra] += va * (xy[c] * w);
                else
                    for (e = 0; e < nc; e++) P[(q + cols[e]) * r + ra] += va * (xy[cols[e]] * w);
            }
        }
        if (nc == pp1) {
            for (c = 0; c < pp1; c++)
                for (d = 0; d <= c; d++) accP[c * MAX_LOCAL_X + d] += xy[c] * (xy[d] * w);
            continue;
        }
        for (e = 0; e < nc; e++) {
            Py_ssize_t ce = cols[e], g;
            double *accr = accP + ce * MAX_LOCAL_X;
            for (g = 0; g <= e; g++) accr[cols[g]] += xy[ce] * (xy[cols[g]] * w);
        }
    }
    if (jcur >= 0) {
        memcpy(f->A11 + jcur * kk, accA, sizeof(double) * kk);
        memcpy(f->BXY + jcur * kp, accB, sizeof(double) * kp);
    }
    for (c = 0; c < pp1; c++)
        for (d = 0; d <= c; d++) P[(q + c) * r + q + d] = accP[c * MAX_LOCAL_X + d];
}

/* The dense level of a scalar first term (k1 = 1) whose B rows (Z_rest rows R_j, then the
 * X, z rows) meet most rows up to their last: 1 when `schur_block` may take it. */
static int dense_level(const Model *m, Py_ssize_t j)
{
    Py_ssize_t e0 = (Py_ssize_t)m->lvl_ptr[j], mj = (Py_ssize_t)m->lvl_ptr[j + 1] - e0;
    return mj > 0 && m->rho[e0 + mj - 1] + 1 <= 2 * mj;
}

/* Row a of the Schur step for a full block (SCHUR_BLOCK levels): P_ab -= h_k[a] g_k[b] for
 * b <= a, the levels k in order for every element (the level-by-level operations; a row
 * whose h_k[a] are all zero is left as it is, as before). Four
 * elements per pass, each with its own chain, written out for the compiler's vectorizer
 * (SLP); the levels' h_k[a] held in registers. */
static ALWAYS_INLINE void schur_row(double *restrict Pa, const double *restrict gd,
                                    const double *restrict hd, Py_ssize_t r, Py_ssize_t a)
{
    double h[SCHUR_BLOCK];
    Py_ssize_t b, k;
UNROLL
    for (k = 0; k < SCHUR_BLOCK; k++) h[k] = hd[k * r + a];
    int any = 0;
UNROLL
    for (k = 0; k < SCHUR_BLOCK; k++) any |= h[k] != 0.0;
    if (!any) return;                   /* a row no level meets: left as it is */
    for (b = 0; b + 3 <= a; b += 4) {
        double p0 = Pa[b], p1 = Pa[b + 1], p2 = Pa[b + 2], p3 = Pa[b + 3];
UNROLL
        for (k = 0; k < SCHUR_BLOCK; k++) {
            const double *g = gd + k * r + b;
            p0 = p0 - h[k] * g[0];
            p1 = p1 - h[k] * g[1];
            p2 = p2 - h[k] * g[2];
            p3 = p3 - h[k] * g[3];
        }
        Pa[b] = p0;
        Pa[b + 1] = p1;
        Pa[b + 2] = p2;
        Pa[b + 3] = p3;
    }
    for (; b <= a; b++) {
        double p0 = Pa[b];
UNROLL
        for (k = 0; k < SCHUR_BLOCK; k++) p0 = p0 - h[k] * gd[k * r + b];
        Pa[b] = p0;
    }
}

/* P -= sum_{j in [j0, j0 + nb)} w_j g_j g_j' (lower triangle) for nb <= SCHUR_BLOCK dense
 * levels of a scalar first term, g_j = B's column of level j (Bz over R_j, then BXY), w_j =
 * W1_j: each element of P gets the levels' products subtracted in level order, as the
 * level-by-level loop does (a row a level does not meet gets -0 g_j[b] = +-0, which changes
 * no finite value), but P is read and written once per block instead of once per level.
 * Returns 0 (nothing done) when a g_j or w_j is not finite: the caller takes the levels one
 * by one, so non-finite values propagate as they always did. */
HOT_CLONES static int schur_block(const Model *m, Factor *f, Py_ssize_t j0, Py_ssize_t nb)
{
    Py_ssize_t r = f->r, q = m->q_rest, pp1 = f->pp + 1, a, b, k, e;
    double *gd = f->gd4, *hd = f->gd4 + SCHUR_BLOCK * r, *P = f->P;
    int ok = 1;
    for (k = 0; k < nb; k++) {
        Py_ssize_t j = j0 + k, e0 = (Py_ssize_t)m->lvl_ptr[j], e1 = (Py_ssize_t)m->lvl_ptr[j + 1];
        double wj = f->W1[j], *g = gd + k * r, *h = hd + k * r;
        if (!isfinite(wj)) ok = 0;
        if (e1 - e0 == q && m->rho[e0] == 0 && m->rho[e1 - 1] == q - 1) {
            /* the level meets every Z_rest row (rho ascending: rho[e0 + a] = a): the same
             * copies and products without the index, non-finite values found by their
             * exponent bits (all ones), so the loop vectorizes */
            const double *restrict Bz = f->Bz + e0;
            uint64_t bad = 0;
            for (a = 0; a < q; a++) {
                double v = Bz[a];
                uint64_t bits;
                memcpy(&bits, &v, sizeof bits);
                bad |= (bits & UINT64_C(0x7ff0000000000000)) == UINT64_C(0x7ff0000000000000);
                g[a] = v;
                h[a] = v * wj;
            }
            if (bad) ok = 0;
            e1 = e0;                            /* the general loop below is skipped */
        }
        for (e = e0; e < e1; e++) {
            double v = f->Bz[e];
            if (!isfinite(v)) ok = 0;
            g[m->rho[e]] = v;
            h[m->rho[e]] = v * wj;
        }
        for (b = 0; b < pp1; b++) {
            double v = f->BXY[j * pp1 + b];
            if (!isfinite(v)) ok = 0;
            g[q + b] = v;
            h[q + b] = v * wj;
        }
    }
    if (ok)
        for (a = 0; a < r; a++) {
            double *Pa = P + a * r;
            if (nb == SCHUR_BLOCK) {
                schur_row(Pa, gd, hd, r, a);
                continue;
            }
            for (k = 0; k < nb; k++) {
                double hk = hd[k * r + a];
                if (hk != 0.0) sub_scaled(Pa, gd + k * r, hk, a + 1);
            }
        }
    memset(gd, 0, sizeof(double) * 2 * SCHUR_BLOCK * r);
    return ok;
}

/* One scalar term's rows for `factor_one` with PP1 = pp + 1 columns of [X z] known to the
 * compiler (the loops over them unrolled, the sums held in registers): for the current level
 * A_j += w v^2 and B_j += v [x z] w, and [X z]'W[X z] (lower, accS row-major PP1 x PP1) --
 * the products and sums of rows_scalar in the same row order. rows_scalar skips the zeros
 * of X in rows with a finite weight and working response; with X finite (the model frame
 * refuses +-Inf in X) their products are +-0, added to sums that are +0 or nonzero, which
 * changes no bit, so every column is taken here. ONES: the term's values are all 1
 * (m->ones), so v v = 1, w 1 = w and 1 x = x exactly: those products are left out. */
static ALWAYS_INLINE void
one_rows(const Model *m, Factor *f, double *restrict accS, const Py_ssize_t PP1, const int ONES)
{
    Py_ssize_t n = m->n, i, j, c, d, jcur = -1, pp = PP1 - 1;
    const double *restrict W = f->wrow, *restrict Z = f->zrow, *restrict v1 = m->vals[0];
    const double *restrict X = m->X;
    const int64_t *restrict c1 = m->codes;
    double *restrict A11 = f->A11, *restrict BXY = f->BXY;
    double accA = 0.0, accB[XW], acc[XW * XW];
UNROLL
    for (c = 0; c < PP1; c++) accB[c] = 0.0;
UNROLL
    for (c = 0; c < PP1 * PP1; c++) acc[c] = 0.0;
    for (i = 0; i < n; i++) {
        double w = W[i], v = ONES ? 1.0 : v1[i], xy[XW], xw[XW];
        j = c1[i];
        if (j != jcur) {
            if (jcur >= 0) {
                A11[jcur] = accA;
UNROLL
                for (c = 0; c < PP1; c++) BXY[jcur * PP1 + c] = accB[c];
            }
            jcur = j;
            accA = A11[j];
UNROLL
            for (c = 0; c < PP1; c++) accB[c] = BXY[j * PP1 + c];
        }
        accA += ONES ? w : w * (v * v);
UNROLL
        for (c = 0; c < pp; c++) xy[c] = X[i * pp + c];
        xy[pp] = Z[i];
UNROLL
        for (c = 0; c < PP1; c++) {
            xw[c] = xy[c] * w;
            accB[c] += ONES ? xw[c] : v * xw[c];
UNROLL
            for (d = 0; d <= c; d++) acc[c * PP1 + d] += xy[c] * xw[d];
        }
    }
    if (jcur >= 0) {
        A11[jcur] = accA;
UNROLL
        for (c = 0; c < PP1; c++) BXY[jcur * PP1 + c] = accB[c];
    }
UNROLL
    for (c = 0; c < PP1 * PP1; c++) accS[c] = acc[c];
}

/* m_j = t2 A_j + 1, L_j = sqrt(m_j), W_j = t2 / m_j for j < n1: elementwise, in blocks of 4
 * (vector code) and the rest one by one */
static ALWAYS_INLINE void one_levels(Py_ssize_t n1, double t2, const double *restrict A,
                                     double *restrict L, double *restrict W)
{
    Py_ssize_t j = 0;
    int c;
    for (; j + 4 <= n1; j += 4)
        for (c = 0; c < 4; c++) {
            double mm = t2 * A[j + c] + 1.0;
            L[j + c] = sqrt(mm);
            W[j + c] = t2 / mm;
        }
    for (; j < n1; j++) {
        double mm = t2 * A[j] + 1.0;
        L[j] = sqrt(mm);
        W[j] = t2 / mm;
    }
}

/* factor_one's dense part for a compile-time PP1: the rows (one_rows), then per level
 * m_j = t^2 A_j + 1, L11_j = sqrt(m_j), W1_j = t^2 / m_j (elementwise over the levels, in
 * blocks of 4: vector code), then S = [X z]'W[X z] less W1_j g_j g_j' level by level in
 * level order (g_j = B_j; lower triangle, S_ae -= (g_a W1_j) g_e), its sums held in
 * registers, into the lower triangle of P (r = PP1 columns) */
static ALWAYS_INLINE void one_dense(const Model *m, Factor *f, double t2, const Py_ssize_t PP1,
                                    const int ONES)
{
    Py_ssize_t n1 = m->nl[0], r = f->r, j = 0, a, e;
    double S[XW * XW];
    double *restrict A11 = f->A11, *restrict L11 = f->L11, *restrict W1 = f->W1, *P = f->P;
    const double *restrict BXY = f->BXY;
    one_rows(m, f, S, PP1, ONES);
    one_levels(n1, t2, A11, L11, W1);
    for (j = 0; j < n1; j++) {
        double wj = W1[j];
        const double *g = BXY + j * PP1;
UNROLL
        for (a = 0; a < PP1; a++) {
            double ha = g[a] * wj;
UNROLL
            for (e = 0; e <= a; e++) S[a * PP1 + e] -= ha * g[e];
        }
    }
UNROLL
    for (a = 0; a < PP1; a++)
UNROLL
        for (e = 0; e <= a; e++) P[a * r + e] = S[a * PP1 + e];
}

/* one_dense at the model's PP1 (1 to XW) and ONES */
#define ONE_DENSE_CASES(ONES)                                                                \
    switch (pp1) {                                                                          \
    case 1: one_dense(m, f, t2, 1, ONES); break;                                             \
    case 2: one_dense(m, f, t2, 2, ONES); break;                                             \
    case 3: one_dense(m, f, t2, 3, ONES); break;                                             \
    case 4: one_dense(m, f, t2, 4, ONES); break;                                             \
    case 5: one_dense(m, f, t2, 5, ONES); break;                                             \
    case 6: one_dense(m, f, t2, 6, ONES); break;                                             \
    case 7: one_dense(m, f, t2, 7, ONES); break;                                             \
    default: one_dense(m, f, t2, XW, ONES); break;          /* pp1 == XW */                  \
    }

/* `factorize` for a model with one scalar term (Z Lambda = t Z, no Z_rest; pp + 1 <= XW):
 * per level m_j = t^2 A_j + 1, L11_j = sqrt(m_j), W1_j = t^2 / m_j, and the dense factor of
 * [X z]'W[X z] - sum_j W1_j g_j g_j' (g_j = B_j over [X z], the levels in order). The same
 * operations in the same order as the general path (rows_scalar, the level loop, the level
 * by level rank-one updates of the Schur complement, the Cholesky), so the same bits,
 * without its per-level block gathering and index arithmetic; the upper triangle of P is
 * left to `cholesky`, which reads the lower one and zeroes the upper. */
HOT_CLONES static int factor_one(const Model *m, Factor *f, const State *s, const double *xb)
{
    Py_ssize_t n1 = m->nl[0], pp1 = f->pp + 1, r = f->r;
    double *P = f->P;
    memset(f->A11, 0, sizeof(double) * n1);
    memset(f->BXY, 0, sizeof(double) * n1 * pp1);
    weights_rows(m, f, s, xb);
    double t2 = m->T[0][0] * m->T[0][0];
    f->t2 = t2;
    if (m->ones[0]) {
        ONE_DENSE_CASES(1)
    } else {
        ONE_DENSE_CASES(0)
    }
    if (cholesky(P, r)) return ST_NOTPD;
    f->pwrss = P[(r - 1) * r + r - 1] * P[(r - 1) * r + r - 1];
    return ST_OK;
}

/* The factor of Lambda'[Z X z]'W[Z X z]Lambda + I at the state's IRLS weights (X only with
 * with_x; z the working response, minus X beta without X). Returns ST_OK or ST_NOTPD. */
HOT_CLONES static int factorize(const Model *m, Factor *f, const State *s, const double *xb)
{
    if (m->nt == 1 && m->k[0] == 1 && f->pp + 1 <= XW)
        return factor_one(m, f, s, xb);
    Py_ssize_t n = m->n, i, j, a, b, c, d, t;
    Py_ssize_t k1 = m->k[0], n1 = m->nl[0], kk = k1 * k1, q = m->q_rest, pp = f->pp;
    Py_ssize_t pp1 = pp + 1, r = f->r, S = m->S;
    double *P = f->P, *xy = f->xy;
    Py_ssize_t rho_s[MAXT * 4];
    double v_s[MAXT * 4];
    memset(f->A11, 0, sizeof(double) * n1 * kk);
    memset(f->Bz, 0, sizeof(double) * (m->nnz * k1 + 1));
    memset(f->BXY, 0, sizeof(double) * n1 * k1 * pp1);
    memset(P, 0, sizeof(double) * r * r);
    const double *v1all = m->vals[0];
    int all_scalar = k1 == 1;
    for (t = 1; t < m->nt; t++)
        if (m->k[t] != 1) all_scalar = 0;
    if (all_scalar && pp1 <= XW) {
        rows_scalar(m, f, s, xb);
        i = n;
    } else if (k1 <= 8 && pp1 <= MAX_LOCAL_X) {
        rows_local(m, f, s, xb);
        i = n;                                  /* the general loop below is skipped */
    } else
        i = 0;
    for (; i < n; i++) {
        double w, z;
        irls_wz(m, s, i, &w, &z);
        for (c = 0; c < pp; c++) xy[c] = m->X[i * m->p + c];
        xy[pp] = xb ? z - xb[i] : z;
        j = m->codes[i];
        const double *v1 = v1all + i * k1;
        double *A = f->A11 + j * kk;
        for (a = 0; a < k1; a++)
            for (b = a; b < k1; b++) A[a * k1 + b] += w * (v1[a] * v1[b]);
        double *BX = f->BXY + j * k1 * pp1;
        for (b = 0; b < k1; b++)
            for (c = 0; c < pp1; c++) BX[b * pp1 + c] += v1[b] * (xy[c] * w);
        if (q) {
            Py_ssize_t sidx = 0;
            for (t = 1; t < m->nt; t++) {
                Py_ssize_t kt = m->k[t], code = m->codes[t * n + i];
                for (a = 0; a < kt; a++, sidx++) {
                    rho_s[sidx] = m->roff[t] + code * kt + a;
                    v_s[sidx] = m->vals[t][i * kt + a];
                }
            }
            const int64_t *pos = m->slot_pos + i * S;
            for (a = 0; a < S; a++) {
                double *Bzr = f->Bz + pos[a] * k1;
                for (b = 0; b < k1; b++) Bzr[b] += w * (v_s[a] * v1[b]);
                for (d = 0; d < S; d++)
                    if (rho_s[d] <= rho_s[a]) P[rho_s[a] * r + rho_s[d]] += w * (v_s[a] * v_s[d]);
                for (c = 0; c < pp1; c++) P[(q + c) * r + rho_s[a]] += v_s[a] * (xy[c] * w);
            }
        }
        for (c = 0; c < pp1; c++)
            for (d = 0; d <= c; d++) P[(q + c) * r + q + d] += xy[c] * (xy[d] * w);
    }
    /* first term: M_j = T1'A_j T1 + I, its factor, W_j = T1 M_j^-1 T1', log|L11|^2 */
    const double *T1 = m->T[0];
    if (k1 == 1) {
        double t2 = T1[0] * T1[0];
        f->t2 = t2;
        for (j = 0; j < n1; j++) {
            double mm = t2 * f->A11[j] + 1.0;
            f->L11[j] = sqrt(mm);
            f->W1[j] = t2 / mm;
        }
    } else {
        double M[64], Minv[64], TM[64], U[512];
        if (k1 > 8) return ST_FAIL;
        for (j = 0; j < n1; j++) {
            double *A = f->A11 + j * kk, *L = f->L11 + j * kk;
            for (a = 0; a < k1; a++)
                for (b = 0; b < a; b++) A[a * k1 + b] = A[b * k1 + a];
            /* U[a][b][c] = T1[b, a] A[b, c], the left products, formed once for every d */
            for (a = 0; a < k1; a++)
                for (b = 0; b < k1; b++)
                    for (c = 0; c < k1; c++)
                        U[(a * k1 + b) * k1 + c] = T1[b * k1 + a] * A[b * k1 + c];
            for (a = 0; a < k1; a++)
                for (d = 0; d < k1; d++) {
                    double acc = 0.0;
                    const double *Ua = U + a * kk;
                    for (b = 0; b < k1; b++)
                        for (c = 0; c < k1; c++) acc += Ua[b * k1 + c] * T1[c * k1 + d];
                    M[a * k1 + d] = acc + (a == d ? 1.0 : 0.0);
                }
            memcpy(L, M, sizeof(double) * kk);
            if (cholesky(L, k1)) return ST_NOTPD;
            /* M^-1 column by column from L L' x = e_c */
            for (c = 0; c < k1; c++) {
                double x[8];
                for (a = 0; a < k1; a++) {
                    double acc = (a == c) ? 1.0 : 0.0;
                    for (b = 0; b < a; b++) acc -= L[a * k1 + b] * x[b];
                    x[a] = acc / L[a * k1 + a];
                }
                for (a = k1 - 1; a >= 0; a--) {
                    double acc = x[a];
                    for (b = a + 1; b < k1; b++) acc -= L[b * k1 + a] * x[b];
                    x[a] = acc / L[a * k1 + a];
                }
                for (a = 0; a < k1; a++) Minv[a * k1 + c] = x[a];
            }
            for (a = 0; a < k1; a++)
                for (c = 0; c < k1; c++) {
                    double acc = 0.0;
                    for (b = 0; b < k1; b++) acc += T1[a * k1 + b] * Minv[b * k1 + c];
                    TM[a * k1 + c] = acc;
                }
            double *Wj = f->W1 + j * kk;
            for (a = 0; a < k1; a++)
                for (d = 0; d < k1; d++) {
                    double acc = 0.0;
                    for (c = 0; c < k1; c++) acc += TM[a * k1 + c] * T1[d * k1 + c];
                    Wj[a * k1 + d] = acc;
                }
        }
    }
    /* P -= B W B' (lower triangle), level by level over B's nonzero rows */
    {
        double *G = f->G, *H = f->H, *gd = f->gd;      /* gd: zeros between uses */
        Py_ssize_t *R = f->R, jdense = 0;     /* levels below jdense: done by schur_block */
        for (j = 0; j < n1; j++) {
            Py_ssize_t mj = 0, e0 = 0, e;
            if (k1 == 1 && q && j >= jdense) {
                Py_ssize_t nb = 0;
                while (nb < SCHUR_BLOCK && j + nb < n1 && dense_level(m, j + nb)) nb++;
                if (nb > 1 && schur_block(m, f, j, nb)) {
                    jdense = j + nb;
                    j = jdense - 1;
                    continue;
                }
                jdense = j + (nb > 1 ? nb : 1);     /* these levels go one by one */
            }
            if (q) {
                e0 = (Py_ssize_t)m->lvl_ptr[j];
                mj = (Py_ssize_t)m->lvl_ptr[j + 1] - e0;
            }
            for (e = 0; e < mj; e++) {
                R[e] = (Py_ssize_t)m->rho[e0 + e];
                for (b = 0; b < k1; b++) G[e * k1 + b] = f->Bz[(e0 + e) * k1 + b];
            }
            for (c = 0; c < pp1; c++) {
                R[mj + c] = q + c;
                for (b = 0; b < k1; b++) G[(mj + c) * k1 + b] = f->BXY[(j * k1 + b) * pp1 + c];
            }
            Py_ssize_t mt = mj + pp1;
            const double *Wj = f->W1 + j * kk;
            if (k1 == 1) {
                /* rank-one update W_j g g' (lower): sparse Z_rest rows, then the dense X, z rows */
                double wj = Wj[0];
                if (mj > 0 && R[mj - 1] + 1 <= 2 * mj) {
                    /* the level meets most Z_rest rows up to its last: the same updates
                     * through a dense copy of g (zeros elsewhere), contiguous in each row */
                    for (e = 0; e < mt; e++) gd[R[e]] = G[e];
                    for (a = 0; a < mt; a++) sub_scaled(P + R[a] * r, gd, G[a] * wj, R[a] + 1);
                    for (e = 0; e < mt; e++) gd[R[e]] = 0.0;
                    continue;
                }
                for (a = 0; a < mt; a++) {
                    double ha = G[a] * wj, *Prow = P + R[a] * r;
                    Py_ssize_t top = a < mj ? a + 1 : mj;
                    for (e = 0; e < top; e++) Prow[R[e]] -= ha * G[e];
                    if (a >= mj) {
                        double *Pd = Prow + q;
                        const double *Gd = G + mj;
                        for (e = 0; e <= a - mj; e++) Pd[e] -= ha * Gd[e];
                    }
                }
                continue;
            }
            for (e = 0; e < mt; e++)
                for (b = 0; b < k1; b++) {
                    double acc = 0.0;
                    for (c = 0; c < k1; c++) acc += G[e * k1 + c] * Wj[c * k1 + b];
                    H[e * k1 + b] = acc;
                }
            for (a = 0; a < mt; a++) {
                double *Prow = P + R[a] * r;
                for (e = 0; e <= a; e++) {
                    double acc = 0.0;
                    for (b = 0; b < k1; b++) acc += H[a * k1 + b] * G[e * k1 + b];
                    Prow[R[e]] -= acc;
                }
            }
        }
    }
    int rest_scalar = 1;
    for (t = 1; t < m->nt; t++)
        if (m->k[t] != 1) rest_scalar = 0;
    if (rest_scalar && q) {
        /* scalar rest terms: Lambda_r is diagonal (s_a = the template of row a's term), and
         * the Cholesky reads only the lower triangle, so scale that in place, row by row:
         * P_ab s_b s_a for b < a, P_aa s_a s_a, P_ab s_b for X and z rows a >= q -- the
         * products in the order the general row-then-column passes below apply them (the
         * smaller index's factor first), so the same bits */
        double *sc = f->gd4;                /* zeros between uses; 2 SCHUR_BLOCK r >= q */
        for (t = 1; t < m->nt; t++) {
            Py_ssize_t l, off = m->roff[t];
            for (l = 0; l < m->nl[t]; l++) sc[off + l] = m->T[t][0];
        }
        for (a = 0; a < r; a++) {
            double *Pa = P + a * r;
            Py_ssize_t top = a < q ? a : q;
            if (a < q) {
                double sa = sc[a];
                for (b = 0; b < top; b++) Pa[b] = (Pa[b] * sc[b]) * sa;
                Pa[a] = (Pa[a] * sa) * sa;
            } else
                for (b = 0; b < top; b++) Pa[b] = Pa[b] * sc[b];
        }
        memset(sc, 0, sizeof(double) * q);
    } else
        for (a = 0; a < r; a++)
            for (b = a + 1; b < r; b++) P[a * r + b] = P[b * r + a];
    /* P <- Lambda_r' P Lambda_r on the rest rows and columns, + I on their diagonal */
    for (t = rest_scalar ? m->nt : 1; t < m->nt; t++) {
        Py_ssize_t kt = m->k[t], off = m->roff[t], l;
        const double *T = m->T[t];
        if (kt == 1) {
            double s0 = T[0];
            for (l = 0; l < m->nl[t]; l++) {
                Py_ssize_t row = off + l;
                for (b = 0; b < r; b++) P[row * r + b] *= s0;
                for (b = 0; b < r; b++) P[b * r + row] *= s0;
            }
            continue;
        }
        double tmp[8];
        if (kt > 8) return ST_FAIL;
        for (l = 0; l < m->nl[t]; l++) {
            Py_ssize_t row = off + l * kt;
            for (b = 0; b < r; b++) {            /* rows: new_a = sum_c T[c, a] old_c */
                for (a = 0; a < kt; a++) {
                    double acc = 0.0;
                    for (c = 0; c < kt; c++) acc += T[c * kt + a] * P[(row + c) * r + b];
                    tmp[a] = acc;
                }
                for (a = 0; a < kt; a++) P[(row + a) * r + b] = tmp[a];
            }
            for (b = 0; b < r; b++) {            /* columns likewise */
                double *Pb = P + b * r + row;
                for (a = 0; a < kt; a++) {
                    double acc = 0.0;
                    for (c = 0; c < kt; c++) acc += Pb[c] * T[c * kt + a];
                    tmp[a] = acc;
                }
                for (a = 0; a < kt; a++) Pb[a] = tmp[a];
            }
        }
    }
    for (a = 0; a < q; a++) P[a * r + a] += 1.0;
    if (cholesky(P, r)) return ST_NOTPD;
    f->pwrss = P[(r - 1) * r + r - 1] * P[(r - 1) * r + r - 1];
    return ST_OK;
}

/* log|L|^2 of a factor `factorize` formed (ST_OK): log|L11|^2 = sum_j log(t^2 A_j + 1) for
 * a scalar first term (the m_j whose square roots are L11), else sum_j sum_a 2 log L_j,aa;
 * plus 2 sum_a log P_aa over the Z_rest rows of the dense factor. The sums factorize's
 * loops once took, term by term in the same order (so the same bits), formed only for the
 * factor that is kept: a PIRLS solve factors at every iteration but reads the determinant
 * of its last factor alone. */
static double factor_ldl2(const Model *m, const Factor *f)
{
    Py_ssize_t k1 = m->k[0], n1 = m->nl[0], kk = k1 * k1, q = m->q_rest, r = f->r, j, a;
    double ld1 = 0.0;
    if (k1 == 1) {
        double t2 = f->t2;
        for (j = 0; j < n1; j++) ld1 += log(t2 * f->A11[j] + 1.0);
    } else
        for (j = 0; j < n1; j++) {
            const double *L = f->L11 + j * kk;
            for (a = 0; a < k1; a++) ld1 += 2.0 * log(L[a * k1 + a]);
        }
    if (!q) return ld1;
    double ldz = 0.0;
    for (a = 0; a < q; a++) ldz += log(f->P[a * r + a]);
    return ld1 + 2.0 * ldz;
}

/* solve_modes's u for one scalar term (no Z_rest): g_j = sum_c B_jc lam_c (from +0, c in
 * order), u_j = -(0 + g_j t1) / (L11_j L11_j); elementwise over the levels, in blocks of 4
 * (vector code) and the rest one by one */
static ALWAYS_INLINE void one_modes(Py_ssize_t n1, Py_ssize_t pp1, double t1,
                                    const double *restrict BXY, const double *restrict lam,
                                    const double *restrict L11, double *restrict u)
{
    Py_ssize_t j = 0, c;
    int k;
    for (; j + 4 <= n1; j += 4) {
        double g[4] = {0.0, 0.0, 0.0, 0.0};
        for (c = 0; c < pp1; c++)
            for (k = 0; k < 4; k++) g[k] += BXY[(j + k) * pp1 + c] * lam[c];
        for (k = 0; k < 4; k++) {
            double acc = 0.0;
            acc += g[k] * t1;
            u[j + k] = -acc / (L11[j + k] * L11[j + k]);
        }
    }
    for (; j < n1; j++) {
        double gj = 0.0, acc = 0.0;
        for (c = 0; c < pp1; c++) gj += BXY[j * pp1 + c] * lam[c];
        acc += gj * t1;
        u[j] = -acc / (L11[j] * L11[j]);
    }
}

/* beta (with X in the system) and u from the factor: L_xx' beta = l_yx,
 * L_zz' u_rest = l_yz - L_xz' beta, M_j u1_j = -T1' B_j' [b_rest; beta; -1] */
static void solve_modes(const Model *m, Factor *f, double *u, double *beta)
{
    Py_ssize_t q = m->q_rest, pp = f->pp, r = f->r, pp1 = pp + 1, i, k, t, a, b, c, j;
    Py_ssize_t k1 = m->k[0], n1 = m->nl[0];
    const double *L = f->P, *ly = f->P + (r - 1) * r;
    double *lam = f->sol;                   /* r: [b_rest; beta; -1] */
    for (i = pp - 1; i >= 0; i--) {
        double acc = ly[q + i];
        for (k = i + 1; k < pp; k++) acc -= L[(q + k) * r + q + i] * beta[k];
        beta[i] = acc / L[(q + i) * r + q + i];
    }
    double *ur = u + m->uoff[1 < m->nt ? 1 : 0];
    for (i = q - 1; i >= 0; i--) {
        double acc = ly[i];
        for (k = 0; k < pp; k++) acc -= L[(q + k) * r + i] * beta[k];
        for (k = i + 1; k < q; k++) acc -= L[k * r + i] * ur[k];
        ur[i] = acc / L[i * r + i];
    }
    for (t = 1; t < m->nt; t++) {
        Py_ssize_t kt = m->k[t], l;
        const double *T = m->T[t];
        const double *ut = ur + m->roff[t];
        for (l = 0; l < m->nl[t]; l++)
            for (a = 0; a < kt; a++) {
                double acc = 0.0;
                for (c = 0; c < kt; c++) acc += ut[l * kt + c] * T[a * kt + c];
                lam[m->roff[t] + l * kt + a] = acc;
            }
    }
    for (c = 0; c < pp; c++) lam[q + c] = beta[c];
    lam[q + pp] = -1.0;
    const double *T1 = m->T[0];
    double g[8], rhs[8];
    if (k1 == 1) {
        /* a scalar first term: the loop below with k1 = 1 written out (the same sums) */
        const double *restrict Bz = f->Bz, *restrict BXY = f->BXY, *restrict L11 = f->L11;
        const int64_t *restrict lp = m->lvl_ptr, *restrict rho = m->rho;
        double t1 = T1[0];
        if (!q) {
            one_modes(n1, pp1, t1, BXY, lam, L11, u);
            return;
        }
        for (j = 0; j < n1; j++) {
            double gj = 0.0, acc = 0.0;
            if (q)
                for (Py_ssize_t e = (Py_ssize_t)lp[j]; e < (Py_ssize_t)lp[j + 1]; e++)
                    gj += Bz[e] * lam[rho[e]];
            for (c = 0; c < pp1; c++) gj += BXY[j * pp1 + c] * lam[q + c];
            acc += gj * t1;
            u[j] = -acc / (L11[j] * L11[j]);
        }
        return;
    }
    for (j = 0; j < n1; j++) {
        for (b = 0; b < k1; b++) g[b] = 0.0;
        if (q) {
            Py_ssize_t e;
            for (e = (Py_ssize_t)m->lvl_ptr[j]; e < (Py_ssize_t)m->lvl_ptr[j + 1]; e++)
                for (b = 0; b < k1; b++) g[b] += f->Bz[e * k1 + b] * lam[m->rho[e]];
        }
        for (b = 0; b < k1; b++)
            for (c = 0; c < pp1; c++) g[b] += f->BXY[(j * k1 + b) * pp1 + c] * lam[q + c];
        for (a = 0; a < k1; a++) {
            double acc = 0.0;
            for (b = 0; b < k1; b++) acc += g[b] * T1[b * k1 + a];
            rhs[a] = -acc;
        }
        double *u1 = u + j * k1;
        if (k1 == 1) {
            u1[0] = rhs[0] / (f->L11[j] * f->L11[j]);
            continue;
        }
        const double *Lj = f->L11 + j * k1 * k1;
        for (a = 0; a < k1; a++) {
            double acc = rhs[a];
            for (b = 0; b < a; b++) acc -= Lj[a * k1 + b] * u1[b];
            u1[a] = acc / Lj[a * k1 + a];
        }
        for (a = k1 - 1; a >= 0; a--) {
            double acc = u1[a];
            for (b = a + 1; b < k1; b++) acc -= Lj[b * k1 + a] * u1[b];
            u1[a] = acc / Lj[a * k1 + a];
        }
    }
}

/* max over terms (and beta) of max|new - old| / (1 + max|new|) */
static double rel_change(const double *old, const double *nw, Py_ssize_t len)
{
    /* the maxima without a branch (vector code); a NaN anywhere gives NaN, as a NaN
     * difference or value propagates through the quotient */
    double dmax = 0.0, vmax = 0.0;
    int nan = 0;
    Py_ssize_t i;
    if (!len) return 0.0;
    for (i = 0; i < len; i++) {
        double d = fabs(nw[i] - old[i]), v = fabs(nw[i]);
        nan |= (d != d) | (v != v);
        dmax = d > dmax ? d : dmax;
        vmax = v > vmax ? v : vmax;
    }
    return nan ? NAN : dmax / (1.0 + vmax);
}

/* ---- buffers ----------------------------------------------------------------------------- */

/* buffers one call holds: the model's 10 + 2 per term (MAXT terms) and up to 32 more of the
 * call's own (state, outputs, the optimizer loop's arrays) */
#define MAXBUF (10 + 2 * MAXT + 32)

typedef struct {
    Py_buffer views[MAXBUF];
    int count;
} Buffers;

static void release_all(Buffers *bufs)
{
    for (int i = 0; i < bufs->count; i++) PyBuffer_Release(&bufs->views[i]);
    bufs->count = 0;
}

/* a C-contiguous buffer of `len` 8-byte items ('d' for doubles, an integer format else) */
static void *get_buf(Buffers *bufs, PyObject *obj, Py_ssize_t len, int is_double, int writable,
                     const char *what)
{
    Py_buffer *v;
    if (bufs->count >= MAXBUF) { PyErr_SetString(PyExc_RuntimeError, "too many buffers"); return NULL; }
    v = &bufs->views[bufs->count];
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT |
                                   (writable ? PyBUF_WRITABLE : 0)) < 0)
        return NULL;
    bufs->count++;
    const char *fmt = v->format ? v->format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    int ok_fmt = is_double ? strcmp(fmt, "d") == 0 : (strcmp(fmt, "l") == 0 || strcmp(fmt, "q") == 0);
    if (v->itemsize != 8 || !ok_fmt || (len >= 0 && v->len != len * 8)) {
        PyErr_Format(PyExc_ValueError, "pirls kernel: %s must hold %zd %s values", what, len,
                     is_double ? "float64" : "int64");
        return NULL;
    }
    return v->buf;
}

/* model = (ints, doubles, X, y, wt, offset, codes, values (tuple), slot_pos, lvl_ptr, rho)
 * ints = [family, link, canonical, has_kernel, n, p, nt, q_rest, S, nnz, k_0.., nl_0..]
 * doubles = [nb theta, saturated sum, probit threshold, cauchit threshold] */
static int parse_model(Buffers *bufs, PyObject *model, PyObject *templates, Model *m)
{
    if (!PyTuple_Check(model) || PyTuple_GET_SIZE(model) != 11) {
        PyErr_SetString(PyExc_TypeError, "pirls kernel: model must be an 11-tuple");
        return -1;
    }
    Py_buffer *iv = &bufs->views[bufs->count];
    const int64_t *ints = (const int64_t *)get_buf(bufs, PyTuple_GET_ITEM(model, 0), -1, 0, 0, "ints");
    if (!ints) return -1;
    Py_ssize_t nint = iv->len / 8;
    if (nint < 10) { PyErr_SetString(PyExc_ValueError, "pirls kernel: short ints"); return -1; }
    m->fam = (int)ints[0]; m->link = (int)ints[1]; m->canonical = (int)ints[2];
    m->has_kernel = (int)ints[3];
    m->n = ints[4]; m->p = ints[5]; m->nt = ints[6]; m->q_rest = ints[7]; m->S = ints[8];
    m->nnz = ints[9];
    if (m->nt < 1 || m->nt > MAXT || nint != 10 + 2 * m->nt || m->S > MAXT * 4) {
        PyErr_SetString(PyExc_ValueError, "pirls kernel: bad term count");
        return -1;
    }
    Py_ssize_t t;
    m->uoff[0] = 0;
    m->roff[0] = 0; m->roff[1] = 0;
    for (t = 0; t < m->nt; t++) {
        m->k[t] = ints[10 + t];
        m->nl[t] = ints[10 + m->nt + t];
        if (m->k[t] < 1 || m->k[t] > 8) {
            PyErr_SetString(PyExc_ValueError, "pirls kernel: terms of 1 to 8 columns only");
            return -1;
        }
        m->uoff[t + 1] = m->uoff[t] + m->k[t] * m->nl[t];
        if (t >= 1) m->roff[t + 1] = m->roff[t] + m->k[t] * m->nl[t];
    }
    /* roff[t] is term t's offset among the rest rows (t >= 1) */
    m->q_tot = m->uoff[m->nt];
    if (m->roff[m->nt] != m->q_rest) {
        PyErr_SetString(PyExc_ValueError, "pirls kernel: q_rest mismatch");
        return -1;
    }
    const double *dbl = (const double *)get_buf(bufs, PyTuple_GET_ITEM(model, 1), 4, 1, 0, "doubles");
    if (!dbl) return -1;
    m->nbth = dbl[0]; m->sat_sum = dbl[1]; m->probit_th = dbl[2]; m->cauchit_th = dbl[3];
    Py_ssize_t n = m->n;
    if (!(m->X = (const double *)get_buf(bufs, PyTuple_GET_ITEM(model, 2), n * m->p, 1, 0, "X"))) return -1;
    if (!(m->y = (const double *)get_buf(bufs, PyTuple_GET_ITEM(model, 3), n, 1, 0, "y"))) return -1;
    if (!(m->wt = (const double *)get_buf(bufs, PyTuple_GET_ITEM(model, 4), n, 1, 0, "wt"))) return -1;
    if (!(m->off = (const double *)get_buf(bufs, PyTuple_GET_ITEM(model, 5), n, 1, 0, "offset"))) return -1;
    if (!(m->codes = (const int64_t *)get_buf(bufs, PyTuple_GET_ITEM(model, 6), n * m->nt, 0, 0, "codes"))) return -1;
    PyObject *vals = PyTuple_GET_ITEM(model, 7);
    /* templates: a tuple or a list (the objective's cached per-theta list) */
    int tlist = PyList_Check(templates);
    if (!PyTuple_Check(vals) || PyTuple_GET_SIZE(vals) != m->nt ||
        !(tlist || PyTuple_Check(templates)) ||
        (tlist ? PyList_GET_SIZE(templates) : PyTuple_GET_SIZE(templates)) != m->nt) {
        PyErr_SetString(PyExc_TypeError, "pirls kernel: values and templates: one per term");
        return -1;
    }
    for (t = 0; t < m->nt; t++) {
        PyObject *Tt = tlist ? PyList_GET_ITEM(templates, t) : PyTuple_GET_ITEM(templates, t);
        if (!(m->vals[t] = (const double *)get_buf(bufs, PyTuple_GET_ITEM(vals, t), n * m->k[t], 1, 0, "values"))) return -1;
        if (!(m->T[t] = (const double *)get_buf(bufs, Tt, m->k[t] * m->k[t], 1, 0, "template"))) return -1;
    }
    m->wt_other = 0;
    m->wt_no_one = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (m->wt[i] != 1.0) m->wt_other = 1;
        else m->wt_no_one = 0;
    }
    /* a scalar term of values 1 (an intercept term): v x = x exactly for every double x, so
     * the row loops may leave its products out (the same bits) */
    for (t = 0; t < m->nt; t++) {
        int one = m->k[t] == 1;
        for (Py_ssize_t i = 0; one && i < n; i++) one = m->vals[t][i] == 1.0;
        m->ones[t] = one;
    }
    /* codes must lie in range (they index arrays) */
    for (t = 0; t < m->nt; t++)
        for (Py_ssize_t i = 0; i < n; i++)
            if (m->codes[t * n + i] < 0 || m->codes[t * n + i] >= m->nl[t]) {
                PyErr_SetString(PyExc_ValueError, "pirls kernel: grouping code out of range");
                return -1;
            }
    if (m->nt > 1) {
        if (!(m->slot_pos = (const int64_t *)get_buf(bufs, PyTuple_GET_ITEM(model, 8), n * m->S, 0, 0, "slot_pos"))) return -1;
        if (!(m->lvl_ptr = (const int64_t *)get_buf(bufs, PyTuple_GET_ITEM(model, 9), m->nl[0] + 1, 0, 0, "lvl_ptr"))) return -1;
        if (!(m->rho = (const int64_t *)get_buf(bufs, PyTuple_GET_ITEM(model, 10), m->nnz, 0, 0, "rho"))) return -1;
    } else {
        m->slot_pos = m->lvl_ptr = m->rho = NULL;
    }
    return 0;
}

/* a state's u, beta, eta and mu carved from one allocation (u at its start); 0: out of
 * memory (nothing allocated) */
static int state_alloc(const Model *m, State *s)
{
    size_t total = (size_t)((m->q_tot + 8) / 8 * 8 + (m->p + 8) / 8 * 8 + 2 * ((m->n + 8) / 8 * 8));
    double *next = (double *)malloc(sizeof(double) * total);
    s->u = s->beta = s->eta = s->mu = NULL;
    if (!next) return 0;
    s->u = carve(&next, m->q_tot + 1);
    s->beta = carve(&next, m->p + 1);
    s->eta = carve(&next, m->n + 1);
    s->mu = carve(&next, m->n + 1);
    return 1;
}

static void state_free(State *s) { free(s->u); }

/* the largest rel_change over the terms' u (and beta); NaN when any is NaN */
static double max_rel_change(const Model *m, const State *a, const State *b, int with_beta)
{
    double out = 0.0, v;
    for (Py_ssize_t t = 0; t < m->nt; t++) {
        v = rel_change(a->u + m->uoff[t], b->u + m->uoff[t], m->uoff[t + 1] - m->uoff[t]);
        if (v != v) return v;
        if (v > out) out = v;
    }
    if (with_beta) {
        v = rel_change(a->beta, b->beta, m->p);
        if (v != v) return v;
        if (v > out) out = v;
    }
    return out;
}

static void halve(const Model *m, const State *cur, State *nw, int with_beta)
{
    for (Py_ssize_t i = 0; i < m->q_tot; i++) nw->u[i] = (cur->u[i] + nw->u[i]) / 2;
    if (with_beta)
        for (Py_ssize_t i = 0; i < m->p; i++) nw->beta[i] = (cur->beta[i] + nw->beta[i]) / 2;
}

/* (X beta)_i = sum_c X_ic beta_c in column order, four rows at a time (four independent
 * sums in flight instead of one; each row's own sum unchanged) */
HOT_CLONES static void xbeta(const Model *m, const double *beta, double *xb)
{
    Py_ssize_t n = m->n, p = m->p, i = 0, c;
    const double *X = m->X;
    for (; i + 4 <= n; i += 4) {
        const double *x0 = X + i * p, *x1 = x0 + p, *x2 = x1 + p, *x3 = x2 + p;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        for (c = 0; c < p; c++) {
            double bc = beta[c];
            a0 += x0[c] * bc;
            a1 += x1[c] * bc;
            a2 += x2[c] * bc;
            a3 += x3[c] * bc;
        }
        xb[i] = a0;
        xb[i + 1] = a1;
        xb[i + 2] = a2;
        xb[i + 3] = a3;
    }
    for (; i < n; i++) {
        double acc = 0.0;
        for (c = 0; c < p; c++) acc += X[i * p + c] * beta[c];
        xb[i] = acc;
    }
}

/* mode 0: mixedfx's PIRLS (Pirls.run); mode 1: lme4's stage-2 devfun (Lme4Devfun) */
typedef struct {
    int mode, update_beta, stop_stag, iterations;
    Py_ssize_t maxit;
    double step_tol, tol, lag;
    double refactor_above;    /* mode 0: refactor at the mode when lag exceeds this */
    const double *mu0;        /* mode 1: g^-1(eta0) when the caller formed it (NULL: formed here) */
} RunOpts;

/* run_pirls's two iterates and X beta, kept by a caller that solves many times (the
 * compiled loop); zeroed = not yet allocated */
typedef struct {
    State s1, s2;
    double *xb;
} PirlsWork;

static void work_free(PirlsWork *w)
{
    state_free(&w->s1); state_free(&w->s2); free(w->xb);
    memset(w, 0, sizeof *w);
}

/* allocates an unallocated workspace; 0: out of memory (the workspace left unallocated) */
static int work_ready(const Model *m, PirlsWork *w)
{
    if (w->xb) return 1;
    memset(w, 0, sizeof *w);
    if (state_alloc(m, &w->s1) && state_alloc(m, &w->s2) &&
        (w->xb = (double *)malloc(sizeof(double) * (m->n + 1))))
        return 1;
    work_free(w);
    return 0;
}

/* PIRLS from (u0, beta0) (mode 1: from eta0) into out, the last factor in f. f: zeroed, or
 * a factor this model's solves keep (factor_ready); w: the caller's kept workspace, or NULL
 * (allocated and released here). The iterates' buffers hold no value from one solve to the
 * next: every entry is written before it is read. Mode 0 stops when a step is at most
 * step_tol (relative, max_rel_change): a solved step that small is not evaluated (its start
 * is the mode, f at its weights: lag 0), an evaluated one ends at its iterate (lag = step);
 * Pirls.run follows the same rule. */
static int run_pirls(const Model *m, const double *u0, const double *beta0, const double *eta0,
                     RunOpts *o, State *out, Factor *f, PirlsWork *w)
{
    PirlsWork own;
    memset(&own, 0, sizeof own);
    if (!w) w = &own;
    State *cur = &w->s1, *nw = &w->s2, *tmp;
    double *xb = NULL;
    int status = ST_OK, with_x = o->mode == 0 && o->update_beta;
    Py_ssize_t it;
    if (!work_ready(m, w) || !factor_ready(m, f, with_x)) {
        status = ST_NOMEM;
        goto done;
    }
    xb = w->xb;
    memcpy(cur->u, u0, sizeof(double) * m->q_tot);
    memcpy(cur->beta, beta0, sizeof(double) * m->p);
    double old;
    if (o->mode == 1) {
        /* lme4 restarts from the stage-1 linear predictor, whatever u it holds */
        xbeta(m, cur->beta, xb);
        memcpy(cur->eta, eta0, sizeof(double) * m->n);
        if (o->mu0)
            memcpy(cur->mu, o->mu0, sizeof(double) * m->n);
        else
            for (Py_ssize_t i = 0; i < m->n; i++) cur->mu[i] = linkinv(m, eta0[i]);
        old = DBL_MAX;
    } else {
        xbeta(m, cur->beta, xb);
        evaluate_ws(m, cur, xb, f->bws);
        old = isfinite(cur->pdev) ? cur->pdev : INFINITY;
    }
    o->iterations = 0;
    for (it = 1; it <= o->maxit; it++) {
        /* with X in the system the working response keeps X beta, and xb is formed at the
         * new beta below */
        int st = factorize(m, f, cur, with_x ? NULL : xb);
        if (st != ST_OK) { status = o->mode == 1 ? ST_FAIL : st; goto done; }
        solve_modes(m, f, nw->u, with_x ? nw->beta : f->sol + f->r);
        if (!with_x) memcpy(nw->beta, cur->beta, sizeof(double) * m->p);
        /* mode 0: Newton's step from cur is below the step tolerance, so cur is the mode
         * and f, formed at its weights, its factor (lag 0): the step is not evaluated */
        if (o->mode == 0 && isfinite(cur->pdev) && cur->valid &&
            max_rel_change(m, cur, nw, o->update_beta) <= o->step_tol) {
            o->lag = 0.0;
            goto finish_lagged;
        }
        if (with_x) xbeta(m, nw->beta, xb);
        evaluate_ws(m, nw, xb, f->bws);
        int k = 0;
        if (o->mode == 1) {
            while (!isfinite(nw->pdev) || nw->pdev > old) {
                if (++k > 20) {
                    /* an increase at rounding level: the previous iterate is the mode */
                    if (isfinite(nw->pdev) && nw->pdev - old <= ROUNDING_PDEV * fabs(old))
                        break;
                    status = ST_FAIL;
                    goto done;
                }
                halve(m, cur, nw, 0);
                evaluate_ws(m, nw, xb, f->bws);
            }
            int fin = fabs((old - nw->pdev) / nw->pdev) < o->tol;
            tmp = cur; cur = nw; nw = tmp;
            old = cur->pdev;
            if (fin) goto finish;
            continue;
        }
        while (!(isfinite(nw->pdev) && nw->valid) || nw->pdev > old * (1 + 1e-12)) {
            if (++k > MAX_HALVINGS) {
                if (it > 1 && isfinite(nw->pdev) && nw->valid &&
                    nw->pdev - old <= ROUNDING_PDEV * fabs(old)) {
                    o->lag = 0.0;      /* cur is the mode and f its factor */
                    goto finish_lagged;
                }
                status = ST_HALVING;
                goto done;
            }
            halve(m, cur, nw, o->update_beta);
            if (o->update_beta) xbeta(m, nw->beta, xb);
            evaluate_ws(m, nw, xb, f->bws);
        }
        double step = max_rel_change(m, cur, nw, o->update_beta);
        double change = fabs(old - nw->pdev);
        double scale = fabs(nw->pdev) > 1e-300 ? fabs(nw->pdev) : 1e-300;
        int conv = step <= o->step_tol || change <= o->tol * scale ||
                   (o->stop_stag && it > 1 && nw->pdev >= old);
        tmp = cur; cur = nw; nw = tmp;
        o->iterations = (int)it;
        if (conv) { o->lag = step; goto finish_lagged; }
        old = cur->pdev;
    }
    status = o->mode == 1 ? ST_FAIL : ST_MAXIT;
    goto done;
finish:
    o->lag = 0.0;
finish_lagged:
    memcpy(out->u, cur->u, sizeof(double) * m->q_tot);
    memcpy(out->beta, cur->beta, sizeof(double) * m->p);
    memcpy(out->eta, cur->eta, sizeof(double) * m->n);
    memcpy(out->mu, cur->mu, sizeof(double) * m->n);
    out->dev = cur->dev; out->ussq = cur->ussq; out->kern = cur->kern; out->pdev = cur->pdev;
done:
    if (w == &own) work_free(&own);
    return status;
}

static PyObject *py_run(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *u0o, *b0o, *eta0o, *uo, *bo, *etao, *muo, *L11o;
    int mode, update_beta, stop_stag;
    Py_ssize_t maxit;
    double step_tol, tol, refactor_above = INFINITY;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOiinddi|d", &model, &templates, &u0o, &b0o, &eta0o,
                          &uo, &bo, &etao, &muo, &L11o, &mode, &update_beta, &maxit, &step_tol,
                          &tol, &stop_stag, &refactor_above))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Model m;
    State out;
    out.dev = out.ussq = out.kern = out.pdev = NAN;
    if (parse_model(&bufs, model, templates, &m) < 0) goto fail;
    const double *u0 = (const double *)get_buf(&bufs, u0o, m.q_tot, 1, 0, "u0");
    if (!u0) goto fail;
    const double *b0 = (const double *)get_buf(&bufs, b0o, m.p, 1, 0, "beta0");
    if (!b0) goto fail;
    const double *eta0 = NULL;
    if (eta0o != Py_None && !(eta0 = (const double *)get_buf(&bufs, eta0o, m.n, 1, 0, "eta0"))) goto fail;
    if (mode == 1 && !eta0) { PyErr_SetString(PyExc_ValueError, "mode 1 needs eta0"); goto fail; }
    if (!(out.u = (double *)get_buf(&bufs, uo, m.q_tot, 1, 1, "u_out"))) goto fail;
    if (!(out.beta = (double *)get_buf(&bufs, bo, m.p, 1, 1, "beta_out"))) goto fail;
    if (!(out.eta = (double *)get_buf(&bufs, etao, m.n, 1, 1, "eta_out"))) goto fail;
    if (!(out.mu = (double *)get_buf(&bufs, muo, m.n, 1, 1, "mu_out"))) goto fail;
    double *L11 = (double *)get_buf(&bufs, L11o, m.nl[0] * m.k[0] * m.k[0], 1, 1, "L11_out");
    if (!L11) goto fail;
    RunOpts o = {mode, update_beta, stop_stag, 0, maxit, step_tol, tol, 0.0, refactor_above};
    Factor f, fz;
    memset(&f, 0, sizeof f);
    memset(&fz, 0, sizeof fz);
    int status;
    double ldL2 = NAN;
    Py_BEGIN_ALLOW_THREADS
    status = run_pirls(&m, u0, b0, eta0, &o, &out, &f, NULL);
    Factor *fl = &f;
    if (status == ST_OK && mode == 0 && o.lag > o.refactor_above) {
        /* the Laplace factor at the mode's own weights, as `factor` computes it (without X,
         * the working response less X beta): one call instead of two */
        double *xb = (double *)malloc(sizeof(double) * (m.n + 1));
        if (!xb || !factor_alloc(&m, &fz, 0)) status = ST_NOMEM;
        else {
            xbeta(&m, out.beta, xb);
            /* not positive definite: the lagged factor is returned, and `factor` at the
             * mode reports the failure as it always did */
            if (factorize(&m, &fz, &out, xb) == ST_OK) { fl = &fz; o.lag = 0.0; }
        }
        free(xb);
    }
    if (status == ST_OK) memcpy(L11, fl->L11, sizeof(double) * m.nl[0] * m.k[0] * m.k[0]);
    if (status == ST_OK) ldL2 = factor_ldl2(&m, fl);
    factor_free(&f);
    factor_free(&fz);
    Py_END_ALLOW_THREADS
    release_all(&bufs);
    if (status == ST_NOMEM) return PyErr_NoMemory();
    return Py_BuildValue("iddddidd", status, out.dev, out.ussq, out.kern, out.pdev, o.iterations,
                         o.lag, status == ST_OK ? ldL2 : NAN);
fail:
    release_all(&bufs);
    return NULL;
}

static PyObject *py_factor(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *bo, *etao, *muo, *L11o, *Lrro;
    int with_x;
    if (!PyArg_ParseTuple(args, "OOOOOOiO", &model, &templates, &bo, &etao, &muo, &L11o,
                          &with_x, &Lrro))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Model m;
    State s;
    memset(&s, 0, sizeof s);
    if (parse_model(&bufs, model, templates, &m) < 0) goto fail;
    if (!(s.beta = (double *)get_buf(&bufs, bo, m.p, 1, 0, "beta"))) goto fail;
    if (!(s.eta = (double *)get_buf(&bufs, etao, m.n, 1, 0, "eta"))) goto fail;
    if (!(s.mu = (double *)get_buf(&bufs, muo, m.n, 1, 0, "mu"))) goto fail;
    double *L11 = (double *)get_buf(&bufs, L11o, m.nl[0] * m.k[0] * m.k[0], 1, 1, "L11_out");
    if (!L11) goto fail;
    Py_ssize_t r = m.q_rest + (with_x ? m.p : 0) + 1;
    double *Lrr = NULL;
    if (Lrro != Py_None && !(Lrr = (double *)get_buf(&bufs, Lrro, r * r, 1, 1, "Lrr_out"))) goto fail;
    Factor f;
    memset(&f, 0, sizeof f);
    int status;
    double ld = NAN;
    Py_BEGIN_ALLOW_THREADS
    double *xb = (double *)malloc(sizeof(double) * (m.n + 1));
    if (!xb || !factor_alloc(&m, &f, with_x)) status = ST_NOMEM;
    else {
        xbeta(&m, s.beta, xb);
        status = factorize(&m, &f, &s, with_x ? NULL : xb);
        if (status == ST_OK) {
            ld = factor_ldl2(&m, &f);
            memcpy(L11, f.L11, sizeof(double) * m.nl[0] * m.k[0] * m.k[0]);
            if (Lrr) memcpy(Lrr, f.P, sizeof(double) * r * r);
        }
    }
    free(xb);
    factor_free(&f);
    Py_END_ALLOW_THREADS
    release_all(&bufs);
    if (status == ST_NOMEM) return PyErr_NoMemory();
    return Py_BuildValue("id", status, ld);
fail:
    release_all(&bufs);
    return NULL;
}

/* the state at (u, beta), or at a given eta: eta and mu into the output buffers */
static PyObject *py_evaluate(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *uo, *bo, *eta0o, *etao, *muo;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &model, &templates, &uo, &bo, &eta0o, &etao, &muo))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Model m;
    State s;
    const double *eta0 = NULL;
    if (parse_model(&bufs, model, templates, &m) < 0) goto fail;
    if (!(s.u = (double *)get_buf(&bufs, uo, m.q_tot, 1, 0, "u"))) goto fail;
    if (!(s.beta = (double *)get_buf(&bufs, bo, m.p, 1, 0, "beta"))) goto fail;
    if (eta0o != Py_None && !(eta0 = (const double *)get_buf(&bufs, eta0o, m.n, 1, 0, "eta0"))) goto fail;
    if (!(s.eta = (double *)get_buf(&bufs, etao, m.n, 1, 1, "eta_out"))) goto fail;
    if (!(s.mu = (double *)get_buf(&bufs, muo, m.n, 1, 1, "mu_out"))) goto fail;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    if (eta0) {
        memcpy(s.eta, eta0, sizeof(double) * m.n);
        evaluate_at_eta(&m, &s);
    } else {
        double *xb = (double *)malloc(sizeof(double) * (m.n + 1));
        if (!xb) nomem = 1;
        else {
            xbeta(&m, s.beta, xb);
            evaluate(&m, &s, xb);
        }
        free(xb);
    }
    Py_END_ALLOW_THREADS
    release_all(&bufs);
    if (nomem) return PyErr_NoMemory();
    return Py_BuildValue("dddi", s.dev, s.ussq, s.kern, s.valid);
fail:
    release_all(&bufs);
    return NULL;
}

#include "pirls_loop.h"      /* the objective over whole optimizer runs; agq_sum */
#include "pirls_setup.h"     /* the engine's setup: likelihood_sums, row_order, start_means */

/* agq(model, templates, beta, u0, Ljj, nodes, weights): `agq_sum` */
static PyObject *py_agq(PyObject *self, PyObject *args)
{
    PyObject *model, *templates, *bo, *u0o, *Ljjo, *zo, *wo;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &model, &templates, &bo, &u0o, &Ljjo, &zo, &wo))
        return NULL;
    Buffers bufs;
    bufs.count = 0;
    Model m;
    if (parse_model(&bufs, model, templates, &m) < 0) goto fail;
    if (m.nt != 1 || m.k[0] != 1) {
        PyErr_SetString(PyExc_ValueError, "pirls kernel: agq needs one scalar term");
        goto fail;
    }
    Py_ssize_t nl = m.nl[0];
    const double *beta = (const double *)get_buf(&bufs, bo, m.p, 1, 0, "beta");
    if (!beta) goto fail;
    const double *u0 = (const double *)get_buf(&bufs, u0o, nl, 1, 0, "u0");
    if (!u0) goto fail;
    const double *Ljj = (const double *)get_buf(&bufs, Ljjo, nl, 1, 0, "Ljj");
    if (!Ljj) goto fail;
    Py_buffer *zv = &bufs.views[bufs.count];
    const double *z = (const double *)get_buf(&bufs, zo, -1, 1, 0, "nodes");
    if (!z) goto fail;
    Py_ssize_t nq = zv->len / 8;
    const double *w = (const double *)get_buf(&bufs, wo, nq, 1, 0, "weights");
    if (!w) goto fail;
    double result = NAN;
    int nomem;
    Py_BEGIN_ALLOW_THREADS
    nomem = agq_sum(&m, beta, u0, Ljj, z, w, nq, &result);
    Py_END_ALLOW_THREADS
    release_all(&bufs);
    if (nomem) return PyErr_NoMemory();
    return PyFloat_FromDouble(result);
fail:
    release_all(&bufs);
    return NULL;
}

/* The test entry points' body: x (doubles) and out (as many, writable) from args, every x_i
 * within [lo, hi] (else ValueError `range_error`), then rows(x, out, n). */
static PyObject *rows_entry(PyObject *args, double lo, double hi, const char *range_error,
                            void (*rows)(const double *restrict, double *restrict, Py_ssize_t))
{
    PyObject *xo, *oo;
    if (!PyArg_ParseTuple(args, "OO", &xo, &oo)) return NULL;
    Buffers bufs;
    bufs.count = 0;
    Py_buffer *xv = &bufs.views[0];
    const double *x = (const double *)get_buf(&bufs, xo, -1, 1, 0, "x");
    if (!x) goto fail;
    Py_ssize_t n = xv->len / 8, i;
    double *out = (double *)get_buf(&bufs, oo, n, 1, 1, "out");
    if (!out) goto fail;
    for (i = 0; i < n; i++)
        if (!(x[i] >= lo && x[i] <= hi)) {
            PyErr_SetString(PyExc_ValueError, range_error);
            goto fail;
        }
    rows(x, out, n);
    release_all(&bufs);
    Py_RETURN_NONE;
fail:
    release_all(&bufs);
    return NULL;
}

/* exp_neg(x, out): out_i = exp(x_i) for x_i in [-THRESH, 0] as the logit rows form it (the
 * block loop of exp_neg_rows for all but the last n mod EXP_BLOCK values; exp(-|x|) = exp(x)
 * for x <= 0); for tests */
static PyObject *py_exp_neg(PyObject *self, PyObject *args)
{
    return rows_entry(args, -THRESH, 0.0, "pirls kernel: exp_neg needs every x in [-30, 0]",
                      exp_neg_rows);
}

/* log1p(x, out): out_i = log(1 + x_i) for x_i in [0, 1] as the logit rows of another prior
 * weight form it (the block loop of log1p_rows for all but the last n mod LOG1P_BLOCK
 * values); for tests */
static PyObject *py_log1p(PyObject *self, PyObject *args)
{
    return rows_entry(args, 0.0, 1.0, "pirls kernel: log1p needs every x in [0, 1]",
                      log1p_rows);
}

static PyMethodDef methods[] = {
    {"run", py_run, METH_VARARGS,
     "run(model, templates, u0, beta0, eta0, u_out, beta_out, eta_out, mu_out, L11_out, mode, "
     "update_beta, maxit, step_tol, tol, stop_on_stagnation[, refactor_above]) -> (status, dev, "
     "ussq, kernel, pdev, iterations, lag, ldL2): one PIRLS solve; in mode 0, when the last "
     "step exceeds refactor_above, L11 and ldL2 are refactored at the mode's weights (lag 0) "
     "unless that factor is not positive definite"},
    {"exp_neg", py_exp_neg, METH_VARARGS,
     "exp_neg(x, out): out = exp(x) for x in [-30, 0], as the logit rows compute it"},
    {"log1p", py_log1p, METH_VARARGS,
     "log1p(x, out): out = log(1 + x) for x in [0, 1], as the logit rows of another prior "
     "weight compute it"},
    {"evaluate", py_evaluate, METH_VARARGS,
     "evaluate(model, templates, u, beta, eta_or_None, eta_out, mu_out) -> (dev, ussq, kernel, "
     "valid): the state at (u, beta), or at a given linear predictor"},
    {"factor", py_factor, METH_VARARGS,
     "factor(model, templates, beta, eta, mu, L11_out, with_x, Lrr_out_or_None) -> (status, "
     "ldL2): the blocked factor at a state's IRLS weights (the Laplace factor without X)"},
    {"agq", py_agq, METH_VARARGS,
     "agq(model, templates, beta, u0, Ljj, nodes, weights) -> the adaptive Gauss-Hermite "
     "correction for one scalar term"},
    {"loop_bind_nlopt", py_loop_bind_nlopt, METH_VARARGS,
     "loop_bind_nlopt(addresses): the NLopt C functions loop_minimize calls"},
    {"loop_minimize", py_loop_minimize, METH_VARARGS,
     "loop_minimize(model, templates, spec, start, algorithm, x, lower, upper, xtol, ftol, "
     "maxeval, step, inf_limit, best, bad, out[, end]) -> (code, minf, evaluations, best_f, "
     "stop, state | None[, end | None]): NLopt over the GLMM objective (see pirls_loop.h)"},
    {"loop_values", py_loop_values, METH_VARARGS,
     "loop_values(model, templates, spec, start, X, values, out) -> (evaluations, stop, "
     "state | None): the GLMM objective at each row of X, warm starts carried"},
    {"devfun_values", py_devfun_values, METH_VARARGS,
     "devfun_values(model, templates, spec, start, eta0, X, values, tol, maxit): lme4's "
     "stage-2 devfun at each row of X"},
    {"loop_post", py_loop_post, METH_VARARGS,
     "loop_post(model, templates, spec, start, x, out_first, out_last, eta1, u0, g, H, delta, "
     "delta2, tol, maxit) -> (evaluations, stop, value, first | None, last | None): the "
     "value, central gradient and devfun forward Hessian after the optimum in one call"},
    {"whitening_t", py_whitening_t, METH_VARARGS,
     "whitening_t(Lrr, q, p, Mt) -> bool: stage 2's M = L_XX^-T from the stage-1 factor (see "
     "pirls_loop.h)"},
    {"likelihood_sums", py_likelihood_sums, METH_VARARGS,
     "likelihood_sums(family, y, n, wt, lgamma1) -> (status, saturated_sum, aic_constant, "
     "need): the binomial / Poisson log-likelihood's mu-free sums (see pirls_setup.h)"},
    {"row_order", py_row_order, METH_VARARGS,
     "row_order(keys, out) -> 1 (identity), 0 or -1 (a key type not taken): the stable "
     "lexicographic row order by the keys (see pirls_setup.h)"},
    {"start_means", py_start_means, METH_VARARGS,
     "start_means(family, y, wt, mu_out, arg_out): the binomial / Poisson mustart and the "
     "argument of the canonical link's log (see pirls_setup.h)"},
    {"glm_start", py_glm_start, METH_VARARGS,
     "glm_start(model, templates, eta, mu, beta_out, maxit) -> (status, iterations): the "
     "fixed-effects-only GLM's IRLS fit (Householder least squares)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "pirls",
                                    "PIRLS for GLMM conditional modes (see pirls.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit_pirls(void) { return PyModule_Create(&moddef); }
