"""The company's ERP, an Oracle database reached with python-oracledb in thin mode (no Oracle
client libraries): where it is, from the seed's `[oracle]` settings or one SQLAlchemy URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import URL, make_url


def erp_url(config: Mapping[str, Any]) -> URL | None:
    """ERP_DATABASE_URL, else ERP_ORACLE_HOST/_SERVICE_NAME with _PORT, _USER and _PASSWORD;
    None when neither is set."""
    if config.get("ERP_DATABASE_URL"):
        return make_url(config["ERP_DATABASE_URL"])
    if not (config.get("ERP_ORACLE_HOST") and config.get("ERP_ORACLE_SERVICE_NAME")):
        return None
    return URL.create(
        "oracle+oracledb",
        username=config.get("ERP_ORACLE_USER") or None,
        password=config.get("ERP_ORACLE_PASSWORD") or None,
        host=config["ERP_ORACLE_HOST"],
        port=int(config.get("ERP_ORACLE_PORT") or 1521),
        query={"service_name": config["ERP_ORACLE_SERVICE_NAME"]},
    )
