"""Responses validate against the seed endpoint's published OpenAPI text (tests/data)."""

import jsonschema
import pytest

from .spec import openapi

FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def validator(component: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{component}", "components": openapi()["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=FORMATS)


def test_date_time_format_is_really_checked():
    # Without a format checker installed, bad timestamps would pass silently.
    with pytest.raises(jsonschema.ValidationError):
        validator("PlatformJobTask").validate({
            "workspace": "ws", "step_id": "s", "id": "i", "created_at": "yesterday",
            "created_by": None, "updated_at": "2024-01-15T09:30:00Z", "updated_by": None,
            "entity_id": "i", "parent": "s"})


@pytest.fixture
def responses(api):
    api.create_job("j1")
    out = [
        api.put_task("j1", "train", "t0"),
        api.put_task("j1", "train", "t0", {"status": "active", "status_details": {"p": 1}}),
        api.put_task("j1", "train", "t1", {"status": "error", "error_details": {"e": "x"},
                                           "error_stack": "trace"}),
        api.get_task("j1", "train", "t0"),
    ]
    return out


def test_task_responses_validate(api, responses):
    task = validator("PlatformJobTask")
    for response in responses:
        assert response.status_code == 200
        task.validate(response.json)
    for item in api.client.get(api.url("j1", "steps", "train", "tasks")).json["data"]:
        task.validate(item)


def test_the_seed_example_request_works(api):
    api.create_job("j1")
    response = api.put_task("j1", "train", "data-processing-task", {})
    assert response.status_code == 200
    validator("PlatformJobTask").validate(response.json)


@pytest.mark.parametrize("body", [
    {"status": "bogus"}, {"status_details": 1}, {"status": "active", "error_stack": 1},
])
def test_validation_errors_validate(api, body):
    api.create_job("j1")
    response = api.put_task("j1", "train", "t0", body)
    assert response.status_code == 422
    validator("HTTPValidationError").validate(response.json)


def test_refused_moves_validate(api):
    api.create_job("j1")
    api.put_task("j1", "train", "t0", {"status": "completed"})
    response = api.put_task("j1", "train", "t0", {"status": "active"})
    assert response.status_code == 422
    validator("HTTPValidationError").validate(response.json)
