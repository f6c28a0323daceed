"""Guide 000's logging layout."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatwatch.integrations.logging import logging_config


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ["services.chat", "services.chat.ai_processor"]
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            handler.close()
        logger.handlers = handlers
        logger.propagate = propagate


def test_layout_matches_guide(tmp_path: Path) -> None:
    """Rotating files of 10 MB x 5, an errors-only file and a JSON file, as the guide sets."""
    config = logging_config(tmp_path)
    handlers = config["handlers"]
    for name in ("file", "error_file", "json_file"):
        assert handlers[name]["maxBytes"] == 10 * 1024 * 1024
        assert handlers[name]["backupCount"] == 5
    assert handlers["error_file"]["level"] == "ERROR"
    assert handlers["json_file"]["formatter"] == "json"
    assert config["loggers"]["services.chat"]["handlers"] == [
        "console",
        "file",
        "error_file",
        "json_file",
    ]


def test_records_land_in_the_right_files(tmp_path: Path, restore_logging: None) -> None:
    """INFO goes to the main and JSON logs with its extra fields; ERROR also to the errors log."""
    logging.config.dictConfig(
        logging_config(tmp_path, loggers={"services.chat": ("file", "error_file", "json_file")})
    )
    log = logging.getLogger("services.chat")
    log.info("Message processed", extra={"session_id": "s1", "processing_time_ms": 2500})
    log.error("AI processing error", extra={"error_type": "TimeoutError"})
    for handler in log.handlers:
        handler.flush()
    main = (tmp_path / "chat.log").read_text()
    assert "Message processed" in main and "AI processing error" in main
    errors = (tmp_path / "chat_errors.log").read_text()
    assert "AI processing error" in errors and "Message processed" not in errors
    records = [json.loads(line) for line in (tmp_path / "chat_json.log").read_text().splitlines()]
    slow = [r for r in records if r.get("processing_time_ms", 0) > 2000]
    assert slow and slow[0]["session_id"] == "s1"
