"""``/settings/tokens/``: API tokens for staff users: create one (its token is shown once, on the
answer to the form), list the live ones, revoke one after a confirmation.

Only staff may see or change tokens (a token with ``operate`` can redefine what the dashboard
tracks and replay the archive); other logged-in users get a page that says so, with status 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard.core.models import SCOPES, ApiToken
from dashboard.core.tokens import IssuedToken, create_token, live_tokens, revoke

NAME_MAX = 100


def _staff_only(request: HttpRequest) -> HttpResponse | None:
    if request.user.is_staff:
        return None
    return render(request, "dashboard/tokens_staff_only.html", status=403)


def _list(request: HttpRequest, *, issued: IssuedToken | None = None, issued_name: str = "",
          form: dict[str, Any] | None = None, error: str = "", status: int = 200) -> HttpResponse:  # fmt: skip
    context = {
        "tokens": live_tokens(),
        "scopes": SCOPES,
        "issued": issued,
        "issued_name": issued_name,
        "form": form or {"name": "", "scopes": ["ingest"]},
        "error": error,
    }
    response = render(request, "dashboard/tokens.html", context, status=status)
    if issued is not None:
        response["Cache-Control"] = "no-store"  # the secret is on this page once, not in any cache
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """GET lists the live tokens; POST creates one and shows it once (400 with the reason when the
    name or scopes are not acceptable)."""
    refused = _staff_only(request)
    if refused is not None:
        return refused
    if request.method != "POST":
        return _list(request)
    name = request.POST.get("name", "").strip()
    scopes = request.POST.getlist("scopes")
    form = {"name": name, "scopes": scopes}
    if not name:
        return _list(request, form=form, error="Give the token a name (e.g. the service that uses it).", status=400)
    if len(name) > NAME_MAX:
        return _list(request, form=form, error=f"A name has at most {NAME_MAX} characters.", status=400)
    try:
        issued = create_token(name, scopes)
    except ValueError as err:
        return _list(request, form=form, error=f"{str(err).capitalize()}.", status=400)
    return _list(request, issued=issued, issued_name=name)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def revoke_token_page(request: HttpRequest, key_id: str) -> HttpResponse:
    """GET asks for a confirmation; POST revokes, then back to the list, which says so."""
    refused = _staff_only(request)
    if refused is not None:
        return refused
    token = ApiToken.objects.filter(key_id=key_id, revoked_at__isnull=True).first()
    if token is None:
        context = {"what": "No such live token", "detail": f"No live token has the key id {key_id}."}
        return render(request, "dashboard/not_found.html", context, status=404)
    if request.method != "POST":
        return render(request, "dashboard/token_revoke.html", {"token": token})
    revoke(token.key_id)
    messages.success(request, f"Revoked {token.name} ({token.key_id}): it is refused from its next request on.")
    return redirect("settings-tokens")
