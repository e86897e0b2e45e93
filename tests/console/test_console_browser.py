"""The console in headless Chromium against the real stack (dev server, worker, API as ``./dev up``
runs them): sign-in, the board with seeded deals, a refused move showing its unmet exit criteria,
the evidence recorded and the move made, a second session seeing it live, a timer's transition
appearing live on a lifecycle page, and a viewer with no action controls whose forced request is
Forbidden. Each step leaves a screenshot in ``tests/artifacts/console/`` (not committed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.console.browser import chromium, require_chromium
from tests.launcher import TOKEN, LaunchedStack

pytestmark = pytest.mark.e2e
T = TypeVar("T")

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
OPEN = """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) {
  __typename ... on Error { message } } }"""
STAGE = """query($id: ID!) { opportunity(id: $id) { ... on Opportunity { stage version } } }"""
DEALS = {
    "globex-rollout": ("Globex rollout", "globex", "48000"),
    "initech-pilot": ("Initech pilot", "initech", "24000"),
    "umbrella-expansion": ("Umbrella expansion", "umbrella", "96000"),
}
PROBLEM_CRITERIA = ["quantified_pain", "cost_of_inaction", "problem_acknowledged"]
SOLUTION_CRITERIA = ["active_usage_or_trial", "documented_decision", "economic_buyer", "champion"]
RECORD = """mutation($input: ExitCriterionInput!) { recordExitCriterion(input: $input) {
  __typename ... on Error { message } } }"""


# The board's deals have an owner of their own: the shared stack has other tests' deals, and
# the board, filtered on this owner, totals these three alone.
BOARD_OWNER = f"board-{uuid.uuid4().hex[:8]}@example.com"


def open_deal(stack: LaunchedStack, deal_id: str, name: str, account: str, amount: str, **fields: str) -> None:
    opened = stack.gql(
        OPEN,
        {
            "input": {
                "id": deal_id,
                "name": name,
                "account": {"id": account, "name": account.title()},
                "closeDate": "2027-06-30",
                "amount": amount,
                "owner": "operator@example.com",
                **fields,
            }
        },
    )
    # AlreadyExists: an unanswered attempt that was applied after all, then sent again.
    assert opened["openOpportunity"]["__typename"] in {"OpportunityChanged", "AlreadyExists"}, opened


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> LaunchedStack:
    """The shared dev stack with the board's deals, which only the test of the board moves: a
    test that changes a deal otherwise opens its own, so that no test depends on another's order."""
    require_chromium()
    shared: LaunchedStack = request.getfixturevalue("dev_stack")
    for deal_id, (name, account, amount) in DEALS.items():
        open_deal(shared, deal_id, name, account, amount, owner=BOARD_OWNER)
    return shared


@pytest.fixture(scope="module")
def browser(stack: LaunchedStack) -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def driver(browser: WebDriver, stack: LaunchedStack) -> WebDriver:
    """The module's browser, signed out, with nothing stored by an earlier test: the console
    keeps its token and notices in sessionStorage."""
    browser.get(f"{stack.url}/console")
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    browser.delete_all_cookies()
    browser.get("about:blank")
    return browser


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait(driver: WebDriver, within: float = 15) -> WebDriverWait[WebDriver]:
    # A page re-renders when its lifecycles change: an element found a moment ago may be gone.
    return WebDriverWait(driver, within, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])


def texts(driver: WebDriver, css: str) -> list[str]:
    """The text of every element matching, read at one moment."""
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText)", css
    )
    return found


def find(driver: WebDriver, css: str, within: float = 15) -> WebElement:
    return wait(driver, within).until(lambda d: d.find_element(By.CSS_SELECTOR, css), f"no {css}")


def sign_in_with_token(driver: WebDriver, stack: LaunchedStack, token: str) -> None:
    driver.get(f"{stack.url}/console")
    find(driver, "#token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.sign-in button[type=submit]").click()


def sign_in_as(driver: WebDriver, stack: LaunchedStack, role: str) -> None:
    """The development one-click sign-in (./dev up turns it on)."""
    driver.get(f"{stack.url}/console")
    find(driver, f".dev-sign-in button[data-role={role}]").click()
    wait(driver).until(lambda d: f"({role})" in d.find_element(By.CSS_SELECTOR, ".who").text)
    assert "dev-" not in driver.current_url and TOKEN[role] not in driver.current_url


def card(driver: WebDriver, deal_id: str) -> WebElement:
    return find(driver, f'article.card[data-id="{deal_id}"]')


def column_of(driver: WebDriver, deal_id: str) -> str:
    card(driver, deal_id)
    stage: str = driver.execute_script(
        "return document.querySelector(`article.card[data-id='${arguments[0]}']`)?.dataset.stage", deal_id
    )
    return stage


def retrying(action: Callable[[], T]) -> T:
    """An action on elements found afresh each try: a live update may re-render the page in between."""
    for _ in range(10):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.2)
    return action()


def live(driver: WebDriver) -> None:
    wait(driver, 20).until(lambda d: d.find_element(By.ID, "live").get_attribute("data-status") == "live")


def move(driver: WebDriver, deal_id: str, stage: str) -> None:
    """By the card's menu, with the keyboard's controls (a select and a button)."""

    def menu() -> WebElement:
        return card(driver, deal_id).find_element(By.CSS_SELECTOR, "details.move")

    def open_menu() -> None:
        if menu().get_attribute("open") is None:
            menu().find_element(By.TAG_NAME, "summary").click()

    retrying(open_menu)
    retrying(lambda: Select(menu().find_element(By.CSS_SELECTOR, "select[name=stage]")).select_by_value(stage))
    retrying(lambda: menu().find_element(By.CSS_SELECTOR, "button[type=submit]").click())


def drag(driver: WebDriver, deal_id: str, stage: str) -> None:
    """Drag a card onto a column, as the browser's drag and drop events deliver it."""
    driver.execute_script(
        """
        const [id, stage] = arguments;
        const card = document.querySelector(`article.card[data-id='${id}']`);
        const column = document.querySelector(`.column[data-stage='${stage}']`);
        const data = new DataTransfer();
        card.dispatchEvent(new DragEvent("dragstart", { dataTransfer: data, bubbles: true }));
        column.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
        column.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        """,
        deal_id,
        stage,
    )


def test_an_invalid_token_returns_to_sign_in_with_a_clear_message(stack: LaunchedStack, driver: WebDriver):
    sign_in_with_token(driver, stack, "not-a-token-anyone-has")
    message = find(driver, "p.problem[role=alert]:not([hidden])")
    assert "not accepted" in message.text and "invalid or has expired" in message.text
    assert driver.execute_script("return sessionStorage.getItem('lifecycles.console.token')") is None
    shot(driver, "00-invalid-token")


def test_operator_moves_a_deal_through_its_exit_criteria_and_another_session_sees_it(
    stack: LaunchedStack, driver: WebDriver
):
    with chromium(390, 844) as watcher:
        sign_in_as(driver, stack, "operator")
        shot(driver, "01-my-work")
        driver.get(f"{stack.url}/console#/board/NEW_BUSINESS")
        for deal_id in DEALS:
            assert column_of(driver, deal_id) == "PROBLEM_AGREEMENT"
        find(driver, "form.filters #bf-owner").send_keys(BOARD_OWNER)
        driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
        header = '.column[data-stage="PROBLEM_AGREEMENT"] h2'
        wait(driver).until(lambda d: "3 · $168,000" in d.find_element(By.CSS_SELECTOR, header).text)
        live(driver)
        shot(driver, "02-board")

        sign_in_with_token(watcher, stack, TOKEN["operator"])
        wait(watcher).until(lambda d: "(operator)" in d.find_element(By.CSS_SELECTOR, ".who").text)
        watcher.get(f"{stack.url}/console#/board/NEW_BUSINESS")
        assert column_of(watcher, "globex-rollout") == "PROBLEM_AGREEMENT"
        live(watcher)

        move(driver, "globex-rollout", "SOLUTION_AGREEMENT")
        refusal = 'article.card[data-id="globex-rollout"] .refusal'
        find(driver, refusal)
        [text] = texts(driver, refusal)
        assert "Cannot move to Solution agreement yet." in text and "quantifiable metrics" in text
        criteria = driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map((f) => f.dataset.criterion)",
            f"{refusal} form.criterion",
        )
        assert criteria == PROBLEM_CRITERIA
        assert column_of(driver, "globex-rollout") == "PROBLEM_AGREEMENT"
        shot(driver, "03-refused-move")

        # An empty evidence is refused at the field, and nothing is sent.
        version = stack.gql(STAGE, {"id": "globex-rollout"})["opportunity"]["version"]
        retrying(lambda: driver.find_element(By.CSS_SELECTOR, f"{refusal} form.criterion button").click())
        assert find(driver, 'form.criterion input[aria-invalid="true"]')
        assert stack.gql(STAGE, {"id": "globex-rollout"})["opportunity"]["version"] == version

        for criterion in PROBLEM_CRITERIA:
            form = f'{refusal} form.criterion[data-criterion="{criterion}"]'

            def record(form: str = form, criterion: str = criterion) -> None:
                evidence = driver.find_element(By.CSS_SELECTOR, f"{form} input")
                evidence.clear()
                evidence.send_keys(f"Evidence for {criterion}: call notes 2026-11-30")
                driver.find_element(By.CSS_SELECTOR, f"{form} button").click()

            find(driver, form)
            retrying(record)
            wait(driver).until(
                lambda d, c=criterion: not d.find_elements(By.CSS_SELECTOR, f'form.criterion[data-criterion="{c}"]')
            )
        shot(driver, "04-evidence-recorded")

        move(driver, "globex-rollout", "SOLUTION_AGREEMENT")
        wait(driver).until(lambda d: column_of(d, "globex-rollout") == "SOLUTION_AGREEMENT")
        assert stack.gql(STAGE, {"id": "globex-rollout"})["opportunity"]["stage"] == "SOLUTION_AGREEMENT"
        assert driver.find_elements(
            By.CSS_SELECTOR, '.column[data-stage="SOLUTION_AGREEMENT"] article.card[data-id="globex-rollout"]'
        )
        driver.execute_script("window.scrollTo(0, 0)")
        shot(driver, "05-moved")

        # The other session, never reloaded, follows within a few seconds.
        wait(watcher, 10).until(lambda d: column_of(d, "globex-rollout") == "SOLUTION_AGREEMENT")
        shot(watcher, "06-second-session-390px")

    # ./dev up lists the console; the one-click sign-in left no token in any log.
    launcher_log = (stack.data_dir / "launcher.log").read_text()
    assert f"Ops console:         {stack.url}/console" in launcher_log
    logs = [launcher_log, *(p.read_text() for p in (stack.data_dir / "logs").glob("*.log"))]
    assert not [token for token in TOKEN.values() for log in logs if token in log]


def test_a_timer_firing_appears_live_on_the_lifecycle_page(stack: LaunchedStack, driver: WebDriver):
    # A silence ladder of seconds: two nudges, then the timer closes the deal as lost.
    policy = {"silence_first_nudge_after": "PT15S", "silence_second_nudge_after": "PT2S", "silence_close_after": "PT2S"}
    opened = stack.gql(
        OPEN,
        {
            "input": {
                "id": "hooli-quiet",
                "name": "Hooli (gone quiet)",
                "account": {"id": "hooli", "name": "Hooli"},
                "closeDate": "2027-06-30",
                "amount": "12000",
                "owner": "operator@example.com",
                "policy": policy,
            }
        },
        role="admin",
    )
    assert opened["openOpportunity"]["__typename"] in {"OpportunityChanged", "AlreadyExists"}, opened
    sign_in_as(driver, stack, "operator")
    # My work: it is due within seconds, with the actions that settle it.
    work = find(driver, '.work-list li[data-id="hooli-quiet"]')
    assert "Silence" in work.text or "silence" in work.text
    assert work.find_elements(By.CSS_SELECTOR, "a.action")
    shot(driver, "07-my-work")
    driver.get(f"{stack.url}/console#/lifecycle/opportunity/hooli-quiet")
    assert find(driver, '.diagram .state.current[data-state="PROBLEM_AGREEMENT"]')
    assert find(driver, '.deadlines li[data-timer^="silence"] .countdown')
    assert not driver.find_elements(By.CSS_SELECTOR, ".timeline .entry.timer")
    live(driver)
    shot(driver, "08-lifecycle-before-timer")
    try:
        entry = wait(driver, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, ".timeline .entry.timer"))
    except TimeoutException:
        pytest.fail(f"no timer entry appeared:\n{stack.log()}")
    assert "Timer" in entry.text and "Close lost" in entry.text
    assert find(driver, '.diagram .state.current[data-state="CLOSED_LOST"]')
    shot(driver, "09-lifecycle-after-timer")


def test_a_trigger_form_shows_typed_errors_at_their_fields_and_changes_nothing(stack: LaunchedStack, driver: WebDriver):
    # A renewal deal: its term changes its ARR, which the new-business board's totals would show.
    open_deal(stack, "umbrella-renewal", "Umbrella renewal", "umbrella", "96000", recordType="RENEWAL")
    sign_in_as(driver, stack, "operator")
    driver.get(f"{stack.url}/console#/lifecycle/opportunity/umbrella-renewal?do=update_fields")
    form = find(driver, 'details.act[open] form.trigger-form[data-trigger="update_fields"]')
    before = stack.gql(STAGE, {"id": "umbrella-renewal"})["opportunity"]
    form.find_element(By.CSS_SELECTOR, '[data-path="term_months"]').send_keys("500")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = find(driver, 'form.trigger-form [data-error-for="term_months"]:not([hidden])')
    assert "120" in error.text
    assert form.find_element(By.CSS_SELECTOR, '[data-path="term_months"]').get_attribute("aria-invalid") == "true"
    assert "{" not in form.text and "Traceback" not in driver.page_source
    assert stack.gql(STAGE, {"id": "umbrella-renewal"})["opportunity"] == before
    shot(driver, "13-typed-error-at-the-field")

    term = form.find_element(By.CSS_SELECTOR, '[data-path="term_months"]')
    term.clear()
    term.send_keys("24")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(
        lambda d: stack.gql(STAGE, {"id": "umbrella-renewal"})["opportunity"]["version"] == before["version"] + 1
    )
    entry = find(driver, f'.timeline .entry[data-seq="{before["version"] + 1}"]')
    assert "Update fields" in entry.text and "operator@example.com" in entry.text


def test_an_admin_waives_the_unmet_criteria_and_drags_the_card_across(stack: LaunchedStack, driver: WebDriver):
    open_deal(stack, "umbrella-upsell", "Umbrella upsell", "umbrella", "30000")
    sign_in_as(driver, stack, "admin")
    driver.get(f"{stack.url}/console#/board/NEW_BUSINESS")
    move(driver, "umbrella-upsell", "SOLUTION_AGREEMENT")
    refusal = 'article.card[data-id="umbrella-upsell"] .refusal'
    find(driver, f"{refusal} form.waiver")
    for criterion in PROBLEM_CRITERIA:
        [label] = texts(driver, f'{refusal} form.criterion[data-criterion="{criterion}"] + form.waiver label')
        assert label.startswith("Reason to waive")

        def waive(criterion: str = criterion) -> None:
            waiver = driver.find_element(
                By.CSS_SELECTOR, f'{refusal} form.criterion[data-criterion="{criterion}"] + form.waiver'
            )
            why = waiver.find_element(By.TAG_NAME, "input")
            why.clear()
            why.send_keys("Signed off by the VP of sales for a strategic account")
            waiver.find_element(By.TAG_NAME, "button").click()

        retrying(waive)
        wait(driver).until(
            lambda d, c=criterion: not d.find_elements(By.CSS_SELECTOR, f'form.criterion[data-criterion="{c}"]')
        )
    drag(driver, "umbrella-upsell", "SOLUTION_AGREEMENT")
    wait(driver).until(lambda d: column_of(d, "umbrella-upsell") == "SOLUTION_AGREEMENT")
    assert stack.gql(STAGE, {"id": "umbrella-upsell"})["opportunity"]["stage"] == "SOLUTION_AGREEMENT"

    # Dragged back without the reason a move back needs: refused on the card, in words.
    drag(driver, "umbrella-upsell", "PROBLEM_AGREEMENT")
    wait(driver).until(lambda d: texts(d, 'article.card[data-id="umbrella-upsell"] .refusal'))
    [words] = texts(driver, 'article.card[data-id="umbrella-upsell"] .refusal')
    assert words.startswith("Cannot move to Problem agreement yet.")
    assert "Say why the opportunity moves back." in words
    assert column_of(driver, "umbrella-upsell") == "SOLUTION_AGREEMENT"


def test_a_refused_skip_ahead_lists_both_stages_criteria_and_follows_evidence_recorded_elsewhere(
    stack: LaunchedStack, driver: WebDriver
):
    # The board's pages carry no exit criteria: the refused deal's are asked for when it is
    # refused, and again when it changes, whoever changed it.
    open_deal(stack, "acme-skip-ahead", "Acme skip ahead", "acme", "36000")
    sign_in_as(driver, stack, "operator")
    driver.get(f"{stack.url}/console#/board/NEW_BUSINESS")
    live(driver)
    move(driver, "acme-skip-ahead", "PRIORITY_AGREEMENT")
    refusal = 'article.card[data-id="acme-skip-ahead"] .refusal'

    def criteria(d: WebDriver) -> list[str]:
        found: list[str] = d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map((f) => f.dataset.criterion)",
            f"{refusal} form.criterion",
        )
        return found

    wait(driver).until(lambda d: criteria(d) == PROBLEM_CRITERIA + SOLUTION_CRITERIA)
    [text] = texts(driver, refusal)
    assert text.startswith("Cannot move to Priority agreement yet.")
    assert "quantifiable metrics (time/money/risk) (Problem agreement): evidence" in text
    assert "Waive" not in text  # an operator records; only an admin may waive
    shot(driver, "14-refused-skip-ahead")

    recorded = stack.gql(
        RECORD,
        {
            "input": {
                "id": "acme-skip-ahead",
                "stage": "PROBLEM_AGREEMENT",
                "criterion": "quantified_pain",
                "evidence": "Recorded from another session: a 20% churn in support costs",
                "idempotencyKey": "acme-skip-ahead-quantified-pain",
            }
        },
    )
    assert recorded["recordExitCriterion"]["__typename"] == "OpportunityChanged", recorded
    wait(driver).until(lambda d: criteria(d) == PROBLEM_CRITERIA[1:] + SOLUTION_CRITERIA)
    assert column_of(driver, "acme-skip-ahead") == "PROBLEM_AGREEMENT"

    retrying(lambda: driver.find_element(By.CSS_SELECTOR, f"{refusal} button.quiet").click())
    wait(driver).until(lambda d: not d.find_elements(By.CSS_SELECTOR, refusal))


def forced(driver: WebDriver, script: str) -> Any:
    """Run the console's own API module in the page, as a person could from its developer tools."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/console/static/api.js').then(async (api) => {" + script + "}).catch((e) => done(String(e)));"
    )


def test_a_viewer_sees_no_action_controls_and_a_forced_request_is_forbidden(stack: LaunchedStack, driver: WebDriver):
    sign_in_with_token(driver, stack, TOKEN["viewer"])
    wait(driver).until(lambda d: "(viewer)" in d.find_element(By.CSS_SELECTOR, ".who").text)
    driver.get(f"{stack.url}/console#/board/NEW_BUSINESS")
    assert card(driver, "initech-pilot")
    assert not driver.find_elements(By.CSS_SELECTOR, "details.move, article.card[draggable=true], form.criterion")
    shot(driver, "10-viewer-board")

    driver.get(f"{stack.url}/console#/lifecycle/opportunity/initech-pilot")
    find(driver, ".possibles")
    assert not driver.find_elements(By.CSS_SELECTOR, "details.act, form.trigger-form, main button[type=submit]")
    shot(driver, "11-viewer-lifecycle")

    driver.get(f"{stack.url}/console#/account/initech")
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Initech")
    assert find(driver, 'a[href="#/lifecycle/opportunity/initech-pilot"]')

    # Lists: totals per state, and a state's total filters the list on it.
    driver.get(f"{stack.url}/console#/list/opportunity")
    wait(driver).until(lambda d: any(t.startswith("Problem agreement:") for t in texts(d, ".chip")))
    driver.find_element(By.XPATH, "//button[@class='chip'][starts-with(., 'Problem agreement:')]").click()
    wait(driver).until(
        lambda d: (rows := texts(d, "table.list tbody tr")) and all("Problem agreement" in row for row in rows)
    )
    shot(driver, "12-viewer-list")

    before = stack.gql(STAGE, {"id": "initech-pilot"})["opportunity"]
    words = forced(
        driver,
        "const r = await api.fire('opportunity', 'initech-pilot', 'close_lost', {loss_reason: 'PRICING'});"
        "done(api.refusalWords(r));",
    )
    assert words.startswith("Forbidden:") and "operator role" in words
    assert stack.gql(STAGE, {"id": "initech-pilot"})["opportunity"] == before
