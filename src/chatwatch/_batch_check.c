/* The per-event checks of a decoded ingest batch, in one pass in C.
 *
 * The same checks as chatwatch.events_fast.plain_check for a plain body (the Python
 * function is the definition; tests/test_batch_check.py holds the two to the same
 * verdicts): every event time within [lo, hi], bounded attributes (judged by the Python
 * function given at setup, for the rare event that has any), a feedback with a rating or
 * thumbs, and the characters of every label and id. In Python this loop cost about as
 * much as msgspec's decode itself. Each value's characters are judged where the value is
 * read (the Python loop gathers the distinct values for one check per batch: adding every
 * event's id to a set cost more than the rest of the loop).
 *
 * check(batch, lo, hi) returns True when every event passes, False when one fails (the
 * caller asks pydantic), or NotImplemented when an event is not of a class set up here
 * or holds what msgspec would not give (the caller runs the Python loop).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#define MAX_KINDS 16
#define MAX_NAMES 16

typedef struct {
    PyTypeObject *cls;
    Py_ssize_t ts, attributes, rating, thumbs; /* -1: no such slot */
    Py_ssize_t labels[MAX_NAMES], ids[MAX_NAMES];
    int n_labels, n_ids;
    int feedback;
} Kind;

static Kind kinds[MAX_KINDS];
static int n_kinds = 0;
static PyObject *bounded = NULL;
static unsigned char label_ok[128], id_ok[128]; /* the characters each kind of value takes */

/* The slot offset of ``name`` in ``cls``, -1 when it has none; -2 on error. */
static Py_ssize_t slot(PyTypeObject *cls, const char *name) {
    PyObject *key = PyUnicode_InternFromString(name);
    if (key == NULL) return -2;
    PyObject *descr = _PyType_Lookup(cls, key); /* borrowed */
    Py_DECREF(key);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return -1;
    PyMemberDef *def = ((PyMemberDescrObject *)descr)->d_member;
    if (def->type != T_OBJECT_EX && def->type != T_OBJECT) return -1;
    return def->offset;
}

static int offsets(PyTypeObject *cls, PyObject *names, Py_ssize_t *out, int *n) {
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) > MAX_NAMES) {
        PyErr_SetString(PyExc_ValueError, "field names: a tuple of at most 16 names");
        return -1;
    }
    *n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, i));
        if (name == NULL) return -1;
        Py_ssize_t off = slot(cls, name);
        if (off == -2) return -1;
        if (off >= 0) out[(*n)++] = off;
    }
    return 0;
}

static void table(unsigned char *ok, const char *chars, Py_ssize_t n) {
    memset(ok, 0, 128);
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)chars[i] < 128) ok[(unsigned char)chars[i]] = 1;
}

/* setup({class: (label names, id names)}, feedback class, bounded(attributes) -> bool,
 *       label characters, id characters) */
static PyObject *setup(PyObject *self, PyObject *args) {
    PyObject *classes, *feedback, *fn;
    const char *lchars, *ichars;
    Py_ssize_t nl, ni;
    if (!PyArg_ParseTuple(args, "O!OOy#y#", &PyDict_Type, &classes, &feedback, &fn, &lchars,
                          &nl, &ichars, &ni))
        return NULL;
    if (PyDict_GET_SIZE(classes) > MAX_KINDS) {
        PyErr_SetString(PyExc_ValueError, "too many event classes");
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *cls, *names;
    int n = 0;
    while (PyDict_Next(classes, &pos, &cls, &names)) {
        if (!PyType_Check(cls) || !PyTuple_Check(names) || PyTuple_GET_SIZE(names) != 2) {
            PyErr_SetString(PyExc_ValueError, "classes: {type: (label names, id names)}");
            return NULL;
        }
        Kind *k = &kinds[n];
        k->cls = (PyTypeObject *)cls;
        k->ts = slot(k->cls, "ts");
        k->attributes = slot(k->cls, "attributes");
        k->rating = slot(k->cls, "rating");
        k->thumbs = slot(k->cls, "thumbs");
        k->feedback = cls == feedback;
        if (k->ts < 0 || k->attributes == -2 || k->rating == -2 || k->thumbs == -2) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an event class without ts");
            return NULL;
        }
        if (k->feedback && (k->rating < 0 || k->thumbs < 0)) {
            PyErr_SetString(PyExc_ValueError, "the feedback class needs rating and thumbs");
            return NULL;
        }
        if (offsets(k->cls, PyTuple_GET_ITEM(names, 0), k->labels, &k->n_labels) < 0) return NULL;
        if (offsets(k->cls, PyTuple_GET_ITEM(names, 1), k->ids, &k->n_ids) < 0) return NULL;
        Py_INCREF(cls);
        n++;
    }
    n_kinds = n;
    table(label_ok, lchars, nl);
    table(id_ok, ichars, ni);
    Py_XSETREF(bounded, Py_NewRef(fn));
    Py_RETURN_NONE;
}

static inline PyObject *field(PyObject *e, Py_ssize_t off) {
    return *(PyObject **)((char *)e + off);
}

/* 1: every character of the str v is in ok; 0: one is not (none past ASCII is); 2: not
 * a str (not what msgspec gives) */
static int chars_ok(PyObject *v, const unsigned char *ok) {
    if (!PyUnicode_CheckExact(v)) return 2;
    if (!PyUnicode_IS_ASCII(v)) return 0;
    const unsigned char *c = PyUnicode_1BYTE_DATA(v);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    unsigned char all = 1;
    for (Py_ssize_t i = 0; i < n; i++) all &= ok[c[i]];
    return all;
}

/* 1 every value passes, 0 one holds a character its field does not take, 2 an unset
 * slot or a value that is not a str */
static int values_ok(PyObject *e, const Py_ssize_t *offs, int n, const unsigned char *ok) {
    for (int i = 0; i < n; i++) {
        PyObject *v = field(e, offs[i]);
        if (v == NULL) return 2; /* an unset slot: not what msgspec gives */
        if (v == Py_None) continue;
        int r = chars_ok(v, ok);
        if (r != 1) return r;
    }
    return 1;
}

/* 1 passes, 0 fails, 2 not this code's, -1 error */
static int check_one(PyObject *e, double lo, double hi) {
    PyTypeObject *type = Py_TYPE(e);
    const Kind *k = NULL;
    for (int i = 0; i < n_kinds; i++)
        if (kinds[i].cls == type) {
            k = &kinds[i];
            break;
        }
    if (k == NULL) return 2;
    PyObject *ts = field(e, k->ts);
    if (ts == NULL || !PyFloat_CheckExact(ts)) return 2;
    double t = PyFloat_AS_DOUBLE(ts);
    if (!(lo <= t && t <= hi)) return 0;
    if (k->attributes >= 0) {
        PyObject *attributes = field(e, k->attributes);
        if (attributes == NULL || !PyDict_CheckExact(attributes)) return 2;
        if (PyDict_GET_SIZE(attributes)) {
            PyObject *ok = PyObject_CallOneArg(bounded, attributes);
            if (ok == NULL) return -1;
            int truth = PyObject_IsTrue(ok);
            Py_DECREF(ok);
            if (truth <= 0) return truth;
        }
    }
    if (k->feedback && field(e, k->rating) == Py_None && field(e, k->thumbs) == Py_None)
        return 0;
    int r = values_ok(e, k->labels, k->n_labels, label_ok);
    return r == 1 ? values_ok(e, k->ids, k->n_ids, id_ok) : r;
}

static PyObject *check(PyObject *self, PyObject *args) {
    PyObject *batch;
    double lo, hi;
    if (!PyArg_ParseTuple(args, "O!dd", &PyList_Type, &batch, &lo, &hi)) return NULL;
    if (bounded == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        int r = check_one(PyList_GET_ITEM(batch, i), lo, hi);
        if (r == 1) continue;
        if (r < 0) return NULL;
        if (r == 0) Py_RETURN_FALSE;
        Py_RETURN_NOTIMPLEMENTED;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Read the event classes' slots (once)."},
    {"check", check, METH_VARARGS,
     "True when every event of a decoded batch passes, False when one fails, "
     "NotImplemented when the Python loop must judge it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_batch_check", "Per-event checks of a decoded batch, in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__batch_check(void) { return PyModule_Create(&module); }
