from django.urls import URLPattern, URLResolver, path

from apps.iterations import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/iterations/new/", views.iteration_create, name="iteration-create"),
    path(
        "projects/<slug:slug>/iterations/from-spec/",
        views.iteration_create_from_spec,
        name="iteration-create-from-spec",
    ),
    path(
        "projects/<slug:slug>/iterations/link/",
        views.iteration_link_view,
        name="iteration-link",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/",
        views.iteration_detail,
        name="iteration-detail",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/status/",
        views.iteration_status,
        name="iteration-status",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/cancel/",
        views.iteration_cancel_view,
        name="iteration-cancel",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/promote/",
        views.iteration_promote,
        name="iteration-promote",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/reproduce/",
        views.iteration_reproduce_view,
        name="iteration-reproduce",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/retry/",
        views.iteration_retry_view,
        name="iteration-retry",
    ),
]
