"""Fakes of outside services (an OpenAI-compatible model server) for tests."""
