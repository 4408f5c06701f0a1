"""The platform's HTML pages: the runs index and a run's detail page (the links in the bot's alerts)."""

from __future__ import annotations

import html
import json

from aiohttp import web

from reference.platform.model import fmt_ts


class Pages:
    """Part of ``ReferencePlatform``: the HTML pages."""

    def run_url(self, run_id: str, step_id: str | None = None) -> str:
        url = f"{self.base_url}/{self.workspace}/monitoring/workflow-runs/{run_id}"
        return url + (f"#step-{step_id}" if step_id else "")

    async def _page_index(self, request: web.Request) -> web.Response:
        rows = []
        for key in reversed(self._keys[-200:]):
            r = self._runs[key[1]]
            href = f"/{html.escape(self.workspace)}/monitoring/workflow-runs/{html.escape(r.id)}"
            rows.append(
                f'<tr><td><a href="{href}">{html.escape(r.id)}</a></td><td>{html.escape(r.workflow["name"])}</td>'
                f'<td class="s-{r.status}">{r.status}</td><td>{fmt_ts(r.started_at) or ""}</td>'
                f"<td>{fmt_ts(r.completed_at) or ''}</td></tr>"
            )
        pending = sum(1 for a in self._approvals.values() if a.status == "pending")
        body = (
            f"<h1>Monitoring · Runs</h1><p>{len(self._runs)} runs · {pending} pending approvals · "
            f"API at <code>/v1</code></p><table><tr><th>Run ID</th><th>Workflow</th><th>Status</th>"
            f"<th>Started</th><th>Completed</th></tr>{''.join(rows)}</table>"
        )
        return web.Response(text=_page("Runs", body), content_type="text/html")

    async def _page_run(self, request: web.Request) -> web.Response:
        if request.match_info["workspace"] != self.workspace:
            raise web.HTTPNotFound(text="unknown workspace")
        run = self._runs.get(request.match_info["run_id"])
        if run is None:
            raise web.HTTPNotFound(text="run not found")
        d = run.to_json()
        esc = html.escape
        total, done = d["progress"]["total_steps"], d["progress"]["completed_steps"]
        pct = int(100 * done / total) if total else 0
        actor = d["trigger"].get("actor") or {}
        jump = (
            f'<p><a class="jump" href="#step-{esc(run.failed_step_id)}">Jump to failed step</a></p>'
            if run.failed_step_id
            else ""
        )
        steps_html = []
        for s in d["steps"]:
            err = s["error"]
            open_ = " open" if s["id"] == run.failed_step_id else ""
            inner = f"<p>Started {s['started_at'] or '-'} · completed {s['completed_at'] or '-'}</p>"
            if err:
                inner += (
                    '<dl class="error">'
                    f'<dt>Error code</dt><dd class="code">{esc(err["code"])}</dd>'
                    f"<dt>Message</dt><dd>{esc(err['message'])}</dd>"
                    f"<dt>Provider</dt><dd>{esc(str(err['provider'] or '-'))}</dd>"
                    f'<dt>Provider status</dt><dd class="provider-status">{err["provider_status"] if err["provider_status"] is not None else "-"}</dd>'
                    f'<dt>Retryable</dt><dd class="retryable">{"yes" if err["retryable"] else "no"}</dd></dl>'
                )
            steps_html.append(
                f'<details class="step s-{s["status"]}" id="step-{esc(s["id"])}"{open_}>'
                f"<summary>Step {s['index'] + 1} of {total}: {esc(s['name'])} <small>({esc(s['type'])})</small> "
                f'<span class="status">{s["status"]}</span></summary>{inner}</details>'
            )
        refresh = '<meta http-equiv="refresh" content="10">' if run.status in ("pending", "running") else ""
        body = (
            f'<p><a href="/">← Runs</a></p><h1>{esc(run.workflow["name"])} · <code>{esc(run.id)}</code></h1>'
            f'<dl class="overview"><dt>Status</dt><dd class="s-{run.status}" id="run-status">{run.status}</dd>'
            f"<dt>Workflow</dt><dd>{esc(run.workflow['id'])}</dd>"
            f"<dt>Created</dt><dd>{d['created_at']}</dd><dt>Started</dt><dd>{d['started_at'] or '-'}</dd>"
            f"<dt>Completed</dt><dd>{d['completed_at'] or '-'}</dd>"
            f"<dt>Duration</dt><dd>{'-' if d['duration_ms'] is None else str(d['duration_ms']) + ' ms'}</dd>"
            f"<dt>Model</dt><dd>{esc(run.model or '-')}</dd><dt>Prompt</dt><dd>{esc(run.prompt or '-')}</dd>"
            f"<dt>Trigger</dt><dd>{esc(d['trigger']['type'])}{(' by ' + esc(actor.get('name', ''))) if actor else ''}</dd>"
            f"<dt>Replay of</dt><dd>{esc(run.replay_of or '-')}</dd></dl>"
            f'<div class="progress"><div class="bar" style="width:{pct}%"></div></div>'
            f"<p>{done} of {total} steps completed</p>{jump}"
            f'<h2>Trigger payload</h2><pre id="trigger-payload">{esc(json.dumps(d["trigger"]["payload"], indent=2))}</pre>'
            f"<h2>Execution steps</h2>{''.join(steps_html)}"
        )
        return web.Response(text=_page(f"Run {run.id}", body, head=refresh), content_type="text/html")


def _page(title: str, body: str, head: str = "") -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}<style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
        "table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}"
        ".progress{background:#eee;height:.75rem;border-radius:.4rem;width:100%}"
        ".bar{background:#3b82f6;height:100%;border-radius:.4rem}"
        "details.step{border:1px solid #ddd;border-radius:.4rem;margin:.4rem 0;padding:.4rem .8rem}"
        ".s-failed{color:#b91c1c}.s-completed{color:#15803d}.s-waiting,.s-paused{color:#b45309}"
        "dl{display:grid;grid-template-columns:10rem 1fr}dt{font-weight:600}"
        "</style></head><body>" + body + "</body></html>"
    )
