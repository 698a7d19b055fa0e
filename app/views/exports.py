"""Large grid exports and desks' documents: the page that waits for the job, and the
download, each the requester's alone (row scope of ExportFile)."""
import os

from flask import abort, jsonify, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import format_number, gettext

from ..extensions import db
from ..models import ExportFile, ExportState
from ..platform import exports, jobs
from ..security import apply_scope


def _own_export(export_id):
    export = apply_scope(db.session.query(ExportFile), ExportFile).filter(ExportFile.id == export_id).first()
    if export is None:
        abort(404)
    return export


def _status(export):
    """What the page shows: the state, rows done out of the total, the download link."""
    done, total = export.rows_done, export.rows_total
    if export.state in (ExportState.queued, ExportState.running):
        done, total = jobs.get_progress(exports.progress_key(export.id)) or (0, 0)
    ready = export.state is ExportState.ready
    rows = gettext("%(done)s of %(total)s rows", done=format_number(done), total=format_number(total)) if total else ""
    return {
        "state": export.state.value, "state_label": str(export.state), "done": done, "total": total,
        "download": url_for("ExportView.download", export_id=export.id) if ready else None,
        "text": rows,
        "summary": gettext("%(state)s: %(rows)s", state=export.state, rows=rows) if rows else str(export.state),
    }


class ExportView(BaseView):
    route_base = "/exports"
    default_view = "progress"

    @expose("/<int:export_id>")
    @has_access
    def progress(self, export_id):
        export = _own_export(export_id)
        return self.render_template("guichet/export.html", export=export, status=_status(export),
                                    title=gettext("Export of %(grid)s", grid=export.title))

    @expose("/<int:export_id>/status")
    @has_access
    def status(self, export_id):
        return jsonify(_status(_own_export(export_id)))

    @expose("/<int:export_id>/download")
    @has_access
    def download(self, export_id):
        export = _own_export(export_id)
        if export.state is not ExportState.ready or not os.path.exists(exports.export_path(export)):
            abort(404)
        response = send_file(exports.export_path(export), mimetype=exports.MIMETYPES[export.format],
                             as_attachment=True, download_name=export.file_name)
        response.headers["Cache-Control"] = "private, no-store"
        return response


def register(appbuilder):
    appbuilder.add_view_no_menu(ExportView)
