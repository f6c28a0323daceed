"""The compiled parts: the rollup increments and rows of a batch (src/chatwatch/store/_delta.c)
and SQLite inserts with the interpreter released (src/chatwatch/store/_bulk.c).

Optional: where they cannot be built (no C compiler), chatwatch runs on the Python
definitions in chatwatch/store/rollup.py and writer.py, which give the same figures, and on
the sqlite3 driver's executemany.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
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
