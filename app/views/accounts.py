"""Account screens: set-password and reset links, "forgot password", the account
creation form of delegating users, deleting one's own account, and FAB's security screens and user API made
to follow Guichet's account rules (app/platform/accounts.py):

* an account is created without a typed password: its owner gets a mail with a
  single-use link to choose one (FAB's user screen, the user API without a
  password, and `AccountCreateView` for delegating users);
* a login never changes: it is not in FAB's edit forms and the user API refuses it;
* the password policy shows on every password form (FAB checks it through
  FAB_PASSWORD_COMPLEXITY_VALIDATOR).

FAB's views keep their class names, so their endpoints and permissions are FAB's;
`GuichetSecurityManager.register_views` plugs them in (`SECURITY_VIEWS`).
"""
import functools
import time

from flask import (
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.api import safe
from flask_appbuilder.baseviews import BaseView
from flask_appbuilder.fieldwidgets import (
    BS3PasswordFieldWidget,
    BS3TextFieldWidget,
    Select2ManyWidget,
    Select2Widget,
)
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access, no_cache, permission_name, protect
from flask_appbuilder.security.forms import LoginForm_db, ResetPasswordForm
from flask_appbuilder.security.sqla.apis.user.api import UserApi as FabUserApi
from flask_appbuilder.security.sqla.apis.user.schema import UserPostSchema as FabUserPostSchema
from flask_appbuilder.security.sqla.apis.user.validator import PasswordComplexityValidator as ApiPolicy
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.security.views import (
    AuthDBView as FabAuthDBView,
    ResetMyPasswordView as FabResetMyPasswordView,
    ResetPasswordView as FabResetPasswordView,
)
from flask_appbuilder.validators import PasswordComplexityValidator
from flask_appbuilder.views import SimpleFormView
from flask_babel import LazyString, format_date, gettext, lazy_gettext as _l
from marshmallow import fields
from flask_login import login_user, logout_user
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from ..extensions import db
from ..models import PasswordTokenPurpose
from ..platform import accounts, attempts
from . import security_views
from .base import AnswersInputs, Attempt

POLICY = LazyString(accounts.policy_description)
LOGIN_HELP = _l("5 to 64 letters, digits and ! . @ _ - ; it can never be changed afterwards.")


def _new_login(form, field):
    """A login's format, and free whatever its case (logins are case-insensitive)."""
    try:
        field.data = accounts.check_new_login(field.data)
    except accounts.AccountRefused as refusal:
        raise ValidationError(refusal.message) from None


# ---------------------------------------------------------------------------
# FAB's security screens, with Guichet's account rules
# ---------------------------------------------------------------------------


class PolicyResetPasswordForm(ResetPasswordForm):
    """FAB's password form, telling the policy instead of "not checked"."""

    password = PasswordField(
        _l("Password"), description=POLICY,
        validators=[DataRequired(), PasswordComplexityValidator()],
        widget=BS3PasswordFieldWidget(),
    )


class ResetMyPasswordView(FabResetMyPasswordView):
    form = PolicyResetPasswordForm


class ResetPasswordView(FabResetPasswordView):
    form = PolicyResetPasswordForm


class LoginForm(LoginForm_db):
    remember = BooleanField(_l("Remember me"))


class AuthDBView(FabAuthDBView):
    """FAB's login page, plus "remember me" (a remember cookie that ends with the
    person's security stamp, app/security.py) and the "forgot password" and "first
    sign-in" links; signing out is a POST."""

    login_template = "guichet/security/login_db.html"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        """FAB's AuthDBView.login, remembering the person when asked."""
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=bool(form.remember.data))
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self):
        """A POST with its CSRF token signs out (the navbar's button): a link or an image
        on another site cannot. A GET only asks to confirm, with the same button."""
        if request.method == "POST":
            return super().logout()
        if not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_index)
        return self.render_template("guichet/security/logout.html", title=gettext("Sign out"))


class UserDBModelView(security_views.UserDBModelView):
    """Users: created without a password (the set-password link is mailed); the
    login is shown but never edited."""

    add_form_extra_fields = {}
    add_columns = ["first_name", "last_name", "username", "active", "email", "roles", "groups"]
    edit_columns = ["first_name", "last_name", "active", "email", "roles", "groups"]
    description_columns = {
        **security_views.UserDBModelView.description_columns,
        "username": LOGIN_HELP,
        "email": _l("The link to choose a password is sent to this address."),
    }
    validators_columns = {
        **security_views.UserDBModelView.validators_columns,
        "username": [_new_login],
    }

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        actions = {name: self.actions.get(name) for name in ("resetpasswords", "sendpasswordlink")
                   if self.actions.get(name)}
        widgets = self._get_show_widget(pk, item, actions=actions)
        self.update_redirect()
        return self.render_template(self.show_template, pk=pk, title=self.show_title,
                                    widgets=widgets, appbuilder=self.appbuilder,
                                    related_views=self._related_views)

    def pre_add(self, item):
        item.username = item.username.strip()
        item.password = accounts.unusable_password()

    def post_add(self, item):
        accounts.send_password_link(item, PasswordTokenPurpose.set)
        db.session.commit()
        flash(gettext("A mail with a link to choose a password has been sent to %(email)s.",
                      email=item.email), "info")

    @action("sendpasswordlink", _l("Send a password link"),
            _l("Send this user a mail with a link to choose a new password?"),
            "fa-envelope", multiple=False)
    def sendpasswordlink(self, item):
        purpose = PasswordTokenPurpose.reset if item.last_login else PasswordTokenPurpose.set
        accounts.send_password_link(item, purpose)
        db.session.commit()
        flash(gettext("A mail with a link to choose a password has been sent to %(email)s.",
                      email=item.email), "info")
        return redirect(url_for(f"{self.endpoint}.show", pk=item.id))


class UserPostSchema(FabUserPostSchema):
    # Without a password, the new user gets the set-password mail.
    password = fields.String(required=False, validate=[ApiPolicy()],
                             metadata={"description": "Optional: without it, a set-password "
                                                      "link is mailed to the user"})


class UserApi(AnswersInputs, FabUserApi):
    """FAB's user API: the password is optional at creation (the set-password mail
    is sent instead) and a login cannot be changed."""

    add_model_schema = UserPostSchema()
    list_title = _l("List Users")
    show_title = _l("Show User")
    add_title = _l("Add User")
    edit_title = _l("Edit User")
    label_columns = {
        "id": _l("ID"),
        "roles": _l("Roles"),
        "roles.id": _l("Role ids"),
        "roles.name": _l("Roles"),
        "groups": _l("Groups"),
        "first_name": _l("First name"),
        "last_name": _l("Last name"),
        "username": _l("Login name"),
        "active": _l("Active"),
        "email": _l("Email"),
        "password": _l("Password"),
        "last_login": _l("Last login"),
        "login_count": _l("Login count"),
        "fail_login_count": _l("Failed login count"),
        "created_on": _l("Created on"),
        "changed_on": _l("Changed on"),
        "created_by.id": _l("Created by"),
        "changed_by.id": _l("Changed by"),
    }

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        """No description is an empty one (FAB answers gettext(""), the catalogue header)."""
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""
        return info

    def pre_add(self, item):
        if item.password:
            super().pre_add(item)
            item.guichet_send_link = False
        else:
            item.password = accounts.unusable_password()
            item.guichet_send_link = True

    def post_add(self, item):
        if getattr(item, "guichet_send_link", False):
            accounts.send_password_link(item, PasswordTokenPurpose.set)
            db.session.commit()

    @expose("/<pk>", methods=("PUT",))
    @protect()
    @safe
    @permission_name("put")
    def put(self, pk):
        """FAB's PUT, answering 404 for a missing user (FAB: 500) and refusing a new login."""
        user = self.datamodel.get(pk, self._base_filters)
        if user is None:
            return self.response_404()
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message=gettext("The body must be a JSON object."))
        if "username" in payload and payload["username"] != user.username:
            return self.response_400(message={"username": [gettext("The login cannot be changed.")]})
        return super().put(pk)


SECURITY_VIEWS = {
    "userdbmodelview": UserDBModelView,
    "resetmypasswordview": ResetMyPasswordView,
    "resetpasswordview": ResetPasswordView,
    "authdbview": AuthDBView,
    "user_api": UserApi,
}


# ---------------------------------------------------------------------------
# Set-password links and "forgot password" (no sign-in needed)
# ---------------------------------------------------------------------------


class ForgotPasswordForm(DynamicForm):
    email = StringField(
        _l("Email"),
        validators=[DataRequired(), Length(max=320),
                    Regexp(accounts.EMAIL_PATTERN, message=_l("Email: this is not a valid address."))],
        widget=BS3TextFieldWidget(),
    )


class ChoosePasswordForm(DynamicForm):
    password = PasswordField(
        _l("New password"), description=POLICY,
        validators=[DataRequired(), PasswordComplexityValidator()],
        widget=BS3PasswordFieldWidget(),
    )
    conf_password = PasswordField(
        _l("Confirm the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords must match"))],
        widget=BS3PasswordFieldWidget(),
    )


def _private(response):
    """A page whose URL carries a secret: not cached, not sent as a referrer."""
    response = make_response(response)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class PasswordView(BaseView):
    """/password/forgot/ and /password/first/ ask for an address; /password/set/<token>
    chooses the password."""

    route_base = "/password"
    default_view = "forgot"

    @expose("/forgot/", methods=["GET", "POST"])
    @no_cache
    def forgot(self):
        return self._ask_for_link(first_sign_in=False)

    @expose("/first/", methods=["GET", "POST"])
    @no_cache
    def first(self):
        """First sign-in: someone whose account was made for them asks for the link to
        choose their password (the same rules and answer as "forgot password")."""
        return self._ask_for_link(first_sign_in=True)

    def _ask_for_link(self, first_sign_in):
        form = ForgotPasswordForm()
        if request.method == "POST" and form.validate():
            # Every request counts, known address or not: no mail bombing, no probing.
            asked = {"reset_account": form.email.data, "reset_address": attempts.client_address()}
            if attempts.exhausted(**asked):
                abort(429)
            attempts.count(**asked)
            started = time.monotonic()
            accounts.request_password_reset(form.email.data, first_sign_in=first_sign_in)
            db.session.commit()
            # The same answer, after the same time, whether or not the address is known.
            floor = current_app.config["PASSWORD_RESET_MIN_RESPONSE_TIME"]
            remaining = floor - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            flash(gettext("If an account uses this address, a mail with a link to choose a new "
                          "password has been sent to it. The link is valid for one hour."), "info")
            return redirect(self.appbuilder.get_url_for_login)
        title = gettext("First sign-in") if first_sign_in else gettext("Forgot your password?")
        return self.render_template("guichet/accounts/forgot.html", form=form, title=title,
                                    first_sign_in=first_sign_in)

    @expose("/set/<token>", methods=["GET", "POST"])
    @no_cache
    def choose(self, token):
        address = {"link_address": attempts.client_address()}
        if attempts.exhausted(**address):  # someone trying links
            abort(429)
        try:
            found = accounts.find_token(token)
        except accounts.TokenError as error:
            attempts.count(**address)
            return self._refused(error)
        form = ChoosePasswordForm()
        if request.method == "POST" and form.validate():
            with Attempt(form=form, done=gettext("Your password has been set. You can now sign in.")) as attempt:
                accounts.set_password_with_token(token, form.password.data)
            if isinstance(attempt.refused, accounts.TokenError):
                return self._refused(attempt.refused)
            if attempt.refused is None:
                return redirect(self.appbuilder.get_url_for_login)
        title = (gettext("Choose your password") if found.purpose == PasswordTokenPurpose.set
                 else gettext("Choose a new password"))
        return _private(self.render_template("guichet/accounts/choose.html", form=form,
                                             title=title, login=found.user.username))

    def _refused(self, error):
        status = 404 if isinstance(error, accounts.TokenUnknown) else 410
        page = self.render_template("guichet/accounts/link_refused.html",
                                    title=gettext("This link cannot be used"), message=str(error))
        return _private((page, status))


# ---------------------------------------------------------------------------
# Creating an account (Admin, and delegating users such as OperatorAdmin)
# ---------------------------------------------------------------------------


class AccountForm(DynamicForm):
    username = StringField(_l("Login name"), description=LOGIN_HELP,
                           validators=[DataRequired(), _new_login], widget=BS3TextFieldWidget())
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=64)],
                             widget=BS3TextFieldWidget())
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=64)],
                            widget=BS3TextFieldWidget())
    email = StringField(_l("Email"), description=_l("The link to choose a password is sent to this address."),
                        validators=[DataRequired(), Length(max=320),
                                    Regexp(accounts.EMAIL_PATTERN, message=_l("Email: this is not a valid address."))],
                        widget=BS3TextFieldWidget())
    # The choices offered are the creator's; the rule (not the form) refuses others.
    organisation = SelectField(_l("Organisation"), validate_choice=False, widget=Select2Widget())
    roles = SelectMultipleField(_l("Roles"), validate_choice=False, widget=Select2ManyWidget())

    @classmethod
    def refresh(cls, obj=None):
        form = super().refresh(obj)
        form.organisation.choices = [(str(org.id), org.name) for org in accounts.allowed_organisations(g.user)]
        form.roles.choices = [(str(role.id), str(role)) for role in accounts.allowed_roles(g.user)]
        return form


class AccountCreateView(SimpleFormView):
    """Create an account in one of my organisations, with roles I hold; the new
    user gets the set-password mail."""

    route_base = "/accounts"
    class_permission_name = "Accounts"
    method_permission_name = {"this_form_get": "create", "this_form_post": "create"}
    form = AccountForm
    form_title = _l("Create an account")
    form_columns = ["username", "first_name", "last_name", "email", "organisation", "roles"]

    def form_post(self, form):
        with Attempt(form=form) as attempt:
            user = accounts.create_account(
                g.user, username=form.username.data, first_name=form.first_name.data,
                last_name=form.last_name.data, email=form.email.data,
                organisation_id=form.organisation.data, role_ids=form.roles.data or [],
            )
            attempt.done = gettext("Account %(login)s created: a mail with a link to choose a password has "
                                   "been sent to %(email)s.", login=user.username, email=user.email)
        if attempt.refused is not None:
            return self.render_template(self.form_template, title=self.form_title,
                                        widgets=self._get_edit_widget(form=form),
                                        appbuilder=self.appbuilder)
        return redirect(url_for(f"{self.endpoint}.this_form_get"))


# ---------------------------------------------------------------------------
# Deleting my account (app.platform.accounts.leave)
# ---------------------------------------------------------------------------


class LeaveForm(DynamicForm):
    password = PasswordField(_l("Your password"), description=_l("Type your password to confirm."),
                             validators=[DataRequired()], widget=BS3PasswordFieldWidget())


class LeaveView(BaseView):
    """Delete my account, from the user menu: whether and from when I may (the page says
    why not), and the deletion, confirmed by my password in a POST with its CSRF token.
    A wrong password counts as a failed sign-in of the account (app.platform.attempts)."""

    route_base = "/account"
    default_view = "leave"
    class_permission_name = "MyAccount"
    method_permission_name = {"leave": "leave"}

    @expose("/delete/", methods=["GET", "POST"])
    @has_access
    @no_cache
    def leave(self):
        user, form = g.user, LeaveForm()
        if request.method == "POST" and form.validate():
            who = {"sign_in_account": user.username, "sign_in_address": attempts.client_address()}
            if attempts.exhausted(**who):
                abort(429)
            with Attempt(form=form) as attempt:
                accounts.leave(user, form.password.data)
            if attempt.refused is None:
                logout_user()
                flash(gettext("Your account is deleted and your personal data erased. Goodbye."), "info")
                return redirect(self.appbuilder.get_url_for_login)
            if attempt.refused.field == "password":
                attempts.count(**who)
        status = accounts.leaving_status(user)
        return self.render_template("guichet/accounts/leave.html", title=gettext("Delete my account"),
                                    form=form, status=status, erased_name=accounts.ERASED_NAME,
                                    not_before=format_date(status.not_before, "long") if status.not_before else None)


def too_many_attempts(error):
    """429 from the login rate limits: in French, JSON for the API."""
    message = gettext("Too many attempts: wait a few minutes before trying again.")
    if request.path.startswith("/api/"):
        return jsonify(message=message), 429
    appbuilder = current_app.appbuilder
    page = render_template("guichet/accounts/message.html", title=gettext("Too many attempts"),
                           message=message, appbuilder=appbuilder,
                           base_template=appbuilder.base_template)
    return page, 429


def _sign_in_guarded(view):
    """A sign-in view (the form's, the API's) that refuses with 429 once the account or
    the client address has failed too often, and counts its failures only
    (app.platform.attempts): a right password counts for nothing."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        payload = request.get_json(silent=True) if request.is_json else None
        if isinstance(payload, dict):
            for name in ("username", "password", "provider"):
                if name not in payload:  # (FAB's API would fail on it: a 500)
                    return jsonify(message={name: [gettext("%(field)s: this field is required.", field=name)]}), 400
                if not isinstance(payload[name], str):
                    return jsonify(message={name: [gettext("%(field)s: a text is expected.", field=name)]}), 400
        username = payload.get("username") if isinstance(payload, dict) else request.form.get("username")
        who = {"sign_in_account": username if isinstance(username, str) else "",
               "sign_in_address": attempts.client_address()}
        if attempts.exhausted(**who):
            abort(429)
        response = view(*args, **kwargs)
        if not g.get("guichet_signed_in"):
            attempts.count(**who)
        return response

    return guarded


def register(appbuilder):
    accounts.install()
    current_app.register_error_handler(429, too_many_attempts)
    current_app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", accounts.check_password_policy)
    appbuilder.add_view_no_menu(PasswordView())
    appbuilder.add_view_no_menu(LeaveView())
    appbuilder.add_view(AccountCreateView, "CreateAccount", icon="fa-user-plus",
                        label=_l("Create an account"), category="Administration",
                        category_label=_l("Administration"), category_icon="fa-cogs")
    sm, views = appbuilder.sm, current_app.view_functions
    for endpoint in (f"{sm.auth_view.endpoint}.login", f"{sm.security_api.__name__}.login"):
        views[endpoint] = _sign_in_guarded(views[endpoint])
