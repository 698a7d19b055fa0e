"""French for what Flask-AppBuilder leaves in English.

Two things live here:

* `FAB_MESSAGES`: FAB's own strings that its French catalogue leaves untranslated or
  gets wrong. Our catalogue is loaded after FAB's and flask-babel merges them, so a
  msgid listed here and translated in `translations/fr` wins over FAB's. They are
  listed in code only so that `make extract-messages` keeps them in our catalogues.
* How grids show values: FAB prints Python values as they are (`True`, `None`,
  `[Admin]`, `2026-01-05 09:30:00.123456`, an enum's raw value). `display_formatters`
  and `LabelledEnumField` show them in the reader's language instead.
"""
import enum
import functools
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone

from babel import Locale
from babel.dates import DateTimeFormat, get_date_format, get_datetime_format, get_time_format, tokenize_pattern
from flask_appbuilder.fields import EnumField, QuerySelectField
from flask_babel import get_locale, get_timezone, gettext, lazy_gettext
from markupsafe import Markup
from wtforms.fields.core import UnboundField
from wtforms.validators import ValidationError

from .platform import clock


def N_(message):
    """Mark a msgid for extraction without translating it here (FAB translates it)."""
    return message


FAB_MESSAGES = (
    # Layout, lists and forms (templates/appbuilder/general/*)
    N_("User confirmation needed"),
    N_("Add"),
    N_("Edit"),
    N_("Show"),
    N_("Delete"),
    N_("Add a new record"),
    N_("Edit record"),
    N_("Show record"),
    N_("Delete record"),
    N_("Are you sure you want to delete this item?"),
    N_("Record Count"),
    N_("Detail"),
    N_("Save"),
    N_("Back"),
    N_("Add Filter"),
    N_("Order by"),
    N_("Select Value"),
    N_("Logout"),
    N_("Sign In"),
    N_("Sign In with "),
    N_("Enter your login and password below"),
    N_("Invalid login. Please try again."),
    # Flashed messages and validation
    N_("Added Row"),
    N_("Changed Row"),
    N_("Deleted Row"),
    N_("Associated data exists, please delete them first"),
    N_("Integrity error, probably unique constraint"),
    N_("Database Error"),
    N_("Not a valid choice"),
    N_("Not a valid date value"),
    N_("Already exists."),
    N_("Must have at least two capital letters, one special character, two digits, "
       "three lower case letters and a minimal length of 10."),
    # Search filters
    N_("Contains (insensitive)"),
    N_("Not Contains"),
    N_("Start with"),
    N_("Ends with"),
    N_("Not Ends with"),
    N_("Equal to"),
    N_("Not Equal to"),
    N_("Smaller than"),
    N_("In"),
    N_("Not In"),
    N_("Group by fields"),
    # Security: menu, users, roles, groups, permissions
    N_("List Users"),
    N_("List Roles"),
    N_("List Groups"),
    N_("User's Statistics"),
    N_("User Statistics"),
    N_("User Registrations"),
    N_("List of Registration Requests"),
    N_("Views/Menus"),
    N_("Permission on Views/Menus"),
    N_("Edit User"),
    N_("Edit User Information"),
    N_("User information changed"),
    N_("Your user information"),
    N_("User info"),
    N_("Full Name"),
    N_("Is Active?"),
    N_("Groups"),
    N_("Last login"),
    N_("Login count"),
    N_("Failed login count"),
    N_("User Name"),
    N_("Write the user first name or names"),
    N_("Write the user last name"),
    N_("Username valid for authentication on DB or LDAP, unused for OID auth"),
    N_("The user's email, this will also be used for OID auth"),
    N_("The user's password for authentication"),
    N_("It's not a good policy to remove a user, just make it inactive"),
    N_("The user role on the application, this will associate with a list of permissions"),
    N_("The user group on the application, this will associate with a list of roles "
       "associated with the group"),
    N_("Please rewrite the user's password to confirm"),
    N_("Please use a good password policy, this application does not check this for you"),
    N_("Confirm Password"),
    N_("Please rewrite the password to confirm"),
    N_("Passwords must match"),
    N_("Reset my password"),
    N_("Reset Password Form"),
    N_("Password Changed"),
    N_("Either select a role or a group"),
    N_("Add Role"),
    N_("Edit Role"),
    N_("Copy Role"),
    N_("Copy the selected roles?"),
    N_("User(s) exists in the role, cannot delete"),
    N_("Show Group"),
    N_("Add Group"),
    N_("Edit Group"),
    N_("User(s) exists in the group, cannot delete"),
    N_("List Base Permissions"),
    N_("Show Base Permission"),
    N_("Add Base Permission"),
    N_("Edit Base Permission"),
    N_("List View Menus"),
    N_("Show View Menu"),
    N_("Add View Menu"),
    N_("Edit View Menu"),
    N_("List Permissions on Views/Menus"),
    N_("Show Permission on Views/Menus"),
    N_("Add Permission on Views/Menus"),
    N_("Edit Permission on Views/Menus"),
    N_("View/Menu"),
)


# ---------------------------------------------------------------------------
# Values in grids and forms
# ---------------------------------------------------------------------------


def _labelled(enum_class):
    """True when the enum defines its own (translated) label through __str__."""
    return enum_class is not None and enum_class.__str__ is not enum.Enum.__str__


class _OnePage:
    """What the values of one page are written in: its language, its time zone, and
    the labels (enum members, yes and no) already translated for it."""

    def __init__(self):
        self.locale, self.zone, self.labels = get_locale(), get_timezone(), {}

    def label(self, key, translate):
        text = self.labels.get(key)
        if text is None:
            text = self.labels[key] = translate()
        return text


_ONE_PAGE: ContextVar = ContextVar("guichet_one_page", default=None)


@contextmanager
def one_page():
    """Write the values of a block (a grid's hundreds of cells) reading the language
    and time zone once, and each label once, instead of once per cell."""
    token = _ONE_PAGE.set(_OnePage())
    try:
        yield
    finally:
        _ONE_PAGE.reset(token)


def _label(key, translate):
    page = _ONE_PAGE.get()
    return translate() if page is None else page.label(key, translate)


def display_value(value, enum_class=None, local_time=False):
    """A value as a reader expects it, in the current language; a datetime is a UTC
    moment shown in TIMEZONE, or a local wall-clock time (`local_time`) shown as it is."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool):
        return _label((bool, value), lambda: gettext("Yes") if value else gettext("No"))
    if isinstance(value, enum.Enum):
        return _label((type(value), value), lambda: str(value)) if _labelled(type(value)) else value.value
    if isinstance(value, str) and _labelled(enum_class):
        try:
            member = enum_class(value)
        except ValueError:
            return value
        return _label((enum_class, member), lambda: str(member))
    if isinstance(value, datetime):
        return short_moment(value, rebase=not local_time)
    if isinstance(value, date):
        return short_day(value)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(display_value(item)) for item in value)
    return value


def short_moment(value: datetime, rebase=True) -> str:
    """Flask-Babel's `format_datetime(value, "short", rebase)`, the same text at half
    its cost (a grid prints hundreds): the language's pattern is read once, its
    numeric fields written by `str.format`. `rebase`: a UTC moment (naive or not)
    shown in the people's time zone; else the wall-clock time as it is."""
    page = _ONE_PAGE.get()
    if rebase:
        zone = page.zone if page is not None else get_timezone()
        value = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(zone)
    return _short_writer(page.locale if page is not None else get_locale(), "datetime")(value)


def short_day(value: date) -> str:
    """Flask-Babel's `format_date(value, "short")`, written as `short_moment`."""
    page = _ONE_PAGE.get()
    return _short_writer(page.locale if page is not None else get_locale(), "date")(value)


#: How Babel writes a numeric field, (letter, width), as a `str.format` field of the moment.
_NUMERIC_FIELDS = {
    **{("d", n): f"{{0.day:0{n}d}}" for n in (1, 2)},
    **{("M", n): f"{{0.month:0{n}d}}" for n in (1, 2)},
    **{("H", n): f"{{0.hour:0{n}d}}" for n in (1, 2)},
    **{("m", n): f"{{0.minute:0{n}d}}" for n in (1, 2)},
    **{("s", n): f"{{0.second:0{n}d}}" for n in (1, 2)},
    ("y", 1): "{0.year}",
    ("y", 4): "{0.year:04d}",
}


@functools.lru_cache(maxsize=64)
def _short_writer(locale: Locale, kind: str):
    """moment -> its text in the "short" `kind` ("date" or "datetime") of a language, as
    Babel writes it: one `str.format` when every field is numeric, else Babel's own
    writer for the fields that are not."""

    def tokens(pattern):
        return list(tokenize_pattern(pattern))

    found = tokens(get_date_format("short", locale).pattern)
    if kind == "datetime":
        # As babel.dates.format_datetime: the combining pattern's quotes dropped, {0} the time, {1} the day.
        day, time, found = found, tokens(get_time_format("short", locale).pattern), []
        for piece in re.split(r"(\{[01]\})", get_datetime_format("short", locale).replace("'", "")):
            found.extend(day if piece == "{1}" else time if piece == "{0}" else [("chars", piece)] if piece else [])
    if all(token == "chars" or value in _NUMERIC_FIELDS for token, value in found):
        template = "".join(value.replace("{", "{{").replace("}", "}}") if token == "chars" else _NUMERIC_FIELDS[value]
                           for token, value in found)
        return template.format
    parts = [(token, value if token == "chars" else value[0] * value[1]) for token, value in found]
    return lambda moment: "".join(value if token == "chars" else DateTimeFormat(moment, locale)[value]
                                  for token, value in parts)


def display_formatters(view):
    """Formatters for every column of a ModelView, for its list and show pages
    (FAB hands an enum column's raw value to the template, hence `enum_class`)."""
    datamodel = view.datamodel
    columns = set(view.list_columns) | set(view.show_columns) | set(datamodel.get_columns_list())
    formatters = {}
    for name in columns:
        enum_class = None
        if datamodel.is_enum(name):
            enum_class = datamodel.list_columns[name].type.enum_class
        local_time = clock.is_local_time(clock.column_of(datamodel.obj, name))
        formatters[name] = (lambda value, enum_class=enum_class, local_time=local_time:
                            display_value(value, enum_class, local_time))
    return formatters


class LabelledEnumField(EnumField):
    """FAB's EnumField offers an enum's raw values ("vendor"); this one offers the
    enum's own labels (`str(member)`), translated each time a form is built."""

    def __init__(self, enum_class, enums, **kwargs):
        super().__init__(enum_class, enums, **kwargs)
        if _labelled(enum_class):
            self.choices = [(name, str(enum_class.__members__[name])) for name in enums]
        coerce = self.coerce

        def coerce_or_refuse(value):
            # FAB's coerce raises KeyError (a 500) on an unknown value; WTForms
            # turns a ValueError into a validation error on the field.
            try:
                return coerce(value)
            except KeyError:
                raise ValueError(value) from None

        self.coerce = coerce_or_refuse

    def pre_validate(self, form):
        # FAB raises a bare ValueError here, which WTForms 3 does not catch (a 500).
        if self.process_errors:  # the value could not be read: already said
            return
        if not any(self.data == self.coerce(value) for value, _ in self.choices):
            raise ValidationError(self.gettext("Not a valid choice"))


#: The blank choice of an optional drop-down. FAB leaves its text empty, which WTForms
#: then replaces with the choice's value, "__None".
BLANK_CHOICE = lazy_gettext("— none —")


def localise_forms(*forms):
    """Make the fields of FAB-generated form classes speak the reader's language:
    enum fields offer labels, optional drop-downs a named blank choice."""
    for form in forms:
        if form is None:
            continue
        for name in dir(form):
            field = getattr(form, name, None)
            if not isinstance(field, UnboundField):
                continue
            if field.field_class is EnumField:
                field.field_class = LabelledEnumField
            elif (issubclass(field.field_class, QuerySelectField) and field.kwargs.get("allow_blank")
                  and not field.kwargs.get("blank_text")):
                field.kwargs["blank_text"] = BLANK_CHOICE


def localise(view):
    """Show a ModelView's values in the reader's language. A formatter of the view's
    own comes first; what it returns is then shown the same way (None as nothing)."""
    formatters = display_formatters(view)
    for name, own in (view.formatters_columns or {}).items():
        formatters[name] = (lambda value, own=own: display_value(own(value)))
    view.formatters_columns = formatters
    localise_forms(view.add_form, view.edit_form, view.search_form)


def page_language() -> str:
    """The language of the page being rendered, for `<html lang>` (RGAA 8.3)."""
    from flask import current_app
    from flask_babel import get_locale

    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]).split("_")[0]


def money(amount, signed=False) -> str:
    """An amount in CURRENCY as the reader writes it ("12,50 €" in French, "€12.50" in
    English); `signed`: with its sign, as a price change ("+5,00 €")."""
    from flask import current_app
    from flask_babel import format_currency

    currency = current_app.config["CURRENCY"]
    text = _label(("money", currency, amount), lambda: format_currency(amount, currency))
    return "+" + text if signed and amount >= 0 else text


def install(app) -> None:
    """Give every template `page_language()` and the `money` filter; Flask-Babel formats
    moments in the people's time zone (before FAB creates Babel)."""
    app.jinja_env.globals["page_language"] = page_language
    app.jinja_env.filters["money"] = money
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
