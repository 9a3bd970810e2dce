# app.py: the WSGI application gunicorn serves in examples/apps. It says
# which worker answered, and as whom: a reload (SIGHUP) starts new workers.
import os


def app(environ, start_response):
    body = "hello from gunicorn worker {} uid {}\n".format(os.getpid(), os.getuid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
