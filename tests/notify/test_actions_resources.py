"""run_http_action (sent on click only, same-origin redirects only) and resource lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.core.actions import run_http_action
from tidings.core.notification import Action
from tidings.core.resources import resource_path, resource_roots

from .conftest import HttpRecorder


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


async def test_http_action_sends_method_headers_body(http_recorder: HttpRecorder) -> None:
    """One request, as the action says; a 2xx is ok."""
    action = Action(
        label="Ack", kind="http", url=http_recorder.url("/ack"), method="post", body="yes"
    )
    result = await run_http_action(action)
    assert result.ok
    assert result.status == 200
    (hit,) = http_recorder.hits
    assert (hit.method, hit.target, hit.body) == ("POST", "/ack", b"yes")


async def test_redirect_to_another_origin_is_not_followed(
    http_recorder: HttpRecorder,
) -> None:
    """A 307 to another origin stops there: the action's headers never leave its origin."""
    http_recorder.status = 307
    http_recorder.location = "http://localhost:1/elsewhere"
    action = Action(
        label="Go", kind="http", url=http_recorder.url(), headers=(("Authorization", "Bearer t"),)
    )
    result = await run_http_action(action)
    assert not result.ok
    assert "another origin" in result.detail
    assert len(http_recorder.hits) == 1


async def test_same_origin_redirects_are_bounded(http_recorder: HttpRecorder) -> None:
    """A same-origin redirect loop ends after a few hops."""
    http_recorder.status = 302
    http_recorder.location = "/again"
    result = await run_http_action(Action(label="Loop", kind="http", url=http_recorder.url()))
    assert not result.ok
    assert result.detail == "too many redirects"
    assert len(http_recorder.hits) == 6


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:x", ""])
async def test_only_http_urls(url: str) -> None:
    """Anything but http(s) is refused without a request."""
    result = await run_http_action(Action(label="x", kind="http", url=url))
    assert not result.ok


async def test_unreachable_server_is_a_result_not_an_exception(
    http_recorder: HttpRecorder,
) -> None:
    """A refused connection is reported, never raised."""
    url = http_recorder.url()
    await http_recorder.close()
    result = await run_http_action(Action(label="x", kind="http", url=url))
    assert not result.ok
    assert result.status is None


def test_resource_found_in_the_source_tree() -> None:
    """Editable install / checkout: resources/ at the repository root."""
    path = resource_path("icons/tidings.svg")
    assert path.is_file()
    assert path.read_text(encoding="utf-8").startswith("<svg")


def test_resource_layouts(tmp_path: Path) -> None:
    """A PyInstaller bundle and a wheel layout are looked at first; a miss names every place."""
    frozen = tmp_path / "bundle"
    (frozen / "tidings" / "resources" / "icons").mkdir(parents=True)
    (frozen / "tidings" / "resources" / "icons" / "x.svg").write_text("<svg/>")
    assert resource_path("icons/x.svg", frozen_dir=str(frozen)).parent.parent == (
        frozen / "tidings" / "resources"
    )
    wheel = tmp_path / "site" / "tidings"
    (wheel / "resources" / "icons").mkdir(parents=True)
    (wheel / "resources" / "icons" / "y.svg").write_text("<svg/>")
    assert resource_path("icons/y.svg", package_dir=wheel) == wheel / "resources/icons/y.svg"
    roots = resource_roots(package_dir=wheel, frozen_dir=str(frozen))
    assert roots[0] == frozen / "tidings" / "resources"
    with pytest.raises(FileNotFoundError, match="not found in any of"):
        resource_path("icons/none.svg", package_dir=wheel, frozen_dir=str(frozen))
