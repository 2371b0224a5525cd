from django.urls import URLPattern, URLResolver, path

from apps.datasets.api import DatasetDetailApi, DatasetListApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/datasets/", DatasetListApi.as_view(), name="api-dataset-list"),
    path(
        "projects/<slug:slug>/datasets/<int:pk>/",
        DatasetDetailApi.as_view(),
        name="api-dataset-detail",
    ),
]
