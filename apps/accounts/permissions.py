"""The one permission table: which project roles may take which actions.

Every page and API endpoint gets its project from ``apps.accounts.access`` with an action
from this table, so a role's rights are changed here and nowhere else.
"""

from collections.abc import Iterable
from enum import StrEnum

from apps.accounts.models import Role


class Action(StrEnum):
    VIEW = "view"
    COMMENT = "comment"
    EDIT_PROJECT = "edit_project"
    MANAGE_MEMBERS = "manage_members"
    UPLOAD_DATASET = "upload_dataset"
    START_ITERATION = "start_iteration"
    REQUEST_PROMOTION = "request_promotion"
    DECIDE = "decide"
    PREDICT = "predict"
    ROLL_BACK = "roll_back"
    POST_OBSERVATION = "post_observation"
    REQUEST_RETIREMENT = "request_retirement"
    MANAGE_ROLLOUT = "manage_rollout"
    SCORE_BATCH = "score_batch"


ACTION_DESCRIPTIONS: dict[Action, str] = {
    Action.VIEW: "view this project",
    Action.COMMENT: "comment",
    Action.EDIT_PROJECT: "edit the project",
    Action.MANAGE_MEMBERS: "change the members",
    Action.UPLOAD_DATASET: "upload datasets",
    Action.START_ITERATION: "start or cancel iterations",
    Action.REQUEST_PROMOTION: "request promotions",
    Action.DECIDE: "approve or reject requests",
    Action.PREDICT: "call the prediction endpoint",
    Action.ROLL_BACK: "roll back deployments",
    Action.POST_OBSERVATION: "post metric values",
    Action.REQUEST_RETIREMENT: "request retirement",
    Action.MANAGE_ROLLOUT: "start or stop canary and shadow rollouts",
    Action.SCORE_BATCH: "score files in batch",
}

_READ = frozenset({Action.VIEW, Action.COMMENT})
_BUILD = frozenset(
    {
        Action.UPLOAD_DATASET,
        Action.START_ITERATION,
        Action.REQUEST_PROMOTION,
        Action.PREDICT,
        Action.ROLL_BACK,
        Action.POST_OBSERVATION,
        Action.REQUEST_RETIREMENT,
        Action.MANAGE_ROLLOUT,
        Action.SCORE_BATCH,
    }
)

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: _READ | _BUILD | {Action.EDIT_PROJECT, Action.MANAGE_MEMBERS},
    Role.DATA_SCIENTIST: _READ | _BUILD | {Action.EDIT_PROJECT},
    Role.STAKEHOLDER: _READ,
    # Business results often reach the decision maker first, so they may post them too.
    Role.DECISION_MAKER: _READ
    | {Action.DECIDE, Action.ROLL_BACK, Action.MANAGE_ROLLOUT, Action.POST_OBSERVATION},
}


def actions_for_roles(roles: Iterable[str]) -> frozenset[Action]:
    allowed: frozenset[Action] = frozenset()
    for role in roles:
        allowed |= ROLE_ACTIONS.get(Role(role), frozenset())
    return allowed


def roles_allow(roles: Iterable[str], action: Action) -> bool:
    return action in actions_for_roles(roles)
