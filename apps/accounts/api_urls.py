from django.urls import path

from apps.accounts import api

urlpatterns = [
    path("auth/token/", api.TokenObtainView.as_view(), name="api-token"),
    path(
        "projects/<slug:slug>/members/",
        api.MembershipListCreateView.as_view(),
        name="api-member-list",
    ),
    path(
        "projects/<slug:slug>/members/<int:pk>/",
        api.MembershipDetailView.as_view(),
        name="api-member-detail",
    ),
]
