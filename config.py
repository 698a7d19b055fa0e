"""Settings. Every value can be overridden by an environment variable of the same name."""
import os

BASE_DIR = os.path.abspath(os.path.dirname(__file__))


def env(name, default=None, cast=str):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if cast is bool:
        return value.lower() in ("1", "true", "yes", "on")
    return cast(value)


def pairs(value, cast=int):
    """{name: value} from "name:value,name:value" (a setting given as one variable)."""
    items = (item.split(":", 1) for item in value.split(",") if item.strip())
    return {name.strip(): cast(number) for name, number in items}


class Config:
    APP_NAME = env("APP_NAME", "Guichet")
    # The keys that sign sessions and API tokens (app/platform/settings.py): required
    # outside the embedded default, which keeps generated ones in instance/.
    SECRET_KEY = env("SECRET_KEY")
    JWT_SECRET_KEY = env("JWT_SECRET_KEY")
    # None means SQLite in the instance folder (resolved in create_app).
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Seconds a process waits for PostgreSQL to answer a new connection: past it the
    # request fails and /readyz answers 503, instead of both hanging for the system's
    # TCP timeout (minutes) while the database's host does not answer.
    DATABASE_CONNECT_TIMEOUT = env("DATABASE_CONNECT_TIMEOUT", 5, int)
    REDIS_URL = env("REDIS_URL")
    WTF_CSRF_ENABLED = env("WTF_CSRF_ENABLED", True, bool)

    FAB_SECURITY_MANAGER_CLASS = "app.security.GuichetSecurityManager"
    FAB_UPDATE_PERMS = True
    FAB_API_SWAGGER_UI = True
    FAB_ADD_SECURITY_API = True
    AUTH_TYPE = 1  # database authentication
    AUTH_ROLE_PUBLIC = "Public"
    # Attempts a guesser repeats (app/platform/attempts.py): only failures are counted,
    # per account and per client address, in shared storage (Redis when set). FAB's own
    # limiter, which counts every sign-in per address, stays off.
    AUTH_RATE_LIMITED = False
    ATTEMPT_LIMITS_ENABLED = env("ATTEMPT_LIMITS_ENABLED", True, bool)
    LOGIN_FAILURES_PER_ACCOUNT = env("LOGIN_FAILURES_PER_ACCOUNT", "10 per 15 minutes")
    LOGIN_FAILURES_PER_ADDRESS = env("LOGIN_FAILURES_PER_ADDRESS", "100 per 15 minutes")
    PASSWORD_RESET_PER_ACCOUNT = env("PASSWORD_RESET_PER_ACCOUNT", "5 per hour")
    PASSWORD_RESET_PER_ADDRESS = env("PASSWORD_RESET_PER_ADDRESS", "30 per hour")
    PASSWORD_LINK_FAILURES_PER_ADDRESS = env("PASSWORD_LINK_FAILURES_PER_ADDRESS", "20 per 15 minutes")
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", env("REDIS_URL", "memory://"))
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (the client
    # address the limits count), 0 when the app is reached directly.
    TRUSTED_PROXIES = env("TRUSTED_PROXIES", 0, int)

    # Accounts (app/platform/accounts.py). The password policy applies to every way
    # of setting a password: set/reset links, FAB's password forms, the user API,
    # `flask fab create-admin`. FAB calls FAB_PASSWORD_COMPLEXITY_VALIDATOR, which
    # defaults to Guichet's policy (app.platform.accounts.check_password_policy).
    PASSWORD_MIN_LENGTH = env("PASSWORD_MIN_LENGTH", 8, int)
    PASSWORD_REQUIRE_LOWERCASE = env("PASSWORD_REQUIRE_LOWERCASE", True, bool)
    PASSWORD_REQUIRE_UPPERCASE = env("PASSWORD_REQUIRE_UPPERCASE", False, bool)
    PASSWORD_REQUIRE_DIGIT = env("PASSWORD_REQUIRE_DIGIT", True, bool)
    PASSWORD_REQUIRE_SYMBOL = env("PASSWORD_REQUIRE_SYMBOL", False, bool)
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    # Set-password and reset links: lifetime in seconds (single use).
    PASSWORD_TOKEN_MAX_AGE = env("PASSWORD_TOKEN_MAX_AGE", 3600, int)
    # "Forgot password" answers after at least this many seconds, known address or
    # not, so that the response time does not tell whether an account exists.
    PASSWORD_RESET_MIN_RESPONSE_TIME = env("PASSWORD_RESET_MIN_RESPONSE_TIME", 0.4, float)

    BABEL_DEFAULT_LOCALE = env("BABEL_DEFAULT_LOCALE", "fr")
    BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "translations")
    LANGUAGES = {
        "fr": {"flag": "fr", "name": "Français"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Grids: exact counts up to this many rows, beyond it an estimate or "more than".
    GRID_EXACT_COUNT_LIMIT = env("GRID_EXACT_COUNT_LIMIT", 10000, int)
    # ...but only this many when a "contains"/"ends with" text filter is set (a
    # '%word%' search: its trigram index yields every match, each rechecked), and
    # always enough for the next page (ScopedInterface._grid_count_limit).
    GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT = env("GRID_TEXT_SEARCH_EXACT_COUNT_LIMIT", 100, int)
    # Rows fetched per round trip when streaming an export.
    EXPORT_BATCH_SIZE = env("EXPORT_BATCH_SIZE", 5000, int)
    # Past this many rows a grid export is written by a job (RQ, or a thread of the
    # embedded server) while a page shows its progress; the file is kept this long.
    EXPORT_ASYNC_ROWS = env("EXPORT_ASYNC_ROWS", 50000, int)
    EXPORT_KEEP_HOURS = env("EXPORT_KEEP_HOURS", 24, int)
    EXPORTS_ROOT = env("EXPORTS_ROOT")  # default: <instance>/exports

    # Attachments: stored under FILES_ROOT (default: <instance>/files).
    FILES_ROOT = env("FILES_ROOT")
    FILE_MAX_BYTES = env("FILE_MAX_BYTES", 10 * 1024 * 1024, int)
    # Files one request may store (a form's file field, or all of a request's together).
    FILE_MAX_PER_REQUEST = env("FILE_MAX_PER_REQUEST", 5, int)
    FILE_ALLOWED_TYPES = tuple(env("FILE_ALLOWED_TYPES", ",".join([
        "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
        "text/plain", "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    ])).split(","))
    MAX_CONTENT_LENGTH = env("MAX_CONTENT_LENGTH", 64 * 1024 * 1024, int)
    # Each person's storage quota for the files they upload (0: no quota). Rows whose
    # model sets `exempt_from_file_quota` (help requests) accept files beyond it.
    FILE_USER_QUOTA_BYTES = env("FILE_USER_QUOTA_BYTES", 100 * 1024 * 1024, int)
    # Files sent with a refused form are kept this long (seconds) for it to be sent again.
    FILE_PENDING_MAX_AGE = env("FILE_PENDING_MAX_AGE", 24 * 3600, int)

    # Jobs (app/platform/jobs.py): with REDIS_URL, RQ queues and `flask worker`;
    # without it, jobs run in the web process right after the transaction commits.
    # A failing job is retried after each of these delays (seconds), then given up.
    JOB_RETRY_INTERVALS = [int(s) for s in env("JOB_RETRY_INTERVALS", "10,60,300,900,3600").split(",")]
    JOB_TIMEOUT = env("JOB_TIMEOUT", 600, int)
    # Prefix of the RQ queue names, for several instances (or test runs) on one Redis.
    JOB_QUEUE_PREFIX = env("JOB_QUEUE_PREFIX", "")

    # Operators (app/platform/health.py, app/platform/metrics.py). /healthz and /readyz
    # answer anyone (they say only "ok" or what is down). /metrics answers only requests
    # with `Authorization: Bearer <METRICS_TOKEN>` (Prometheus's scrape authorization):
    # a token rather than a list of networks, because behind a reverse proxy every
    # request may come from the proxy's address. Unset: no /metrics, nothing measured.
    # Under gunicorn set PROMETHEUS_MULTIPROC_DIR too (read by prometheus_client itself).
    METRICS_TOKEN = env("METRICS_TOKEN")

    # Mail (app/platform/notifications.py). Without MAIL_SERVER mails are kept in
    # the outbox (queued) and sent once it is set (`flask send-outbox`, or resend).
    MAIL_SERVER = env("MAIL_SERVER")
    MAIL_PORT = env("MAIL_PORT", 25, int)
    MAIL_USE_TLS = env("MAIL_USE_TLS", False, bool)
    MAIL_USE_SSL = env("MAIL_USE_SSL", False, bool)
    MAIL_USERNAME = env("MAIL_USERNAME")
    MAIL_PASSWORD = env("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER", "Guichet <noreply@guichet.example>")
    MAIL_SUPPRESS_SEND = env("MAIL_SUPPRESS_SEND", False, bool)
    MAIL_TIMEOUT = env("MAIL_TIMEOUT", 10, int)
    # Mails per sending job (one SMTP connection each).
    MAIL_BATCH_SIZE = env("MAIL_BATCH_SIZE", 50, int)
    # Queued mails untouched for this long (seconds) are queued again by the
    # periodic sweep (a job lost with Redis, say); default: after every retry.
    OUTBOX_STALE_AFTER = env("OUTBOX_STALE_AFTER", 0, int)
    # The address people reach the app at: links in mails are built on it, never on a
    # request's Host. Required outside the embedded default (app/platform/settings.py).
    PUBLIC_URL = env("PUBLIC_URL")
    # People's time zone: the UTC moments of the database are shown in it (Flask-Babel's
    # BABEL_DEFAULT_TIMEZONE follows it), bookings are written in it (app/platform/clock.py).
    TIMEZONE = env("TIMEZONE", "Europe/Paris")
    # What prices are in (ISO 4217), written in the reader's format by the `money` filter.
    CURRENCY = env("CURRENCY", "EUR")

    # Desk A, visio booking (app/rules/booking.py). A Creator books at least
    # BOOKING_NOTICE_HOURS ahead, inside the service hours on working days
    # (0 = Monday); the VNOC may override both. Each session holds its rooms
    # BOOKING_BUFFER_MINUTES before and after (reconfiguration).
    BOOKING_NOTICE_HOURS = env("BOOKING_NOTICE_HOURS", 24, int)
    BOOKING_SERVICE_START = env("BOOKING_SERVICE_START", "08:30")
    BOOKING_SERVICE_END = env("BOOKING_SERVICE_END", "18:00")
    BOOKING_WORKING_DAYS = tuple(int(d) for d in env("BOOKING_WORKING_DAYS", "0,1,2,3,4").split(","))
    BOOKING_BUFFER_MINUTES = env("BOOKING_BUFFER_MINUTES", 15, int)
    # The VNOC validates a request within this many minutes; it calls the
    # participants it connects this many minutes before the start.
    BOOKING_VALIDATION_MINUTES = env("BOOKING_VALIDATION_MINUTES", 60, int)
    BOOKING_CALL_AHEAD_MINUTES = env("BOOKING_CALL_AHEAD_MINUTES", 15, int)
    # At most this many occurrences for one recurring booking.
    BOOKING_MAX_OCCURRENCES = env("BOOKING_MAX_OCCURRENCES", 200, int)
    # The VNOC's mailbox: every booking mail goes to it too.
    VNOC_MAILBOX = env("VNOC_MAILBOX", "vnoc@guichet.example")
    # Whom people call when they cannot sign in, shown under the login box (none if
    # empty); the demo's is the VNOC.
    LOGIN_CONTACT = env("LOGIN_CONTACT", "VNOC — 04 72 00 00 00 — vnoc@guichet.example")

    # Desk B, client-project ticketing (app/rules/tickets.py). A ticket is overdue when
    # its client has waited this many hours for a vendor response, per priority.
    TICKET_RESPONSE_HOURS = pairs(env("TICKET_RESPONSE_HOURS", "blocking:4,high:8,medium:24,low:72"))

    # Desk E, operator e-services (app/rules/operator/). A certificate's operator is
    # alerted this many days before it expires (the largest: an "alerte" with the
    # date, the others: a "rappel"), and once more the day after it has expired.
    CERT_ALERT_DAYS = tuple(int(d) for d in env("CERT_ALERT_DAYS", "30,7,1").split(",") if d.strip())

    # Replies by mail (app/platform/inbound.py): a desk's notification mails carry a
    # Reply-To address <kind>+<signed token>@INBOUND_MAIL_DOMAIN, which the MTA relays
    # to `flask inbound-mail` (an SMTP endpoint). Unset: mails carry no reply address.
    INBOUND_MAIL_DOMAIN = env("INBOUND_MAIL_DOMAIN")
    INBOUND_MAIL_MAX_BYTES = env("INBOUND_MAIL_MAX_BYTES", 20 * 1024 * 1024, int)

    # Online payments (app/platform/payments.py). The gateways' addresses are settings, so
    # that tests run against a local fake gateway. PayPal: where the payment button posts,
    # where each IPN is posted back for verification (`cmd=_notify-validate`), and whether
    # the IPNs are the sandbox's (`test_ipn=1`); an IPN of the other kind is ignored.
    PAYPAL_URL = env("PAYPAL_URL", "https://www.paypal.com/cgi-bin/webscr")
    PAYPAL_IPN_VERIFY_URL = env("PAYPAL_IPN_VERIFY_URL", "https://ipnpb.paypal.com/cgi-bin/webscr")
    PAYPAL_SANDBOX = env("PAYPAL_SANDBOX", False, bool)
    # Lydia: the API's root ({LYDIA_URL}/api/request/do.json...).
    LYDIA_URL = env("LYDIA_URL", "https://lydia-app.com")
    # Seconds a call to a gateway may take.
    PAYMENT_GATEWAY_TIMEOUT = env("PAYMENT_GATEWAY_TIMEOUT", 10, float)

    # Desk E, eligibility (app/rules/operator/eligibility.py). The map's tile server, a
    # URL template such as https://tile.openstreetmap.org/{z}/{x}/{y}.png (its origin is
    # then allowed in the pages' img-src) with the attribution its licence asks for;
    # none by default: the buildings' markers show on a plain background with a scale.
    MAP_TILE_URL = env("MAP_TILE_URL")
    MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", "")
    # Buildings one search shows at most (by address, by coordinates).
    ELIGIBILITY_MAX_BUILDINGS = env("ELIGIBILITY_MAX_BUILDINGS", 20, int)
    # The service qualification API (TMF645): calls per account, in the `limits`
    # notation, counted in RATELIMIT_STORAGE_URI (Redis when REDIS_URL is set).
    ELIGIBILITY_API_RATE_LIMIT = env("ELIGIBILITY_API_RATE_LIMIT", "600 per minute")
    # Desk E, e-RDV (app/rules/operator/appointments.py): the technicians' appointments
    # one zone (a département) takes per half-day, where the capacity calendar
    # (TechnicianCapacity) says nothing else.
    APPOINTMENT_SLOTS_PER_PERIOD = env("APPOINTMENT_SLOTS_PER_PERIOD", 4, int)
    # Desk E, e-SAV Test (app/rules/operator/diagnostics.py): where diagnostics come
    # from ("simulation", the network simulator, is the one shipped) and how long their
    # results stay listed before the sweep deletes them.
    OPERATOR_DIAGNOSTIC_PROVIDER = env("OPERATOR_DIAGNOSTIC_PROVIDER", "simulation")
    DIAGNOSTIC_KEEP_HOURS = env("DIAGNOSTIC_KEEP_HOURS", 48, int)
