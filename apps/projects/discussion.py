"""Comments on projects and iterations: Markdown in, sanitised HTML out, mentions notified."""

import logging
import re

import markdown
import nh3
from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts.models import Membership
from apps.audit.services import audit_record, notification_send
from apps.core.errors import InvalidInput
from apps.projects.models import Comment, Project

logger = logging.getLogger(__name__)

COMMENT_MAX_LENGTH = 10_000
MENTION_PATTERN = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def markdown_render(text: str) -> str:
    """Render Markdown to HTML that is safe to show: scripts, styles and handlers removed."""
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def comment_post(
    *, project: Project, user: User, body: str, iteration_id: int | None = None
) -> Comment:
    """Post a comment and notify every project member mentioned as ``@username``."""
    text = (body or "").strip()
    if not text:
        raise InvalidInput("A comment cannot be empty.", field="body")
    if len(text) > COMMENT_MAX_LENGTH:
        raise InvalidInput(
            f"A comment can have at most {COMMENT_MAX_LENGTH} characters.", field="body"
        )
    if iteration_id is not None and not project.iterations.filter(pk=iteration_id).exists():
        raise InvalidInput("No such iteration in this project.", field="iteration")

    body_html = markdown_render(text)
    if not nh3.clean(body_html, tags=set()).strip():
        raise InvalidInput(
            "The comment has no text left once HTML that is not allowed is removed.",
            field="body",
        )
    mentioned = set(MENTION_PATTERN.findall(text)) - {user.username}
    members = dict(
        Membership.objects.filter(project=project, user__username__in=mentioned)
        .values_list("user__username", "user_id")
        .distinct()
    )
    with transaction.atomic():
        comment = Comment.objects.create(
            project=project,
            iteration_id=iteration_id,
            author=user,
            body=text,
            body_html=body_html,
        )
        audit_record(
            actor=user,
            action="comment.posted",
            target=comment,
            project=project,
            after={"iteration": iteration_id, "mentions": sorted(members)},
        )
        where = f"/projects/{project.slug}/"
        if comment.iteration is not None:
            where += f"iterations/{comment.iteration.number}/"
        where += f"#comment-{comment.pk}"
        for username, member_id in sorted(members.items()):
            notification_send(
                user_id=member_id,
                kind="mention",
                message=f"{user.username} mentioned you in {project.name}.",
                project=project,
                url=where,
            )
            logger.info("project %s comment %s mentions %s", project.slug, comment.pk, username)
    return comment
