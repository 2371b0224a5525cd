from django.urls import URLPattern, URLResolver, path

from apps.datasets import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/datasets/new/", views.dataset_create_view, name="dataset-create"),
    path("projects/<slug:slug>/datasets/<int:pk>/", views.dataset_detail, name="dataset-detail"),
]
