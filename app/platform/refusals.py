"""One kind of refusal for every rule: `Refused(field, message)`.

A rule that says no raises a subclass of `Refused` before changing anything (or the
caller rolls back what it wrote): `field` names the form field at fault (None: the
request as a whole) and `message` tells the person why, in their language, starting
with the field's label ("Sujet : ce champ est obligatoire."). Views turn any refusal
into a form error or a flash, with a rollback (`app.views.base.Attempt`); the API
answers it with a 4xx naming the field.
"""


class Refused(Exception):
    def __init__(self, field, message):
        self.field = field
        self.message = str(message)
        super().__init__(self.message)

    def __str__(self):
        return self.message
