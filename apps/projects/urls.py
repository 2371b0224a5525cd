from django.urls import URLPattern, URLResolver, path

from apps.projects import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/new/", views.project_create_view, name="project-create"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project-edit"),
    path("projects/<slug:slug>/members/", views.project_members, name="project-members"),
    path("projects/<slug:slug>/framing/", views.project_framing, name="project-framing"),
    path(
        "projects/<slug:slug>/framing/signoff/",
        views.project_framing_signoff,
        name="project-framing-signoff",
    ),
    path("projects/<slug:slug>/targets/", views.project_targets, name="project-targets"),
    path("projects/<slug:slug>/comments/", views.project_comment, name="project-comment"),
    path(
        "projects/<slug:slug>/observations/",
        views.project_observation,
        name="project-observation",
    ),
    path(
        "projects/<slug:slug>/iterations/<int:number>/comments/",
        views.iteration_comment,
        name="iteration-comment",
    ),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/remove/",
        views.project_member_remove,
        name="project-member-remove",
    ),
]
