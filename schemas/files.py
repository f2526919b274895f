"""``beta.files``: upload, list, metadata, content."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields
from marshmallow.validate import Length, OneOf, Range

from schemas.common import CursorQuery

PURPOSES = ["user_data", "parse", "extract", "split", "classify", "sheet", "agent_app"]


class FileCreateForm(Schema):
    class Meta:
        unknown = EXCLUDE

    purpose = fields.String(load_default="user_data", validate=OneOf(PURPOSES))
    external_file_id = fields.String(allow_none=True, validate=Length(max=1024))


# What ``expand`` may ask of a file or directory file.
EXPANDABLE = ["download_url"]


def expand_field() -> fields.List:
    return fields.List(fields.String(validate=OneOf(EXPANDABLE)), load_default=list)


class FileListQuery(CursorQuery):
    file_name = fields.String(allow_none=True)
    external_file_id = fields.String(allow_none=True)
    file_ids = fields.List(fields.String(), allow_none=True)
    order_by = fields.String(allow_none=True, validate=Length(max=1000))
    expand = expand_field()


class FileQueryFilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    data_source_id = fields.String(allow_none=True)
    external_file_id = fields.String(allow_none=True)
    file_ids = fields.List(fields.String(), allow_none=True, validate=Length(max=1000))
    file_name = fields.String(allow_none=True)
    only_manually_uploaded = fields.Boolean(allow_none=True)
    project_id = fields.String(allow_none=True)


class FileQuerySchema(Schema):
    """``files.query``: the list's filters in a body."""

    class Meta:
        unknown = EXCLUDE

    filter = fields.Nested(FileQueryFilterSchema, allow_none=True)
    order_by = fields.String(allow_none=True, validate=Length(max=1000))
    page_size = fields.Integer(load_default=100, allow_none=True,
                               validate=Range(min=1, max=1000))
    page_token = fields.String(allow_none=True)


class FileContentQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    expires_at_seconds = fields.Integer(allow_none=True, validate=Range(min=1, max=7 * 86400))


class PresignedUrlSchema(Schema):
    url = fields.String()
    expires_at = fields.AwareDateTime()
    form_fields = fields.Dict(allow_none=True)


class FileSchema(Schema):
    id = fields.String()
    name = fields.String()
    project_id = fields.String()
    created_at = fields.AwareDateTime(allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    external_file_id = fields.String(allow_none=True)
    file_size = fields.Integer(allow_none=True)
    file_type = fields.String(allow_none=True)
    last_modified_at = fields.AwareDateTime(allow_none=True)
    purpose = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    download_url = fields.Nested(PresignedUrlSchema, allow_none=True)


class FileListSchema(Schema):
    items = fields.List(fields.Nested(FileSchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)
