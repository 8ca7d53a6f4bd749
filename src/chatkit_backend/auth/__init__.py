"""Authentication and rate limits: build the per-request ``RequestContext``."""

from chatkit_backend.auth.builder import context_builder, locale_of
from chatkit_backend.auth.limits import Limiter, NoLimiter, limiter_from_settings

__all__ = ["Limiter", "NoLimiter", "context_builder", "limiter_from_settings", "locale_of"]
