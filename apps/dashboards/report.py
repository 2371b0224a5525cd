"""A project's report as one self-contained HTML file that a stakeholder can open offline.

The file inlines the stylesheet, the vendored plotly.js, the chart-drawing script and each
figure's JSON, so it loads nothing from the network. It is sent as a download, never shown
inside the portal, where the content security policy would block its inline scripts.
"""

import functools
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from apps.dashboards.selectors import project_dashboard
from apps.projects.models import Project

INLINED_FILES = {
    "stylesheet": "portal/portal.css",
    "plotly": "vendor/plotly/plotly.min.js",
    "charts": "portal/charts.js",
}


@functools.cache
def _static_text(relative_path: str) -> str:
    found = finders.find(relative_path)
    if not found or isinstance(found, list):
        raise FileNotFoundError(f"Static file {relative_path} is missing; run collectstatic.")
    return Path(found).read_text(encoding="utf-8")


def _inline(relative_path: str) -> SafeString:
    # A closing tag inside the text would end the element early; plotly.js 3 has none, and
    # the replacement keeps any future one harmless inside JavaScript strings.
    text = _static_text(relative_path)
    text = text.replace("</script", "<\\/script").replace("</style", "<\\/style")
    return mark_safe(text)  # noqa: S308 - our own vendored static files


def project_report_html(*, project: Project, user: AbstractBaseUser | AnonymousUser) -> str:
    """Render the summary, the metric charts and the full scorecard of ``project`` as HTML."""
    dashboard = project_dashboard(project=project)
    return render_to_string(
        "dashboards/report.html",
        {
            "project": project,
            "dashboard": dashboard,
            "generated_at": timezone.now(),
            "generated_by": user.get_username() if user.is_authenticated else "",
            **{name: _inline(path) for name, path in INLINED_FILES.items()},
        },
    )
