/* The rollup increments of a batch of msgspec events, in one pass in C.
 *
 * The same function as chatwatch.store.rollup.compute_delta (the Python definition is
 * the reference, and tests/store/test_fast_delta.py holds the two to equal results on
 * generated and SDK batches): the same keys, in the same order, the same sums added in
 * the same order, so every figure is bit for bit the one Python gives.
 *
 * Why C: compute_delta was the largest stage of ingest (~3-4 us per event of ~20, most of
 * it building a 7-tuple key per increment and looking it up). Here an increment's key is
 * the event's own strings (their hashes cached in them) and integers, in a table of plain
 * structs; Python keys and cells are made once per distinct key at the end (~300 per
 * batch of 2 000 SDK events instead of ~10 000).
 *
 * Only msgspec Structs of chatwatch.events_fast are read (fields straight from their
 * slots, the offsets taken from the classes' member descriptors at setup). Anything else
 * (an unknown class, a field of another type) makes compute() return None, and the caller
 * uses the Python definition.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- fields ------------------------------------------------------------------------- */

enum {
    F_ID, F_TS, F_SERVICE, F_SESSION, F_USER, F_UTYPE, F_RUN, F_SENDER, F_RT, F_SUCCESS,
    F_ERROR, F_CACHED, F_TOPIC, F_MODEL, F_TOKENS, F_RAG_USED, F_RAG_FOUND, F_STATUS,
    F_LLM_CALLS, F_RAG_SEARCHES, F_IN, F_OUT, F_LATENCY, F_COST, F_KIND, F_SIM,
    F_RESULTS, F_SEARCH_TIME, F_CACHE_HIT, F_HIT, F_ACTION, F_CHANNEL, F_RATING, F_THUMBS,
    N_FIELDS
};
static const char *FIELD_NAMES[N_FIELDS] = {
    "id", "ts", "service", "session_id", "user_id", "user_type", "run_id", "sender_type",
    "response_time_ms", "success", "error_type", "cached", "topic", "model", "tokens",
    "rag_used", "rag_found", "status_code", "llm_calls", "rag_searches", "input_tokens",
    "output_tokens", "latency_ms", "cost_usd", "kind", "similarity", "results",
    "search_time_ms", "cache_hit", "hit", "action", "channel", "rating", "thumbs",
};

enum {
    K_TURN, K_LLM, K_RAG, K_CACHE, K_CONN, K_SSTART, K_SEND, K_FEEDBACK, K_ESC, K_MSG,
    K_HB, N_KINDS
};
static const char *KIND_TAGS[N_KINDS] = {
    "turn", "llm_call", "rag_search", "cache_lookup", "connection", "session_started",
    "session_ended", "feedback", "escalation", "message", "heartbeat",
};

typedef struct {
    PyTypeObject *cls;
    Py_ssize_t off[N_FIELDS]; /* -1: the class has no such field */
    PyObject *tag;            /* the class's "type" */
} Kind;

static Kind kinds[N_KINDS];
static int configured = 0;

/* ---- constants ---------------------------------------------------------------------- */

enum {
    S_TURNS, S_TURN_RT, S_RT_PROM, S_TURNS_FAILED, S_TURNS_CLIENT_ERROR, S_TURN_LLM_OWN,
    S_TURN_RAG_OWN, S_TURN_RAG_OWN_EMPTY, S_TURNS_CACHE_KNOWN, S_TURNS_CACHED,
    S_TURN_TOKENS, S_TURNS_RAG_USED, S_TURNS_RAG_FOUND, S_TOPICS, S_MESSAGES, S_LLM_CALLS,
    S_LLM_LATENCY, S_LLM_PROM, S_LLM_IN, S_LLM_OUT, S_LLM_COST, S_LLM_UNPRICED,
    S_LLM_FAILED, S_EMB_CALLS, S_EMB_TOKENS, S_EMB_COST, S_EMB_UNPRICED, S_EMB_FAILED,
    S_RAG_SEARCHES, S_RAG_SEARCH_TIME, S_RAG_NO_RESULTS, S_RAG_SCORED, S_RAG_SIM_BINS,
    S_RAG_CACHE_HITS, S_CACHE_LOOKUPS, S_CONNECTIONS, S_SESSIONS_ENDED, S_RATINGS,
    S_THUMBS, S_ESCALATIONS, S_HEARTBEATS, N_SERIES
};
static const char *SERIES_NAMES[N_SERIES] = {
    "turns", "turn_rt", "rt_prom", "turns_failed", "turns_client_error", "turn_llm_own",
    "turn_rag_own", "turn_rag_own_empty", "turns_cache_known", "turns_cached",
    "turn_tokens", "turns_rag_used", "turns_rag_found", "topics", "messages", "llm_calls",
    "llm_latency", "llm_prom", "llm_input_tokens", "llm_output_tokens", "llm_cost",
    "llm_unpriced", "llm_failed", "emb_calls", "emb_tokens", "emb_cost", "emb_unpriced",
    "emb_failed", "rag_searches", "rag_search_time", "rag_no_results", "rag_scored",
    "rag_sim_bins", "rag_cache_hits", "cache_lookups", "connections", "sessions_ended",
    "ratings", "thumbs", "escalations", "heartbeats",
};
static PyObject *series[N_SERIES];

#define N_PROM 6
static double prom_buckets[N_PROM];
static PyObject *prom_labels[N_PROM + 1];
static PyObject *sim_labels[40]; /* edges -1.00 .. 0.95 */
static PyObject *rating_labels[6];
static PyObject *status_labels[100]; /* "400" .. "499" */
static PyObject *S_EMPTY, *S_UNKNOWN, *S_ASSISTANT;
static PyTypeObject *session_cls;
static PyObject *session_attrs[20];
static PyObject *price_of;   /* model -> (input, output) USD per million tokens, or None */
static PyObject *cost_usd_fn; /* the Python cost function, when a price is not two floats */
static double min_value, log_gamma;
static long long zero_bin;

enum {
    A_SERVICE, A_SESSION, A_USER, A_UTYPE, A_CHANNEL, A_STARTED, A_ENDED, A_LAST_SEEN,
    A_TURNS, A_ERRORS, A_MESSAGES, A_RECONNECTS, A_FIRST_RECONNECT, A_OPEN, A_ESCALATED,
    A_RATING_SUM, A_RATING_N, A_FIRST_SEEN, A_CONNECTS, A_FIRST_CONNECT
};
static const char *SESSION_ATTRS[20] = {
    "service", "session_id", "user_id", "user_type", "channel", "started_at", "ended_at",
    "last_seen", "turns", "errors", "messages", "reconnects", "first_reconnect",
    "open_connections", "escalated_at", "rating_sum", "rating_n", "first_seen", "connects",
    "first_connect_at",
};

/* ---- Python's arithmetic, exactly ----------------------------------------------------- */

/* int(x // w) for a float x and a positive w, as CPython's float floor division gives it */
static long long floor_div(double vx, double wx) {
    double mod = fmod(vx, wx);
    double div = (vx - mod) / wx;
    double floordiv;
    if (mod) {
        if ((wx < 0) != (mod < 0)) div -= 1.0;
    }
    if (div) {
        floordiv = floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, vx / wx);
    }
    return (long long)floordiv;
}

/* floor_div(x, w) * w for a run of event times: the quotient is monotonic in x, so a time
 * between two times with the same quotient has it too (events come in time order, and
 * fmod costs ~300 instructions) */
typedef struct {
    double w, lo, hi;
    long long q;
    int set;
} Floor;

static inline long long floored(Floor *f, double x) {
    if (f->set && x >= f->lo && x <= f->hi) return f->q * (long long)f->w;
    long long q = floor_div(x, f->w);
    if (f->set && q == f->q) {
        if (x < f->lo) f->lo = x;
        if (x > f->hi) f->hi = x;
    } else {
        f->lo = f->hi = x;
        f->q = q;
        f->set = 1;
    }
    return q * (long long)f->w;
}

static long long bin_of(double value) {
    if (value <= min_value) return zero_bin;
    return (long long)ceil(log(value) / log_gamma);
}

static PyObject *prom_label(double value_ms) {
    double x = value_ms / 1000.0;
    int i = 0;
    while (i < N_PROM && prom_buckets[i] < x) i++; /* bisect_left */
    return prom_labels[i];
}

/* ---- tables of plain cells, in insertion order ----------------------------------------- */

typedef struct {
    long long bucket;
    PyObject *k[6];
    long long extra;
    Py_hash_t h;
    long long n;
    double t, t2, t3;
} Cell;

typedef struct {
    Cell *cells;
    Py_ssize_t len, cap;
    Py_ssize_t *slots; /* index + 1 into cells; 0 empty */
    Py_ssize_t nslots;
} Table;

static uint64_t mix(uint64_t h, uint64_t x) {
    h ^= x;
    h *= 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    return h;
}

static int table_init(Table *t) {
    t->len = 0;
    t->cap = 256;
    t->nslots = 1024;
    t->cells = PyMem_Malloc(sizeof(Cell) * t->cap);
    t->slots = PyMem_Calloc(t->nslots, sizeof(Py_ssize_t));
    if (!t->cells || !t->slots) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void table_free(Table *t) {
    PyMem_Free(t->cells);
    PyMem_Free(t->slots);
    t->cells = NULL;
    t->slots = NULL;
}

static int table_grow(Table *t) {
    Py_ssize_t nslots = t->nslots * 2;
    Py_ssize_t *slots = PyMem_Calloc(nslots, sizeof(Py_ssize_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < t->len; i++) {
        Py_ssize_t j = (Py_ssize_t)((uint64_t)t->cells[i].h & (uint64_t)(nslots - 1));
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Strings are compared by value: the same label arrives as a new object in every event */
static inline int str_eq(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (a == NULL || b == NULL) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    if (n != PyUnicode_GET_LENGTH(b) || kind != PyUnicode_KIND(b)) return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
}

/* a str's hash (cached in the object by CPython); 0 for no string */
static inline uint64_t str_hash(PyObject *s) {
    if (s == NULL) return 0;
    Py_hash_t h = ((PyASCIIObject *)s)->hash;
    if (h == -1) h = PyObject_Hash(s); /* a str's hash cannot fail */
    return (uint64_t)h;
}

/* The cell of a key, made (zeroed) when new; NULL on no memory. *fresh says which. */
static Cell *table_get(Table *t, long long bucket, PyObject *k0, PyObject *k1, PyObject *k2,
                       PyObject *k3, PyObject *k4, PyObject *k5, long long extra,
                       int *fresh) {
    uint64_t h = mix(0x51ED27, (uint64_t)bucket);
    h = mix(h, str_hash(k0));
    h = mix(h, str_hash(k1));
    h = mix(h, str_hash(k2));
    h = mix(h, str_hash(k3));
    h = mix(h, str_hash(k4));
    h = mix(h, str_hash(k5));
    h = mix(h, (uint64_t)extra);
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(t->nslots - 1));
    while (t->slots[j]) {
        Cell *c = &t->cells[t->slots[j] - 1];
        if (c->h == (Py_hash_t)h && c->bucket == bucket && c->extra == extra &&
            str_eq(c->k[0], k0) && str_eq(c->k[1], k1) && str_eq(c->k[2], k2) &&
            str_eq(c->k[3], k3) && str_eq(c->k[4], k4) && str_eq(c->k[5], k5)) {
            *fresh = 0;
            return c;
        }
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->len == t->cap) {
        Cell *cells = PyMem_Realloc(t->cells, sizeof(Cell) * t->cap * 2);
        if (!cells) {
            PyErr_NoMemory();
            return NULL;
        }
        t->cells = cells;
        t->cap *= 2;
    }
    Cell *c = &t->cells[t->len];
    memset(c, 0, sizeof(Cell));
    c->bucket = bucket;
    c->k[0] = k0; c->k[1] = k1; c->k[2] = k2; c->k[3] = k3; c->k[4] = k4; c->k[5] = k5;
    c->extra = extra;
    c->h = (Py_hash_t)h;
    t->slots[j] = ++t->len;
    if (t->len * 2 > t->nslots && table_grow(t) < 0) return NULL;
    *fresh = 1;
    return c;
}

/* ---- sessions -------------------------------------------------------------------------- */

typedef struct {
    PyObject *service, *session_id, *user_id, *user_type, *channel; /* borrowed */
    double started_at, ended_at, last_seen, first_reconnect, escalated_at, first_seen;
    int has_started, has_ended, has_first_reconnect, has_escalated;
    long long turns, errors, messages, reconnects, open_connections, rating_sum, rating_n;
    PyObject *connects; /* list of (ts, user_type, channel), or NULL */
    Py_hash_t h;
} Sess;

typedef struct {
    Sess *items;
    Py_ssize_t len, cap;
    Py_ssize_t *slots;
    Py_ssize_t nslots;
} Sessions;

static int sessions_init(Sessions *s) {
    s->len = 0;
    s->cap = 256;
    s->nslots = 1024;
    s->items = PyMem_Malloc(sizeof(Sess) * s->cap);
    s->slots = PyMem_Calloc(s->nslots, sizeof(Py_ssize_t));
    if (!s->items || !s->slots) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void sessions_free(Sessions *s) {
    if (s->items) {
        for (Py_ssize_t i = 0; i < s->len; i++) Py_XDECREF(s->items[i].connects);
    }
    PyMem_Free(s->items);
    PyMem_Free(s->slots);
    s->items = NULL;
    s->slots = NULL;
}

/* ---- one batch ------------------------------------------------------------------------- */

typedef struct {
    Table counts, hist, users, usage;
    Sessions sessions;
    int unsure;       /* a field held something msgspec does not give: Python decides */
    Floor minute, hour, day;
    PyObject *prices; /* model -> price_of(model), for this batch */
    PyObject *batch;  /* the list */
    PyObject *runs;   /* set of (type, run_id), made when a turn first needs it */
} Batch;

#define FIELD(e, kd, f) (*(PyObject **)((char *)(e) + (kd)->off[f]))

/* a string of a key: the event's own object (the batch keeps it alive; keys compare
 * strings by value), or the batch goes to Python when it is not an exact str */
static inline PyObject *label(Batch *b, PyObject *s) {
    if (!PyUnicode_CheckExact(s)) { /* not what msgspec gives: the batch goes to Python */
        b->unsure = 1;
        return S_EMPTY;
    }
    return s;
}

/* e.field or "" (Python's `x or ""`) */
static PyObject *label_or_empty(Batch *b, PyObject *s) {
    if (s == Py_None || PyUnicode_GET_LENGTH(s) == 0) return S_EMPTY;
    return label(b, s);
}

static int add(Batch *b, long long m, PyObject *svc, int ser, PyObject *model, PyObject *dim,
               PyObject *ut, PyObject *ch, double total) {
    int fresh;
    Cell *c = table_get(&b->counts, m, svc, series[ser], model, dim, ut, ch, 0, &fresh);
    if (!c) return -1;
    if (fresh) {
        c->n = 1;
        c->t = total;
    } else {
        c->n += 1;
        c->t += total;
    }
    return 0;
}

static int observe(Batch *b, long long m, PyObject *svc, int ser, PyObject *model,
                   PyObject *ut, long long bin) {
    int fresh;
    Cell *c = table_get(&b->hist, m, svc, series[ser], model, ut, S_EMPTY, NULL, bin, &fresh);
    if (!c) return -1;
    c->n += 1;
    return 0;
}

static int user_message(Batch *b, PyObject *svc, PyObject *user, double ts) {
    if (user == Py_None) return 0;
    PyObject *u = label(b, user);
    if (!u) return -1;
    int fresh;
    long long day = floored(&b->day, ts);
    Cell *c = table_get(&b->users, day, svc, u, NULL, NULL, NULL, NULL, 0, &fresh);
    if (!c) return -1;
    c->n += 1;
    return 0;
}

/* Delta.session: the session's increments, made from its first event; NULL with no error
 * set when the event has no session. */
static Sess *session(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                     int *failed) {
    *failed = 0;
    PyObject *sid_raw = FIELD(e, kd, F_SESSION);
    if (sid_raw == Py_None) return NULL;
    PyObject *sid = label(b, sid_raw);
    if (!sid) {
        *failed = 1;
        return NULL;
    }
    PyObject *user = FIELD(e, kd, F_USER), *utype = FIELD(e, kd, F_UTYPE);
    Sessions *ss = &b->sessions;
    uint64_t h = mix(mix(0xC0FFEE, str_hash(svc)), str_hash(sid));
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(ss->nslots - 1));
    while (ss->slots[j]) {
        Sess *s = &ss->items[ss->slots[j] - 1];
        if (s->h == (Py_hash_t)h && str_eq(s->service, svc) && str_eq(s->session_id, sid)) {
            if (ts > s->last_seen) {
                s->last_seen = ts;
            } else if (ts < s->first_seen) {
                s->first_seen = ts;
            }
            if (s->user_id == Py_None) s->user_id = user;
            if (s->user_type == Py_None) s->user_type = utype;
            return s;
        }
        j = (j + 1) & (ss->nslots - 1);
    }
    if (ss->len == ss->cap) {
        Sess *items = PyMem_Realloc(ss->items, sizeof(Sess) * ss->cap * 2);
        if (!items) {
            PyErr_NoMemory();
            *failed = 1;
            return NULL;
        }
        ss->items = items;
        ss->cap *= 2;
    }
    Sess *s = &ss->items[ss->len];
    memset(s, 0, sizeof(Sess));
    s->service = svc;
    s->session_id = sid;
    s->user_id = user;
    s->user_type = utype;
    s->channel = Py_None;
    s->last_seen = s->first_seen = ts;
    s->h = (Py_hash_t)h;
    ss->slots[j] = ++ss->len;
    if (ss->len * 2 > ss->nslots) {
        Py_ssize_t nslots = ss->nslots * 2;
        Py_ssize_t *slots = PyMem_Calloc(nslots, sizeof(Py_ssize_t));
        if (!slots) {
            PyErr_NoMemory();
            *failed = 1;
            return NULL;
        }
        for (Py_ssize_t i = 0; i < ss->len; i++) {
            Py_ssize_t k = (Py_ssize_t)((uint64_t)ss->items[i].h & (uint64_t)(nslots - 1));
            while (slots[k]) k = (k + 1) & (nslots - 1);
            slots[k] = i + 1;
        }
        PyMem_Free(ss->slots);
        ss->slots = slots;
        ss->nslots = nslots;
        s = &ss->items[ss->len - 1];
    }
    return s;
}

#define SESSION_OR_FAIL(s)                                   \
    int failed_;                                             \
    Sess *s = session(b, e, kd, svc, ts, &failed_);          \
    if (failed_) return -1

/* 1: a float; 0: something else (the batch goes to Python) */
static int as_double(PyObject *o, double *out) {
    if (!PyFloat_CheckExact(o)) return 0;
    *out = PyFloat_AS_DOUBLE(o);
    return 1;
}

static int as_long(PyObject *o, long long *out) {
    if (!PyLong_CheckExact(o)) return 0;
    *out = PyLong_AsLongLong(o);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Python truthiness of a field known to be None, a bool, an int or a str */
static int truthy(PyObject *o) {
    if (o == Py_None || o == Py_False) return 0;
    if (o == Py_True) return 1;
    return PyObject_IsTrue(o);
}

#define UNSURE 1 /* returned by a handler: not an input it knows; Python takes the batch */

/* _backed: whether the turn's own events of `kind` are there */
static int backed(Batch *b, PyObject *e, const Kind *kd, PyObject *said, int kind_ix) {
    if (said != Py_None) {
        long long n;
        if (!as_long(said, &n)) return -2;
        return n > 0;
    }
    if (b->runs == NULL) {
        b->runs = PySet_New(NULL);
        if (!b->runs) return -1;
        Py_ssize_t len = PyList_GET_SIZE(b->batch);
        for (Py_ssize_t i = 0; i < len; i++) {
            PyObject *x = PyList_GET_ITEM(b->batch, i);
            const Kind *xk = NULL;
            if (Py_TYPE(x) == kinds[K_RAG].cls) {
                xk = &kinds[K_RAG];
            } else if (Py_TYPE(x) == kinds[K_LLM].cls) {
                PyObject *kind = FIELD(x, &kinds[K_LLM], F_KIND);
                if (kind == NULL || !PyUnicode_CheckExact(kind)) return -2;
                if (PyUnicode_CompareWithASCIIString(kind, "chat") == 0) xk = &kinds[K_LLM];
            }
            if (xk == NULL) continue;
            PyObject *pair = PyTuple_Pack(2, xk->tag, FIELD(x, xk, F_RUN));
            if (!pair) return -1;
            int r = PySet_Add(b->runs, pair);
            Py_DECREF(pair);
            if (r < 0) return -1;
        }
    }
    PyObject *run = FIELD(e, kd, F_RUN);
    if (!truthy(run)) run = FIELD(e, kd, F_ID);
    PyObject *pair = PyTuple_Pack(2, kinds[kind_ix].tag, run);
    if (!pair) return -1;
    int found = PySet_Contains(b->runs, pair);
    Py_DECREF(pair);
    return found;
}

/* priced_cost: 1 and *cost, 0 when not priced, -1 on error, UNSURE+1 for Python */
static int priced_cost(PyObject *prices, PyObject *e, const Kind *kd, PyObject *model,
                       double *cost) {
    PyObject *own = FIELD(e, kd, F_COST);
    if (own != Py_None) return as_double(own, cost) ? 1 : UNSURE + 1;
    long long in, out;
    if (!as_long(FIELD(e, kd, F_IN), &in) || !as_long(FIELD(e, kd, F_OUT), &out))
        return UNSURE + 1;
    PyObject *price = PyDict_GetItemWithError(prices, model);
    if (price == NULL) {
        if (PyErr_Occurred()) return -1;
        price = PyObject_CallOneArg(price_of, model);
        if (!price) return -1;
        int r = PyDict_SetItem(prices, model, price);
        Py_DECREF(price); /* the dict holds it */
        if (r < 0) return -1;
    }
    if (price == Py_None) return 0;
    if (PyTuple_CheckExact(price) && PyTuple_GET_SIZE(price) == 2 &&
        PyFloat_CheckExact(PyTuple_GET_ITEM(price, 0)) &&
        PyFloat_CheckExact(PyTuple_GET_ITEM(price, 1)) && in < (1LL << 53) &&
        out < (1LL << 53)) {
        double p0 = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(price, 0));
        double p1 = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(price, 1));
        *cost = ((double)in * p0 + (double)out * p1) / 1000000.0;
        return 1;
    }
    /* a price of ints (exact rational arithmetic in Python): ask Python */
    PyObject *r = PyObject_CallFunction(cost_usd_fn, "OLL", model, in, out);
    if (!r) return -1;
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    int ok = as_double(r, cost);
    Py_DECREF(r);
    return ok ? 1 : UNSURE + 1;
}

#define TRY(x)             \
    do {                   \
        if ((x) < 0) return -1; \
    } while (0)

static int on_turn(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                   long long m, PyObject *ut) {
    PyObject *model = label_or_empty(b, FIELD(e, kd, F_MODEL));
    if (!model) return -1;
    double rt;
    if (!as_double(FIELD(e, kd, F_RT), &rt)) return UNSURE;
    TRY(add(b, m, svc, S_TURNS, model, S_EMPTY, ut, S_EMPTY, rt));
    TRY(observe(b, m, svc, S_TURN_RT, model, ut, bin_of(rt)));
    TRY(add(b, m, svc, S_RT_PROM, S_EMPTY, prom_label(rt), ut, S_EMPTY, 0.0));
    PyObject *success = FIELD(e, kd, F_SUCCESS);
    if (success != Py_True && success != Py_False) return UNSURE;
    PyObject *status = FIELD(e, kd, F_STATUS);
    if (success == Py_False) {
        PyObject *err = FIELD(e, kd, F_ERROR);
        PyObject *dim = truthy(err) ? label(b, err) : S_UNKNOWN;
        if (!dim) return -1;
        TRY(add(b, m, svc, S_TURNS_FAILED, model, dim, ut, S_EMPTY, 0.0));
    } else if (status != Py_None) {
        long long code;
        if (!as_long(status, &code)) return UNSURE;
        if (code >= 400 && code < 500) {
            PyObject *dim = status_labels[code - 400];
            TRY(add(b, m, svc, S_TURNS_CLIENT_ERROR, model, dim, ut, S_EMPTY, 0.0));
        }
    }
    PyObject *tokens_o = FIELD(e, kd, F_TOKENS);
    long long tokens = 0;
    if (tokens_o != Py_None && !as_long(tokens_o, &tokens)) return UNSURE;
    if (tokens_o != Py_None) {
        int r = backed(b, e, kd, FIELD(e, kd, F_LLM_CALLS), K_LLM);
        if (r == -2) return UNSURE;
        TRY(r);
        if (!r) TRY(add(b, m, svc, S_TURN_LLM_OWN, model, S_EMPTY, ut, S_EMPTY, (double)tokens));
    }
    PyObject *used = FIELD(e, kd, F_RAG_USED), *found = FIELD(e, kd, F_RAG_FOUND);
    if ((used != Py_True && used != Py_False) || (found != Py_True && found != Py_False))
        return UNSURE;
    int rag = used == Py_True || found == Py_True;
    if (rag) {
        int r = backed(b, e, kd, FIELD(e, kd, F_RAG_SEARCHES), K_RAG);
        if (r == -2) return UNSURE;
        TRY(r);
        if (!r) {
            TRY(add(b, m, svc, S_TURN_RAG_OWN, model, S_EMPTY, ut, S_EMPTY, 0.0));
            if (found != Py_True)
                TRY(add(b, m, svc, S_TURN_RAG_OWN_EMPTY, model, S_EMPTY, ut, S_EMPTY, 0.0));
        }
    }
    PyObject *cached = FIELD(e, kd, F_CACHED);
    if (cached != Py_None) {
        if (cached != Py_True && cached != Py_False) return UNSURE;
        TRY(add(b, m, svc, S_TURNS_CACHE_KNOWN, model, S_EMPTY, ut, S_EMPTY, 0.0));
        if (cached == Py_True)
            TRY(add(b, m, svc, S_TURNS_CACHED, model, S_EMPTY, ut, S_EMPTY, 0.0));
    }
    if (tokens_o != Py_None)
        TRY(add(b, m, svc, S_TURN_TOKENS, model, S_EMPTY, ut, S_EMPTY, (double)tokens));
    if (rag) {
        TRY(add(b, m, svc, S_TURNS_RAG_USED, model, S_EMPTY, ut, S_EMPTY, 0.0));
        if (found == Py_True)
            TRY(add(b, m, svc, S_TURNS_RAG_FOUND, model, S_EMPTY, ut, S_EMPTY, 0.0));
    }
    PyObject *topic = FIELD(e, kd, F_TOPIC);
    if (truthy(topic)) {
        PyObject *t = label(b, topic);
        if (!t) return -1;
        TRY(add(b, m, svc, S_TOPICS, model, t, ut, S_EMPTY, 0.0));
    }
    if (!PyUnicode_CheckExact(FIELD(e, kd, F_SENDER))) return UNSURE;
    PyObject *sender = label(b, FIELD(e, kd, F_SENDER));
    if (!sender) return -1;
    TRY(add(b, m, svc, S_MESSAGES, S_EMPTY, sender, ut, S_EMPTY, 0.0));
    TRY(add(b, m, svc, S_MESSAGES, S_EMPTY, S_ASSISTANT, ut, S_EMPTY, 0.0));
    TRY(user_message(b, svc, FIELD(e, kd, F_USER), ts));
    SESSION_OR_FAIL(s);
    if (s) {
        s->turns += 1;
        s->messages += 2;
        s->errors += success == Py_True ? 0 : 1;
    }
    return 0;
}

static int on_llm(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                  long long m, PyObject *ut) {
    PyObject *model_raw = FIELD(e, kd, F_MODEL);
    if (!PyUnicode_CheckExact(model_raw)) return UNSURE;
    PyObject *model = label(b, model_raw);
    if (!model) return -1;
    PyObject *kind = FIELD(e, kd, F_KIND);
    if (!PyUnicode_CheckExact(kind)) return UNSURE;
    int embedding = PyUnicode_CompareWithASCIIString(kind, "embedding") == 0;
    double latency, cost = 0.0;
    long long in, out;
    if (!as_double(FIELD(e, kd, F_LATENCY), &latency) || !as_long(FIELD(e, kd, F_IN), &in) ||
        !as_long(FIELD(e, kd, F_OUT), &out))
        return UNSURE;
    PyObject *success = FIELD(e, kd, F_SUCCESS);
    if (success != Py_True && success != Py_False) return UNSURE;
    if (embedding) {
        TRY(add(b, m, svc, S_EMB_CALLS, model, S_EMPTY, ut, S_EMPTY, latency));
        TRY(add(b, m, svc, S_EMB_TOKENS, model, S_EMPTY, ut, S_EMPTY, (double)in));
    } else {
        TRY(add(b, m, svc, S_LLM_CALLS, model, S_EMPTY, ut, S_EMPTY, latency));
        TRY(observe(b, m, svc, S_LLM_LATENCY, model, ut, bin_of(latency)));
        TRY(add(b, m, svc, S_LLM_PROM, model, prom_label(latency), ut, S_EMPTY, 0.0));
        TRY(add(b, m, svc, S_LLM_IN, model, S_EMPTY, ut, S_EMPTY, (double)in));
        TRY(add(b, m, svc, S_LLM_OUT, model, S_EMPTY, ut, S_EMPTY, (double)out));
    }
    int priced = priced_cost(b->prices, e, kd, model, &cost);
    TRY(priced);
    if (priced > 1) return UNSURE;
    if (priced)
        TRY(add(b, m, svc, embedding ? S_EMB_COST : S_LLM_COST, model, S_EMPTY, ut, S_EMPTY,
                cost));
    else
        TRY(add(b, m, svc, embedding ? S_EMB_UNPRICED : S_LLM_UNPRICED, model, S_EMPTY, ut,
                S_EMPTY, 0.0));
    if (success == Py_False) {
        PyObject *err = FIELD(e, kd, F_ERROR);
        PyObject *dim = truthy(err) ? label(b, err) : S_UNKNOWN;
        if (!dim) return -1;
        TRY(add(b, m, svc, embedding ? S_EMB_FAILED : S_LLM_FAILED, model, dim, ut, S_EMPTY,
                0.0));
    }
    PyObject *user = FIELD(e, kd, F_USER);
    if (!embedding && user != Py_None) {
        PyObject *u = label(b, user);
        if (!u) return -1;
        int fresh;
        long long hour = floored(&b->hour, ts);
        Cell *c = table_get(&b->usage, hour, svc, u, NULL, NULL, NULL, NULL, 0, &fresh);
        if (!c) return -1;
        double tokens = (double)(in + out);
        double spent = priced && cost != 0.0 ? cost : 0.0; /* `cost or 0.0` */
        if (fresh) {
            c->t = 1.0;
            c->t2 = tokens;
            c->t3 = spent;
        } else {
            c->t += 1;
            c->t2 += tokens;
            c->t3 += spent;
        }
    }
    SESSION_OR_FAIL(s);
    (void)s;
    return 0;
}

static int on_rag(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                  long long m, PyObject *ut) {
    double st, sim = 0.0;
    long long results;
    if (!as_double(FIELD(e, kd, F_SEARCH_TIME), &st) || !as_long(FIELD(e, kd, F_RESULTS), &results))
        return UNSURE;
    PyObject *sim_o = FIELD(e, kd, F_SIM);
    if (sim_o != Py_None && !as_double(sim_o, &sim)) return UNSURE;
    TRY(add(b, m, svc, S_RAG_SEARCHES, S_EMPTY, S_EMPTY, ut, S_EMPTY, st));
    TRY(observe(b, m, svc, S_RAG_SEARCH_TIME, S_EMPTY, ut, bin_of(st)));
    if (results == 0)
        TRY(add(b, m, svc, S_RAG_NO_RESULTS, S_EMPTY, S_EMPTY, ut, S_EMPTY, 0.0));
    else if (sim_o != Py_None)
        TRY(add(b, m, svc, S_RAG_SCORED, S_EMPTY, S_EMPTY, ut, S_EMPTY, sim));
    if (sim_o != Py_None) {
        double k = floor(sim * 20 + 1e-9);
        if (k > 19) k = 19;
        if (k < -20) k = -20;
        TRY(add(b, m, svc, S_RAG_SIM_BINS, S_EMPTY, sim_labels[(int)k + 20], ut, S_EMPTY, 0.0));
    }
    PyObject *hit = FIELD(e, kd, F_CACHE_HIT);
    if (hit != Py_True && hit != Py_False) return UNSURE;
    if (hit == Py_True)
        TRY(add(b, m, svc, S_RAG_CACHE_HITS, S_EMPTY, S_EMPTY, ut, S_EMPTY, 0.0));
    SESSION_OR_FAIL(s);
    (void)s;
    return 0;
}

static int on_cache(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                    long long m, PyObject *ut) {
    PyObject *kind = label(b, FIELD(e, kd, F_KIND));
    if (!kind) return -1;
    PyObject *hit = FIELD(e, kd, F_HIT);
    if (hit != Py_True && hit != Py_False) return UNSURE;
    TRY(add(b, m, svc, S_CACHE_LOOKUPS, S_EMPTY, kind, ut, S_EMPTY, hit == Py_True ? 1.0 : 0.0));
    SESSION_OR_FAIL(s);
    (void)s;
    return 0;
}

static int on_connection(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                         long long m, PyObject *ut) {
    if (!PyUnicode_CheckExact(FIELD(e, kd, F_ACTION))) return UNSURE;
    PyObject *action = label(b, FIELD(e, kd, F_ACTION));
    PyObject *channel = action ? label(b, FIELD(e, kd, F_CHANNEL)) : NULL;
    if (!channel) return -1;
    TRY(add(b, m, svc, S_CONNECTIONS, S_EMPTY, action, ut, channel, 0.0));
    SESSION_OR_FAIL(s);
    if (s) {
        if (!truthy(s->channel)) s->channel = channel;
        int disconnect = PyUnicode_CompareWithASCIIString(action, "disconnect") == 0;
        s->open_connections += disconnect ? -1 : 1;
        if (PyUnicode_CompareWithASCIIString(action, "connect") == 0) {
            if (!s->connects && !(s->connects = PyList_New(0))) return -1;
            PyObject *item = Py_BuildValue("(dOO)", ts, ut, channel);
            if (!item) return -1;
            int r = PyList_Append(s->connects, item);
            Py_DECREF(item);
            if (r < 0) return -1;
        }
        if (PyUnicode_CompareWithASCIIString(action, "reconnect") == 0) {
            s->reconnects += 1;
            if (!s->has_first_reconnect || ts < s->first_reconnect) {
                s->first_reconnect = ts;
                s->has_first_reconnect = 1;
            }
        }
    }
    return 0;
}

static int on_session_started(Batch *b, PyObject *e, const Kind *kd, PyObject *svc,
                              double ts, long long m, PyObject *ut) {
    (void)m;
    (void)ut;
    SESSION_OR_FAIL(s);
    if (s) {
        PyObject *channel = label(b, FIELD(e, kd, F_CHANNEL));
        if (!channel) return -1;
        s->channel = channel;
        if (!s->has_started || ts < s->started_at) s->started_at = ts; /* min(started, ts) */
        s->has_started = 1;
    }
    return 0;
}

static int on_session_ended(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                            long long m, PyObject *ut) {
    PyObject *channel = label_or_empty(b, FIELD(e, kd, F_CHANNEL));
    if (!channel) return -1;
    TRY(add(b, m, svc, S_SESSIONS_ENDED, S_EMPTY, S_EMPTY, ut, channel, 0.0));
    SESSION_OR_FAIL(s);
    if (s) {
        if (!s->has_ended || ts > s->ended_at) s->ended_at = ts; /* max(ended, ts) */
        s->has_ended = 1;
    }
    return 0;
}

static int on_feedback(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                       long long m, PyObject *ut) {
    PyObject *rating_o = FIELD(e, kd, F_RATING);
    long long rating = 0;
    if (rating_o != Py_None) {
        if (!as_long(rating_o, &rating) || rating < 1 || rating > 5) return UNSURE;
        TRY(add(b, m, svc, S_RATINGS, S_EMPTY, rating_labels[rating], ut, S_EMPTY,
                (double)rating));
    }
    PyObject *thumbs = FIELD(e, kd, F_THUMBS);
    if (thumbs != Py_None) {
        PyObject *t = label(b, thumbs);
        if (!t) return -1;
        TRY(add(b, m, svc, S_THUMBS, S_EMPTY, t, ut, S_EMPTY, 0.0));
    }
    SESSION_OR_FAIL(s);
    if (s && rating_o != Py_None) {
        s->rating_sum += rating;
        s->rating_n += 1;
    }
    return 0;
}

static int on_escalation(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                         long long m, PyObject *ut) {
    TRY(add(b, m, svc, S_ESCALATIONS, S_EMPTY, S_EMPTY, ut, S_EMPTY, 0.0));
    SESSION_OR_FAIL(s);
    if (s) {
        if (!s->has_escalated || ts < s->escalated_at) s->escalated_at = ts;
        s->has_escalated = 1;
    }
    return 0;
}

static int on_message(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                      long long m, PyObject *ut) {
    if (!PyUnicode_CheckExact(FIELD(e, kd, F_SENDER))) return UNSURE;
    PyObject *sender = label(b, FIELD(e, kd, F_SENDER));
    if (!sender) return -1;
    TRY(add(b, m, svc, S_MESSAGES, S_EMPTY, sender, ut, S_EMPTY, 0.0));
    if (PyUnicode_CompareWithASCIIString(sender, "user") == 0)
        TRY(user_message(b, svc, FIELD(e, kd, F_USER), ts));
    SESSION_OR_FAIL(s);
    if (s) s->messages += 1;
    return 0;
}

static int on_heartbeat(Batch *b, PyObject *e, const Kind *kd, PyObject *svc, double ts,
                        long long m, PyObject *ut) {
    (void)e;
    (void)kd;
    (void)ts;
    return add(b, m, svc, S_HEARTBEATS, S_EMPTY, S_EMPTY, ut, S_EMPTY, 0.0);
}

typedef int (*Handler)(Batch *, PyObject *, const Kind *, PyObject *, double, long long,
                       PyObject *);
static Handler handlers[N_KINDS] = {
    on_turn, on_llm, on_rag, on_cache, on_connection, on_session_started,
    on_session_ended, on_feedback, on_escalation, on_message, on_heartbeat,
};

/* ---- results as Python objects ------------------------------------------------------- */

/* (bucket, k[0] .. k[n-1]) and, with `extra`, the cell's integer last */
static PyObject *make_key(Cell *c, int n, int extra) {
    PyObject *key = PyTuple_New(1 + n + extra);
    if (!key) return NULL;
    PyObject *bucket = PyLong_FromLongLong(c->bucket);
    if (!bucket) {
        Py_DECREF(key);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, bucket);
    for (int i = 0; i < n; i++) PyTuple_SET_ITEM(key, 1 + i, Py_NewRef(c->k[i]));
    if (extra) {
        PyObject *x = PyLong_FromLongLong(c->extra);
        if (!x) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, 1 + n, x);
    }
    return key;
}

static PyObject *counts_dict(Table *t) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (Py_ssize_t i = 0; i < t->len; i++) {
        Cell *c = &t->cells[i];
        PyObject *key = make_key(c, 6, 0);
        PyObject *cell = key ? PyList_New(2) : NULL;
        if (cell) {
            PyObject *n = PyLong_FromLongLong(c->n), *t = n ? PyFloat_FromDouble(c->t) : NULL;
            if (!t) {
                Py_XDECREF(n);
                Py_CLEAR(cell);
            } else {
                PyList_SET_ITEM(cell, 0, n);
                PyList_SET_ITEM(cell, 1, t);
            }
        }
        if (!cell || PyDict_SetItem(d, key, cell) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(cell);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(cell);
    }
    return d;
}

static PyObject *hist_dict(Table *t) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (Py_ssize_t i = 0; i < t->len; i++) {
        Cell *c = &t->cells[i];
        PyObject *key = make_key(c, 5, 1);
        PyObject *n = key ? PyLong_FromLongLong(c->n) : NULL;
        if (!n || PyDict_SetItem(d, key, n) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(n);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(n);
    }
    return d;
}

static PyObject *users_dict(Table *t, int usage) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (Py_ssize_t i = 0; i < t->len; i++) {
        Cell *c = &t->cells[i];
        PyObject *key = make_key(c, 2, 0);
        PyObject *v = NULL;
        if (key) v = usage ? Py_BuildValue("[ddd]", c->t, c->t2, c->t3) : PyLong_FromLongLong(c->n);
        if (!v || PyDict_SetItem(d, key, v) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(v);
    }
    return d;
}

/* an attribute of a new SessionDelta (stored in the instance's inline values, no dict) */
static int set_attr(PyObject *obj, int attr, PyObject *value) {
    if (!value) return -1;
    int r = PyObject_GenericSetAttr(obj, session_attrs[attr], value);
    Py_DECREF(value);
    return r;
}

#define SET_OBJ(a, v) TRY_S(PyObject_GenericSetAttr(obj, session_attrs[a], (v)))
#define TRY_S(x)       \
    do {               \
        if ((x) < 0) { \
            Py_DECREF(obj);  \
            Py_DECREF(d);    \
            Py_DECREF(noargs); \
            return NULL;     \
        }              \
    } while (0)

/* SessionDelta objects as SessionDelta.first makes them: the fields at their defaults are
 * read from the class */
static PyObject *sessions_dict(Sessions *ss) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    PyObject *noargs = PyTuple_New(0);
    if (!noargs) {
        Py_DECREF(d);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < ss->len; i++) {
        Sess *s = &ss->items[i];
        PyObject *obj = PyBaseObject_Type.tp_new(session_cls, noargs, NULL);
        if (!obj) {
            Py_DECREF(noargs);
            Py_DECREF(d);
            return NULL;
        }
        SET_OBJ(A_SERVICE, s->service);
        SET_OBJ(A_SESSION, s->session_id);
        SET_OBJ(A_USER, s->user_id);
        SET_OBJ(A_UTYPE, s->user_type);
        TRY_S(set_attr(obj, A_LAST_SEEN, PyFloat_FromDouble(s->last_seen)));
        TRY_S(set_attr(obj, A_FIRST_SEEN, PyFloat_FromDouble(s->first_seen)));
        if (s->channel != Py_None) SET_OBJ(A_CHANNEL, s->channel);
        if (s->has_started) TRY_S(set_attr(obj, A_STARTED, PyFloat_FromDouble(s->started_at)));
        if (s->has_ended) TRY_S(set_attr(obj, A_ENDED, PyFloat_FromDouble(s->ended_at)));
        if (s->turns) TRY_S(set_attr(obj, A_TURNS, PyLong_FromLongLong(s->turns)));
        if (s->errors) TRY_S(set_attr(obj, A_ERRORS, PyLong_FromLongLong(s->errors)));
        if (s->messages) TRY_S(set_attr(obj, A_MESSAGES, PyLong_FromLongLong(s->messages)));
        if (s->reconnects)
            TRY_S(set_attr(obj, A_RECONNECTS, PyLong_FromLongLong(s->reconnects)));
        if (s->has_first_reconnect)
            TRY_S(set_attr(obj, A_FIRST_RECONNECT, PyFloat_FromDouble(s->first_reconnect)));
        if (s->open_connections)
            TRY_S(set_attr(obj, A_OPEN, PyLong_FromLongLong(s->open_connections)));
        if (s->has_escalated)
            TRY_S(set_attr(obj, A_ESCALATED, PyFloat_FromDouble(s->escalated_at)));
        if (s->rating_n) {
            TRY_S(set_attr(obj, A_RATING_SUM, PyLong_FromLongLong(s->rating_sum)));
            TRY_S(set_attr(obj, A_RATING_N, PyLong_FromLongLong(s->rating_n)));
        }
        if (s->connects) TRY_S(set_attr(obj, A_CONNECTS, PyList_AsTuple(s->connects)));
        PyObject *key = PyTuple_Pack(2, s->service, s->session_id);
        if (!key || PyDict_SetItem(d, key, obj) < 0) {
            Py_XDECREF(key);
            Py_DECREF(obj);
            Py_DECREF(noargs);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(obj);
    }
    Py_DECREF(noargs);
    return d;
}

/* ---- the module's functions ----------------------------------------------------------- */

static void batch_free(Batch *b) {
    table_free(&b->counts);
    table_free(&b->hist);
    table_free(&b->users);
    table_free(&b->usage);
    sessions_free(&b->sessions);
    Py_XDECREF(b->prices);
    Py_XDECREF(b->runs);
}

static PyObject *compute(PyObject *self, PyObject *arg) {
    (void)self;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "chatwatch.store._delta: setup() not called");
        return NULL;
    }
    if (!PyList_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "compute() takes a list of events");
        return NULL;
    }
    Batch b;
    memset(&b, 0, sizeof(b));
    b.batch = arg;
    b.minute.w = 60.0;
    b.hour.w = 3600.0;
    b.day.w = 86400.0;
    PyObject *result = NULL;
    if (table_init(&b.counts) < 0 || table_init(&b.hist) < 0 || table_init(&b.users) < 0 ||
        table_init(&b.usage) < 0 || sessions_init(&b.sessions) < 0)
        goto done;
    if (!(b.prices = PyDict_New())) goto done;
    Py_ssize_t len = PyList_GET_SIZE(arg);
    int last = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *e = PyList_GET_ITEM(arg, i);
        PyTypeObject *type = Py_TYPE(e);
        int k = last;
        if (kinds[k].cls != type) {
            for (k = 0; k < N_KINDS && kinds[k].cls != type; k++) {
            }
            if (k == N_KINDS) goto unsure;
            last = k;
        }
        const Kind *kd = &kinds[k];
        for (int f = 0; f < N_FIELDS; f++) { /* every slot filled (msgspec fills them all) */
            if (kd->off[f] >= 0 && FIELD(e, kd, f) == NULL) goto unsure;
        }
        double ts;
        PyObject *svc_raw = FIELD(e, kd, F_SERVICE), *ut_raw = FIELD(e, kd, F_UTYPE);
        if (!as_double(FIELD(e, kd, F_TS), &ts) || !PyUnicode_CheckExact(svc_raw) ||
            (ut_raw != Py_None && !PyUnicode_CheckExact(ut_raw)))
            goto unsure;
        PyObject *svc = label(&b, svc_raw);
        PyObject *ut = svc ? label_or_empty(&b, ut_raw) : NULL;
        if (!ut) goto done;
        long long m = floored(&b.minute, ts);
        int r = handlers[k](&b, e, kd, svc, ts, m, ut);
        if (r < 0) goto done;
        if (r == UNSURE || b.unsure) goto unsure;
    }
    {
        PyObject *counts = counts_dict(&b.counts);
        PyObject *hist = counts ? hist_dict(&b.hist) : NULL;
        PyObject *sessions = hist ? sessions_dict(&b.sessions) : NULL;
        PyObject *users = sessions ? users_dict(&b.users, 0) : NULL;
        PyObject *usage = users ? users_dict(&b.usage, 1) : NULL;
        if (usage) result = PyTuple_Pack(5, counts, hist, sessions, users, usage);
        Py_XDECREF(counts);
        Py_XDECREF(hist);
        Py_XDECREF(sessions);
        Py_XDECREF(users);
        Py_XDECREF(usage);
    }
    goto done;
unsure:
    result = Py_NewRef(Py_None);
done:
    batch_free(&b);
    return result;
}

static int intern_constant(PyObject **slot, const char *text) {
    *slot = PyUnicode_InternFromString(text);
    return *slot ? 0 : -1;
}

static int take_constant(PyObject **slot, PyObject *value) {
    if (!PyUnicode_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "a label constant must be a str");
        return -1;
    }
    *slot = Py_NewRef(value);
    return 0;
}

/* setup(classes, session_cls, prom_buckets, prom_labels, sim_labels, min_value, log_gamma,
 *       zero_bin, price_of, cost_usd): once, from chatwatch.store.rollup */
static PyObject *setup(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *classes, *sess, *buckets, *plabels, *slabels, *pof, *cfn;
    double minv, lg;
    long long zb;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!ddLOO", &PyDict_Type, &classes, &PyType_Type, &sess,
                          &PyTuple_Type, &buckets, &PyTuple_Type, &plabels, &PyTuple_Type,
                          &slabels, &minv, &lg, &zb, &pof, &cfn))
        return NULL;
    if (configured) Py_RETURN_NONE;
    if (PyTuple_GET_SIZE(buckets) != N_PROM || PyTuple_GET_SIZE(plabels) != N_PROM + 1 ||
        PyTuple_GET_SIZE(slabels) != 40) {
        PyErr_SetString(PyExc_ValueError, "unexpected bucket or label tables");
        return NULL;
    }
    for (int i = 0; i < N_PROM; i++) {
        prom_buckets[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(buckets, i));
        if (PyErr_Occurred()) return NULL;
    }
    for (int i = 0; i <= N_PROM; i++)
        if (take_constant(&prom_labels[i], PyTuple_GET_ITEM(plabels, i)) < 0) return NULL;
    for (int i = 0; i < 40; i++)
        if (take_constant(&sim_labels[i], PyTuple_GET_ITEM(slabels, i)) < 0) return NULL;
    for (int i = 0; i < N_SERIES; i++)
        if (intern_constant(&series[i], SERIES_NAMES[i]) < 0) return NULL;
    static const char *ratings[6] = {"0", "1", "2", "3", "4", "5"};
    for (int i = 0; i < 6; i++)
        if (intern_constant(&rating_labels[i], ratings[i]) < 0) return NULL;
    for (int i = 0; i < 100; i++) {
        char text[4];
        snprintf(text, sizeof(text), "%d", 400 + i);
        if (intern_constant(&status_labels[i], text) < 0) return NULL;
    }
    if (intern_constant(&S_EMPTY, "") < 0 || intern_constant(&S_UNKNOWN, "unknown") < 0 ||
        intern_constant(&S_ASSISTANT, "assistant") < 0)
        return NULL;
    for (int i = 0; i < 20; i++)
        if (!(session_attrs[i] = PyUnicode_InternFromString(SESSION_ATTRS[i]))) return NULL;
    for (int k = 0; k < N_KINDS; k++) {
        PyObject *cls = PyDict_GetItemString(classes, KIND_TAGS[k]);
        if (!cls || !PyType_Check(cls)) {
            PyErr_Format(PyExc_ValueError, "no class for %s", KIND_TAGS[k]);
            return NULL;
        }
        Kind *kd = &kinds[k];
        kd->cls = (PyTypeObject *)Py_NewRef(cls);
        if (!(kd->tag = PyObject_GetAttrString(cls, "type"))) return NULL;
        for (int f = 0; f < N_FIELDS; f++) {
            kd->off[f] = -1;
            PyObject *name = PyUnicode_InternFromString(FIELD_NAMES[f]);
            if (!name) return NULL;
            PyObject *descr = _PyType_Lookup(kd->cls, name); /* borrowed */
            Py_DECREF(name);
            if (descr == NULL) continue;
            if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) continue; /* a ClassVar, a property */
            PyMemberDef *def = ((PyMemberDescrObject *)descr)->d_member;
            if (def->type != T_OBJECT_EX && def->type != T_OBJECT) {
                PyErr_Format(PyExc_ValueError, "%s.%s is not an object slot", KIND_TAGS[k],
                             FIELD_NAMES[f]);
                return NULL;
            }
            kd->off[f] = def->offset;
        }
    }
    /* what every handler reads must be there */
    static const int common[] = {F_ID, F_TS, F_SERVICE, F_SESSION, F_USER, F_UTYPE};
    for (int k = 0; k < N_KINDS; k++)
        for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
            if (kinds[k].off[common[i]] < 0) {
                PyErr_Format(PyExc_ValueError, "%s has no %s", KIND_TAGS[k],
                             FIELD_NAMES[common[i]]);
                return NULL;
            }
    session_cls = (PyTypeObject *)Py_NewRef(sess);
    price_of = Py_NewRef(pof);
    cost_usd_fn = Py_NewRef(cfn);
    min_value = minv;
    log_gamma = lg;
    zero_bin = zb;
    configured = 1;
    Py_RETURN_NONE;
}


/* ---- rows ----------------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t n;
    PyObject **names;
    Py_ssize_t *offs;
} DataFields;

static DataFields data_fields[N_KINDS][2]; /* [kind][store_text] */
static PyObject *encode_fn, *S_COST_USD;
static int rows_configured = 0;

/* setup_rows(fields, encode): fields maps a type to (data fields without texts, with
 * texts), in the Struct's order; encode is msgspec's JSON encoder */
static PyObject *setup_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *fields, *enc;
    if (!PyArg_ParseTuple(args, "O!O", &PyDict_Type, &fields, &enc)) return NULL;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    if (rows_configured) Py_RETURN_NONE;
    for (int k = 0; k < N_KINDS; k++) {
        PyObject *pair = PyDict_GetItemString(fields, KIND_TAGS[k]);
        if (!pair || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_Format(PyExc_ValueError, "no data fields for %s", KIND_TAGS[k]);
            return NULL;
        }
        for (int t = 0; t < 2; t++) {
            PyObject *names = PyTuple_GET_ITEM(pair, t);
            if (!PyTuple_Check(names)) {
                PyErr_SetString(PyExc_TypeError, "data fields are a tuple of names");
                return NULL;
            }
            DataFields *df = &data_fields[k][t];
            df->n = PyTuple_GET_SIZE(names);
            df->names = PyMem_Calloc((size_t)df->n + 1, sizeof(PyObject *));
            df->offs = PyMem_Calloc((size_t)df->n + 1, sizeof(Py_ssize_t));
            if (!df->names || !df->offs) {
                PyErr_NoMemory();
                return NULL;
            }
            for (Py_ssize_t i = 0; i < df->n; i++) {
                PyObject *name = PyTuple_GET_ITEM(names, i);
                if (!PyUnicode_CheckExact(name)) {
                    PyErr_SetString(PyExc_TypeError, "a field name is a str");
                    return NULL;
                }
                PyObject *descr = _PyType_Lookup(kinds[k].cls, name);
                if (!descr || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
                    PyErr_Format(PyExc_ValueError, "%s has no slot %U", KIND_TAGS[k], name);
                    return NULL;
                }
                Py_INCREF(name);
                PyUnicode_InternInPlace(&name);
                df->names[i] = name;
                df->offs[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
            }
        }
    }
    if (!(S_COST_USD = PyUnicode_InternFromString("cost_usd"))) return NULL;
    encode_fn = Py_NewRef(enc);
    rows_configured = 1;
    Py_RETURN_NONE;
}

static inline int atomic(PyObject *v) { return v == Py_None || PyUnicode_CheckExact(v); }

/* One row: (id, ts, type, service, session_id, run_id, user_id, data JSON) */
static PyObject *make_row(PyObject *e, const Kind *kd, int k, int store_text,
                          PyObject *prices, int *unsure) {
    const DataFields *df = &data_fields[k][store_text];
    PyObject *data = PyDict_New();
    if (!data) return NULL;
    for (Py_ssize_t i = 0; i < df->n; i++) {
        PyObject *v = *(PyObject **)((char *)e + df->offs[i]);
        if (v == NULL) {
            *unsure = 1;
            Py_DECREF(data);
            return NULL;
        }
        if (v != Py_None && PyDict_SetItem(data, df->names[i], v) < 0) {
            Py_DECREF(data);
            return NULL;
        }
    }
    if (k == K_LLM && FIELD(e, kd, F_COST) == Py_None) {
        PyObject *model = FIELD(e, kd, F_MODEL);
        double cost;
        int priced = PyUnicode_CheckExact(model) ? priced_cost(prices, e, kd, model, &cost)
                                                 : UNSURE + 1;
        if (priced < 0 || priced > 1) {
            *unsure = priced > 1;
            Py_DECREF(data);
            return NULL;
        }
        if (priced) {
            PyObject *c = PyFloat_FromDouble(cost);
            int r = c ? PyDict_SetItem(data, S_COST_USD, c) : -1;
            Py_XDECREF(c);
            if (r < 0) {
                Py_DECREF(data);
                return NULL;
            }
        }
    }
    PyObject *encoded = PyObject_CallOneArg(encode_fn, data);
    Py_DECREF(data);
    if (!encoded) return NULL;
    if (!PyBytes_CheckExact(encoded)) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_TypeError, "the encoder gives bytes");
        return NULL;
    }
    PyObject *text =
        PyUnicode_DecodeUTF8(PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded), NULL);
    Py_DECREF(encoded);
    if (!text) return NULL;
    PyObject *run = kd->off[F_RUN] >= 0 ? FIELD(e, kd, F_RUN) : Py_None;
    PyObject *row = PyTuple_Pack(8, FIELD(e, kd, F_ID), FIELD(e, kd, F_TS), kd->tag,
                                 FIELD(e, kd, F_SERVICE), FIELD(e, kd, F_SESSION), run,
                                 FIELD(e, kd, F_USER), text);
    Py_DECREF(text);
    /* strings, a float and None only: it can be in no cycle, so the collector need not
     * visit it (a young collection otherwise walks every row of every group in flight) */
    if (row && atomic(FIELD(e, kd, F_SERVICE)) && atomic(FIELD(e, kd, F_SESSION)) &&
        atomic(run) && atomic(FIELD(e, kd, F_USER)))
        PyObject_GC_UnTrack(row);
    return row;
}

/* rows(batch, store_text) -> (unique events by id, rows by id, earliest ts) or None */
static PyObject *rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *batch;
    int store_text;
    if (!PyArg_ParseTuple(args, "O!p", &PyList_Type, &batch, &store_text)) return NULL;
    if (!rows_configured) {
        PyErr_SetString(PyExc_RuntimeError, "chatwatch.store._delta: setup_rows() not called");
        return NULL;
    }
    PyObject *unique = PyDict_New(), *out = PyDict_New(), *prices = PyDict_New();
    PyObject *result = NULL;
    double min_ts = 0.0;
    int any = 0, unsure = 0, last = 0;
    if (!unique || !out || !prices) goto done;
    Py_ssize_t len = PyList_GET_SIZE(batch);
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *e = PyList_GET_ITEM(batch, i);
        int k = last;
        if (kinds[k].cls != Py_TYPE(e)) {
            for (k = 0; k < N_KINDS && kinds[k].cls != Py_TYPE(e); k++) {
            }
            if (k == N_KINDS) goto unsure;
            last = k;
        }
        const Kind *kd = &kinds[k];
        PyObject *id = FIELD(e, kd, F_ID), *ts_o = FIELD(e, kd, F_TS);
        if (!id || !PyUnicode_CheckExact(id) || !ts_o || !PyFloat_CheckExact(ts_o) ||
            !FIELD(e, kd, F_SERVICE) || !FIELD(e, kd, F_SESSION) || !FIELD(e, kd, F_USER) ||
            (kd->off[F_RUN] >= 0 && !FIELD(e, kd, F_RUN)))
            goto unsure;
        PyObject *first = PyDict_SetDefault(unique, id, e);
        if (!first) goto done;
        if (first != e) continue; /* a repeat of an id in the batch: the first one counts */
        PyObject *row = make_row(e, kd, k, store_text, prices, &unsure);
        if (!row) {
            if (unsure) goto unsure;
            goto done;
        }
        int r = PyDict_SetItem(out, id, row);
        Py_DECREF(row);
        if (r < 0) goto done;
        double ts = PyFloat_AS_DOUBLE(ts_o);
        if (!any || ts < min_ts) min_ts = ts; /* min(): the first of equal ones */
        any = 1;
    }
    result = Py_BuildValue("(OOd)", unique, out, min_ts);
    goto done;
unsure:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(unique);
    Py_XDECREF(out);
    Py_XDECREF(prices);
    return result;
}

/* ---- merging increments ------------------------------------------------------------ */

/* rollup.add_counts and rollup.add_cells in C: the group writer and the fold add every
 * batch's increments key by key. Each key's hash is taken from the dict it comes from
 * (Python hashes the 7-tuple again for the lookup and again for the store); the values
 * are added with the number protocol, so the results are Python's own. */

static PyObject *merge_counts(PyObject *self, PyObject *args) {
    static PyObject *zero;
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) return NULL;
    PyObject *into, *more;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &into, &PyDict_Type, &more)) return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *n;
    Py_hash_t hash;
    while (_PyDict_Next(more, &pos, &key, &n, &hash)) {
        PyObject *old = _PyDict_GetItem_KnownHash(into, key, hash);
        if (old == NULL) {
            if (PyErr_Occurred()) return NULL;
            /* Python stores into.get(key, 0) + n: 0 + n, which is n itself for an int
             * or a float and whatever the number protocol gives for anything else */
            if (PyLong_CheckExact(n) || PyFloat_CheckExact(n)) {
                if (_PyDict_SetItem_KnownHash(into, key, n, hash) < 0) return NULL;
                continue;
            }
            old = zero;
        }
        PyObject *sum = PyNumber_Add(old, n);
        if (sum == NULL) return NULL;
        int failed = _PyDict_SetItem_KnownHash(into, key, sum, hash);
        Py_DECREF(sum);
        if (failed < 0) return NULL;
    }
    Py_RETURN_NONE;
}

static int is_cell(PyObject *cell, Py_ssize_t width) {
    if (PyList_CheckExact(cell) && PyList_GET_SIZE(cell) == width) return 1;
    PyErr_Format(PyExc_ValueError, "merge_cells: a cell is a list of %zd numbers", width);
    return 0;
}

static PyObject *merge_cells(PyObject *self, PyObject *args) {
    PyObject *into, *more;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "O!O!n", &PyDict_Type, &into, &PyDict_Type, &more, &width))
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *cell;
    Py_hash_t hash;
    while (_PyDict_Next(more, &pos, &key, &cell, &hash)) {
        if (!is_cell(cell, width)) return NULL;
        PyObject *old = _PyDict_GetItem_KnownHash(into, key, hash);
        if (old == NULL) {
            if (PyErr_Occurred()) return NULL;
            PyObject *copy = PyList_GetSlice(cell, 0, width); /* a new list, as Python's */
            if (copy == NULL) return NULL;
            int failed = _PyDict_SetItem_KnownHash(into, key, copy, hash);
            Py_DECREF(copy);
            if (failed < 0) return NULL;
            continue;
        }
        if (!is_cell(old, width)) return NULL;
        for (Py_ssize_t i = 0; i < width; i++) {
            PyObject *sum = PyNumber_InPlaceAdd(PyList_GET_ITEM(old, i), PyList_GET_ITEM(cell, i));
            if (sum == NULL) return NULL;
            PyList_SetItem(old, i, sum); /* steals sum, drops the old number */
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Read the event classes and the constant tables (once)."},
    {"compute", compute, METH_O,
     "(counts, hist, sessions, users, usage) of a list of msgspec events, or None when an "
     "event is not one this code reads (the caller then uses the Python definition)."},
    {"setup_rows", setup_rows, METH_VARARGS, "Read the data fields of each event class (once)."},
    {"merge_counts", merge_counts, METH_VARARGS,
     "Add integer counts key by key into the first dict (rollup.add_counts)."},
    {"merge_cells", merge_cells, METH_VARARGS,
     "Add cells (lists of `width` numbers) key by key into the first dict (rollup.add_cells)."},
    {"rows", rows, METH_VARARGS,
     "(unique events by id, rows by id, earliest ts) of a list of msgspec events, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_delta", "Rollup increments of a batch, in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__delta(void) { return PyModule_Create(&module); }
