"""Attachments: type read from the content, size capped, served only within row scope."""
import os

import pytest

from app.extensions import db
from app.models import Organisation, StoredFile
from app.platform import files

from .helpers import PNG, upload

PDF = b"%PDF-1.7\n" + b"0" * 64
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


@pytest.fixture()
def rectorat_id(app):
    """Only the key: no app context may be held around test-client requests (they
    would share its `g`, and so its signed-in user)."""
    with app.app_context():
        return db.session.query(Organisation.id).filter_by(name="Rectorat de l'académie de Lyon").scalar()


def test_type_comes_from_the_content_not_the_name(app, rectorat_id):
    with app.test_request_context():
        rectorat = db.session.get(Organisation, rectorat_id)
        stored = files.save_upload(upload("rapport.pdf", PNG), rectorat)
        assert stored.content_type == "image/png"
        assert stored.original_name == "rapport.pdf"
        with pytest.raises(files.FileRefused, match="Pièce jointe|Attachment"):
            files.save_upload(upload("facture.pdf", ELF), rectorat)
        text = files.save_upload(upload("cr.txt", "Bonjour, voici le compte rendu.\n".encode()), rectorat)
        assert text.content_type == "text/plain"
        db.session.rollback()


def test_size_limit_names_the_field_and_leaves_no_file(app, rectorat_id):
    with app.test_request_context():
        rectorat = db.session.get(Organisation, rectorat_id)
        app.config["FILE_MAX_BYTES"] = 100
        try:
            before = _stored_files(app)
            with pytest.raises(files.FileRefused) as refusal:
                files.save_upload(upload("gros.pdf", PDF * 10), rectorat, field_label="Justificatif")
            assert "Justificatif" in str(refusal.value)
            assert _stored_files(app) == before
        finally:
            app.config["FILE_MAX_BYTES"] = 10 * 1024 * 1024
            db.session.rollback()


def _stored_files(app):
    root = files.storage_root()
    return sorted(os.path.join(d, f) for d, _, names in os.walk(root) for f in names)


def test_files_live_outside_the_web_root(app, rectorat_id):
    with app.test_request_context():
        rectorat = db.session.get(Organisation, rectorat_id)
        stored = files.save_upload(upload("convention.pdf", PDF), rectorat)
        path = files.absolute_path(stored)
        assert path.startswith(app.instance_path) or app.config.get("FILES_ROOT")
        assert not path.startswith(app.static_folder)
        db.session.rollback()


def test_download_follows_the_row_scope(app, login_as, rectorat_id):
    with app.test_request_context():
        rectorat = db.session.get(Organisation, rectorat_id)
        stored = files.save_upload(upload("convention signée.pdf", PDF), rectorat)
        db.session.commit()
        file_id = stored.id
    response = login_as("creator").get(f"/files/{file_id}")  # member of the Rectorat
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert login_as("user").get(f"/files/{file_id}").status_code == 404  # Lycée Victor Hugo
    assert login_as("admin").get(f"/files/{file_id}").status_code == 200
    assert app.test_client().get(f"/files/{file_id}").status_code in (302, 401)
    assert login_as("creator").get("/files/999999").status_code == 404
    with app.app_context():
        db.session.delete(db.session.get(StoredFile, file_id))
        db.session.commit()
