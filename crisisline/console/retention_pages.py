"""The retention pages: the schedule in words, the runs, and what each run removed.

`/retention` (menu "Retention", retention:read: the clinical lead and the administrator) shows
config/retention.toml in words and the latest runs with their counts and status;
`/retention/runs/<id>` lists what one run removed or anonymised, rule by rule, a page at a
time (`?rule=notes&page=2`). They show record ids and participant ids, never a record's words:
reading them is not reading anybody's record. A rule or page that cannot be read is answered
422 with the message, never 500.
"""

from __future__ import annotations

from typing import Final

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from crisisline import retention
from crisisline.console.common import blueprint, menu_item
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.retention_schedule import Kind
from crisisline.services import services

menu_item("Retention", "console.retention_page", Permission.RETENTION_READ, order=85)

RUNS_PER_PAGE: Final = 20
ACTIONS_PER_PAGE: Final = 50
MAX_PAGE: Final = 100_000
RULES: Final = {kind.value: kind.value.replace("_", " ").capitalize() for kind in Kind}
_ORDER: Final = {name: index for index, name in enumerate(RULES)}
ACTIONS: Final = {
    retention.ANONYMISED: "anonymised",
    retention.REMOVED_ROW: "removed",
    retention.DELETION_REQUESTED: "deletion asked of the provider",
}


def _page_number(text: str) -> int | None:
    text = text.strip() or "1"
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= MAX_PAGE else None


@blueprint.get("/retention")
@requires(Permission.RETENTION_READ)
def retention_page() -> ResponseReturnValue:
    """The retention schedule in words and the latest runs."""
    svc = services()
    page = _page_number(request.args.get("page", ""))
    if page is None:
        return render_template("retention_page.html", error="A page is a whole number from 1."), 422
    with svc.db.transaction() as session:
        runs = retention.recent_runs(session, RUNS_PER_PAGE, (page - 1) * RUNS_PER_PAGE)
        total = retention.count_runs(session)
    return render_template(
        "retention_page.html",
        error=None,
        schedule=retention.schedule_words(svc.retention),
        run_time=svc.settings.retention_time,
        runs=runs,
        page=page,
        pages=max(1, -(-total // RUNS_PER_PAGE)),
        rules=RULES,
    )


@blueprint.get("/retention/runs/<int:run_id>")
@requires(Permission.RETENTION_READ)
def retention_run(run_id: int) -> ResponseReturnValue:
    """What one run removed or anonymised, by rule, a page at a time."""
    svc = services()
    rule = request.args.get("rule", "").strip() or None
    page = _page_number(request.args.get("page", ""))
    errors = []
    if rule is not None and rule not in RULES:
        errors.append(f"rule: {rule[:40]!r} is not a rule of the schedule ({', '.join(RULES)}).")
    if page is None:
        errors.append("page: a page is a whole number from 1.")
    with svc.db.transaction() as session:
        run = retention.get_run(session, run_id)
        if run is None:
            abort(404)
        counts = retention.action_counts(session, run_id)
        actions = []
        total = 0
        if not errors and page is not None:
            total = retention.count_actions(session, run_id, rule=rule)
            actions = retention.actions_of(
                session,
                run_id,
                rule=rule,
                limit=ACTIONS_PER_PAGE,
                offset=(page - 1) * ACTIONS_PER_PAGE,
            )
    body = render_template(
        "retention_run.html",
        run=run,
        # In the schedule's order, as the runs page lists them.
        counts=sorted(counts.items(), key=lambda item: (_ORDER.get(item[0][0], 99), item[0])),
        rules_done=[name for name in RULES if any(key[0] == name for key in counts)],
        actions=actions,
        total=total,
        rule=rule,
        page=page or 1,
        pages=max(1, -(-total // ACTIONS_PER_PAGE)),
        rules=RULES,
        action_words=ACTIONS,
        errors=errors,
    )
    return body, 422 if errors else 200
