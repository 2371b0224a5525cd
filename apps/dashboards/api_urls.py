from django.urls import URLPattern, URLResolver, path

from apps.dashboards import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("portfolio/", api.PortfolioApi.as_view(), name="api-portfolio"),
    path(
        "projects/<slug:slug>/scorecard/", api.ScorecardApi.as_view(), name="api-project-scorecard"
    ),
    path("projects/<slug:slug>/compare/", api.CompareApi.as_view(), name="api-iteration-compare"),
]
