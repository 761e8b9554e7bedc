"""/role: admins grant and revoke roles from chat; the last admin cannot be revoked.

`/role grant @wang.fang technician electrical`, `/role revoke @huang.li manager finance`, `/role
@wang.fang` (what they hold). A technician's role names a specialty (a repair category), a manager's
a department; the others are unscoped. Every change is audited and the person is told.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.core import authz, menus
from handlers.core.adminkit import Joined, person_ref
from handlers.core.audit import done
from handlers.core.authz import ROLES
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person
from handlers.core.refusals import Refused, refuse
from handlers.core.specialties import SPECIALTIES
from storage.models import Department, Person, PersonRole


def role_text(role: PersonRole) -> Renderable:
    if role.role == "technician" and role.scope:
        return msg("role.with_scope", role=msg("web.role.technician"), scope=msg(f"repair.category.{role.scope}"))
    if role.scope:
        return msg("role.with_scope", role=msg(f"web.role.{role.role}"), scope=role.scope)
    return msg(f"web.role.{role.role}")


def roles_of(person: Person) -> Joined:
    ordered = sorted(person.roles, key=lambda r: (ROLES.index(r.role) if r.role in ROLES else 99, r.scope))
    return Joined(tuple(role_text(role) for role in ordered))


async def role_command(ctx: StepContext, args: str) -> Action:
    words = args.split()
    sub = words[0].lower() if words else ""
    try:
        if sub in ("grant", "revoke"):
            authz.require(ctx, f"role.{sub}", words[1][:40] if len(words) > 1 else None)
            if len(words) < 3:
                return said(msg("role.usage"))
            return await change(ctx, sub, words[1], words[2].lower(), words[3] if len(words) > 3 else "")
        authz.require(ctx, "role.view")
    except Refused as refused:
        return said(refused.reason)
    if not words:
        return said(msg("role.usage"))
    person = await find_person(ctx.session, words[0])
    if person is None:
        return said(msg("admin.error.no_such_person", ref=words[0][:40]))
    return said(msg("role.held", person=person.display_name, ref=person_ref(person), roles=roles_of(person)))


async def change(ctx: StepContext, sub: str, ref: str, role: str, scope: str) -> Action:
    person = await find_person(ctx.session, ref)
    if person is None:
        return said(msg("admin.error.no_such_person", ref=ref[:40]))
    if role not in ROLES:
        return said(msg("role.error.unknown_role", role=role[:32], roles=", ".join(ROLES)))
    scope = scope.strip().lower()
    if sub == "grant":
        problem = await scope_problem(ctx, role, scope)
        if problem is not None:
            return said(problem)
        if any(r.role == role and r.scope == scope for r in person.roles):
            return said(
                msg(
                    "role.error.already", person=person.display_name, role=role_text(PersonRole(role=role, scope=scope))
                )
            )
        person.roles.append(PersonRole(role=role, scope=scope))
        await ctx.session.flush()
    else:
        held = [r for r in person.roles if r.role == role and (not scope or r.scope == scope)]
        if not held:
            return said(msg("role.error.not_held", person=person.display_name, role=msg(f"web.role.{role}")))
        if role == "admin":
            try:
                await keep_an_admin(ctx, person)
            except Refused as refused:
                return said(refused.reason)
        for found in held:
            person.roles.remove(found)
        await ctx.session.flush()
    await menus.changed(ctx.session, [person], ctx.now)
    done(ctx, action=f"role.{sub}", record=f"person:{person.id}", role=role, scope=scope, handle=person.handle)
    shown = role_text(PersonRole(role=role, scope=scope))
    if person.id != ctx.person.id:
        told = msg(f"role.told.{sub}", role=shown, by=ctx.person.display_name)
        await notify(ctx.session, Notice(person.id, told), ctx.now)
    return said(msg(f"role.done.{sub}", person=person.display_name, role=shown, roles=roles_of(person)))


async def scope_problem(ctx: StepContext, role: str, scope: str) -> Renderable | None:
    if role == "technician":
        if scope not in SPECIALTIES:
            return msg("role.error.specialty", specialties=", ".join(SPECIALTIES))
    elif role == "manager":
        department = await ctx.session.scalar(select(Department).where(Department.code == scope))
        if department is None:
            codes = ", ".join((await ctx.session.scalars(select(Department.code).order_by(Department.code))).all())
            return msg("role.error.department", departments=codes)
    elif scope:
        return msg("role.error.no_scope", role=msg(f"web.role.{role}"))
    return None


async def keep_an_admin(ctx: StepContext, person: Person) -> None:
    """Refuse to revoke the last admin. The admin rows are locked (PostgreSQL) so two admins revoking
    each other at once cannot both succeed; SQLite runs one writer at a time anyway."""
    admins = (
        await ctx.session.scalars(select(PersonRole.person_id).where(PersonRole.role == "admin").with_for_update())
    ).all()
    if set(admins) <= {person.id}:
        refuse(ctx, "role.revoke", f"person:{person.id}", msg("role.error.last_admin"))
