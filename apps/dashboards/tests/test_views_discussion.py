"""Comments on the project and iteration pages, and the project page's status and table."""

from collections.abc import Callable

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.iterations.models import Iteration
from apps.projects.discussion import comment_post
from apps.projects.models import Comment, Project

ClientFor = Callable[[User], Client]
HTMX = {"HX-Request": "true"}


def _comment_url(project: Project) -> str:
    return reverse("project-comment", args=[project.slug])


def test_stakeholder_posts_comment_with_htmx(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    response = client_for(sam).post(
        _comment_url(project), {"body": "Is **recall** the right metric?"}, headers=HTMX
    )

    assert response.status_code == 200
    assert 'id="discussion"' in response.text
    assert "<strong>recall</strong>" in response.text
    assert "<html" not in response.text
    assert Comment.objects.filter(project=project, author=sam).count() == 1


def test_comment_without_htmx_redirects_to_discussion(
    client_for: ClientFor, project: Project, dana: User
) -> None:
    response = client_for(dana).post(_comment_url(project), {"body": "Looks reasonable."})

    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", args=[project.slug]) + "#discussion"
    assert Comment.objects.filter(project=project, author=dana).exists()


def test_comment_script_is_not_rendered(client_for: ClientFor, project: Project, sam: User) -> None:
    client = client_for(sam)
    client.post(_comment_url(project), {"body": 'Hi <script>alert("x")</script> there'})

    html = client.get(reverse("project-detail", args=[project.slug])).text

    discussion = html.split('id="discussion"')[1]
    assert "Hi" in discussion
    assert "<script>" not in discussion
    assert 'alert("x")' not in discussion


def test_empty_comment_shows_error_under_textarea(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    response = client_for(sam).post(_comment_url(project), {"body": "   "}, headers=HTMX)

    assert response.status_code == 200
    assert "field-invalid" in response.text
    assert "This field is required." in response.text
    assert not Comment.objects.filter(project=project).exists()


def test_overlong_comment_without_htmx_shows_message(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    response = client_for(sam).post(_comment_url(project), {"body": "x" * 10_001}, follow=True)

    assert response.status_code == 200
    assert "at most 10000 characters" in response.text
    assert not Comment.objects.filter(project=project).exists()


def test_outsider_cannot_comment(client_for: ClientFor, project: Project, olga: User) -> None:
    response = client_for(olga).post(_comment_url(project), {"body": "Hello"})

    assert response.status_code == 404
    assert not Comment.objects.exists()


def test_comment_needs_post(client_for: ClientFor, project: Project, sam: User) -> None:
    response = client_for(sam).get(_comment_url(project))

    assert response.status_code == 405


def test_iteration_comment_shows_on_both_pages(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
    alice: User,
) -> None:
    make_iteration(1)
    make_iteration(2)
    client_for(alice).post(
        reverse("iteration-comment", args=[project.slug, 2]), {"body": "Recall dropped here."}
    )
    client_for(alice).post(_comment_url(project), {"body": "Project-wide note."})

    iteration_two = client_for(sam).get(reverse("iteration-detail", args=[project.slug, 2])).text
    iteration_one = client_for(sam).get(reverse("iteration-detail", args=[project.slug, 1])).text
    project_page = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    assert "Recall dropped here." in iteration_two
    assert "Project-wide note." not in iteration_two
    assert "Recall dropped here." not in iteration_one
    assert "Recall dropped here." in project_page
    assert "Project-wide note." in project_page
    assert reverse("iteration-detail", args=[project.slug, 2]) + "#discussion" in project_page


def test_comment_on_missing_iteration_is_not_found(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("iteration-comment", args=[project.slug, 9]), {"body": "Hello"}
    )

    assert response.status_code == 404


def test_mention_shows_in_mentioned_users_notifications(
    client_for: ClientFor, project: Project, alice: User, sam: User
) -> None:
    client_for(alice).post(_comment_url(project), {"body": "@sam please check the costs."})

    page = client_for(sam).get(reverse("notification-list")).text
    alice_page = client_for(alice).get(reverse("notification-list")).text

    assert "alice mentioned you in Tumour triage." in page
    assert f'href="{reverse("project-detail", args=[project.slug])}#comment-' in page
    assert 'aria-label="1 unread"' in page
    assert "mentioned you" not in alice_page


def test_project_page_shows_health_readiness_and_next_step(
    client_for: ClientFor, project: Project, sam: User
) -> None:
    html = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    assert "badge-health-on_track" in html
    assert "Within the agreed dates and iteration budget." in html
    assert "Framing needs work" in html
    assert "Framing: complete the framing and request sign-off" in html
    assert reverse("project-framing", args=[project.slug]) in html


def test_project_page_shows_threshold_cost_and_baseline(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, is_baseline=True, threshold=0.5, expected_cost=310.0)
    make_iteration(2, threshold=0.31, expected_cost=42.25)

    html = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    table = html.split('id="iterations-heading"')[1].split("</table>")[0]
    assert "per 1,000 decisions" in table
    assert table.count(">baseline</span>") == 1
    assert "0.31" in table
    assert "42.25" in table
    assert "310" in table


def test_regression_project_page_has_no_threshold_column(
    client_for: ClientFor, regression_project: Project, alice: User
) -> None:
    html = client_for(alice).get(reverse("project-detail", args=[regression_project.slug])).text

    assert "Threshold" not in html


def test_comments_keep_query_count_flat(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    extra_comments = 18
    client = client_for(alice)
    url = reverse("project-detail", args=[project.slug])
    for index in range(2):
        comment_post(project=project, user=alice, body=f"Note {index}")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    for index in range(extra_comments):
        comment_post(project=project, user=alice, body=f"More {index}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)

    assert response.text.count('class="comment"') == 2 + extra_comments
    assert len(many) == len(few)
