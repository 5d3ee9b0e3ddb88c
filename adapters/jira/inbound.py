"""A parsed JIRA webhook as the command that applies it to the linked ticket (or nothing).

Only translation: which ticket, whether the change is newer than the field's last write and
whether a comment was seen are decided by ``ApplyExternalChange`` from the ticket's history.
What is decided here: echoes of our own account are dropped, statuses and priorities map
back through the rule, and comments JIRA restricts never become public.
"""

from __future__ import annotations

from opsledger.adapters.jira.settings import JiraSettings, Rule, Site
from opsledger.adapters.jira.webhooks import JiraWebhook, change_of
from opsledger.core.commands import ApplyExternalChange

SYSTEM = "jira"


def rule_of(hook: JiraWebhook, site: Site, settings: JiraSettings) -> Rule | None:
    """The rule of the issue's project on this site, else the site's first rule."""
    if hook.project:
        found = settings.rule_for_project(site.name, hook.project)
        if found is not None:
            return found
    return next((r for r in settings.rules if r.site == site.name), None)


def is_echo(hook: JiraWebhook, site: Site) -> bool:
    """A change made by the account opsledger itself acts as."""
    return hook.user is not None and hook.user.account == site.account


def command_for(
    hook: JiraWebhook, site: Site, settings: JiraSettings
) -> ApplyExternalChange | None:
    """The command for one webhook; None for an echo or a webhook that changes nothing
    opsledger keeps (a summary edit, a label)."""
    rule = rule_of(hook, site, settings)
    if rule is None or is_echo(hook, site):
        return None
    state = priority = known_error = None
    notes = resolution_code = ""
    if hook.event in ("jira:issue_updated", "jira:issue_created"):
        status = change_of(hook, "status")
        if status is not None and status.to_text:
            state = rule.state_of(status.to_text)
        changed = change_of(hook, "priority")
        if changed is not None and changed.to_text:
            priority = rule.priority_of(changed.to_text)
        if state in ("resolved", "closed"):
            resolved = change_of(hook, "resolution")
            resolution = hook.resolution or (resolved.to_text if resolved else None) or ""
            resolution_code = f"{resolution or 'resolved'} in JIRA"
            notes = f"{hook.issue_key} resolved in JIRA" + (
                f" as {resolution}" if resolution else ""
            )
            if resolution in rule.fixed_resolutions and rule.on_fixed == "known_error":
                known_error = f"fixed in {hook.issue_key} ({resolution})"
    comment_id: str | None = None
    body = ""
    public = False
    if hook.event == "jira:issue_deleted":
        comment_id = f"deleted:{hook.issue_id or hook.issue_key}"
        body = f"{hook.issue_key} was deleted in JIRA"
    elif (
        hook.comment is not None
        and hook.event != "comment_deleted"
        and rule.comments_in != "none"
        and hook.comment.body.strip()
    ):
        comment = hook.comment
        author = comment.update_author or comment.author
        comment_id = comment.id
        body = f"{author.display_name if author else 'JIRA'}: {comment.body}"
        # restricted (a role or group) or internal (Service Management) never goes public
        public = (
            rule.comments_in == "public"
            and comment.visibility is None
            and comment.public is not False
        )
    moved = change_of(hook, "Key")  # a move to another project gives the issue a new key
    previous = moved.from_text if moved is not None and moved.from_text else None
    if state is None and priority is None and comment_id is None and previous is None:
        return None
    who = hook.user.display_name or hook.user.account if hook.user else "automation"
    return ApplyExternalChange(
        system=SYSTEM,
        reference=hook.issue_key,
        delivery=hook.delivery_id,
        occurred_at=hook.timestamp,
        state=state,
        resolution_code=resolution_code,
        notes=notes,
        priority=priority,
        known_error=known_error,
        comment_id=comment_id,
        comment_body=body,
        comment_public=public,
        previous_reference=previous,
        actor=f"jira:{who}",
        idempotency_key=f"jira:{site.name}:{hook.delivery_id}",
    )
