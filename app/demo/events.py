def load():
    yield from ()
