"""Tests of the assistant responder (issue #5)."""
