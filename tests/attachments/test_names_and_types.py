"""File names are sanitised, MIME types matched and image signatures recognised."""

import pytest

from chatkit_backend.attachments.mime import mime_allowed, normalize_mime, sniff_image
from chatkit_backend.attachments.names import content_disposition, sanitize_filename
from tests.attachments.helpers import JPEG_HEAD, png_bytes


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("bad\x00name\x07.txt", "badname.txt"),
        ("line\nbreak\r\n.txt", "line break .txt"),
        ("..", "file"),
        ("", "file"),
        ("   ", "file"),
        (".hidden", "hidden"),
        ("résumé café.txt", "résumé café.txt"),
        ("e\u0301te\u0301.txt", "été.txt"),
    ],
)
def test_sanitize_filename_keeps_only_a_safe_last_segment(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_sanitize_filename_caps_length_and_keeps_the_extension() -> None:
    name = sanitize_filename("a" * 400 + ".png")
    assert len(name) == 255
    assert name.endswith("aaa.png")


def test_content_disposition_has_an_ascii_fallback_and_the_exact_utf8_name() -> None:
    header = content_disposition('résumé "final"; v2.pdf', inline=False)
    assert header == (
        'attachment; filename="resume _final__ v2.pdf"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B%20v2.pdf"
    )
    assert (
        content_disposition("../x.png", inline=True)
        == "inline; filename=\"x.png\"; filename*=UTF-8''x.png"
    )


@pytest.mark.parametrize(
    ("declared", "normalized"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("", ""),
        ("png", ""),
        ("image/", ""),
        ("text /plain", ""),
    ],
)
def test_normalize_mime(declared: str, normalized: str) -> None:
    assert normalize_mime(declared) == normalized


def test_mime_allowed_matches_exact_types_and_wildcards() -> None:
    patterns = ["image/png", "text/*"]
    assert mime_allowed("image/png", patterns)
    assert mime_allowed("text/markdown", patterns)
    assert not mime_allowed("image/jpeg", patterns)
    assert not mime_allowed("application/x-msdownload", patterns)
    assert mime_allowed("application/x-msdownload", ["*/*"])


def test_sniff_image_recognises_each_signature() -> None:
    assert sniff_image(png_bytes()[:16]) == "image/png"
    assert sniff_image(JPEG_HEAD) == "image/jpeg"
    assert sniff_image(b"GIF89a\x01\x00\x01\x00") == "image/gif"
    assert sniff_image(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'>") is None
    assert sniff_image(b"") is None
