"""The Saga Explorer in a real browser (Debian's Chromium, driven by Playwright) against ``cloudmart serve`` on a
fresh embedded service: every scenario of the launcher in both styles, the live list, the side-by-side view, the
operator's buttons, keyboard navigation, an accessibility check (axe-core, bundled by ``axe-playwright-python``)
and a list of 5,000 sagas. Every request that would leave the machine is blocked, and fails the test.

Screenshots go to pytest's temporary directory; ``CLOUDMART_REGENERATE_SCREENSHOT=1`` also writes the README's,
``docs/images/saga-explorer.png``."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright
from sqlalchemy import create_engine

from infra.settings import DEV_ADMIN_TOKEN
from projections.tables import saga_instances
from tests.e2e.test_walkthrough import serving

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "images" / "saga-explorer.png"
REGENERATE = os.environ.get("CLOUDMART_REGENERATE_SCREENSHOT") == "1"
ADMIN = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
# Short step timeouts, so that the scenarios whose payment never answers are over in seconds.
SETTINGS = {
    "CLOUDMART_STEP_TIMEOUT_SECONDS": "1.5",
    "CLOUDMART_RETRY_BACKOFF_SECONDS": "0.05",
    "CLOUDMART_TICK_INTERVAL_SECONDS": "0.05",
}
SEEDED_SAGAS = 5000
LONG_REASON = "R" * 500  # the longest reason allowed, without a space to wrap at
FINAL = re.compile("^(COMPLETED|FAILED)$")
LANES = {
    "choreography": ["orders", "inventory", "payments", "shipping"],
    "orchestration": ["orchestrator", "orders", "inventory", "payments", "shipping"],
}
FORWARD = ["STARTED", "ORDER_CREATED", "STOCK_RESERVED", "PAYMENT_COMPLETED"]
COMPENSATED = ["COMPENSATION_STARTED", "FAILED"]
# The orchestrator's states each scenario visits, in order: as far as it got, then the compensation.
STATE_PATHS = {
    "success": [*FORWARD, "COMPLETED"],
    "out-of-stock": [*FORWARD[:2], *COMPENSATED],
    "payment-failure": [*FORWARD[:3], *COMPENSATED],
    "carrier-outage": [*FORWARD, *COMPENSATED],
    "step-timeout": [*FORWARD[:3], *COMPENSATED],
    "customer-cancellation": [*FORWARD[:3], *COMPENSATED],
    "duplicate-delivery": [*FORWARD, "COMPLETED"],
}


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (Playwright's own download does not work here): CI fails without it, a laptop skips."""
    if not Path(CHROMIUM).exists():
        message = f"the browser tests need {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass(frozen=True)
class Service:
    url: str
    directory: Path  # its working directory: its state is in ./var/


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("explorer")
    with serving(directory, SETTINGS) as port:
        yield Service(f"http://127.0.0.1:{port}", directory)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, served: Service) -> Iterator[Page]:
    """A page that may reach the service and nothing else: any other request is blocked and fails the test."""
    service = served.url
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, base_url=service)
    left: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(service).netloc or route.request.url.startswith("data:"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert left == [], f"the page tried to leave the machine: {left}"
    assert errors == [], f"the page's scripts failed: {errors}"


def test_the_explorer_in_a_browser(page: Page, served: Service, tmp_path: Path) -> None:
    """One test, in this order, on one service: the steps build on what the earlier ones left (sagas of every
    kind, then 5,000 more), and pytest-xdist could otherwise hand them to workers with services of their own."""
    every_scenario_in_both_styles_side_by_side(page, served.url, tmp_path)
    a_single_style_run_opens_its_saga_page_with_its_payloads(page, served.url, tmp_path)
    the_list_follows_new_sagas_live_and_filters_them(page, served.url)
    a_list_reload_that_answers_late_leaves_the_saga_opened_meanwhile_alone(page, served.url)
    operator_buttons_change_what_the_page_shows(page, served.url)
    an_id_of_dots_asks_the_api_nothing(page)
    the_keyboard_alone_opens_a_saga_and_an_event_s_payload(page, served.url)
    a_list_of_5000_sagas_shows_within_a_second(page, served)


def every_scenario_in_both_styles_side_by_side(page: Page, service: str, tmp_path: Path) -> None:
    catalogue = httpx.get(f"{service}/scenarios", headers=ADMIN).json()
    page.goto("/")
    expect(page.locator(".summary, table.sagas")).not_to_have_count(0)  # signed in by itself, on the dev token
    for scenario in catalogue:
        page.get_by_role("navigation", name="Views").get_by_role("link", name="Scenarios").click()
        launch(page, scenario["name"], "both")
        expect(page.locator(".compare h1")).to_contain_text(scenario["name"])
        panels = page.locator("article.saga")
        expect(panels).to_have_count(2)
        for panel in (panels.nth(0), panels.nth(1)):
            assert_as_expected(panel, scenario)
        page.screenshot(path=tmp_path / f"{scenario['name']}.png", full_page=True)
    assert_accessible(page, "the side-by-side view")


def a_single_style_run_opens_its_saga_page_with_its_payloads(page: Page, service: str, tmp_path: Path) -> None:
    scenario = next(s for s in httpx.get(f"{service}/scenarios", headers=ADMIN).json() if s["name"] == "carrier-outage")
    page.goto("/#/scenarios")
    launch(page, "carrier-outage", "orchestration")
    saga = page.locator("article.saga")
    assert_as_expected(saga, scenario)
    expect(saga.locator("[data-kind=failure]").first).to_be_visible()
    expect(saga.locator("[data-undo]")).to_have_count(3)
    saga.locator("[data-type=PaymentRefunded]").click()
    expect(page.locator("#payload-body")).to_contain_text("refundId")
    page.keyboard.press("Escape")
    expect(page.locator("#payload")).not_to_be_visible()
    screenshot_of_saga(page, tmp_path / "saga-page.png")
    assert_accessible(page, "the saga page")


def the_list_follows_new_sagas_live_and_filters_them(page: Page, service: str) -> None:
    page.goto("/")
    expect(page.locator("#live")).to_have_attribute("data-connected", "true")  # following the stream from now on
    run = start_scenario(service, "success", ["orchestration"])
    order_id = run["runs"][0]["orderId"]
    row = page.locator(f"tr:has([data-order-id='{order_id}'])")
    expect(row).to_have_attribute("data-status", "COMPLETED", timeout=15_000)
    expect(row.locator("td.reason")).to_have_text("—")
    page.select_option("#filter-style", "choreography")
    expect(page.locator(f"[data-order-id='{order_id}']")).to_have_count(0)
    expect(page.locator("table.sagas tbody tr[data-style=orchestration]")).to_have_count(0)
    page.select_option("#filter-style", "")
    page.select_option("#filter-status", "FAILED")
    expect(page.locator(f"[data-order-id='{order_id}']")).to_have_count(0)
    expect(page.locator("table.sagas tbody tr").first).to_have_attribute("data-status", "FAILED")
    outage = page.locator("tr[data-style=orchestration] td.reason", has_text="shipping failed").first
    expect(outage).to_have_attribute("title", re.compile(r"^ShippingFailed: shipping failed .+"))  # whole, if cut short
    assert_accessible(page, "the saga list")


def a_list_reload_that_answers_late_leaves_the_saga_opened_meanwhile_alone(page: Page, service: str) -> None:
    page.goto("/")
    expect(page.locator("#live")).to_have_attribute("data-connected", "true")
    held: list[Route] = []
    holding = True

    def a_list_page(url: str) -> bool:
        return "/sagas?" in url

    def hold(route: Route) -> None:
        if holding:
            held.append(route)
        else:
            route.continue_()

    page.route(a_list_page, hold)  # the list's reloads wait until released
    place_order(service, "choreography")  # its events make the list reload
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # Playwright hands over an intercepted request only while it waits
    assert held, "the list did not reload on a new saga"
    first = page.locator("table.sagas tbody a").first
    opened = first.get_attribute("data-order-id")
    first.click()
    expect(page.locator("article.saga")).to_have_attribute("data-order-id", str(opened))
    holding = False  # what the list asks from now on goes through at once
    with page.expect_response(lambda response: a_list_page(response.url)):
        for route in held:
            route.continue_()
    with pytest.raises(AssertionError):  # the late answer must not take the address back to the list
        expect(page).not_to_have_url(re.compile(f"#/sagas/{opened}$"), timeout=1_000)
    expect(page.locator("article.saga")).to_have_attribute("data-order-id", str(opened))
    page.unroute(a_list_page)


def operator_buttons_change_what_the_page_shows(page: Page, service: str) -> None:
    saga = page.locator("article.saga")
    for _ in range(3):  # a scenario still finishing in the background clears the faults: then inject them again
        page.goto("/#/operator")
        page.select_option("#fault-service", "payments")
        page.select_option("#fault-kind", "timeout")
        page.fill("#fault-times", "3")
        page.get_by_role("button", name="Inject fault").click()
        expect(page.locator("ul.faults [data-service=payments]")).to_contain_text("next 3")
        order_id = place_order(service, "orchestration")  # its payment does not answer: the step times out
        page.goto(f"/#/sagas/{order_id}")
        page.wait_for_selector("article.saga [data-kind=timeout], article.saga[data-status=COMPLETED]")
        if saga.get_attribute("data-status") != "COMPLETED":
            break
    page.fill("#intervention-reason", LONG_REASON)
    page.get_by_role("button", name="Compensate").click()
    expect(page.locator(".operator-actions .said")).to_contain_text("compensate: accepted")
    expect(saga).to_have_attribute("data-status", "FAILED", timeout=15_000)
    expect(saga.locator("[data-kind=intervention]")).to_have_count(1)
    expect(saga.locator(".visits")).to_contain_text(f"compensated by operator: {LONG_REASON}")
    assert_no_wider_than_the_window(page)  # the reason, one word of 500 letters, wraps
    assert_accessible(page, "a saga an operator compensated")

    page.goto("/#/operator")
    page.get_by_role("button", name="Clear all faults").click()
    expect(page.locator(".pending-faults [data-faults='0']")).to_be_visible()
    assert_accessible(page, "the operator page")


def an_id_of_dots_asks_the_api_nothing(page: Page) -> None:
    """A browser resolves "." and ".." in a path: ``/sagas/..`` would ask ``/`` and ``/events`` instead."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(urlsplit(request.url).path))
    for dots in (".", ".."):
        page.goto(f"/#/sagas/{dots}")
        expect(page.locator(".problem")).to_contain_text(f'no saga, order, book or customer has the id "{dots}"')
    assert [path for path in asked if path not in ("/", "/explorer/config") and not path.startswith("/explorer/")] == []


def the_keyboard_alone_opens_a_saga_and_an_event_s_payload(page: Page, service: str) -> None:
    start_scenario(service, "payment-failure", ["choreography"])
    page.goto("/")
    first = page.locator("table.sagas tbody a").first
    expect(first).to_be_visible()
    focused = tab_until(page, "table.sagas tbody a")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "focus must show"
    page.keyboard.press("Enter")
    expect(page.locator("article.saga")).to_be_visible()
    assert page.url.endswith(f"#/sagas/{focused}")
    tab_until(page, "g.event")
    page.keyboard.press("Enter")
    expect(page.locator("#payload")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#payload")).not_to_be_visible()


def a_list_of_5000_sagas_shows_within_a_second(page: Page, served: Service) -> None:
    """The rows go straight into the read model's ``saga_instances`` table of the service's SQLite file (the
    projector never touches them: no event names them). Each time is from a navigation's start to the moment the
    page has drawn the list (its ``sagas-listed`` performance mark), in the browser's own clock; the median of three
    loads must be under a second, so that one load slowed by a busy machine does not decide."""
    seed_sagas(f"sqlite:///{served.directory}/var/cloudmart.db", SEEDED_SAGAS)
    times = []
    for _ in range(3):
        page.goto("about:blank")
        page.goto("/")
        expect(page.locator(".summary")).to_contain_text("sagas")
        times.append(page.evaluate("() => performance.getEntriesByName('sagas-listed')[0].startTime"))
    total = int(page.locator(".summary").get_attribute("data-total") or 0)
    print(f"\n{total} sagas: the list was shown {', '.join(f'{t:.0f}' for t in times)} ms after navigation started")
    assert total >= SEEDED_SAGAS
    expect(page.locator("table.sagas tbody tr")).to_have_count(50)
    assert sorted(times)[1] < 1000
    page.get_by_role("link", name="Older →").click()
    expect(page.locator(".summary")).to_contain_text("51–100 of")


# --- what the tests share --------------------------------------------------------------------------------------


def launch(page: Page, name: str, style: str) -> None:
    """Clicks a launcher button; while another scenario still finishes in the background (409), clicks again."""
    button = page.locator(f"[data-scenario='{name}'] button[data-style='{style}']")
    deadline = time.monotonic() + 30
    while True:
        button.click()
        page.wait_for_function(  # a function, not an expression: the page's policy forbids eval
            "() => !location.hash.startsWith('#/scenarios') "
            "|| document.querySelector('.said')?.textContent.includes('still running')"
        )
        if "#/scenarios" not in page.url:
            return
        assert time.monotonic() < deadline, "the previous scenario never finished"
        time.sleep(0.5)
        expect(button).to_be_enabled()


def assert_as_expected(panel: Locator, scenario: dict[str, Any]) -> None:
    expect(panel).to_have_attribute("data-status", FINAL, timeout=30_000)
    expect(panel.locator("[data-verdict]")).not_to_have_attribute("data-verdict", "pending", timeout=30_000)
    style = panel.get_attribute("data-style") or ""
    expected = scenario["expected"][style]
    name = scenario["name"]
    expect(panel).to_have_attribute("data-status", expected["sagaStatus"])
    expect(panel.locator("[data-verdict]")).to_have_attribute("data-verdict", "true")  # the order's status too
    assert panel.locator("svg [data-lane]").evaluate_all("nodes => nodes.map(n => n.dataset.lane)") == LANES[style]
    ran = panel.locator("ol.compensations li").evaluate_all("items => items.map(i => i.dataset.compensation)")
    if style == "orchestration":
        assert ran == expected["compensations"], (name, ran)
        visited = panel.locator(".visits li").evaluate_all("items => items.map(i => i.dataset.state)")
        assert list(dict.fromkeys(visited)) == STATE_PATHS[name], (name, visited)  # a note may repeat a state
        lit = panel.locator(".state-path li[data-visited=true]").evaluate_all("l => l.map(i => i.dataset.state)")
        assert set(lit) == set(STATE_PATHS[name])
    else:
        assert sorted(ran) == sorted(expected["compensations"]), (name, ran)
    undo = panel.locator("svg [data-undo]").evaluate_all("nodes => nodes.map(n => Number(n.dataset.undo))")
    assert undo == list(range(1, len(undo) + 1)) and (len(undo) > 0) == bool(expected["compensations"]), (name, undo)


def assert_no_wider_than_the_window(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a window of {widths[1]}"


def assert_accessible(page: Page, where: str) -> None:
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{where}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in serious)


def tab_until(page: Page, selector: str, presses: int = 80) -> str:
    """Presses Tab until an element matching ``selector`` has the focus; its order id or message id."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        found = page.evaluate(
            "s => document.activeElement.matches(s) ? (document.activeElement.dataset.orderId "
            "|| document.activeElement.dataset.messageId) : null",
            selector,
        )
        if found:
            return str(found)
    raise AssertionError(f"Tab never reached {selector}")


def screenshot_of_saga(page: Page, path: Path) -> None:
    """The saga page from the top to the bottom of its swimlanes (the README's picture)."""
    page.evaluate("() => document.activeElement?.blur()")
    page.mouse.move(0, 0)
    bottom = page.evaluate(
        "() => document.querySelector('article.saga section.lanes').getBoundingClientRect().bottom + window.scrollY"
    )
    page.screenshot(path=path, clip={"x": 0, "y": 0, "width": 1440, "height": bottom + 16}, full_page=True)
    if REGENERATE:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)


def start_scenario(service: str, name: str, styles: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(f"{service}/scenarios/{name}/run", headers=ADMIN, json={"sagaModes": styles})
        if response.status_code != 409 or time.monotonic() > deadline:
            assert response.status_code == 202, response.text
            return response.json()  # type: ignore[no-any-return]
        time.sleep(0.3)


def place_order(service: str, style: str) -> str:
    body = {"customerId": "customer-001", "bookId": "book-789", "quantity": 1, "price": 2800, "sagaMode": style}
    response = httpx.post(f"{service}/orders", json=body, auth=("customer-001", "cloudmart"))
    assert response.status_code == 202, response.text
    return str(response.json()["orderId"])


def seed_sagas(database_url: str, count: int) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    rows = []
    for number in range(count):
        order_id = str(uuid.uuid4())
        at = start + timedelta(seconds=number)
        status = "FAILED" if number % 3 == 0 else "COMPLETED"
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "order_id": order_id,
                "saga_type": ("choreography", "orchestration")[number % 2],
                "status": status,
                "current_step": None,
                "payload": {},
                "history": [
                    {"state": "STARTED", "at": at.isoformat()},
                    {"state": status, "at": (at + timedelta(milliseconds=300 + number % 700)).isoformat()},
                ],
                "steps": [],
                "facts": [],
                "reason": "seeded" if status == "FAILED" else None,
                "due_at": None,
                "created_at": at,
                "updated_at": at,
            }
        )
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(saga_instances.insert(), rows)
    engine.dispose()
