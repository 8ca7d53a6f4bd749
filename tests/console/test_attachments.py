"""Attachments in the console: pick or drop a file, upload it two-phase, see the preview."""

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import (
    ChatKitCalls,
    ConsoleWatch,
    open_console,
    png_image,
    screenshot,
    thread_id_of,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 96, 64


def natural_size(page: Page, selector: str) -> list[int]:
    return page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")  # type: ignore[no-any-return]


def test_picked_image_is_uploaded_and_its_preview_shown(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach").click()
    chooser.value.set_files(
        {"name": "gradient.png", "mimeType": "image/png", "buffer": png_image(WIDTH, HEIGHT)}
    )

    chip = page.locator("#pending-attachments .chip")
    expect(chip.locator(".upload-status")).to_have_text("ready")
    assert natural_size(page, "#pending-attachments .chip img.preview") == [WIDTH, HEIGHT]
    screenshot(page, "image-pending")
    labels = page.locator("#exchanges .exchange .label").all_inner_texts()
    assert labels[:2] == ["upload gradient.png", "attachments.create"]
    expect(
        page.locator("#exchanges .exchange[data-label='upload gradient.png'] .status")
    ).to_have_text("200")
    attachment_id = chip.get_attribute("data-attachment-id")
    assert attachment_id

    page.locator("#message").fill("What is in this picture?")
    page.locator("#message").press("Enter")
    wait_until_idle(page)

    preview = page.locator(".item.user .attachments img.preview")
    expect(preview).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('.item.user img.preview')?.naturalWidth > 0"
    )
    assert natural_size(page, ".item.user .attachments img.preview") == [WIDTH, HEIGHT]
    assert (preview.get_attribute("src") or "").startswith("blob:")
    expect(page.locator("#exchanges .exchange[data-label='GET preview'] .status")).to_have_text(
        "200"
    )
    expect(page.locator("#pending-attachments .chip")).to_have_count(0)
    screenshot(page, "image-preview")

    user = next(item for item in calls.items(thread_id_of(page)) if item["type"] == "user_message")
    assert [a["id"] for a in user["attachments"]] == [attachment_id]
    assert user["attachments"][0]["type"] == "image"

    page.reload()  # the preview comes back with the history
    page.wait_for_function(
        "() => document.querySelector('.item.user img.preview')?.naturalWidth > 0"
    )
    assert natural_size(page, ".item.user .attachments img.preview") == [WIDTH, HEIGHT]


def test_dropped_file_is_uploaded_and_sent_with_the_message(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["plain notes\\n"], "notes.txt", { type: "text/plain" }));
            const target = document.getElementById("message");
            for (const type of ["dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }"""
    )
    expect(page.locator("#pending-attachments .chip .upload-status")).to_have_text("ready")
    page.locator("#message").fill("Read my notes")
    page.locator("#send").click()
    wait_until_idle(page)

    expect(page.locator(".item.user .attachments .chip .name")).to_have_text("notes.txt")
    user = next(item for item in calls.items(thread_id_of(page)) if item["type"] == "user_message")
    assert [(a["name"], a["type"], a["mime_type"]) for a in user["attachments"]] == [
        ("notes.txt", "file", "text/plain")
    ]


def test_removing_a_pending_attachment_deletes_it_on_the_server(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.locator("#file-input").set_input_files(
        {"name": "unwanted.png", "mimeType": "image/png", "buffer": png_image(8, 8)}
    )
    chip = page.locator("#pending-attachments .chip")
    expect(chip.locator(".upload-status")).to_have_text("ready")

    page.get_by_role("button", name="Remove unwanted.png").click()

    expect(chip).to_have_count(0)
    delete = page.locator("#exchanges .exchange[data-label='attachments.delete'] .status")
    expect(delete).to_have_text("200")


def test_refused_file_type_shows_the_servers_answer(
    page: Page, console_server: str, watch: ConsoleWatch
) -> None:
    open_console(page, console_server)
    watch.expect_http_error(415, f"{console_server}/chatkit")
    page.locator("#file-input").set_input_files(
        {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00"}
    )

    expect(page.locator("#pending-attachments .chip.failed .upload-status")).to_have_text("failed")
    expect(page.locator("#banner")).to_contain_text(
        "415 unsupported_media_type: attachment type 'application/x-msdownload' is not allowed"
    )
    failed = page.locator("#exchanges .exchange.failed")
    expect(failed.locator(".label")).to_have_text("attachments.create")
    expect(failed.locator(".status")).to_have_text("415")
    expect(failed.locator("[data-role='body']")).to_contain_text('"code":"unsupported_media_type"')
    page.locator("#message").fill("no upload ready")
    page.locator("#message").press("Enter")  # a failed upload is not sent along
    expect(page.locator(".item.user .parts")).to_have_text("no upload ready")
    expect(page.locator(".item.user .attachments")).to_have_count(0)
    wait_until_idle(page)
