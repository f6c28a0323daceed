"""The compiled parts: the per-event checks of a decoded batch (src/chatwatch/_batch_check.c),
the rollup increments and rows of a batch (src/chatwatch/store/_delta.c) and SQLite inserts
with the interpreter released (src/chatwatch/store/_bulk.c).

Optional: where they cannot be built (no C compiler), chatwatch runs on the Python
definitions in chatwatch/events_fast.py, store/rollup.py and writer.py, which give the same
verdicts and figures, and on
the sqlite3 driver's executemany.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chatwatch._batch_check",
            ["src/chatwatch/_batch_check.c"],
            extra_compile_args=["-O2", "-Wall"],
            optional=True,
        ),
        Extension(
            "chatwatch.store._delta",
            ["src/chatwatch/store/_delta.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
            optional=True,
        ),
        Extension(
            "chatwatch.store._bulk",
            ["src/chatwatch/store/_bulk.c"],
            extra_compile_args=["-O2", "-Wall"],
            optional=True,
        ),
    ]
)
