"""Hooks of the API fuzzing step of .ci/run (CONTRIBUTING.md, "API fuzzing").

A few rules depend on what is stored, or tie two query parameters together, and no
schema can carry them. A generated request that breaks only such a rule gets the
contract's 400; that answer is right, so it is not a failure. Every other failure
stands.
"""

import json

import schemathesis

# (field, words of the message) of the problems that depend on stored data:
# `advisor_user_id` must name an active advisor of the same enterprise.
STORED_DATA_PROBLEMS = (
    ("advisor_user_id", "which is not an active advisor"),
    ("advisor_user_id", "which is a client, not an advisor"),
    # A webhook URL whose host is (or resolves to) a private address: the schema
    # cannot know what a name resolves to.
    ("url", "which is not a public address"),
)

# (field or field prefix, words) of problems that tie parts of one request together
# or depend on the configured EDD prompts (CONTRACT §7): an upload's `file_types` or
# `data` must name exactly the files sent, and answers must fit the stored prompts.
CROSS_PART_PROBLEMS = (
    ("file_types", "names no file of this upload"),
    ("file_types", "does not describe the file"),
    ("data", "names no file of this upload"),
    ("data", "does not describe the file"),
    ("data", "describes a file already described"),
    ("files", "is sent more than once"),
    ("prompts", "is not a prompt id of"),
    ("prompts", "is a prompt of another form"),
    ("prompts", "is required: answer"),
    ("prompts", "must be one of:"),
    ("prompts", "is not accepted by this prompt"),
    ("prompts", "must be the file's name without its extension"),
)


def _under(field, prefix):
    return field == prefix or field.startswith(prefix + ".") or field.startswith(prefix + "[")


def _known_problem(e):
    field, message = e.get("field", ""), e.get("message", "")
    return any(field == f and words in message for f, words in STORED_DATA_PROBLEMS) or any(
        _under(field, prefix) and words in message for prefix, words in CROSS_PART_PROBLEMS
    )


# Whole-request refusals of the same kind: `after` past the latest event_id of the
# log, a `cursor` sent without `limit`, and a cursor of the right shape that this
# server did not issue (cursors are sealed; only a real `next_cursor` opens).
STORED_DATA_ERRORS = (
    "is beyond the latest event_id",
    "cursor needs a limit",
    "cursor is not one this server issued",
    # A webhook replay `after` past the latest event_id of the log.
    "and the latest event_id",
)


def _stored_data_only(body):
    errors = body.get("errors") or []
    if errors:
        return all(_known_problem(e) for e in errors)
    error = body.get("error", "")
    return any(words in error for words in STORED_DATA_ERRORS)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Drop a "valid request rejected" whose every reason is one of the rules above."""
    if failure.code != "ST202" or response is None or response.status_code != 400:
        return True
    try:
        body = json.loads(response.content)
    except ValueError:
        return True
    return not (isinstance(body, dict) and _stored_data_only(body))
