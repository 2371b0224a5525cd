from django.urls import URLPattern, URLResolver, path

from apps.approvals import api

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "projects/<slug:slug>/framing/signoff/",
        api.FramingSignoffRequestView.as_view(),
        name="api-framing-signoff",
    ),
    path("approvals/", api.PromotionInboxView.as_view(), name="api-approval-inbox"),
    path("approvals/<int:pk>/", api.PromotionDetailView.as_view(), name="api-approval-detail"),
    path(
        "approvals/<int:pk>/approve/",
        api.ApprovalApproveView.as_view(),
        name="api-approval-approve",
    ),
    path(
        "approvals/<int:pk>/reject/",
        api.ApprovalRejectView.as_view(),
        name="api-approval-reject",
    ),
    path(
        "approvals/<int:pk>/request-changes/",
        api.ApprovalRequestChangesView.as_view(),
        name="api-approval-request-changes",
    ),
    path(
        "approvals/<int:pk>/withdraw/",
        api.WithdrawView.as_view(),
        name="api-approval-withdraw",
    ),
    path(
        "projects/<slug:slug>/retirements/",
        api.RetirementRequestView.as_view(),
        name="api-retirement-request",
    ),
    path(
        "projects/<slug:slug>/policies/<str:gate>/",
        api.PolicyView.as_view(),
        name="api-approval-policy",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/promotions/",
        api.PromotionRequestView.as_view(),
        name="api-promotion-request",
    ),
    path("promotions/", api.PromotionInboxView.as_view(), name="api-promotion-inbox"),
    path("promotions/<int:pk>/", api.PromotionDetailView.as_view(), name="api-promotion-detail"),
    path(
        "promotions/<int:pk>/approve/",
        api.PromotionApproveView.as_view(),
        name="api-promotion-approve",
    ),
    path(
        "promotions/<int:pk>/reject/",
        api.PromotionRejectView.as_view(),
        name="api-promotion-reject",
    ),
    path(
        "promotions/<int:pk>/request-changes/",
        api.ApprovalRequestChangesView.as_view(),
        name="api-promotion-request-changes",
    ),
    path(
        "promotions/<int:pk>/withdraw/",
        api.PromotionWithdrawView.as_view(),
        name="api-promotion-withdraw",
    ),
]
