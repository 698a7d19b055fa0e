"""Desk B, client-project ticketing: projects, their visibility lists, tickets and
their comments."""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import relationship

from .base import LABELS, Audited, LabelledEnum, state_column, utcnow
from .platform import Organisation, StoredFile

__all__ = [
    "ProjectPhase", "PROJECT_PHASE_LABELS", "Project", "ProjectViewer", "ProjectTicketPriority",
    "PROJECT_TICKET_PRIORITY_LABELS", "ProjectTicketState", "PROJECT_TICKET_STATE_LABELS", "ProjectTicket",
    "PROJECT_TICKET_SEARCH_TEXT", "ProjectTicketComment", "CannedAnswer",
]


class ProjectPhase(LabelledEnum):
    setup = "setup"  # the sites are being built: mails go to the setup contact
    operation = "operation"  # in production: mails go to the support mailbox


PROJECT_PHASE_LABELS = LABELS[ProjectPhase] = {
    ProjectPhase.setup: lazy_gettext("Setup"),
    ProjectPhase.operation: lazy_gettext("Operation"),
}


class Project(Audited, Model):
    """A client company's project run by a vendor; its tickets belong to it."""

    __tablename__ = "ticket_project"

    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False)
    # The client company (the tenant) and the vendor running the project.
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    vendor_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    vendor_lead_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    client_lead_id = Column(Integer, ForeignKey("ab_user.id"))
    phase = Column(Enum(ProjectPhase, native_enum=False, length=20, name="project_phase"),
                   nullable=False, default=ProjectPhase.setup)
    event_date = Column(Date)
    setup_contact_id = Column(Integer, ForeignKey("ab_user.id"))
    support_mailbox = Column(String(254))

    organisation = relationship(Organisation, foreign_keys=[organisation_id])
    vendor = relationship(Organisation, foreign_keys=[vendor_id])
    vendor_lead = relationship(User, foreign_keys=[vendor_lead_id])
    client_lead = relationship(User, foreign_keys=[client_lead_id])
    setup_contact = relationship(User, foreign_keys=[setup_contact_id])
    viewers = relationship("ProjectViewer", back_populates="project", cascade="all, delete-orphan")

    def __str__(self):
        return self.name


class ProjectViewer(Audited, Model):
    """The project's visibility list: once it names someone, only the listed people
    and the two project leads see the project."""

    __tablename__ = "ticket_project_viewer"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id = Column(Integer, primary_key=True)
    project_id = Column(Integer, ForeignKey("ticket_project.id", ondelete="CASCADE"), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)

    project = relationship(Project, back_populates="viewers")
    user = relationship(User, foreign_keys=[user_id])


class ProjectTicketPriority(LabelledEnum):
    low = "low"
    medium = "medium"
    high = "high"
    blocking = "blocking"


PROJECT_TICKET_PRIORITY_LABELS = LABELS[ProjectTicketPriority] = {
    ProjectTicketPriority.low: lazy_gettext("Low"),
    ProjectTicketPriority.medium: lazy_gettext("Medium"),
    ProjectTicketPriority.high: lazy_gettext("High"),
    ProjectTicketPriority.blocking: lazy_gettext("Blocking"),
}


class ProjectTicketState(LabelledEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_rd = "waiting_rd"
    waiting_client = "waiting_client"
    lead_followup = "lead_followup"
    returned = "returned"
    processed = "processed"
    closed = "closed"


PROJECT_TICKET_STATE_LABELS = LABELS[ProjectTicketState] = {
    ProjectTicketState.new: lazy_gettext("New"),
    ProjectTicketState.assigned: lazy_gettext("Assigned"),
    ProjectTicketState.in_progress: lazy_gettext("In progress"),
    ProjectTicketState.waiting_rd: lazy_gettext("Waiting for R&D"),
    ProjectTicketState.waiting_client: lazy_gettext("Waiting for client information"),
    ProjectTicketState.lead_followup: lazy_gettext("Project-lead follow-up"),
    ProjectTicketState.returned: lazy_gettext("Returned"),
    ProjectTicketState.processed: lazy_gettext("Processed"),
    ProjectTicketState.closed: lazy_gettext("Closed"),
}


class ProjectTicket(Audited, Model):
    """A client's request on a project, moved through the 9-state workflow
    (app/rules/tickets.py). `organisation_id` repeats the project's client company."""

    __tablename__ = "ticket"
    __table_args__ = (
        # A project's tickets by state; read backwards, its closed tickets latest
        # closed first (the project page's order), so a page is read in order.
        Index("ix_ticket_project_closed", "project_id", "state", "closed_on", "id"),
        Index("ix_ticket_state_created", "state", "created_on", "id"),
        Index("ix_ticket_declarant", "declarant_id", "created_on"),
        # The "overdue" queue: tickets whose client waits for a vendor response.
        Index("ix_ticket_awaiting_vendor", "awaiting_vendor_since"),
        # The grid's order (latest first, the key breaking ties) and its priority sort.
        Index("ix_ticket_grid_created", "created_on", "id"),
        Index("ix_ticket_grid_priority", "priority", "id"),
        # The order in the scope (the projects a person sees), carrying the title: a
        # scoped "contains" search counts its matches from the index alone.
        Index("ix_ticket_grid_project", "project_id", "created_on", "id", postgresql_include=["title"]),
        # The grid's subject search (ILIKE '%word%'): a trigram GIN index on
        # PostgreSQL (the migrations install pg_trgm first); a plain index elsewhere.
        # The closed-ticket keyword search has its own index: see TICKET_SEARCH_TEXT.
        Index("ix_ticket_title_trgm", "title", postgresql_using="gin",
              postgresql_ops={"title": "gin_trgm_ops"}),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(7), nullable=False, unique=True)
    project_id = Column(Integer, ForeignKey("ticket_project.id"), nullable=False)
    organisation_id = Column(Integer, ForeignKey("organisation.id"), nullable=False, index=True)
    title = Column(String(200), nullable=False)
    description = Column(Text)
    page_url = Column(String(500))
    priority = Column(Enum(ProjectTicketPriority, native_enum=False, length=20, name="ticket_priority"),
                      nullable=False, default=ProjectTicketPriority.medium)
    priority_context = Column(Text)
    state = state_column(ProjectTicketState, "ticket_state", default=ProjectTicketState.new)
    declarant_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    follower_id = Column(Integer, ForeignKey("ab_user.id"))
    assignee_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    closed_on = Column(DateTime)
    # Since when the client waits for a vendor response: set at creation and by each
    # client message or return, cleared by the vendor's answer (app/rules/tickets.py);
    # past the response time of its priority, the ticket is overdue.
    awaiting_vendor_since = Column(DateTime)

    project = relationship(Project)
    organisation = relationship(Organisation)
    declarant = relationship(User, foreign_keys=[declarant_id])
    follower = relationship(User, foreign_keys=[follower_id])
    assignee = relationship(User, foreign_keys=[assignee_id])

    def __str__(self):
        return f"{self.reference} — {self.title}"


#: What the closed-ticket keyword search looks in (app/rules/tickets.py): the subject
#: and the description as one text. A searched word holds no white space, so it is
#: in this text exactly when it is in the subject or in the description.
PROJECT_TICKET_SEARCH_TEXT = ProjectTicket.title + literal_column("' '") + func.coalesce(ProjectTicket.description, literal_column("''"))

# PostgreSQL only (the migration installs btree_gin and pg_trgm): the trigrams of the
# search text of each project's closed tickets, so that a word's matches in a project
# come from one index scan. The expression is TICKET_SEARCH_TEXT written as PostgreSQL
# prints it back (so that Alembic can compare it); a query uses the index only with
# that very expression. The migration also creates statistics on it
# (`ticket_search_text`), from which the planner tells a common word from a rare one.
# SQLite has neither: it reads the project's closed tickets.
Index("ix_ticket_closed_search", ProjectTicket.project_id,
      literal_column("((title || ' ') || coalesce(description, ''))").label("search_text"),
      postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"},
      postgresql_where=text("state = 'closed'")).ddl_if(dialect="postgresql")


class ProjectTicketComment(Model):
    """A message on a ticket that does not change its state (a transition's comment
    is kept in its workflow event); `state` is the ticket's state when written.
    An internal note (`internal`) is the vendor's alone: its row scope
    (app/access/tickets.py) hides it from the client everywhere."""

    __tablename__ = "ticket_comment"
    __table_args__ = (Index("ix_ticket_comment_ticket", "ticket_id", "created_on"),)

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False)
    created_on = Column(DateTime, default=utcnow, nullable=False)
    state = Column(Enum(ProjectTicketState, native_enum=False, length=20, name="ticket_state"), nullable=False)
    author_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    text = Column(Text, nullable=False)
    attachment_id = Column(Integer, ForeignKey("stored_file.id", ondelete="SET NULL"))
    internal = Column(Boolean, nullable=False, default=False, server_default=false())

    ticket = relationship(ProjectTicket)
    author = relationship(User, foreign_keys=[author_id])
    attachment = relationship(StoredFile, foreign_keys=[attachment_id])


class CannedAnswer(Audited, Model):
    """A vendor's ready-made answer, inserted into a comment with its placeholders
    ({client_name}, {ticket_reference}...) filled in (app/rules/tickets.py)."""

    __tablename__ = "ticket_canned_answer"
    __table_args__ = (UniqueConstraint("vendor_id", "title"),)

    id = Column(Integer, primary_key=True)
    vendor_id = Column(Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False, index=True)
    title = Column(String(150), nullable=False)
    body = Column(Text, nullable=False)

    vendor = relationship(Organisation, foreign_keys=[vendor_id])

    def __str__(self):
        return self.title
