from django.urls import URLPattern, URLResolver, path

from apps.iterations.api import (
    IterationCancelApi,
    IterationDetailApi,
    IterationFromSpecApi,
    IterationLinkApi,
    IterationListApi,
    IterationReproduceApi,
    IterationRetryApi,
    IterationSpecApi,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "projects/<slug:slug>/iterations/",
        IterationListApi.as_view(),
        name="api-iteration-list",
    ),
    path(
        "projects/<slug:slug>/iterations/link/",
        IterationLinkApi.as_view(),
        name="api-iteration-link",
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
    path(
        "projects/<slug:slug>/iterations/from-spec/",
        IterationFromSpecApi.as_view(),
        name="api-iteration-from-spec",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/spec/",
        IterationSpecApi.as_view(),
        name="api-iteration-spec",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/reproduce/",
        IterationReproduceApi.as_view(),
        name="api-iteration-reproduce",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/retry/",
        IterationRetryApi.as_view(),
        name="api-iteration-retry",
    ),
]
