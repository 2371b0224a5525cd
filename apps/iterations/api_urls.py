from django.urls import URLPattern, URLResolver, path

from apps.iterations.api import IterationCancelApi, IterationDetailApi, IterationListApi

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "projects/<slug:slug>/iterations/",
        IterationListApi.as_view(),
        name="api-iteration-list",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/",
        IterationDetailApi.as_view(),
        name="api-iteration-detail",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/cancel/",
        IterationCancelApi.as_view(),
        name="api-iteration-cancel",
    ),
]
