"""Desk E's "Gestion des droits" (the OperatorAdmin's screen): the grid of the operator's
accounts, the form that creates several at once with their e-services, the edit page
of one account, and the deactivation and deletion, each confirmed on a page of its own
(no script needed). The decisions are app.rules.operator.accounts'."""
import re

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_babel import gettext, lazy_gettext as _l, ngettext

from ...extensions import db
from ...models import OperatorAccount
from ...platform import inputs
from ...rules.operator import accounts as rules
from ...security import apply_scope
from ..base import Attempt
from .common import DESK

PAGE_SIZE = 50
# The empty account rows a new form starts with ("+", "Add an account", adds more).
FIRST_ROWS = 1
_ROW_FIELD = re.compile(r"^rows-(\d{1,6})-(%s)$" % "|".join(rules.AccountRow.FIELDS))


def _int_arg(name):
    value = request.values.get(name)
    if value in (None, ""):
        return None
    try:
        return inputs.int64(value)
    except (TypeError, ValueError):
        abort(404)


def _posted_rows() -> list:
    """The account rows of the form, in their order (as many as were posted, blank ones too)."""
    rows = {}
    for key, value in request.form.items():
        match = _ROW_FIELD.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [rules.AccountRow(**rows[index]) for index in sorted(rows)]


def _problems_by_field(refused):
    """{(row, field): message} of a refusal, and the messages of the form as a whole."""
    problems = getattr(refused, "problems", None)
    if problems is None:
        problems = [] if refused is None else [rules.Problem(None, None, refused.message)]
    by_field = {(problem.row, problem.field): problem.detail or problem.message
                for problem in problems if problem.field}
    return by_field, problems


class OperatorAccountsView(BaseView):
    """The operator's accounts, for its admin (row scope: the operators they administer)."""

    route_base = "/operator/accounts"
    default_view = "list"
    class_permission_name = "OperatorAccounts"
    method_permission_name = {"list": "list", "add": "add", "edit": "edit", "deactivate": "deactivate",
                              "reactivate": "deactivate", "delete": "delete"}

    def _operator(self):
        """The operator the page is about (?operator=, else the first the person manages)."""
        operators = rules.managed_operators(g.user)
        wanted = _int_arg("operator")
        operator = next((item for item in operators if wanted in (None, item.id)), None)
        if operator is None:
            abort(404)
        return operator, operators

    def _account(self, pk):
        account = apply_scope(db.session.query(OperatorAccount), OperatorAccount).filter(
            OperatorAccount.id == pk).one_or_none()
        if account is None or rules.managed_account(g.user, account.id) is None:
            abort(404)
        return account

    def _back(self, account):
        return redirect(url_for(".list", operator=account.organisation_id))

    @expose("/")
    @has_access
    def list(self):
        operator, operators = self._operator()
        page = max(_int_arg("page") or 0, 0)
        items, count = rules.operator_accounts(operator, page, PAGE_SIZE)
        services = rules.ticked_services([item.user_id for item in items], operator)
        return self.render_template(
            "operator/accounts_list.html", title=_l("Rights management"), operator=operator,
            operators=operators, items=items, count=count, page=page, page_size=PAGE_SIZE,
            services=services, is_admin_account=rules.is_admin_account, format_phone=rules.format_phone)

    @expose("/new", methods=["GET", "POST"])
    @has_access
    @no_cache
    def add(self):
        operator, operators = self._operator()
        refused, rows = None, [rules.AccountRow() for _ in range(FIRST_ROWS)]
        ticked = set()
        if request.method == "POST":
            rows = _posted_rows() or rows
            ticked = set(request.form.getlist("eservices"))
            if request.form.get("add_row"):  # the "+" button without its script
                if len(rows) < rules.MAX_ROWS:
                    rows.append(rules.AccountRow())
                else:
                    refused = rules.AccountsRefused([rules.too_many_rows()])
            else:
                with Attempt(flash_refusal=False) as attempt:
                    created = rules.create_accounts(g.user, operator.id, rows, request.form.getlist("eservices"))
                    attempt.done = ngettext(
                        "%(num)d account created: it receives a mail with a link to choose a password; "
                        "you receive the list.",
                        "%(num)d accounts created: each receives a mail with a link to choose a password; "
                        "you receive the list.", len(created))
                if attempt.refused is None:
                    return redirect(url_for(".list", operator=operator.id))
                refused = attempt.refused
        by_field, problems = _problems_by_field(refused)
        return self.render_template(
            "operator/accounts_new.html", title=_l("Create accounts"), operator=operator, operators=operators,
            catalogue=rules.catalogue(operator), rows=rows, ticked=ticked, errors=by_field, problems=problems,
            labels=rules.FIELD_LABELS, max_rows=rules.MAX_ROWS, blank_row=rules.AccountRow())

    @expose("/<int:pk>/edit", methods=["GET", "POST"])
    @has_access
    @no_cache
    def edit(self, pk):
        account = self._account(pk)
        user, refused = account.user, None
        values = rules.AccountRow(login=user.username, last_name=user.last_name, first_name=user.first_name,
                                  email=user.email, fixed_phone=rules.format_phone(account.fixed_phone),
                                  mobile_phone=rules.format_phone(account.mobile_phone))
        ticked = {str(service.id) for service in rules.ticked_services([user.id], account.organisation).get(
            user.id, [])}
        if request.method == "POST":
            values = rules.AccountRow(login=user.username, **{
                name: request.form.get(name, "") for name in rules.AccountRow.FIELDS if name != "login"})
            ticked = set(request.form.getlist("eservices"))
            with Attempt(flash_refusal=False) as attempt:
                rules.update_account(g.user, account, values, request.form.getlist("eservices"))
                attempt.done = gettext("Account %(login)s saved.", login=user.username)
            if attempt.refused is None:
                return self._back(account)
            refused = attempt.refused
        by_field, problems = _problems_by_field(refused)
        return self.render_template(
            "operator/accounts_edit.html", title=_l("Edit an account"), account=account, values=values,
            catalogue=rules.catalogue(account.organisation), ticked=ticked, errors=by_field, problems=problems,
            labels=rules.FIELD_LABELS, changeable=rules.changeable(g.user, account))

    def _confirmed(self, account, action, rule, done, template_args):
        """GET: the confirmation page; POST: the action (a refusal is flashed), then the grid."""
        if request.method == "POST":
            operator_id = account.organisation_id
            with Attempt(done=done):
                rule(g.user, account)
            return redirect(url_for(".list", operator=operator_id))
        return self.render_template("operator/accounts_confirm.html", account=account, action=action,
                                    changeable=rules.changeable(g.user, account), **template_args)

    @expose("/<int:pk>/deactivate", methods=["GET", "POST"])
    @has_access
    @no_cache
    def deactivate(self, pk):
        account = self._account(pk)
        return self._confirmed(
            account, "deactivate", rules.deactivate,
            gettext("Account %(login)s deactivated: it can no longer sign in.", login=account.user.username),
            {"title": _l("Deactivate an account"),
             "question": gettext("Deactivate the account %(login)s (%(name)s)?", login=account.user.username,
                                 name=account.user.get_full_name()),
             "consequence": gettext("They can no longer sign in, and the sessions they have open end now. "
                                    "You can reactivate the account later.")})

    @expose("/<int:pk>/reactivate", methods=["POST"])
    @has_access
    def reactivate(self, pk):
        account = self._account(pk)
        with Attempt() as attempt:
            rules.reactivate(g.user, account)
            attempt.done = gettext("Account %(login)s reactivated.", login=account.user.username)
        return self._back(account)

    @expose("/<int:pk>/delete", methods=["GET", "POST"])
    @has_access
    @no_cache
    def delete(self, pk):
        account = self._account(pk)
        user = account.user
        return self._confirmed(
            account, "delete", rules.delete_account, gettext("Account %(login)s deleted.", login=user.username),
            {"title": _l("Delete an account"),
             "question": gettext("Delete the account %(login)s (%(name)s)?", login=user.username,
                                 name=user.get_full_name()),
             "consequence": gettext("This cannot be undone. The account is erased: its name, mail and phones "
                                    "are removed, its e-services withdrawn; its login and mail may be used again "
                                    "for a new account.")})


def register(appbuilder):
    appbuilder.add_view_no_menu(OperatorAccountsView)
    appbuilder.add_link("OperatorAccountList", href="/operator/accounts/", icon="fa-users",
                        label=_l("Rights management"), category=DESK.category)
