"""The one compiled part: the rollup increments of a batch (src/chatwatch/store/_delta.c).

Optional: where it cannot be built (no C compiler), chatwatch runs on the Python definition
in chatwatch/store/rollup.py, which gives the same figures.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chatwatch.store._delta",
            ["src/chatwatch/store/_delta.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
