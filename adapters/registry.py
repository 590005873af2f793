"""Vendor name -> adapter, so nothing outside adapters/ imports a vendor module or branches on a vendor name.

Vendor modules are imported only when asked for: a deployment that runs Zendesk alone never imports the
others' code (or their optional dependencies).
"""
from __future__ import annotations

import importlib
from typing import Any

from adapters.base import HelpdeskAdapter
from bot.config import VENDORS, Settings
from bot.errors import BadInput

# vendor -> (module, class). Freshdesk and Intercom register here when their adapters land.
_ADAPTERS: dict[str, tuple[str, str]] = {
    "zendesk": ("adapters.zendesk", "ZendeskAdapter"),
}


def registered() -> tuple[str, ...]:
    return tuple(_ADAPTERS)


def get_adapter(vendor: str, settings: Settings, **options: Any) -> HelpdeskAdapter:
    """The adapter for `vendor`, built from that vendor's settings; options go to the adapter (on_call=...).

    Raises BadInput for a vendor we do not know, one without an adapter yet, or one whose settings are absent.
    """
    if vendor not in VENDORS:
        raise BadInput(f"vendor: unknown helpdesk {vendor!r} (one of {', '.join(VENDORS)})")
    if vendor not in _ADAPTERS:
        raise BadInput(f"vendor: {vendor} is not supported yet")
    vendor_settings = getattr(settings, vendor, None)
    if vendor_settings is None:
        raise BadInput(f"vendor: {vendor} is not enabled (its settings are not set)")
    module, cls = _ADAPTERS[vendor]
    return getattr(importlib.import_module(module), cls)(vendor_settings, **options)
