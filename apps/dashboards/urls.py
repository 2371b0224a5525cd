from django.urls import URLPattern, URLResolver, path

from apps.dashboards import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/compare/", views.iteration_compare, name="iteration-compare"),
    path("projects/<slug:slug>/report/", views.project_report, name="project-report"),
]
