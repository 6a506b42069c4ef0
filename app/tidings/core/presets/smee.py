"""The smee.io preset: GitHub (and other) webhooks relayed to the desktop (SSE.md section 4).

smee.io opens each connection with ``event: ready`` and sends ``event: ping``
every 30 s (neither is a notification). Each delivery is a default
``message`` whose JSON holds the original request's headers (lower-case
names such as ``x-github-event``) plus ``body``, ``query`` and
``timestamp``. A GitHub delivery reads like "push to owner/repo by alice";
any other webhook shows the feed name and a short JSON summary of its body.

smee.io's ids count from 0 on every connection and it cannot replay what
was sent while we were away: its ids never de-duplicate anything, and a
reconnect after a loss records a "possible gap" entry (``replays = False``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidings.core.decoder import DecodedEvent
from tidings.core.notification import Notification, Urgency, safe_url, shorten
from tidings.core.presets import MapContext, Mapped, Preset, register
from tidings.core.presets.json_preset import clean_text, compact_json, load_json

__all__ = ["SmeePreset", "github_summary"]

CONTROL_EVENTS = {"ready": "control", "ping": "keep-alive"}

COMMITS_LISTED = 5
"""Commit subjects a push notification lists."""
TEXT_LIMIT = 300
"""Characters of an issue, comment or release text quoted in a body."""


def _get(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``, or ``None`` where any step is missing or not an object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _s(value: Any, *path: str) -> str:
    """The text at ``path`` (a string, or a number), else ``""``."""
    found = _get(value, *path)
    if isinstance(found, str):
        return clean_text(found)
    if isinstance(found, int | float) and not isinstance(found, bool):
        return str(found)
    return ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _by(body: Any) -> str:
    sender = _s(body, "sender", "login") or _s(body, "pusher", "name")
    return f" by {sender}" if sender else ""


def _repo(body: Any) -> str:
    return _s(body, "repository", "full_name") or _s(body, "organization", "login")


def _in(body: Any) -> str:
    repo = _repo(body)
    return f" in {repo}" if repo else ""


class _Summary:
    """Title, body, URL, urgency and replace key of one GitHub delivery."""

    def __init__(self, title: str, body: str = "", url: Any = "", **kw: Any) -> None:
        self.title = title
        self.body = body
        self.url = safe_url(url, what="GitHub URL") if isinstance(url, str) else ""
        self.urgency: Urgency = kw.get("urgency", Urgency.NORMAL)
        self.replace_key: str = kw.get("replace_key", "")


def _push(body: Any) -> _Summary:
    ref = _s(body, "ref")
    if ref.startswith("refs/heads/"):
        where = f"branch {ref.removeprefix('refs/heads/')}"
    elif ref.startswith("refs/tags/"):
        where = f"tag {ref.removeprefix('refs/tags/')}"
    else:
        where = ref or "a ref"
    repo = _repo(body) or "a repository"
    title = f"push to {repo}{_by(body)}"
    commits = _get(body, "commits")
    commits = [c for c in commits if isinstance(c, dict)] if isinstance(commits, list) else []
    if _get(body, "deleted") is True:
        text = f"{where} deleted"
    elif _get(body, "forced") is True:
        text = f"{where} force-pushed"
    elif _get(body, "created") is True and not commits:
        text = f"{where} created"
    else:
        count = len(commits)
        text = f"{count} commit{'s' if count != 1 else ''} to {where}"
    lines = [text]
    for commit in commits[-COMMITS_LISTED:]:
        sha = _s(commit, "id")[:7]
        subject = _first_line(_s(commit, "message"))
        lines.append(f"{sha} {subject}".strip())
    if len(commits) > COMMITS_LISTED:
        lines.append(f"... and {len(commits) - COMMITS_LISTED} more")
    url = (
        _s(body, "compare") or _s(body, "head_commit", "url") or _s(body, "repository", "html_url")
    )
    return _Summary(title, "\n".join(lines), url)


def _pull_request(body: Any) -> _Summary:
    action = _s(body, "action") or "updated"
    if action == "closed" and _get(body, "pull_request", "merged") is True:
        action = "merged"
    number = _s(body, "number") or _s(body, "pull_request", "number")
    title = f"pull request #{number} {action}{_in(body)}{_by(body)}"
    pr_title = _s(body, "pull_request", "title")
    head = _s(body, "pull_request", "head", "ref")
    base = _s(body, "pull_request", "base", "ref")
    lines = [pr_title] if pr_title else []
    if head and base:
        lines.append(f"{head} -> {base}")
    return _Summary(title, "\n".join(lines), _s(body, "pull_request", "html_url"))


def _issues(body: Any) -> _Summary:
    action = _s(body, "action") or "updated"
    number = _s(body, "issue", "number")
    title = f"issue #{number} {action}{_in(body)}{_by(body)}"
    return _Summary(title, _s(body, "issue", "title"), _s(body, "issue", "html_url"))


def _issue_comment(body: Any) -> _Summary:
    kind = "pull request" if isinstance(_get(body, "issue", "pull_request"), dict) else "issue"
    number = _s(body, "issue", "number")
    action = _s(body, "action")
    verb = "comment" if action in ("", "created") else f"comment {action}"
    title = f"{verb} on {kind} #{number}{_in(body)}{_by(body)}"
    lines = [_s(body, "issue", "title"), shorten(_s(body, "comment", "body").strip(), TEXT_LIMIT)]
    url = _s(body, "comment", "html_url") or _s(body, "issue", "html_url")
    return _Summary(title, "\n".join(line for line in lines if line), url)


def _release(body: Any) -> _Summary:
    action = _s(body, "action") or "updated"
    tag = _s(body, "release", "tag_name") or _s(body, "release", "name")
    title = f"release {tag} {action}{_in(body)}{_by(body)}".replace("  ", " ")
    name = _s(body, "release", "name")
    notes = shorten(_s(body, "release", "body").strip(), TEXT_LIMIT)
    lines = [name if name != tag else "", notes]
    return _Summary(
        title, "\n".join(line for line in lines if line), _s(body, "release", "html_url")
    )


def _outcome(status: str, conclusion: str) -> tuple[str, Urgency]:
    if status and status != "completed":
        return status.replace("_", " "), Urgency.LOW
    if conclusion in ("failure", "timed_out", "startup_failure", "action_required"):
        return conclusion.replace("_", " "), Urgency.CRITICAL
    if conclusion in ("cancelled", "skipped", "neutral", "stale"):
        return conclusion, Urgency.LOW
    return conclusion or "completed", Urgency.NORMAL


def _workflow_run(body: Any) -> _Summary:
    run = _get(body, "workflow_run")
    name = _s(run, "name") or _s(body, "workflow", "name") or "workflow"
    outcome, urgency = _outcome(_s(run, "status"), _s(run, "conclusion"))
    title = f"workflow {name} {outcome}{_in(body)}"
    details = []
    if branch := _s(run, "head_branch"):
        details.append(f"branch {branch}")
    if number := _s(run, "run_number"):
        details.append(f"run #{number}")
    if event := _s(run, "event"):
        details.append(f"on {event}")
    lines = [", ".join(details)]
    if commit := _first_line(_s(run, "head_commit", "message")):
        lines.append(commit)
    actor = _s(run, "actor", "login") or _s(body, "sender", "login")
    if actor:
        lines.append(f"by {actor}")
    run_id = _s(run, "id")
    return _Summary(
        title,
        "\n".join(line for line in lines if line),
        _s(run, "html_url"),
        urgency=urgency,
        replace_key=f"github:workflow_run:{run_id}" if run_id else "",
    )


def _check_run(body: Any) -> _Summary:
    check = _get(body, "check_run")
    name = _s(check, "name") or "check"
    outcome, urgency = _outcome(_s(check, "status"), _s(check, "conclusion"))
    title = f"check {name} {outcome}{_in(body)}"
    lines = [_s(check, "output", "title"), shorten(_s(check, "output", "summary"), TEXT_LIMIT)]
    if sha := _s(check, "head_sha")[:7]:
        lines.append(f"commit {sha}")
    check_id = _s(check, "id")
    return _Summary(
        title,
        "\n".join(line for line in lines if line),
        _s(check, "html_url") or _s(check, "details_url"),
        urgency=urgency,
        replace_key=f"github:check_run:{check_id}" if check_id else "",
    )


def _ping(body: Any) -> _Summary:
    target = _repo(body) or _s(body, "hook", "type") or "GitHub"
    return _Summary(
        f"webhook ping from {target}",
        _s(body, "zen"),
        _s(body, "repository", "html_url"),
        urgency=Urgency.LOW,
    )


def _star(body: Any) -> _Summary:
    action = _s(body, "action")
    verb = "unstarred" if action == "deleted" else "starred"
    repo = _repo(body) or "a repository"
    count = _s(body, "repository", "stargazers_count")
    text = f"{count} stars now" if count else ""
    return _Summary(
        f"{repo} {verb}{_by(body)}", text, _s(body, "repository", "html_url"), urgency=Urgency.LOW
    )


def _fork(body: Any) -> _Summary:
    repo = _repo(body) or "a repository"
    fork = _s(body, "forkee", "full_name")
    return _Summary(
        f"{repo} forked{_by(body)}",
        f"new fork: {fork}" if fork else "",
        _s(body, "forkee", "html_url"),
        urgency=Urgency.LOW,
    )


def _generic(event_name: str, body: Any) -> _Summary:
    action = _s(body, "action")
    title = f"{event_name.replace('_', ' ')}{' ' + action if action else ''}{_in(body)}{_by(body)}"
    url = ""
    text = ""
    if isinstance(body, dict):
        # The html_url of the payload's main object (issue, discussion, deployment...), if any.
        for key, value in body.items():
            if (
                key not in ("repository", "sender", "organization", "installation")
                and isinstance(value, dict)
                and isinstance(value.get("html_url"), str)
            ):
                url = value["html_url"]
                text = _s(value, "title") or _s(value, "name")
                break
        url = url or _s(body, "repository", "html_url")
    return _Summary(title, text, url)


_GITHUB: dict[str, Callable[[Any], _Summary]] = {
    "push": _push,
    "pull_request": _pull_request,
    "issues": _issues,
    "issue_comment": _issue_comment,
    "release": _release,
    "workflow_run": _workflow_run,
    "check_run": _check_run,
    "ping": _ping,
    "star": _star,
    "fork": _fork,
}


def github_summary(event_name: str, body: Any) -> tuple[str, str, str, Urgency, str]:
    """``(title, body, url, urgency, replace_key)`` for a GitHub webhook payload."""
    handler = _GITHUB.get(event_name)
    summary = handler(body) if handler is not None else _generic(event_name, body)
    return summary.title, summary.body, summary.url, summary.urgency, summary.replace_key


def _payload(delivery: dict[str, Any]) -> Any:
    """The webhook body; a form-encoded GitHub delivery carries its JSON in ``payload``."""
    body = delivery.get("body")
    if isinstance(body, dict) and set(body) == {"payload"} and isinstance(body["payload"], str):
        ok, value = load_json(body["payload"])
        if ok:
            return value
    return body


class SmeePreset(Preset):
    name = "smee"
    label = "smee.io (GitHub webhooks)"
    stable_ids = False
    replays = False

    def map(self, event: DecodedEvent, context: MapContext) -> Mapped:
        """A delivery becomes a notification; ``ready`` and ``ping`` do not."""
        if event.type in CONTROL_EVENTS:
            return Mapped(notification=None, reason=CONTROL_EVENTS[event.type])
        if event.type != "message":
            return Mapped(notification=None, reason=f"smee.io event {event.type!r}")
        feed_title = context.feed_name or "smee.io"
        if not event.data.strip():
            return Mapped(notification=None, reason="empty")
        ok, delivery = load_json(event.data)
        if not ok or not isinstance(delivery, dict):
            return Mapped(
                notification=Notification(
                    title=feed_title, body=event.data, feed_id=context.feed_id
                ),
                bad_payload=True,
            )
        body = _payload(delivery)
        github_event = delivery.get("x-github-event")
        if isinstance(github_event, str) and github_event.strip():
            title, text, url, urgency, replace_key = github_summary(
                clean_text(github_event.strip()), body
            )
            return Mapped(
                notification=Notification(
                    title=title,
                    body=text,
                    urgency=urgency,
                    url=url,
                    feed_id=context.feed_id,
                    replace_key=replace_key,
                    extra={"github_event": clean_text(github_event.strip())},
                )
            )
        if body is None:
            body = {k: v for k, v in delivery.items() if k not in ("query", "timestamp")}
        text = body if isinstance(body, str) else compact_json(body)
        return Mapped(
            notification=Notification(
                title=feed_title,
                body=shorten(clean_text(text), TEXT_LIMIT),
                feed_id=context.feed_id,
            )
        )


register(SmeePreset())
