"""Attachments: stored under the instance folder, outside the web root, and served
only to people who may see the row they belong to.

The type is read from the content (magic numbers), never from the name, and must
be in FILE_ALLOWED_TYPES; the size is capped by FILE_MAX_BYTES and the number of
files one request stores by FILE_MAX_PER_REQUEST (checked before the first is written).

A file is written when it is received, before the transaction that records it
commits: if that transaction rolls back instead (a refusal after the upload, a race
lost, an error), the files it wrote are deleted, so that no file is left on disk
without its row. Conversely `delete_file` deletes a file's content only once the
transaction deleting its row commits.

A file sent with a form that is then refused (a required field left empty) is kept
as a *pending upload* of its sender (`keep_pending`): the form shown again lists it
and carries its id, and the rule that finally accepts the form gives it to its row
(`claim_pending`). Nobody downloads a pending upload; those left behind are removed
after FILE_PENDING_MAX_AGE seconds (`remove_stale_pending`, a periodic job).
"""
import hashlib
import logging
import os
import uuid
from datetime import timedelta
from types import SimpleNamespace

import filetype
from flask import current_app, g, has_request_context, request
from flask_babel import gettext
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import StoredFile, utcnow
from ..security import apply_scope, scoped_models
from .refusals import Refused

TEXT_TYPE = "text/plain"
PENDING_OWNER = "pending_upload"  # owner_type of pending uploads; owner_id is their sender
_WRITTEN = "guichet_files_written"  # session.info: paths written in the open transaction
_STORED_IN_REQUEST = "guichet_files_stored"  # g: files stored by this request
_DOOMED = "guichet_files_deleted"  # session.info: paths to delete once the transaction commits

log = logging.getLogger(__name__)


class FileRefused(Refused):
    """An upload that is refused; the message names the field and the reason."""


def storage_root() -> str:
    return current_app.config.get("FILES_ROOT") or os.path.join(current_app.instance_path, "files")


def detect_type(head: bytes) -> str:
    """The MIME type read from the first bytes; text only if it is clean UTF-8."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the end
            return "application/octet-stream"
    return TEXT_TYPE


def used_bytes(user_id) -> int:
    """What a person's uploads take, counted against FILE_USER_QUOTA_BYTES."""
    return db.session.scalar(
        select(func.coalesce(func.sum(StoredFile.size), 0)).where(StoredFile.uploaded_by_id == user_id)
    )


def _check_count(field, label) -> None:
    """Refuse a request that sends or stores more than FILE_MAX_PER_REQUEST files: the
    files the form `field` carries are counted before the first is written, and the
    files stored in the request whatever their field."""
    cap = current_app.config["FILE_MAX_PER_REQUEST"]
    if not cap or not has_request_context():
        return
    sent = sum(1 for upload in request.files.getlist(field) if upload and upload.filename)
    stored = g.get(_STORED_IN_REQUEST, 0)
    if sent > cap or stored >= cap:
        raise FileRefused(field, gettext("%(field)s: at most %(num)d files at a time.", field=label, num=cap))
    setattr(g, _STORED_IN_REQUEST, stored + 1)


def save_upload(upload, owner, uploaded_by=None, field_label=None, field="attachment",
                allowed_types=None) -> StoredFile:
    """Store a werkzeug FileStorage for `owner` (a business row) or raise FileRefused
    naming the form `field` (its label: `field_label`).

    The type read from the content must be one of `allowed_types` (default:
    FILE_ALLOWED_TYPES). The uploader's quota (FILE_USER_QUOTA_BYTES) applies unless
    the owner's model sets `exempt_from_file_quota`. The file stays on disk only if the
    transaction commits.
    """
    label = field_label or gettext("Attachment")
    _check_count(field, label)
    max_bytes = current_app.config["FILE_MAX_BYTES"]
    quota = current_app.config.get("FILE_USER_QUOTA_BYTES") or 0
    quota_left = None
    if quota and uploaded_by is not None and not getattr(owner, "exempt_from_file_quota", False):
        quota_left = quota - used_bytes(uploaded_by.id)
    head = upload.stream.read(8192)
    content_type = detect_type(head)
    if content_type not in (allowed_types or current_app.config["FILE_ALLOWED_TYPES"]):
        raise FileRefused(field, gettext("%(field)s: files of this type are not accepted (%(type)s).",
                                  field=label, type=content_type))
    relative = os.path.join(utcnow().strftime("%Y/%m"), uuid.uuid4().hex)
    path = os.path.join(storage_root(), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    db.session.info.setdefault(_WRITTEN, []).append(path)
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise FileRefused(field, gettext("%(field)s: the file is larger than %(size)s MB.",
                                              field=label, size=max_bytes // (1024 * 1024)))
                if quota_left is not None and size > quota_left:
                    raise FileRefused(field, gettext("%(field)s: your storage quota (%(size)s MB) is full.",
                                              field=label, size=quota // (1024 * 1024)))
                digest.update(chunk)
                out.write(chunk)
                chunk = upload.stream.read(1024 * 1024)
    except FileRefused:
        _remove(path)
        raise
    stored = StoredFile(owner_type=owner.__tablename__, owner_id=owner.id,
                        original_name=os.path.basename(upload.filename or "fichier")[:255],
                        content_type=content_type, size=size, sha256=digest.hexdigest(),
                        storage_path=relative, uploaded_by_id=getattr(uploaded_by, "id", None))
    db.session.add(stored)
    db.session.flush()
    return stored


def owner_model(owner_type: str):
    """The model a file belongs to: only models with a declared row scope own files."""
    for model in scoped_models():
        if model.__tablename__ == owner_type:
            return model
    return None


def readable_file(file_id):
    """The StoredFile if the current user may see the row it belongs to, else None."""
    stored = db.session.get(StoredFile, file_id)
    if stored is None:
        return None
    model = owner_model(stored.owner_type)
    if model is None:
        return None
    pk = model.__mapper__.primary_key[0]
    visible = apply_scope(db.session.query(pk), model).filter(pk == stored.owner_id).first()
    return stored if visible is not None else None


#: {owner_type: record(stored, user)}: the desks that keep a trace of each download of
#: their rows' files (a certificate's), whichever page serves it.
DOWNLOAD_RECORDERS = {}


def record_downloads(owner_type, record) -> None:
    """Have `record(stored, user)` called (in the request's transaction) each time a
    file of `owner_type` is served."""
    DOWNLOAD_RECORDERS[owner_type] = record


def downloaded(stored: StoredFile, user) -> None:
    """A file is being served to `user`: its desk records it if it keeps downloads."""
    record = DOWNLOAD_RECORDERS.get(stored.owner_type)
    if record is not None:
        record(stored, user)


def absolute_path(stored: StoredFile) -> str:
    return os.path.join(storage_root(), stored.storage_path)


def files_of(owner) -> list:
    return (db.session.query(StoredFile)
            .filter_by(owner_type=owner.__tablename__, owner_id=owner.id)
            .order_by(StoredFile.id).all())


def delete_file(stored: StoredFile) -> None:
    """Delete a stored file: its row now, its content on disk once the transaction
    commits (a rollback keeps both)."""
    db.session.info.setdefault(_DOOMED, []).append(absolute_path(stored))
    db.session.delete(stored)
    db.session.flush()


# ---------------------------------------------------------------------------
# Pending uploads: files kept across a refused form
# ---------------------------------------------------------------------------


def keep_pending(upload, user, field_label=None, field="attachment") -> StoredFile:
    """Store an upload as `user`'s pending upload (type, size and quota checked as
    for any file), or raise FileRefused."""
    owner = SimpleNamespace(__tablename__=PENDING_OWNER, id=user.id)
    return save_upload(upload, owner, user, field_label, field)


def pending_of(user, file_ids) -> list:
    """`user`'s pending uploads among `file_ids` (others' and claimed files are left out)."""
    ids = [int(i) for i in file_ids if str(i).isdigit()]
    if not ids or user is None:
        return []
    return (db.session.query(StoredFile)
            .filter(StoredFile.owner_type == PENDING_OWNER, StoredFile.owner_id == user.id,
                    StoredFile.id.in_(ids))
            .order_by(StoredFile.id).all())


def claim_pending(stored_files, owner) -> list:
    """Give pending uploads to `owner` (a business row): they become its files."""
    for stored in stored_files:
        stored.owner_type, stored.owner_id = owner.__tablename__, owner.id
    db.session.flush()
    return list(stored_files)


def remove_stale_pending(now=None) -> int:
    """Periodic job: remove the pending uploads older than FILE_PENDING_MAX_AGE
    (forms never sent again), rows and files."""
    before = (now or utcnow()) - timedelta(seconds=current_app.config["FILE_PENDING_MAX_AGE"])
    stale = (db.session.query(StoredFile)
             .filter(StoredFile.owner_type == PENDING_OWNER, StoredFile.created_on < before).all())
    for stored in stale:
        try:
            os.unlink(absolute_path(stored))
        except FileNotFoundError:
            pass
        db.session.delete(stored)
    db.session.commit()
    return len(stale)


# -- files written by a transaction that does not commit are deleted, and files
# -- deleted by one that commits -------------------------------------------------


def _remove(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # the transaction's end goes on; the file is reported
        log.exception("could not delete %s at the end of its transaction", path)


def _kept(session):
    """Committed: the files written now belong to their rows, those deleted go (not
    when a savepoint is released: the transaction may still roll back)."""
    if session.in_nested_transaction():
        return
    session.info.pop(_WRITTEN, None)
    for path in session.info.pop(_DOOMED, ()):
        _remove(path)


def _transaction_ended(session, transaction):
    """The outermost transaction ended without a commit (rolled back or closed): its
    files have no row."""
    if transaction.parent is None:
        for path in session.info.pop(_WRITTEN, ()):
            _remove(path)
        session.info.pop(_DOOMED, None)


def install():
    """Listen to every session's commits and rollbacks (once per process)."""
    for name, listener in (("after_commit", _kept), ("after_transaction_end", _transaction_ended)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
