"""Attachments: type read from the content, size capped, served only within row scope."""
import io
import os

import pytest

from app.extensions import db
from app.models import Organisation, StoredFile
from app.platform import files

from .helpers import PNG, stored_paths, upload

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
    return stored_paths()


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


def test_a_file_stays_on_disk_only_if_its_transaction_commits(app, rectorat_id):
    """Written when received, before the commit: a rollback (a refusal after the
    upload, a lost race, an error) deletes it with its row."""
    with app.test_request_context():
        rectorat = db.session.get(Organisation, rectorat_id)
        before = stored_paths()
        dropped = files.absolute_path(files.save_upload(upload("brouillon.pdf", PDF), rectorat))
        assert os.path.exists(dropped)
        db.session.rollback()
        assert not os.path.exists(dropped) and stored_paths() == before
        kept = files.save_upload(upload("convention.pdf", PDF), rectorat)
        db.session.commit()
        assert os.path.exists(files.absolute_path(kept))
        abandoned = files.absolute_path(files.save_upload(upload("abandon.pdf", PDF), rectorat))
        db.session.close()  # a request that ends without committing
        assert not os.path.exists(abandoned)
        assert stored_paths() == sorted(before + [files.absolute_path(kept)])


def test_one_request_stores_at_most_file_max_per_request_files(app, rectorat_id, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_MAX_PER_REQUEST", 3)
    sent = {"pieces": [(io.BytesIO(PDF), f"piece{n}.pdf") for n in range(4)]}
    with app.test_request_context(method="POST", data=sent, content_type="multipart/form-data"):
        from flask import request

        rectorat = db.session.get(Organisation, rectorat_id)
        before = stored_paths()
        with pytest.raises(files.FileRefused, match="^Justificatifs.*3") as refusal:
            files.save_upload(request.files.getlist("pieces")[0], rectorat, field_label="Justificatifs",
                              field="pieces")
        assert refusal.value.field == "pieces"
        assert stored_paths() == before  # refused before the first was written
        db.session.rollback()
    with app.test_request_context():  # stored one by one, whatever their fields
        rectorat = db.session.get(Organisation, rectorat_id)
        for n in range(3):
            files.save_upload(upload(f"piece{n}.pdf", PDF), rectorat, field=f"piece{n}")
        with pytest.raises(files.FileRefused) as refusal:
            files.save_upload(upload("piece3.pdf", PDF), rectorat, field="piece3")
        assert refusal.value.field == "piece3"
        db.session.rollback()
        assert stored_paths() == before
