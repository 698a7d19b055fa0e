"""Downloads of stored files, checked against the row scope of the row they belong to."""
from flask import abort, g, send_file
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from ..extensions import db
from ..platform import files


class FileView(BaseView):
    route_base = "/files"
    default_view = "download"

    @expose("/<int:file_id>")
    @has_access
    def download(self, file_id):
        """404 for a file whose row the user may not see, as for the row itself."""
        stored = files.readable_file(file_id)
        if stored is None:
            abort(404)
        files.downloaded(stored, g.user)
        db.session.commit()
        response = send_file(files.absolute_path(stored), mimetype=stored.content_type,
                             as_attachment=True, download_name=stored.original_name)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response


def register(appbuilder):
    appbuilder.add_view_no_menu(FileView)
