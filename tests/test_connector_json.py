"""How connectors read a response body: fast, and without losing what JSON allows."""

from __future__ import annotations

import pytest

from pmsync.connectors import parse_json


def test_a_body_is_parsed_whatever_the_size_of_its_integers() -> None:
    assert parse_json('[{"number": 7, "title": "ünïcödé <script>"}]') == [
        {"number": 7, "title": "ünïcödé <script>"}
    ]
    huge = 1 << 70  # JSON has no limit; a custom field may hold one
    assert parse_json(f'{{"id": {huge}}}') == {"id": huge}


def test_a_body_that_is_not_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_json("<html>502 Bad Gateway</html>")
