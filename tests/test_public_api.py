"""The public API is what ``__all__`` says, sorted, and each name is importable."""

import chatkit_backend


def test_all_is_sorted_and_importable() -> None:
    names = chatkit_backend.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(chatkit_backend, name), name


def test_create_app_and_settings_are_exported() -> None:
    assert {"create_app", "Settings", "RequestContext", "BackendServer"} <= set(
        chatkit_backend.__all__
    )


def test_all_matches_the_lazy_exports() -> None:
    assert set(chatkit_backend.__all__) == {*chatkit_backend._EXPORTS, "__version__"}
