"""Message templates: list, create and edit email (subject, preheader, HTML, text), SMS
and LINE templates, and preview one rendered by messaging for a customer found by
email, phone or platform id.

Messaging validates on save and answers each problem with its part and line
(``{"path": "parts.html", "line": 3, "message": ...}``); the form is shown again with
what was typed and each problem beside its part. Saving is a marketer's (server-side);
anyone signed in may read and preview.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_dashboard.clients import Fetched
from crm_dashboard.web.deps import Ctx, MarketerDep, Viewer, ViewerDep, render
from crm_dashboard.web.lists import identifier_query, items_of

router = APIRouter(include_in_schema=False)
PARTS = {
    "email": ("subject", "preheader", "html", "text"),
    "sms": ("text",),
    "line": ("text",),
}
REQUIRED = {"email": ("subject",), "sms": ("text",), "line": ("text",)}
# What the variable picker offers (messaging's template context).
VARIABLES = (
    ("{{ profile.name }}", "Full name"),
    ("{{ profile.last_name }}", "Last name"),
    ("{{ profile.first_name }}", "First name"),
    ("{{ profile.email }}", "Email"),
    ("{{ traits.orders_count }}", "Orders"),
    ("{{ traits.total_spent }}", "Total spent"),
    ("{{ traits.rfm_rank }}", "RFM rank"),
    ("{{ traits.last_order_at }}", "Last order"),
    ("{{ coupon_code }}", "Coupon code"),
    ("{{ recovery_url }}", "Checkout recovery link"),
    ("{{ unsubscribe_url }}", "Unsubscribe link"),
)
RECOMMENDATIONS = (
    "{% for item in recommendations %}\n"
    '<p><a href="{{ item.url }}">{{ item.title }}</a> {{ item.price }}</p>\n'
    "{% endfor %}"
)


def _parts_from(form: dict[str, str], channel: str) -> dict[str, str]:
    """The channel's parts as typed; optional parts left empty are not sent."""
    parts = {p: form.get(f"part-{p}", "") for p in PARTS[channel]}
    return {p: v for p, v in parts.items() if v.strip() or p in REQUIRED[channel]}


def errors_by_part(failure: Fetched | None) -> dict[str, list[dict[str, Any]]]:
    """Messaging's problems grouped by part (``parts.html`` -> ``html``); "" for the
    template as a whole."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for d in (failure.details if failure else None) or []:
        path = str(d.get("path") or "")
        part = path.removeprefix("parts.") if path.startswith("parts.") else ""
        grouped.setdefault(part, []).append(d)
    return grouped


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _editor(
    request: Request,
    ctx: Ctx,
    viewer: Viewer,
    template: dict[str, Any],
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    channel = template.get("channel") or "email"
    values = {
        "template": template,
        "part_names": PARTS.get(channel, ("text",)),
        "variables": VARIABLES,
        "recommendations_block": RECOMMENDATIONS,
        "errors": errors_by_part(values.get("error")),
    } | values
    return render(request, ctx, viewer, "template_edit.html", status, **values)


@router.get("/templates")
async def list_templates(request: Request, ctx: Ctx, viewer: ViewerDep) -> HTMLResponse:
    got = await ctx.backends.call("messaging", "GET", "/v1/templates", viewer)
    rows = sorted(items_of(got), key=lambda t: str(t.get("created_at") or ""), reverse=True)
    return render(request, ctx, viewer, "templates.html", templates=got, rows=rows)


@router.get("/templates/new")
async def new_template(
    request: Request, ctx: Ctx, viewer: MarketerDep, channel: str = "email"
) -> HTMLResponse:
    channel = channel if channel in PARTS else "email"
    blank = {"channel": channel, "name": "", "parts": {}}
    return _editor(request, ctx, viewer, blank, new=True)


@router.post("/templates")
async def create_template(request: Request, ctx: Ctx, viewer: MarketerDep) -> Response:
    form = await _form(request)
    channel = form.get("channel", "")
    if channel not in PARTS:
        failure = Fetched(error="channel: email, sms or line", status=422)
        return render(request, ctx, viewer, "failed.html", 422, failure=failure)
    body = {"name": form.get("name", "").strip(), "channel": channel}
    body["parts"] = _parts_from(form, channel)  # type: ignore[assignment]
    got = await ctx.backends.call("messaging", "POST", "/v1/templates", viewer, json=body)
    if not got.ok:
        typed = body | {"parts": _parts_from(form, channel)}
        status = got.status or 502
        return _editor(request, ctx, viewer, typed, status, new=True, error=got)
    return RedirectResponse(f"/templates/{got.data['template_id']}?saved=1", status_code=303)


async def _profile_for(ctx: Ctx, viewer: Viewer, q: str) -> Fetched:
    """The customer a search text names (the first found)."""
    params = identifier_query(q)
    got = await ctx.backends.call("profile", "GET", "/v1/profiles", viewer, params=params)
    if not got.ok:
        return got
    found = items_of(got)
    if not found:
        return Fetched(error=f"no customer found for {q!r}", status=404)
    return Fetched(data=found[0])


async def _preview(ctx: Ctx, viewer: Viewer, template_id: str, q: str) -> Fetched | None:
    if not q.strip():
        return None
    profile = await _profile_for(ctx, viewer, q)
    if not profile.ok:
        return profile
    path = f"/v1/templates/{template_id}/preview"
    body = {"profile_id": profile.data["profile_id"]}
    got = await ctx.backends.call("messaging", "POST", path, viewer, json=body)
    if got.ok:
        ctx.audit.record(viewer, "customer.viewed", str(profile.data["profile_id"]))
        got.data["profile_id"] = profile.data["profile_id"]
    return got


@router.get("/templates/{template_id}")
async def edit_template(
    request: Request, ctx: Ctx, viewer: ViewerDep, template_id: str, q: str = ""
) -> HTMLResponse:
    got = await ctx.backends.call("messaging", "GET", f"/v1/templates/{template_id}", viewer)
    if not got.ok:
        status = got.status or 502
        return render(request, ctx, viewer, "failed.html", status, failure=got, back="/templates")
    preview = await _preview(ctx, viewer, template_id, q)
    saved = request.query_params.get("saved") == "1"
    return _editor(request, ctx, viewer, got.data, preview=preview, q=q, saved=saved)


@router.post("/templates/{template_id}")
async def save_template(
    request: Request, ctx: Ctx, viewer: MarketerDep, template_id: str
) -> Response:
    path = f"/v1/templates/{template_id}"
    current = await ctx.backends.call("messaging", "GET", path, viewer)
    if not current.ok:
        status = current.status or 502
        return render(request, ctx, viewer, "failed.html", status, failure=current)
    form = await _form(request)
    channel = str(current.data["channel"])
    parts = _parts_from(form, channel) if channel in PARTS else current.data["parts"]
    body = {"name": form.get("name", "").strip() or current.data["name"], "parts": parts}
    got = await ctx.backends.call("messaging", "PUT", path, viewer, json=body)
    if not got.ok:
        typed = current.data | body
        return _editor(request, ctx, viewer, typed, got.status or 502, error=got)
    return RedirectResponse(f"/templates/{template_id}?saved=1", status_code=303)
