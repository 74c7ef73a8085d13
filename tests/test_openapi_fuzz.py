"""Every service's OpenAPI, fuzzed by schemathesis against real processes: no 5xx.

ingest, profile, segment and messaging run as real processes on this run's Kafka and
PostgreSQL (topics of this module's own). A tenant is created through ingest's
``POST /admin/tenants``, and a few real records are made with its API key (profiles,
segments, templates, a journey, a campaign), so that fuzzed requests reach past the 404
of an unknown id: path ids are drawn from those records half of the time (``DELETE``
operations get spare records of their own, so they never remove what the others use).
Strings and integers are drawn from small dictionaries of hostile values 15 % of the
time (NUL, non-ASCII, the ends of the calendar, integers just past 32 and 64 bits): the
classes a long unbounded run found. Then:

- the requests that showed each class of 500 before, now a 422 naming the field;
- every ``/v1`` operation with the tenant's key;
- every operation once with no key (401 on every API route) and once with a wrong key
  (401, or refused for its form before the key is read: never served), and a subset
  (profile, messaging) fuzzed with a wrong key; never 5xx;
- ingest's ``/admin`` operations with the admin token, last (they change tenants).

The dashboard publishes only its probes in OpenAPI (its pages are HTML forms), so it
is not fuzzed here.

Bounded and repeatable: ``st run`` with a fixed seed, deterministic generation, the
examples, coverage and fuzzing phases once each (no time-filling cycles), at most
``MAX_EXAMPLES`` cases per operation, one worker, and a hard time cap per run. Each run
prints how many requests it sent and how many came back 5xx; a failure prints
schemathesis' report, which has a ``curl`` line reproducing each failing request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from service_process import ServiceProcess, free_port

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
SERVICES = ("ingest", "profile", "segment", "messaging")
# A longer or different run: CRM_FUZZ_EXAMPLES=100 CRM_FUZZ_SEED=7 make test PYTEST_ARGS=...
SEED = int(os.environ.get("CRM_FUZZ_SEED", "20261124"))
MAX_EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "10"))  # per operation, fuzzing phase
TIME_CAP_SECONDS = 240.0  # per `st run`; a run that needs more is a failure, not a wait
START_TIMEOUT_SECONDS = 180.0  # four services starting at once on a busy 2-core machine
# A route that reads its own credential (a provider's signature, a tracking token) or
# none at all (probes, docs) answers an anonymous caller as it sees fit; below 500.
PUBLIC = ("/healthz", "/readyz", "/metrics", "/t/", "/v1/providers/", "/webhooks/")

HOSTILE_TEXT = [
    "\x00",
    "F1\x00",
    "a\x00b@example.com",
    "ÿ",
    "名前",
    "😀",
    "\u202e",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+09:00",
    "9999-12-31T23:59:59-12:00",
    "9223372036854775808",
    "1e999999",
    "NaN",
    "-0",
    "%00",
    "../../etc/passwd",
    "' OR '1'='1",
    "x" * 300,
]
EDGE_INTEGERS = [
    str(2**63),
    str(2**63 - 1),
    str(-(2**63) - 1),
    str(2**31),
    str(-(2**31) - 1),
    str(10**20),
    "-1",
    "0",
]

Ids = dict[str, list[str]]  # path parameter -> real ids


@dataclass
class Stack:
    urls: dict[str, str]
    api_key: str
    tenant_id: str
    ids: Ids = field(default_factory=dict)
    spare: Ids = field(default_factory=dict)  # for DELETE operations


@dataclass
class Outcome:
    """One `st run`: its exit code, its report, and every answer it got."""

    code: int
    output: str
    answers: list[tuple[str, str, int]]  # method, path, status
    seconds: float

    @property
    def server_errors(self) -> list[tuple[str, str, int]]:
        return [a for a in self.answers if a[2] >= 500]

    def summary(self, label: str) -> str:
        statuses = Counter(status for _, _, status in self.answers)
        common = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        return (
            f"{label}: {len(self.answers)} requests, {len(self.server_errors)} 5xx "
            f"in {self.seconds:.0f} s ({common})"
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _poll(fetch: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = fetch()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} before the deadline")


# --- the running services and the tenant's records ------------------------------------


def _start_services(lane: Any, processes: ExitStack) -> dict[str, str]:
    """Every service at once (each mostly waits for Kafka), with a start timeout for a
    loaded machine: their URLs; ``processes`` stops them."""
    folder = Path(os.environ.get("CRM_TEST_LOGS", "/tmp/crm-test-logs"))
    folder.mkdir(parents=True, exist_ok=True)
    services = []
    for name in SERVICES:
        port = free_port()
        env = {
            **os.environ,
            **lane.env,
            f"{name.upper()}_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        services.append(ServiceProcess(name, env, port, folder / f"{name}-{port}.log"))
        processes.callback(services[-1].stop)
    with ThreadPoolExecutor(len(services)) as pool:
        for started in [pool.submit(svc.start, START_TIMEOUT_SECONDS) for svc in services]:
            started.result()
    return {svc.name: svc.url for svc in services}


def _wait_for_key(stack: Stack) -> None:
    """The tenant reaches profile, segment and messaging through crm.tenants.v1."""
    key = _bearer(stack.api_key)
    for url in (
        f"{stack.urls['profile']}/v1/settings/rfm",
        f"{stack.urls['segment']}/v1/segments",
        f"{stack.urls['messaging']}/v1/templates",
    ):
        _poll(lambda u=url: httpx.get(u, headers=key, timeout=5).status_code == 200, url)


def _post(stack: Stack, service: str, path: str, body: Any, field_name: str) -> str:
    url = f"{stack.urls[service]}{path}"
    response = httpx.post(url, json=body, headers=_bearer(stack.api_key), timeout=30)
    assert response.status_code in (200, 201, 202), response.text
    value: str = response.json()[field_name] if field_name else ""
    return value


def _get(stack: Stack, service: str, path: str) -> Any:
    url = f"{stack.urls[service]}{path}"
    return httpx.get(url, headers=_bearer(stack.api_key), timeout=30).json()


def _order(n: int) -> dict[str, Any]:
    placed = "2026-06-01T10:00:00+09:00"
    return {
        "event_id": f"fuzz-{uuid.uuid4().hex[:8]}",
        "type": "order.placed",
        "occurred_at": placed,
        "identity": {"email": f"fuzz.buyer{n}@example.jp"},
        "data": {
            "order_id": f"fuzz-order-{n}",
            "placed_at": placed,
            "currency": "JPY",
            "total": "5400",
            "lines": [],
        },
    }


def _seed_people(stack: Stack) -> None:
    """Two customers with an order each, through ingest's generic API: their profiles;
    and a CSV import with a rejected row."""
    for n in (1, 2):
        _post(stack, "ingest", "/v1/events", _order(n), "")
    rows = "email,first_name\nfuzz.csv@example.jp,Hanako\nnot-an-email,Taro\n"
    uploaded = httpx.post(
        f"{stack.urls['ingest']}/v1/imports?kind=customers",
        files={"file": ("customers.csv", rows.encode(), "text/csv")},
        headers=_bearer(stack.api_key),
        timeout=30,
    )
    assert uploaded.status_code == 202, uploaded.text
    stack.ids["import_id"] = [uploaded.json()["import_id"]]

    def profile(n: int) -> list[str]:
        found = _get(stack, "profile", f"/v1/profiles?email=fuzz.buyer{n}@example.jp")
        return [item["profile_id"] for item in found["items"]]

    stack.ids["profile_id"] = _poll(lambda: profile(1), "no profile for the seeded order")
    stack.spare["profile_id"] = _poll(lambda: profile(2), "no profile for the seeded order")


def _seed_segments(stack: Stack) -> None:
    buyers = {"trait": "orders_count", "op": ">=", "value": 1}
    made = [
        _post(stack, "segment", "/v1/segments", {"name": f"Buyers {n}", "definition": buyers}, "id")
        for n in (1, 2)
    ]
    stack.ids["segment_id"], stack.spare["segment_id"] = [made[0]], [made[1]]


def _seed_messaging(stack: Stack) -> None:
    made = [
        _post(
            stack,
            "messaging",
            "/v1/templates",
            {
                "template_id": f"fuzz-welcome-{n}",
                "name": "Welcome",
                "channel": "email",
                "parts": {"subject": "Hello {{ first_name }}", "text": "Welcome back."},
            },
            "template_id",
        )
        for n in (1, 2)
    ]
    stack.ids["template_id"], stack.spare["template_id"] = [made[0]], [made[1]]
    journey_key = _get(stack, "messaging", "/v1/journey-templates")["items"][0]["key"]
    install = f"/v1/journey-templates/{journey_key}/install"
    stack.ids["journey_id"] = [_post(stack, "messaging", install, {}, "id")]
    campaign = {
        "name": "Fuzz campaign",
        "segment_id": stack.ids["segment_id"][0],
        "channel": "email",
        "template_id": made[0],
    }
    stack.ids["campaign_id"] = [_post(stack, "messaging", "/v1/campaigns", campaign, "id")]
    message = {
        "source_kind": "manual",
        "source_id": "fuzz",
        "profile_id": stack.ids["profile_id"][0],
        "channel": "email",
        "template_id": made[0],
    }
    stack.ids["message_id"] = [_post(stack, "messaging", "/v1/messages", message, "message_id")]
    segment_key = _get(stack, "segment", "/v1/segment-templates")["templates"][0]["key"]
    stack.ids["key"] = [journey_key, segment_key]


@pytest.fixture(scope="module")
def stack(lane) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    with ExitStack() as processes:
        urls = _start_services(lane, processes)
        created = httpx.post(
            f"{urls['ingest']}/admin/tenants",
            headers=_bearer(ADMIN_TOKEN),
            json={"name": "Fuzz shop", "shop_domains": ["fuzz.myshopify.com"]},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        running = Stack(urls, body["api_key"], body["tenant_id"])
        _wait_for_key(running)
        _seed_people(running)
        _seed_segments(running)
        _seed_messaging(running)
        yield running


# --- schemathesis -----------------------------------------------------------------


def _toml(value: Any) -> str:
    """A TOML value: JSON's strings, numbers, arrays and inline tables are TOML's too."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


def _bindings(ids: Ids, prefix: str) -> dict[str, Any]:
    return {f"path.{name}": {"dictionary": f"{prefix}-{name}", "probability": 0.5} for name in ids}


def write_config(path: Path, ids: Ids, spare: Ids) -> Path:
    """schemathesis.toml: hostile values for every string and integer, real path ids
    (spare ones for DELETE)."""
    dictionaries: dict[str, list[str]] = {
        "hostile-text": HOSTILE_TEXT,
        "edge-integers": EDGE_INTEGERS,
    }
    dictionaries |= {f"ids-{name}": values for name, values in ids.items()}
    dictionaries |= {f"spare-{name}": values for name, values in spare.items()}
    lines = [
        "[generation.dictionaries]",
        f"string = {_toml({'dictionary': 'hostile-text', 'probability': 0.15})}",
        f"integer = {_toml({'dictionary': 'edge-integers', 'probability': 0.15})}",
        "",
        "[parameters]",
        *(f"{json.dumps(key)} = {_toml(value)}" for key, value in _bindings(ids, "ids").items()),
        "",
    ]
    if spare:
        lines += [
            "[[operations]]",
            'include-method = "DELETE"',
            f"parameters = {_toml(_bindings(spare, 'spare'))}",
            "",
        ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _answers(har: Path) -> list[tuple[str, str, int]]:
    if not har.exists():
        return []
    entries = json.loads(har.read_text())["log"]["entries"]
    return [
        (e["request"]["method"], urlsplit(e["request"]["url"]).path, e["response"]["status"])
        for e in entries
    ]


def st_run(
    url: str,
    workdir: Path,
    *,
    headers: dict[str, str],
    ids: Ids,
    spare: Ids | None = None,
    options: Sequence[str] = (),
) -> Outcome:
    """``st run`` against ``url``'s OpenAPI, checking only that nothing answers 5xx."""
    workdir.mkdir(parents=True, exist_ok=True)
    har = workdir / "interactions.har"
    config = write_config(workdir / "schemathesis.toml", ids, spare or {})
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        f"--config-file={config}",
        "run",
        f"{url}/openapi.json",
        "--checks=not_a_server_error",
        f"--seed={SEED}",
        "--generation-deterministic",
        "--workers=1",
        "--request-timeout=30",
        "--suppress-health-check=all",
        "--no-color",
        "--report=har",
        f"--report-har-path={har}",
        *(f"--header={name}:{value}" for name, value in headers.items()),
        *options,
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIME_CAP_SECONDS, cwd=workdir
        )
    except subprocess.TimeoutExpired as late:
        partial = late.stdout or b""
        partial = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        pytest.fail(f"st run took over {TIME_CAP_SECONDS} s against {url}:\n{partial[-6000:]}")
    output = done.stdout + done.stderr
    return Outcome(done.returncode, output, _answers(har), time.monotonic() - started)


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[openapi fuzz] {line}")


def _assert_no_server_errors(outcome: Outcome, label: str) -> None:
    assert outcome.answers, f"{label}: no request was sent\n{outcome.output[-6000:]}"
    assert not outcome.server_errors and outcome.code == 0, (
        f"{label}: {len(outcome.server_errors)} 5xx, st exit {outcome.code}\n"
        f"{outcome.output[-20000:]}"
    )


# A request refused for its form (bad JSON, wrong type, a NUL) before its key is read.
REFUSED_FOR_ITS_FORM = (400, 405, 413, 415, 422)


def _served(
    answers: list[tuple[str, str, int]], also_refused: Sequence[int]
) -> list[tuple[str, str, int]]:
    """Answers on credential-checked routes that neither refused the credential (401)
    nor the request (``also_refused``): a stranger was served, or told what exists."""
    refused = (401, *also_refused)
    return [a for a in answers if not a[1].startswith(PUBLIC) and a[2] not in refused]


# --- the tests ----------------------------------------------------------------------


# Each class of 500 the fuzzing found, as the request that showed it: now a 422 that
# names the field (crm_common.inputs and the services' bounded types).
YEAR_ONE_IN_TOKYO = "0001-01-01T00:00:00+09:00"  # year 0 in UTC
KNOWN = [
    ("ingest", "GET", f"/v1/imports/{{import_id}}?offset={2**63}", None, "query.offset"),
    (
        "ingest",
        "POST",
        "/v1/events",
        {**_order(3), "occurred_at": YEAR_ONE_IN_TOKYO},
        "occurred_at",  # ingest names paths within the event
    ),
    ("profile", "GET", "/v1/analytics/rank-movement?since=0001-01-01", None, "query.since"),
    ("profile", "GET", "/v1/profiles/search?f_stage=F1%00", None, "query.f_stage"),
    (
        "profile",
        "GET",
        f"/v1/profiles/search?orders_count_min={2**31}",
        None,
        "query.orders_count_min",
    ),
    (
        "profile",
        "GET",
        "/v1/profiles/search?total_spent_min=1e999999",
        None,
        "query.total_spent_min",
    ),
    (
        "profile",
        "GET",
        "/v1/profiles/search?last_order_after=0001-01-01T00:00:00%2B09:00",
        None,
        "query.last_order_after",
    ),
    ("profile", "GET", "/v1/profiles/search?cursor=AA%3D%3D", None, "query.cursor"),  # NUL id
    # (year 1 in Tokyo, event id): the instant is year 0 in UTC
    (
        "profile",
        "GET",
        "/v1/profiles/{profile_id}/timeline?cursor=MDAwMS0wMS0wMVQwMDowMDowMCswOTowMB94",
        None,
        "query.cursor",
    ),
    (
        "profile",
        "PUT",
        "/v1/settings/rfm",
        {"recency_days": [2**64 + n for n in range(4)]},
        "body.recency_days.0",
    ),
    ("profile", "PATCH", "/v1/profiles/{profile_id}", {"gender": "x\x00"}, "body.gender"),
    (
        "profile",
        "PATCH",
        "/v1/profiles/{profile_id}",
        {"properties": {"n": 10**32}},
        "body.properties.n",
    ),
    ("segment", "GET", "/v1/segments/{segment_id}/members?cursor=%C3%B6", None, "query.cursor"),
    ("segment", "GET", "/v1/segments/{segment_id}/members?cursor=AA", None, "query.cursor"),
    ("messaging", "GET", "/v1/templates/x%00", None, "path"),
    ("messaging", "GET", "/v1/messages?cursor=%C3%B6", None, "query.cursor"),
    # [instant, id] cursors: a NUL id, and year 1 in Tokyo (year 0 in UTC)
    (
        "messaging",
        "GET",
        "/v1/messages?cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIlx1MDAwMCJd",
        None,
        "query.cursor",
    ),
    (
        "messaging",
        "GET",
        "/v1/messages?cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzA5OjAwIiwgIngiXQ",
        None,
        "query.cursor",
    ),
    (
        "messaging",
        "POST",
        "/v1/campaigns/{campaign_id}/schedule",
        {"send_at": "0001-01-01T00:00:00+09:00"},
        "body.send_at",
    ),
    (
        "messaging",
        "PATCH",
        "/v1/campaigns/{campaign_id}",
        {"send_at": "0001-01-01T00:00:00+09:00"},
        "body.send_at",
    ),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "field_path"), KNOWN)
def test_known_server_errors_are_422_naming_the_field(  # type: ignore[no-untyped-def]
    stack: Stack, name: str, method: str, path: str, body: Any, field_path: str
) -> None:
    url = stack.urls[name] + path.format(**{k: v[0] for k, v in stack.ids.items()})
    response = httpx.request(method, url, json=body, headers=_bearer(stack.api_key), timeout=30)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_request", "invalid_event"), error  # ingest's own
    assert error["details"][0]["path"] == field_path, error


@pytest.mark.parametrize("name", SERVICES)
def test_no_operation_answers_5xx_to_the_tenant(  # type: ignore[no-untyped-def]
    stack: Stack, name: str, tmp_path: Path, capsys
) -> None:
    outcome = st_run(
        stack.urls[name],
        tmp_path,
        headers=_bearer(stack.api_key),
        ids=stack.ids,
        spare=stack.spare,
        options=[
            "--exclude-path-regex=^/admin/",
            "--phases=examples,coverage,fuzzing",
            f"--max-examples={MAX_EXAMPLES}",
        ],
    )
    _report(capsys, outcome.summary(f"{name} as a tenant"))
    _assert_no_server_errors(outcome, name)


WRONG_KEY = _bearer("crm_not-a-key-of-anybody")


@pytest.mark.parametrize("name", ["profile", "messaging"])
def test_a_wrong_key_is_refused_never_5xx(  # type: ignore[no-untyped-def]
    stack: Stack, name: str, tmp_path: Path, capsys
) -> None:
    """A subset: profile checks the key in a dependency, messaging inside its handlers."""
    outcome = st_run(
        stack.urls[name],
        tmp_path,
        headers=WRONG_KEY,
        ids=stack.ids,
        options=["--phases=examples,fuzzing", "--max-examples=2"],
    )
    _report(capsys, outcome.summary(f"{name} with a wrong key"))
    _assert_no_server_errors(outcome, f"{name} with a wrong key")
    served = _served(outcome.answers, REFUSED_FOR_ITS_FORM)
    assert not served, f"answered a wrong key: {served[:20]}"


def _operations(url: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "fuzz-id", path))
        for path, operations in spec["paths"].items()
        for method in operations
    ]


@pytest.mark.parametrize("credential", ["no key", "wrong key"])
@pytest.mark.parametrize("name", SERVICES)
def test_every_operation_refuses_strangers(  # type: ignore[no-untyped-def]
    stack: Stack, name: str, credential: str, capsys
) -> None:
    """One plain request per operation. Without any key every API route answers 401 (a
    body is not even read); a wrong key may also be refused for the request's form first
    (422 before the key is checked), never served."""
    headers = WRONG_KEY if credential == "wrong key" else {}
    answers = []
    for method, path in _operations(stack.urls[name]):
        body = {} if method in ("POST", "PUT", "PATCH") else None
        url = f"{stack.urls[name]}{path}"
        response = httpx.request(method, url, json=body, headers=headers, timeout=30)
        answers.append((method, path, response.status_code))
    outcome = Outcome(0, "", answers, 0.0)
    _report(capsys, outcome.summary(f"{name}, every operation once with {credential}"))
    assert not outcome.server_errors, outcome.server_errors
    served = _served(answers, REFUSED_FOR_ITS_FORM if headers else ())
    assert not served, f"answered with {credential}: {served}"


def test_admin_routes_answer_no_5xx(  # type: ignore[no-untyped-def]
    stack: Stack, tmp_path: Path, capsys
) -> None:
    outcome = st_run(
        stack.urls["ingest"],
        tmp_path,
        headers=_bearer(ADMIN_TOKEN),
        ids={"tenant_id": [stack.tenant_id]},
        options=[
            "--include-path-regex=^/admin/",
            "--phases=examples,coverage,fuzzing",
            "--max-examples=5",  # each new tenant is published to crm.tenants.v1
        ],
    )
    _report(capsys, outcome.summary("ingest /admin with the admin token"))
    _assert_no_server_errors(outcome, "ingest /admin")
