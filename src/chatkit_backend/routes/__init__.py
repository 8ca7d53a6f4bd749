"""HTTP routes. Route modules never use ``from __future__ import annotations``:
FastAPI must see real classes to recognise ``Request`` parameters."""
