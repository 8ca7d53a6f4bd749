"""The console in Chromium, on two hosts storing attachments in one S3 bucket (moto).

Both hosts sit behind one origin (a test load balancer, ``CHATKIT_PUBLIC_URL``), as in a
deployment; the test picks the host that answers. The browser uploads straight to the
bucket (a presigned PUT across origins, allowed by the bucket's CORS rule and the page's
``connect-src``), sends the message through host A, sees the preview through host B (a
redirect to a presigned GET), and deletes the thread through A: the object is gone.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chatkit_backend.attachments.store import owner_key
from chatkit_backend.stores import migrations
from tests.attachments.balancer import Balancer
from tests.console.browser import (
    CHROMIUM_ARGS,
    ChatKitCalls,
    ConsoleWatch,
    chromium_or_skip,
    open_console,
    png_image,
    screenshot,
    thread_id_of,
    wait_until_idle,
)
from tests.support.live import free_port, run_app, run_serve
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.timeout(300)]

PREFIX = "console"
LOCAL_USER = "local"  # who CHATKIT_AUTH=none serves


@dataclass
class Deployment:
    url: str
    balancer: Balancer
    bucket: str


@pytest.fixture(scope="module")
def deployment(
    s3: S3Server, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Two ``serve`` processes with the console, one database, one bucket, one balancer."""
    chromium_or_skip()
    bucket = s3.bucket()
    migrations.upgrade(postgres_url)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    balancer = Balancer({})
    with ExitStack() as stack:
        for name in ("a", "b"):
            env = {
                **s3.env,
                "CHATKIT_ATTACHMENTS_URL": f"s3://{bucket}/{PREFIX}",
                "CHATKIT_DATABASE_URL": postgres_url,
                "CHATKIT_PUBLIC_URL": public_url,
                "CHATKIT_SECRET_KEY": "console-two-hosts",
                "CHATKIT_CONSOLE": "true",
                "CHATKIT_OFFLINE_TOKEN_DELAY": "0",
                "CHATKIT_DATA_DIR": str(tmp_path_factory.mktemp(f"console-{name}")),
                "CHATKIT_LOG_LEVEL": "WARNING",
            }
            base_url, _process = stack.enter_context(run_serve(env=env, timeout=120))
            balancer.hosts[name] = base_url
        stack.enter_context(run_app(balancer.app(), port=port))
        yield Deployment(public_url, balancer, bucket)


@pytest.fixture(scope="module")
def browser(deployment: Deployment) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_or_skip()), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, watch: ConsoleWatch) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 860}).new_page()
    page.set_default_timeout(20_000)
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    return page


def preview_width(page: Page) -> int:
    return page.evaluate(  # type: ignore[no-any-return]
        "() => document.querySelector('.item.user img.preview')?.naturalWidth ?? 0"
    )


def served_by(balancer: Balancer, host: str, path: str) -> bool:
    return any(seen[0] == host and seen[2].startswith(path) for seen in balancer.seen)


def test_upload_to_the_bucket_send_on_a_preview_on_b_delete_on_a(
    browser: Browser, deployment: Deployment, s3: S3Server
) -> None:
    balancer, bucket = deployment.balancer, deployment.bucket
    watch = ConsoleWatch()
    balancer.use("a")
    page_a = new_page(browser, watch)
    open_console(page_a, deployment.url)
    page_a.locator("#file-input").set_input_files(
        {"name": "gradient.png", "mimeType": "image/png", "buffer": png_image(48, 32)}
    )
    chip = page_a.locator("#pending-attachments .chip")
    expect(chip.locator(".upload-status")).to_have_text("ready")
    upload = page_a.locator("#exchanges .exchange[data-label='upload gradient.png']")
    expect(upload.locator(".status")).to_have_text("200")
    expect(upload).to_contain_text(s3.endpoint)  # straight to the bucket
    attachment_id = chip.get_attribute("data-attachment-id")
    assert attachment_id
    key = f"{PREFIX}/{owner_key(LOCAL_USER)}/{attachment_id}"
    assert key in s3.keys(bucket)  # the bytes went from the browser to the bucket
    assert not served_by(balancer, "a", f"/attachments/{attachment_id}/upload")

    page_a.locator("#message").fill("What is in this picture?")
    page_a.locator("#message").press("Enter")
    wait_until_idle(page_a)
    thread_id = thread_id_of(page_a)
    assert served_by(balancer, "a", "/chatkit")

    balancer.use("b")
    page_b = new_page(browser, watch)
    open_console(page_b, deployment.url, f"#thread={thread_id}")
    page_b.wait_for_function(
        "() => document.querySelector('.item.user img.preview')?.naturalWidth > 0"
    )
    assert preview_width(page_b) == 48
    assert served_by(balancer, "b", f"/attachments/{attachment_id}/preview")
    screenshot(page_b, "s3-preview-through-host-b")

    balancer.use("a")
    page_a.locator("#delete-thread").click()
    page_a.locator("#delete-thread").click()  # confirm
    expect(page_a.locator(f"#thread-list li[data-thread-id='{thread_id}']")).to_have_count(0)
    assert balancer.seen[-1][0] == "a"
    assert key not in s3.keys(bucket)
    balancer.use("b")
    assert ChatKitCalls(deployment.url).thread(thread_id).status_code == 404
    page_a.context.close()
    page_b.context.close()
    watch.check()
