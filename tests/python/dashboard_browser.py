#!/usr/bin/env python3
"""Drives the fleet dashboard in a real headless Chromium (selenium with
Debian's chromium and chromium-driver), as a person would: sign in, look,
click, type. For gateway/tests/dashboard.rs, which runs the gateway, NATS
and the rigs.

Usage: dashboard_browser.py --url http://127.0.0.1:PORT --operator TOKEN
           --viewer TOKEN --rigs rig-a,rig-b,rig-c --kill rig-c
           --screenshots DIR [--chromium PATH] [--driver PATH]

Prints one JSON line per step ({"step": "..."}); asks the test to kill a rig
with {"kill": "<rig>"} and waits for {"killed": "<rig>"} on stdin; ends with
{"done": true, "latency": {...}} or {"error": "...", "step": "..."}.
Every wait polls what the page shows under a generous deadline.
"""

import argparse
import json
import os
import sys
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 30


def say(**fields):
    print(json.dumps(fields), flush=True)


def browser(args):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    # Chromium as root needs --no-sandbox.
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1366,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=args.driver), options=options)


class Page:
    def __init__(self, driver, screenshots):
        self.driver = driver
        self.screenshots = screenshots
        self.step = "start"

    def begin(self, step):
        self.step = step
        say(step=step)

    def until(self, what, condition):
        def check(driver):
            try:
                return condition(driver)
            except Exception:  # an element redrawn meanwhile: look again
                return False
        return WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(check, message=what)

    def by_id(self, id_):
        return self.driver.find_element(By.ID, id_)

    def visible(self, id_):
        return self.until(f"#{id_} shown", lambda d: d.find_element(By.ID, id_).is_displayed())

    def text(self, id_):
        return self.by_id(id_).text

    def card(self, rig):
        return self.driver.find_element(By.CSS_SELECTOR, f'.rig[data-rig="{rig}"]')

    def shot(self, name):
        path = os.path.join(self.screenshots, name)
        self.driver.save_screenshot(path)
        say(screenshot=path)

    def sign_in(self, token):
        self.visible("sign-in")
        field = self.by_id("sign-in-token")
        field.clear()
        field.send_keys(token)
        self.by_id("sign-in-button").click()
        self.visible("app")

    def confirm(self):
        self.visible("confirm-dialog")
        self.by_id("confirm-yes").click()
        self.until("the dialog closed", lambda d: not d.find_element(By.ID, "confirm-dialog").is_displayed())

    def send(self, command, data="null", confirm=False):
        Select(self.by_id("command-select")).select_by_value(command)
        area = self.by_id("command-data")
        area.clear()
        area.send_keys(data)
        self.by_id("send-command").click()
        if confirm:
            self.confirm()


def reply_json(page, id_):
    text = page.text(id_)
    try:
        return json.loads(text)
    except ValueError:
        return None


def run(args, page):
    driver = page.driver
    rigs = args.rigs.split(",")
    driver.get(args.url)

    page.begin("sign in as an operator")
    page.sign_in(args.operator)
    page.until("the operator's name", lambda d: "operator" in page.text("who"))

    page.begin("every rig online")
    page.until(f"{len(rigs)} rigs online", lambda d: all(
        "online" in page.card(rig).get_attribute("class").split() for rig in rigs))
    page.until("a status in a card", lambda d: page.card(rigs[0]).find_element(
        By.CSS_SELECTOR, 'dd[data-field="mode"]').text not in ("", "–"))
    page.shot("01-fleet.png")

    page.begin("GET_STATUS and its reply")
    page.card(rigs[0]).click()
    page.visible("panel")
    page.until("the rig's commands", lambda d: len(Select(page.by_id("command-select")).options) > 3)
    page.send("GET_STATUS")
    page.until("the GET_STATUS reply", lambda d: (reply_json(page, "reply") or {}).get("result") == 100)

    page.begin("invalid JSON is refused in the page")
    area = page.by_id("command-data")
    area.clear()
    area.send_keys("{not json")
    page.until("the data marked invalid", lambda d: "invalid" in area.get_attribute("class").split())
    page.until("a message", lambda d: "not JSON" in page.text("command-data-error"))

    page.begin("a pending command, confirmed, and its result")
    page.send("START_ACQUISITION", confirm=True)
    page.until("the pending reply", lambda d: (reply_json(page, "reply") or {}).get("result") == 201)
    nonce = reply_json(page, "reply")["nonce"]
    page.until("the pending result", lambda d: (reply_json(page, "result") or {}).get("nonce") == nonce)
    result = reply_json(page, "result")
    assert result["command"] == 100 and result["result"] == 100, result
    page.until("the result in the log", lambda d: d.find_elements(By.CSS_SELECTOR, "#log li.result"))
    page.shot("02-command.png")

    page.begin("a rig dies and goes offline")
    say(kill=args.kill)
    answer = json.loads(sys.stdin.readline())
    assert answer.get("killed") == args.kill, answer
    page.until(f"{args.kill} offline", lambda d: "offline" in page.card(args.kill).get_attribute("class").split())
    page.until("the time since its heartbeat", lambda d: "offline for" in page.card(args.kill).find_element(
        By.CSS_SELECTOR, 'dd[data-field="heartbeat"]').text)
    page.until("the link event in the log", lambda d: any(
        args.kill in item.text and "offline" in item.text
        for item in d.find_elements(By.CSS_SELECTOR, "#log li.link")))
    page.shot("03-offline.png")

    page.begin("emergency stop of the fleet, and the banner")
    page.by_id("stop-all").click()
    page.confirm()
    page.visible("emergency-banner")
    page.until("emergencies highlighted in the log",
               lambda d: d.find_elements(By.CSS_SELECTOR, "#log li.emergency"))
    page.until("the online rigs' cards marked", lambda d: all(
        "emergency" in page.card(rig).get_attribute("class").split() for rig in rigs if rig != args.kill))
    page.shot("04-emergency.png")

    page.begin("the filters of the log")
    Select(page.by_id("filter-kind")).select_by_value("emergency")
    page.until("only emergencies", lambda d: all(
        "emergency" in item.get_attribute("class").split()
        for item in d.find_elements(By.CSS_SELECTOR, "#log li")))
    Select(page.by_id("filter-kind")).select_by_value("")

    latencies = driver.execute_script(
        "return {gateway: window.dashboard.latencies.slice(), rig: window.dashboard.fromRig.slice()}")

    page.begin("a tablet's screen")
    driver.set_window_size(820, 1180)
    page.until("the grid above the panel", lambda d: page.by_id("panel").location["y"] > page.by_id("fleet").location["y"])
    page.until("nothing wider than the screen", lambda d: d.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"))
    page.shot("05-tablet.png")
    driver.set_window_size(1366, 900)

    page.begin("a viewer sees everything and sends nothing")
    page.by_id("sign-out").click()
    page.sign_in(args.viewer)
    page.until("the viewer's name", lambda d: "viewer" in page.text("who"))
    page.until("the rigs", lambda d: len(d.find_elements(By.CSS_SELECTOR, ".rig")) == len(rigs))
    page.card(rigs[0]).click()
    page.visible("panel-readonly")
    assert not page.by_id("send-command").is_enabled()
    assert not page.by_id("stop-all").is_enabled()
    # Even past the disabled button, the gateway refuses.
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/rigs/""" + rigs[0] + """/commands', {
          method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRF-Token': window.dashboard.session.csrfToken},
          body: JSON.stringify({command: 'GET_STATUS'}),
        }).then(r => done(r.status), e => done(String(e)));
    """)
    assert status == 403, status
    page.shot("06-viewer.png")
    return latencies


def scale(args, page):
    """Many rigs and a flood of events (tests/python/fleet_load.py makes
    them): every event counted, the log bounded, the page still answers a
    click; frame gaps and latency reported."""
    driver = page.driver
    driver.get(args.url)
    page.begin("sign in as an operator")
    page.sign_in(args.operator)
    page.begin(f"{args.scale_rigs} rigs online")
    page.until(f"{args.scale_rigs} rigs online", lambda d: len(
        d.find_elements(By.CSS_SELECTOR, ".rig.online")) >= args.scale_rigs)
    driver.execute_script("""
        window.gaps = [];
        let last = performance.now();
        const frame = (now) => { window.gaps.push(now - last); last = now; requestAnimationFrame(frame); };
        requestAnimationFrame(frame);
    """)
    before = driver.execute_script("return window.dashboard.total")
    page.begin("the flood")
    say(load=True)
    published = json.loads(sys.stdin.readline())["published"]
    WebDriverWait(driver, WAIT * 4, poll_frequency=0.2).until(
        lambda d: d.execute_script("return window.dashboard.total") - before >= published,
        message=f"{published} events counted by the page")
    page.until("the log drawn", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log li")) > 0)
    lines = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
    assert lines <= 500, f"{lines} log lines"
    page.begin("the page still answers")
    page.card("load-07").click()
    page.until("the panel of load-07", lambda d: page.text("panel-rig") == "load-07")
    page.shot("07-scale.png")
    gaps = driver.execute_script("return window.gaps.slice(1)")
    latencies = driver.execute_script("return window.dashboard.latencies.slice()")
    transport = driver.execute_script("return window.dashboard.transport.slice()")
    from_rig = driver.execute_script("return window.dashboard.fromRig.slice()")
    return {"events": published, "log_lines": lines, "frames": summary(gaps),
            "latency": summary(latencies), "transport": summary(transport),
            "from_rig": summary(from_rig)}


def summary(latencies):
    values = sorted(latencies)
    if not values:
        return {"count": 0}

    def quantile(q):
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)
    return {"count": len(values), "p50_ms": quantile(0.5), "p99_ms": quantile(0.99), "max_ms": round(values[-1], 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--operator", required=True)
    parser.add_argument("--viewer", required=True)
    parser.add_argument("--rigs", required=True)
    parser.add_argument("--kill")
    parser.add_argument("--scale-rigs", type=int, help="the scale test: this many rigs (fleet_load.py)")
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--driver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    driver = browser(args)
    page = Page(driver, args.screenshots)
    try:
        if args.scale_rigs:
            say(done=True, **scale(args, page))
        else:
            latencies = run(args, page)
            say(done=True, latency=summary(latencies["gateway"]), from_rig=summary(latencies["rig"]))
    except Exception as error:  # the test shows the step, the page and the cause
        try:
            page.shot("failed.png")
        except Exception:
            pass
        say(error=f"{type(error).__name__}: {error}", step=page.step, trace=traceback.format_exc())
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
