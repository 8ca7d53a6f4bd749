"""The ChatKit server: the default assistant and the request dispatcher."""

from chatkit_backend.server.chatkit_server import BackendServer, Responder
from chatkit_backend.server.dispatch import Dispatcher, Result, parse_request

__all__ = ["BackendServer", "Dispatcher", "Responder", "Result", "parse_request"]
