"""The README's Django idiom is the one the daphne tests run: its ``asgi.py`` is the test
project's (tests/integrations/djproject), statement for statement, and its consumer uses
the same mixin, order and turn."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
README = (HERE.parents[1] / "README.md").read_text()


def _block(marker: str) -> str:
    """The README's python block that starts with the comment ``marker``."""
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        if block.startswith(marker):
            return str(block)
    raise AssertionError(f"README has no python block starting {marker!r}")


def _statements(source: str) -> list[str]:
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return [
        ast.dump(node)
        for node in body
        if not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]


def test_readme_asgi_py_is_the_tested_one() -> None:
    readme = _block("# asgi.py").replace("mysite.", "djproject.").replace("chat.", "djproject.")
    tested = (HERE / "djproject" / "asgi.py").read_text()
    assert _statements(readme) == _statements(tested)


def test_readme_consumer_is_shaped_like_the_tested_one() -> None:
    readme = _block("# chat/consumers.py")
    tested = (HERE / "djproject" / "consumers.py").read_text()
    for source in (readme, tested):
        tree = ast.parse(source)
        (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert [ast.unparse(b) for b in cls.bases] == [
            "ChatwatchConsumerMixin",
            "AsyncWebsocketConsumer",
        ]
        assert "chatwatch.current_turn()" in ast.unparse(cls)
    assert 'path("ws/chat/<str:session_id>/", ChatConsumer.as_asgi())' in readme
    assert (
        'path("ws/chat/<str:session_id>/", ChatConsumer.as_asgi())'
        in (HERE / "djproject" / "routing.py").read_text()
    )


def test_readme_settings_name_what_the_test_project_sets() -> None:
    readme = _block("# settings.py")
    tested = (HERE / "djproject" / "settings.py").read_text()
    for key in ('"URL"', '"API_KEY"', '"SERVICE"', '"DATABASE_URL"'):
        assert key in readme and key in tested
    for line in ("chatwatch.integrations.django", '"channels"', '"daphne"', "logging_config("):
        assert line in readme and line in tested
    assert "sentry_options(integrations=[DjangoIntegration()])" in readme
    assert "sentry_options(integrations=[DjangoIntegration()])" in tested
