"""Directories and directory files (llama-cloud 2.13.0 ``beta.directories``)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields
from marshmallow.validate import Length, OneOf

from schemas.common import CursorQuery, ProjectQuery
from schemas.files import PresignedUrlSchema, expand_field

METADATA_VALUE = fields.Raw(allow_none=True)


class DirectoryCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=Length(min=1, max=1024))
    description = fields.String(allow_none=True, validate=Length(max=10_000))
    system_metadata = fields.Dict(keys=fields.String(), allow_none=True)
    type = fields.String(load_default="user", validate=OneOf(["ephemeral", "user"]))


class DirectoryUpdateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(allow_none=True, validate=Length(min=1, max=1024))
    description = fields.String(allow_none=True, validate=Length(max=10_000))


DIRECTORY_TYPES = ["ephemeral", "index", "user"]


class DirectoryListQuery(CursorQuery):
    include_deleted = fields.Boolean(load_default=False)
    name = fields.String(allow_none=True)
    type = fields.String(allow_none=True, validate=OneOf(DIRECTORY_TYPES))
    types = fields.List(fields.String(validate=OneOf(DIRECTORY_TYPES)), allow_none=True)


class DirectorySchema(Schema):
    id = fields.String()
    name = fields.String()
    project_id = fields.String()
    created_at = fields.AwareDateTime(allow_none=True)
    deleted_at = fields.AwareDateTime(allow_none=True)
    description = fields.String(allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    system_metadata = fields.Dict(allow_none=True)
    type = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class DirectoryFileAddSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    file_id = fields.String(required=True, validate=Length(min=1, max=64))
    display_name = fields.String(allow_none=True, validate=Length(min=1, max=1024))
    metadata = fields.Dict(keys=fields.String(), values=METADATA_VALUE, allow_none=True)
    unique_id = fields.String(allow_none=True, validate=Length(min=1, max=1024))


class DirectoryFileUpdateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    display_name = fields.String(allow_none=True, validate=Length(min=1, max=1024))
    metadata = fields.Dict(keys=fields.String(), values=METADATA_VALUE, allow_none=True)
    target_directory_id = fields.String(allow_none=True)
    unique_id = fields.String(allow_none=True, validate=Length(min=1, max=1024))


class DirectoryFileUploadForm(Schema):
    class Meta:
        unknown = EXCLUDE

    display_name = fields.String(allow_none=True, validate=Length(min=1, max=1024))
    external_file_id = fields.String(allow_none=True, validate=Length(max=1024))
    metadata = fields.String(allow_none=True, validate=Length(max=100_000))
    unique_id = fields.String(allow_none=True, validate=Length(min=1, max=1024))


class DirectoryFileListQuery(CursorQuery):
    display_name = fields.String(allow_none=True)
    display_name_contains = fields.String(allow_none=True)
    file_id = fields.String(allow_none=True)
    unique_id = fields.String(allow_none=True)
    include_deleted = fields.Boolean(load_default=False)
    expand = expand_field()


class DirectoryFileGetQuery(ProjectQuery):
    expand = expand_field()


class DirectoryFileSchema(Schema):
    id = fields.String()
    directory_id = fields.String()
    display_name = fields.String()
    project_id = fields.String()
    unique_id = fields.String()
    created_at = fields.AwareDateTime(allow_none=True)
    deleted_at = fields.AwareDateTime(allow_none=True)
    download_url = fields.Nested(PresignedUrlSchema, allow_none=True)
    file_id = fields.String(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class DirectoryListSchema(Schema):
    items = fields.List(fields.Nested(DirectorySchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)


class DirectoryFileListSchema(Schema):
    items = fields.List(fields.Nested(DirectoryFileSchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)


class S3ImportCreateSchema(Schema):
    """``POST /api/v1/beta/directories/{id}/imports``: fill the directory from an S3 prefix."""

    class Meta:
        unknown = EXCLUDE

    s3_path = fields.String(required=True, validate=Length(min=6, max=1100))
    region = fields.String(allow_none=True, validate=Length(max=64))


class S3ImportSchema(Schema):
    id = fields.String()
    directory_id = fields.String()
    source = fields.String()
    region = fields.String(allow_none=True)
    status = fields.String()
    pages_listed = fields.Integer()
    objects_listed = fields.Integer()
    files_registered = fields.Integer()
    objects_skipped = fields.Integer()
    error_message = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
