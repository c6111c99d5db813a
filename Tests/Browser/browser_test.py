"""Drives the OutlineStream page in headless Chromium (Debian's chromium and
chromium-driver, selenium from PyPI) against a running server.

Called by Tests/OutlineServerTests/BrowserTests.swift, which starts the server
and checks what this prints (one JSON object per scenario) against the log.
Screenshots go to --artifacts. Exit status 0 only when every scenario passed.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--admin-token", required=True)
parser.add_argument("--artifacts", required=True)
parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
# The simulated provider holds every run at one event until this script lets it
# go: what the page shows mid-stream is reached by design, not by racing its clock.
parser.add_argument("--provider-url")
parser.add_argument("--scenario", default="all", choices=["all", "hostile"])
args = parser.parse_args()


def api(method, path, token, body=None):
    request = urllib.request.Request(args.url + path, method=method, headers={"Authorization": "Bearer " + token})
    if body is not None:
        request.add_header("Content-Type", "application/json")
        request.data = json.dumps(body).encode()
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,1400"]:
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
wait = WebDriverWait(driver, 120, poll_frequency=0.05)
results = []


def text(element_id):
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def phase():
    return driver.execute_script("return document.getElementById('phase').dataset.phase || ''")


def shot(name):
    driver.save_screenshot(f"{args.artifacts}/{name}.png")


def session_id():
    return driver.execute_script("return document.getElementById('session').dataset.session || ''")


def release():
    """Lets the shown session's run go on past the provider's hold (once the
    provider has it: a V2 session creates its run a moment after it starts)."""
    if not args.provider_url:
        return
    session = session_id()

    def released(_):
        request = urllib.request.Request(f"{args.provider_url}/v1/simulator/release?session={session}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["released"] > 0
    wait.until(released, f"the provider never had a run of session {session} to release")


def open_page(token=None):
    # A new query string each time: a change of fragment alone would not reload the page.
    driver.get(f"{args.url}/?visit={time.time()}#token={token or args.token}")
    wait.until(lambda d: d.find_element(By.ID, "workspace").is_displayed())


def latest_session(workflow):
    """The id of the workflow's latest session, by the API (None before its first)."""
    try:
        return api("GET", f"/api/workflows/{workflow}/outline-generation/latest", args.token)["id"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def wait_following(workflow):
    """Waits until the page follows the session just started on `workflow`. Not
    "a session other than the one shown before": on a loaded machine the page
    may still be loading the previous workflow's latest session when the start
    is pressed, and show it for a moment before the new one."""
    wait.until(lambda d: (latest := latest_session(workflow)) is not None and session_id() == latest,
               f"the page never followed the session started on {workflow}")


def start(workflow, prompt, skip):
    """Starts a session and waits until the page follows it."""
    driver.find_element(By.ID, "workflow-new").send_keys(workflow)
    driver.find_element(By.ID, "prompt").send_keys(prompt)
    checkbox = driver.find_element(By.ID, "skip-clarification")
    if checkbox.is_selected() != skip:
        checkbox.click()
    driver.find_element(By.ID, "start-button").click()
    wait_following(workflow)


def timeline_figure():
    """What the finished session's timeline shows, once it is drawn."""
    wait.until(lambda d: d.execute_script(
        "const f = document.getElementById('timeline-figure'); return !f.hidden && f.dataset.session === arguments[0] && !!f.querySelector('svg');", session_id()))
    return driver.execute_script("""
      const marks = (name) => document.querySelectorAll('#timeline-chart [data-mark="' + name + '"]').length;
      const phases = [...document.querySelectorAll('#timeline-chart [data-mark="phase"]')].map((r) => r.dataset.phase);
      const box = document.getElementById('timeline-chart').getBoundingClientRect();
      return {phases, searches: marks('search'), text: marks('text'), reasoning: marks('reasoning'), resumes: marks('resume'),
              reconnects: marks('reconnect'), pageReconnects: state.reconnects.length, caption: document.getElementById('timeline-caption').textContent,
              width: box.width, height: box.height};
    """)


def eta():
    return driver.execute_script("const e = document.getElementById('eta'); return {text: e.textContent, median: e.dataset.medianSeconds || null, left: e.dataset.leftSeconds || null};")


def hostile():
    """A transcript full of markup, script URLs, RTL overrides and a 6,000-character
    line: nothing executes, every link is http(s), the page stays usable."""
    with urllib.request.urlopen(args.url + "/", timeout=30) as response:
        headers = {k.lower(): v for k, v in response.getheaders()}
    open_page()
    start("wf-browser-hostile", "Hostile content", skip=True)
    wait.until(lambda d: phase() == "done")
    shot("page-hostile")
    report = driver.execute_script("""
        const hrefs = [...document.querySelectorAll('a[href]')].map((a) => a.protocol);
        const within = (sel) => [...document.querySelectorAll(sel)];
        return {
          pwned: window.__pwned === undefined ? null : String(window.__pwned),
          protocols: [...new Set(hrefs)],
          injected: within('#outline-text *, #final img, #final script, #final iframe, #citations img, #citations script, #citations iframe').length,
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          safeLinkRefuses: ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,x', ' javascript:x', 'vbscript:x'].every((u) => safeLink(u) === null),
          safeLinkKeeps: safeLink('https://example.org/a') !== null,
          citationItems: within('#citations li').length,
          startEnabled: !document.getElementById('start-button').disabled,
        };
    """)
    # The page is still usable: a second session starts and finishes (its own "done",
    # not the first session's: wait for the page to show the new session first).
    first = session_id()
    start("wf-browser-hostile-2", "Hostile content again", skip=True)
    wait.until(lambda d: session_id() not in ("", first) and phase() == "done")
    report.update({"scenario": "hostile", "session": session_id(), "text": text("outline-text"), "csp": headers.get("content-security-policy", ""),
                   "nosniff": headers.get("x-content-type-options", ""), "referrer": headers.get("referrer-policy", ""),
                   "pwnedAfter": driver.execute_script("return window.__pwned === undefined ? null : String(window.__pwned)")})
    results.append(report)


try:
    if args.scenario == "hostile":
        hostile()
        raise SystemExit(0)
    # 1. A full session: prompt, questions answered with the keyboard, live stream, final outline.
    open_page()
    start("wf-browser-full", "Tidal energy in Europe", skip=False)
    wait.until(lambda d: d.find_element(By.ID, "clarify-form").is_displayed())
    inputs = driver.find_elements(By.CSS_SELECTOR, "#questions input")
    for index, field in enumerate(inputs):
        field.send_keys(f"Answer {index + 1}")
    driver.find_element(By.CSS_SELECTOR, "#clarify-form button").click()
    wait.until(lambda d: len(text("outline-text")) > 300)
    shot("page-mid-stream")
    eta_first = eta()
    # The live outline comes first, above the form; the progress indicator is at "writing".
    layout = driver.execute_script("""
      const top = (id) => document.getElementById(id).getBoundingClientRect().top;
      const current = document.querySelector('#steps li[aria-current="step"]');
      return {sessionAboveForm: top('session') < top('start-form'), outlineAboveReplay: top('outline-text') < top('replay-form') || document.getElementById('replay-form').hidden,
              currentStep: current ? current.dataset.step : null, stepsShown: document.getElementById('steps').getBoundingClientRect().height > 0,
              outlineInView: top('outline-text') < window.innerHeight};
    """)
    release()
    wait.until(lambda d: phase() == "done")
    shot("page-done")
    final_links = len(driver.find_elements(By.CSS_SELECTOR, "#final a, #citations a"))
    figure = timeline_figure()
    driver.execute_script("document.getElementById('timeline-figure').scrollIntoView()")
    shot("page-timeline")
    results.append({"scenario": "full", "session": session_id(), "text": text("outline-text"), "links": final_links,
                    "questions": len(inputs), "phase": phase(), "cost": text("cost"), "layout": layout, "timeline": figure, "etaFirst": eta_first,
                    "finalStep": driver.execute_script("const c = document.querySelector('#steps li[aria-current=step]'); return c ? c.dataset.step : null;")})

    # 1b. The finished session played back from its log, as fast as possible, through the same page.
    wait.until(lambda d: d.find_element(By.ID, "replay-form").is_displayed())
    Select(driver.find_element(By.ID, "replay-speed")).select_by_value("0")
    driver.find_element(By.ID, "replay-button").click()
    wait.until(lambda d: "Playing the recorded session back" in text("mode-note"))
    wait.until(lambda d: phase() == "done" and d.find_element(By.ID, "replay-form").is_displayed())
    shot("page-played-back")
    results.append({"scenario": "playback", "session": session_id(), "text": text("outline-text"), "phase": phase(),
                    "playhead": driver.execute_script("const p = document.getElementById('timeline-playhead'); return p ? {sequence: p.dataset.sequence || null, visibility: p.getAttribute('visibility')} : null;")})

    # 2. A reload in the middle of the stream continues from the snapshot.
    open_page()
    start("wf-browser-reload", "Offshore wind in the North Sea", skip=True)
    wait.until(lambda d: len(text("outline-text")) > 150)
    before = len(text("outline-text"))
    # A session completed before this one: the estimate has figures now.
    wait.until(lambda d: eta()["median"] is not None)
    eta_reload = eta()
    durations = api("GET", "/api/session-durations?mode=streaming", args.token)
    driver.refresh()
    wait.until(lambda d: d.find_element(By.ID, "session").is_displayed())
    # Held: the session is still streaming, so the reloaded page shows it from its
    # snapshot; then the run goes on and the page follows it live to the end.
    wait.until(lambda d: len(text("outline-text")) >= before)
    after_reload = len(text("outline-text"))
    phase_after_reload = phase()
    replay_offered_mid_stream = driver.find_element(By.ID, "replay-form").is_displayed()
    shot("page-reloaded-held")
    release()
    wait.until(lambda d: phase() == "done")
    shot("page-reloaded")
    # What else the page shows, so a failure says more than "the text differs".
    results.append({"scenario": "reload", "session": session_id(), "text": text("outline-text"), "charsBeforeReload": before,
                    "charsAfterReload": after_reload, "phaseAfterReload": phase_after_reload,
                    "replayOfferedMidStream": replay_offered_mid_stream, "eta": eta_reload, "durations": durations,
                    "final": text("final")[:200], "error": text("error"), "note": text("mode-note"),
                    "textHidden": driver.execute_script("return document.getElementById('outline-text').hidden")})

    # 2b. A reload of a finished session shows its whole text again (from the snapshot).
    driver.refresh()
    wait.until(lambda d: d.find_element(By.ID, "session").is_displayed())
    wait.until(lambda d: phase() == "done")
    results.append({"scenario": "reload-done", "session": session_id(), "text": text("outline-text"), "cost": text("cost"),
                    "final": text("final")[:200], "error": text("error"), "note": text("mode-note")})

    # 3. Streaming off: the page starts V2 and polls, and says so.
    api("PUT", "/admin/flags", args.admin_token, {"useStreaming": False, "reason": "browser test: V2 fallback"})
    open_page()
    start("wf-browser-v2", "Geothermal heat in Iceland", skip=True)
    wait.until(lambda d: "Live updates are off" in text("mode-note"))
    note = text("mode-note")
    release()
    wait.until(lambda d: phase() == "done")
    results.append({"scenario": "v2", "session": session_id(), "text": text("outline-text"), "note": note, "cost": text("cost")})
    api("PUT", "/admin/flags", args.admin_token, {"useStreaming": True, "reason": "browser test: back on"})

    # 4. The admin page shows a running session and flips the flag.
    open_page()
    start("wf-browser-admin", "Hydrogen storage in salt caverns", skip=True)
    wait.until(lambda d: phase() in ("researching", "writing"))
    running = session_id()
    driver.get(args.url + "/admin/outline-generation-diagnostics#token=" + args.admin_token)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, f"#active tr[data-session='{running}']")) == 1)
    shot("admin")
    wait.until(lambda d: d.execute_script("return document.getElementById('chart-first-content').querySelector('svg') !== null"))
    history = api("GET", "/admin/outline-generation-diagnostics", args.admin_token)["history"]
    charts = driver.execute_script("""
      const points = (id) => { const svg = document.querySelector('#' + id + ' svg'); return svg ? Number(svg.dataset.points) : -1; };
      return {firstContent: points('chart-first-content'), delivery: points('chart-delivery'), failures: points('chart-failures'),
              notes: ['note-first-content', 'note-delivery', 'note-failures'].map((id) => document.getElementById(id).textContent)};
    """)
    driver.execute_script("document.getElementById('history-card').scrollIntoView()")
    shot("admin-charts")
    driver.find_element(By.CSS_SELECTOR, f"#active tr[data-session='{running}']").click()
    wait.until(lambda d: d.find_element(By.ID, "timeline-card").is_displayed() and len(d.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")) > 2)
    checkbox = driver.find_element(By.ID, "use-streaming")
    was_on = checkbox.is_selected()
    checkbox.click()
    driver.find_element(By.ID, "reason").send_keys("browser test: flip from the admin page")
    driver.find_element(By.ID, "save-flags").click()
    wait.until(lambda d: api("GET", "/api/flags", args.token)["useStreaming"] != was_on)
    flags = api("GET", "/admin/flags", args.admin_token)
    shot("admin-flipped")
    results.append({"scenario": "admin", "session": running, "wasOn": was_on, "nowOn": flags["flags"]["useStreaming"],
                    "lastChangeBy": flags["history"][0]["changedBy"], "timelineRows": len(driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")),
                    "charts": charts, "history": {"timeToFirstContent": len(history["timeToFirstContent"]), "delivery": len(history["delivery"]),
                                                  "sessionHours": len(history["sessions"])}})
    api("PUT", "/admin/flags", args.admin_token, {"useStreaming": True, "reason": "browser test: restore"})
    open_page()
    wait.until(lambda d: session_id() == running)
    release()
    wait.until(lambda d: phase() == "done")
    # 5. Keyboard only, on a narrow screen: no horizontal scrolling, no layout jumps while text streams.
    driver.set_window_size(380, 900)
    open_page()
    keys = ActionChains(driver)

    def tab_to(element_id, limit=15):
        for _ in range(limit):
            if driver.execute_script("return document.activeElement && document.activeElement.id") == element_id:
                return True
            ActionChains(driver).send_keys(Keys.TAB).perform()
        return False

    reached = tab_to("workflow-new")
    ActionChains(driver).send_keys("wf-browser-keys").perform()
    reached = tab_to("prompt") and reached
    ActionChains(driver).send_keys("Solar roofs in Spain").perform()
    reached = tab_to("skip-clarification") and reached
    ActionChains(driver).send_keys(Keys.SPACE).perform()
    reached = tab_to("start-button") and reached
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_following("wf-browser-keys")
    wait.until(lambda d: len(text("outline-text")) > 100)
    top_early = driver.execute_script("return document.getElementById('outline-text').getBoundingClientRect().top + window.scrollY")
    wait.until(lambda d: len(text("outline-text")) > 600)
    top_late = driver.execute_script("return document.getElementById('outline-text').getBoundingClientRect().top + window.scrollY")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    shot("page-narrow")
    eta_narrow = eta()
    # Cancel with the keyboard too: the run is held, so it is still going.
    cancelled_by_keys = False
    if tab_to("cancel-button", limit=40):
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        cancelled_by_keys = True
    wait.until(lambda d: phase() in ("done", "cancelled"))
    results.append({"scenario": "keyboard", "session": session_id(), "text": text("outline-text"), "reachedByTab": reached,
                    "textTopEarly": top_early, "textTopLate": top_late, "horizontalOverflow": overflow,
                    "cancelledByKeys": cancelled_by_keys, "finalPhase": phase(), "phaseText": text("phase"), "eta": eta_narrow})
    # The cancelled session's timeline, on the narrow screen: drawn, within the width.
    narrow_timeline = timeline_figure()
    driver.execute_script("document.getElementById('timeline-figure').scrollIntoView()")
    shot("page-narrow-timeline")
    results.append({"scenario": "narrow-timeline", "session": session_id(), "timeline": narrow_timeline,
                    "horizontalOverflow": driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")})
except SystemExit:
    pass
except Exception as error:  # report what the page showed, then fail
    shot("failure")
    console = [entry.get("message", "") for entry in driver.get_log("browser")][-20:]
    print(json.dumps({"scenario": "error", "error": repr(error), "url": driver.current_url, "phase": phase(),
                      "pageError": text("error") if driver.find_elements(By.ID, "error") else "", "console": console}))
    driver.quit()
    sys.exit(1)

driver.quit()
for result in results:
    print(json.dumps(result))
