"""The system prompt: static text from ``CHATKIT_INSTRUCTIONS`` or ``CHATKIT_INSTRUCTIONS_FILE``.

It is read once, when the responder is built, and never built from request values.
"""

from chatkit_backend.settings import Settings, SettingsError

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Answer clearly and concisely, and use Markdown where it helps. "
    "When you are not sure of something, say so."
)


def load_instructions(settings: Settings) -> str:
    """The configured system prompt, or the default one."""
    if settings.instructions is not None and settings.instructions_file is not None:
        raise SettingsError("set CHATKIT_INSTRUCTIONS or CHATKIT_INSTRUCTIONS_FILE, not both")
    if settings.instructions_file is not None:
        path = settings.instructions_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(
                f"CHATKIT_INSTRUCTIONS_FILE: cannot read {path}: {exc.strerror}"
            ) from None
        if not text.strip():
            raise SettingsError(f"CHATKIT_INSTRUCTIONS_FILE: {path} is empty")
        return text.strip()
    if settings.instructions is not None and settings.instructions.strip():
        return settings.instructions.strip()
    return DEFAULT_INSTRUCTIONS
