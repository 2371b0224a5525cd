from django.urls import URLPattern, URLResolver, path

from apps.approvals import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("approvals/", views.approval_inbox, name="approval-inbox"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval-detail"),
    path("approvals/<int:pk>/approve/", views.approval_approve, name="approval-approve"),
    path("approvals/<int:pk>/reject/", views.approval_reject, name="approval-reject"),
    path(
        "approvals/<int:pk>/request-changes/",
        views.approval_request_changes,
        name="approval-request-changes",
    ),
    path("approvals/<int:pk>/withdraw/", views.approval_withdraw_view, name="approval-withdraw"),
    path("projects/<slug:slug>/policies/", views.policy_edit, name="approval-policy"),
    path(
        "projects/<slug:slug>/retirement/",
        views.retirement_request_view,
        name="retirement-request",
    ),
]
