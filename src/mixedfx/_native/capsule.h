/* capsule.h: the C function a SciPy capsule holds (scipy.linalg.cython_blas /
 * cython_lapack `__pyx_capi__` entries), for the kernels that call BLAS or LAPACK routines
 * SciPy ships (tiled.c, convcheck.c). Include after Python.h. */
#ifndef MIXEDFX_CAPSULE_H
#define MIXEDFX_CAPSULE_H

/* The pointer in capsule `cap` (its own name read back), or NULL with `error` (the kernel's
 * mixedfx.errors.ArgumentTypeError) set when `cap` is not a capsule; `name` names the
 * routine in the message. */
static void *capsule_pointer(PyObject *error, PyObject *cap, const char *name)
{
    if (!PyCapsule_CheckExact(cap)) {
        PyErr_Format(error, "%s must be a capsule (scipy.linalg.cython_blas / cython_lapack "
                     "__pyx_capi__), got %.80s", name, Py_TYPE(cap)->tp_name);
        return NULL;
    }
    return PyCapsule_GetPointer(cap, PyCapsule_GetName(cap));
}

#endif
