"""Rules about organisations and memberships."""


def set_active(organisations, active: bool) -> int:
    """Mark organisations active or inactive; return how many changed."""
    changed = 0
    for organisation in organisations:
        if organisation.active != active:
            organisation.active = active
            changed += 1
    return changed
