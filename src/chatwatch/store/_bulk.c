/* Many rows into SQLite with the interpreter released for the whole statement.
 *
 * Why: Python's sqlite3 executemany releases the GIL around each row's sqlite3_step
 * and takes it back after, so a writer thread inserting 20 000 rows hands the GIL to
 * the threads decoding the next requests and waits for it 20 000 times; SQLite's work
 * never runs beside theirs for long, and the hand-overs cost CPU of their own. Here the
 * values are read from the row tuples first (with the GIL), then every row is bound and
 * stepped without it, on the same connection and in its open transaction.
 *
 * The SQLite functions are the ones Python's own _sqlite3 module is linked to (looked up
 * through that module's handle, never a second copy of the library), and the connection
 * handle is the first field of CPython's sqlite3.Connection. setup() says whether both
 * could be found; the Python caller checks the handle against the connection and falls
 * back to executemany for anything this code does not take.
 *
 * insert(connection, sql, rows) binds exact ints (and bools), floats, strs, bytes and
 * None, as executemany binds them. It returns (rows written, SQLite's message or None):
 * all of them, or the index of the row whose step failed (that row not written) with
 * the message, so the caller can run the rest through the database driver to get its
 * error (or raise it, when SQLite rolled the transaction back); (-1, None) when it
 * declined before writing anything (a value of another type, rows of unequal length, no
 * transaction).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite_int64;
typedef void (*destructor_fn)(void *);

#define SQLITE_OK 0
#define SQLITE_DONE 101
#define SQLITE_ROW 100
#define SQLITE_STATIC ((destructor_fn)0)

static int (*p_prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
static int (*p_step)(sqlite3_stmt *);
static int (*p_reset)(sqlite3_stmt *);
static int (*p_finalize)(sqlite3_stmt *);
static int (*p_bind_int64)(sqlite3_stmt *, int, sqlite_int64);
static int (*p_bind_double)(sqlite3_stmt *, int, double);
static int (*p_bind_text)(sqlite3_stmt *, int, const char *, int, destructor_fn);
static int (*p_bind_blob)(sqlite3_stmt *, int, const void *, int, destructor_fn);
static int (*p_bind_null)(sqlite3_stmt *, int);
static int (*p_bind_parameter_count)(sqlite3_stmt *);
static int (*p_get_autocommit)(sqlite3 *);
static const char *(*p_db_filename)(sqlite3 *, const char *);
static const char *(*p_errmsg)(sqlite3 *);
static int ready = 0;

/* CPython's sqlite3.Connection starts with the database handle (3.7 to 3.14). */
typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

static void *find(void *lib, const char *name) {
    void *fn = lib ? dlsym(lib, name) : NULL;
    return fn ? fn : dlsym(RTLD_DEFAULT, name);
}

/* setup(path of the _sqlite3 module) -> bool: the SQLite functions it uses were found */
static PyObject *setup(PyObject *self, PyObject *arg) {
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL) return NULL;
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    /* POSIX: a function's address fits a void pointer (dlsym's own contract) */
    struct {
        const char *name;
        void **slot;
    } wanted[] = {
        {"sqlite3_prepare_v2", (void **)&p_prepare_v2},
        {"sqlite3_step", (void **)&p_step},
        {"sqlite3_reset", (void **)&p_reset},
        {"sqlite3_finalize", (void **)&p_finalize},
        {"sqlite3_bind_int64", (void **)&p_bind_int64},
        {"sqlite3_bind_double", (void **)&p_bind_double},
        {"sqlite3_bind_text", (void **)&p_bind_text},
        {"sqlite3_bind_blob", (void **)&p_bind_blob},
        {"sqlite3_bind_null", (void **)&p_bind_null},
        {"sqlite3_bind_parameter_count", (void **)&p_bind_parameter_count},
        {"sqlite3_get_autocommit", (void **)&p_get_autocommit},
        {"sqlite3_db_filename", (void **)&p_db_filename},
        {"sqlite3_errmsg", (void **)&p_errmsg},
    };
    ready = 1;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        *wanted[i].slot = find(lib, wanted[i].name);
        ready = ready && *wanted[i].slot != NULL;
    }
    if (lib) dlclose(lib); /* RTLD_NOLOAD: only the reference this call took */
    return PyBool_FromLong(ready);
}

static sqlite3 *handle_of(PyObject *connection) {
    if (strcmp(Py_TYPE(connection)->tp_name, "sqlite3.Connection") != 0) {
        PyErr_SetString(PyExc_TypeError, "a sqlite3.Connection, not a subclass or another type");
        return NULL;
    }
    sqlite3 *db = ((ConnectionHead *)connection)->db;
    if (db == NULL) PyErr_SetString(PyExc_ValueError, "the connection is closed");
    return db;
}

/* describe(connection) -> (main database's file name, in a transaction): what the
 * caller compares with what the connection itself says before trusting the handle */
static PyObject *describe(PyObject *self, PyObject *connection) {
    if (!ready) return PyErr_Format(PyExc_RuntimeError, "setup() found no SQLite");
    sqlite3 *db = handle_of(connection);
    if (db == NULL) return NULL;
    const char *name = p_db_filename(db, "main");
    return Py_BuildValue("(sO)", name ? name : "", p_get_autocommit(db) ? Py_False : Py_True);
}

enum { V_NULL, V_INT, V_FLOAT, V_TEXT, V_BLOB };

typedef struct {
    int kind;
    union {
        sqlite_int64 i;
        double d;
        struct {
            const char *p;
            Py_ssize_t n;
        } s;
    } v;
} Value;

/* The value as executemany would bind it; 0 when this code does not take it. */
static int read_value(PyObject *o, Value *out) {
    if (o == Py_None) {
        out->kind = V_NULL;
    } else if (PyLong_CheckExact(o) || PyBool_Check(o)) {
        int overflow = 0;
        long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || (i == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        out->kind = V_INT;
        out->v.i = i;
    } else if (PyFloat_CheckExact(o)) {
        out->kind = V_FLOAT;
        out->v.d = PyFloat_AS_DOUBLE(o);
    } else if (PyUnicode_CheckExact(o)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(o, &n);
        if (p == NULL || n > INT32_MAX) { /* lone surrogates: executemany raises */
            PyErr_Clear();
            return 0;
        }
        out->kind = V_TEXT;
        out->v.s.p = p;
        out->v.s.n = n;
    } else if (PyBytes_CheckExact(o)) {
        if (PyBytes_GET_SIZE(o) > INT32_MAX) return 0;
        out->kind = V_BLOB;
        out->v.s.p = PyBytes_AS_STRING(o);
        out->v.s.n = PyBytes_GET_SIZE(o);
    } else {
        return 0;
    }
    return 1;
}

static int bind(sqlite3_stmt *stmt, const Value *row, int width) {
    for (int c = 0; c < width; c++) {
        const Value *v = &row[c];
        int rc;
        switch (v->kind) {
        case V_INT: rc = p_bind_int64(stmt, c + 1, v->v.i); break;
        case V_FLOAT: rc = p_bind_double(stmt, c + 1, v->v.d); break;
        case V_TEXT: rc = p_bind_text(stmt, c + 1, v->v.s.p, (int)v->v.s.n, SQLITE_STATIC); break;
        case V_BLOB: rc = p_bind_blob(stmt, c + 1, v->v.s.p, (int)v->v.s.n, SQLITE_STATIC); break;
        default: rc = p_bind_null(stmt, c + 1);
        }
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static PyObject *insert(PyObject *self, PyObject *args) {
    PyObject *connection, *rows;
    const char *sql;
    if (!PyArg_ParseTuple(args, "OsO!", &connection, &sql, &PyList_Type, &rows)) return NULL;
    if (!ready) return PyErr_Format(PyExc_RuntimeError, "setup() found no SQLite");
    sqlite3 *db = handle_of(connection);
    if (db == NULL) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    if (n == 0) return Py_BuildValue("(iO)", 0, Py_None);
    if (p_get_autocommit(db)) return Py_BuildValue("(iO)", -1, Py_None); /* not ours */
    PyObject *first = PyList_GET_ITEM(rows, 0);
    if (!PyTuple_CheckExact(first)) return Py_BuildValue("(iO)", -1, Py_None);
    Py_ssize_t width = PyTuple_GET_SIZE(first);

    /* the tuples are held, so the strings whose bytes are bound stay alive */
    PyObject *held = PyList_AsTuple(rows);
    if (held == NULL) return NULL;
    Value *values = PyMem_RawMalloc(sizeof(Value) * (size_t)(n * (width ? width : 1)));
    if (values == NULL) {
        Py_DECREF(held);
        return PyErr_NoMemory();
    }
    long long result = -1;
    char message[256] = "";
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = PyTuple_GET_ITEM(held, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != width) goto done;
        for (Py_ssize_t c = 0; c < width; c++) {
            if (!read_value(PyTuple_GET_ITEM(row, c), &values[r * width + c])) goto done;
        }
    }
    sqlite3_stmt *stmt = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = p_prepare_v2(db, sql, -1, &stmt, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK || stmt == NULL || p_bind_parameter_count(stmt) != width) {
        if (stmt) p_finalize(stmt);
        goto done; /* the driver prepares it again and names the problem */
    }
    Py_ssize_t written = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; written < n; written++) {
        rc = bind(stmt, &values[written * width], (int)width);
        if (rc == SQLITE_OK) {
            rc = p_step(stmt);
            if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
                p_reset(stmt);
                continue;
            }
        }
        snprintf(message, sizeof(message), "%s", p_errmsg(db)); /* before reset clears it */
        p_reset(stmt);
        break;
    }
    p_finalize(stmt);
    Py_END_ALLOW_THREADS
    result = written;
done:
    PyMem_RawFree(values);
    Py_DECREF(held);
    if (result >= 0 && result < n) return Py_BuildValue("(Ls)", result, message);
    return Py_BuildValue("(LO)", result, Py_None);
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_O, "Find the SQLite functions of Python's _sqlite3 module."},
    {"describe", describe, METH_O, "(file name, in a transaction) of a connection's handle."},
    {"insert", insert, METH_VARARGS, "Rows into SQLite with the GIL released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bulk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bulk(void) { return PyModule_Create(&module); }
