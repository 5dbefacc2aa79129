"""The app's JSON provider: the seed's documents as Flask would write them, keys in the code's
order, through Flask's public provider interface (jsonify, app.json)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import Flask, jsonify

from helpdesk.core.api import FastJSON, register_json


def app_with(debug: bool = False) -> Flask:
    """A bare app answering JSON through FastJSON."""
    app = Flask(__name__)
    app.debug = debug
    register_json(app)
    return app


def test_jsonify_writes_compact_utf8_in_the_codes_order() -> None:
    app = app_with()
    with app.app_context():
        response = jsonify({"success": True, "data": {"b": 1, "a": "Задача"}, "n": None})
    assert response.mimetype == "application/json"
    body = response.get_data()
    assert body == '{"success":true,"data":{"b":1,"a":"Задача"},"n":null}\n'.encode()


def test_dates_are_iso_and_other_types_go_through_flasks_conversion() -> None:
    app = app_with()
    with app.app_context():
        document = json.loads(
            app.json.dumps(
                {"day": date(2024, 1, 31), "at": datetime(2024, 1, 31, 8, 0, tzinfo=UTC)}
                | {"price": Decimal("1.50")}
            )
        )
    assert document == {"day": "2024-01-31", "at": "2024-01-31T08:00:00Z", "price": "1.50"}


def test_debug_mode_indents_with_the_standard_library_in_the_same_order() -> None:
    app = app_with(debug=True)
    with app.app_context():
        body = jsonify({"b": 1, "a": "é"}).get_data(as_text=True)
    assert body == '{\n  "b": 1,\n  "a": "é"\n}\n'


def test_jsonify_with_arguments_as_flask_reads_them() -> None:
    app = app_with()
    with app.app_context():
        assert json.loads(jsonify(1, 2).get_data()) == [1, 2]
        assert json.loads(jsonify(x=1).get_data()) == {"x": 1}
    assert isinstance(app.json, FastJSON)
