"""The application object for `flask`, gunicorn (`run:app`) and `python run.py`."""
import os

from app import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
