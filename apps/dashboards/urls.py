from django.urls import URLPattern, URLResolver, path

from apps.dashboards import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
]
