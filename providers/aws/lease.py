"""Deploy leases in S3 (conditional writes) or DynamoDB (conditional puts), for `lock: {store: ...}`.

S3: `s3://bucket/prefix` keeps `<prefix>/<app>/<target>.lock`, created with `If-None-Match: *`
and renewed, taken over or deleted only with `If-Match: <ETag read>`. DynamoDB:
`dynamodb://table` keeps one item per target under the partition key `LockID` (a string, as
Terraform's lock tables have), written with `attribute_not_exists(LockID)` and then only where
its `version` is still the one read. Endpoints and credentials come from the standard AWS
configuration (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_PROFILE`, ...).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from scalectl.lease import CasStore

from .api import AwsError, aws_errors, service_client

if TYPE_CHECKING:
    from scalectl.schema import TargetBase

# S3 answers a lost conditional write with 412, or 409 while another conditional write is in flight.
_LOST = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412", "409")


def _region(target: TargetBase) -> str | None:
    region = getattr(target, "region", None)
    return region if isinstance(region, str) else None


class S3Lease(CasStore):
    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        bucket, _, prefix = location.partition("/")
        self.bucket = bucket
        self.key = f"{prefix.strip('/')}/{key}.lock".lstrip("/")
        self.where = f"s3://{self.bucket}/{self.key}"
        self.region = _region(target)
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = service_client("s3", self.region)
        return self._s3

    def _conditional(self, action: str, **params: Any) -> dict[str, Any] | None:
        """One call; None when its condition did not hold (someone else's write won)."""
        try:
            with aws_errors(f"{action} {self.where}"):
                result: dict[str, Any] = getattr(self.s3, action)(Bucket=self.bucket, Key=self.key, **params)
                return result
        except AwsError as exc:
            if exc.code in _LOST:
                return None
            raise

    def create(self, body: str) -> str | None:
        result = self._conditional("put_object", Body=body.encode(), IfNoneMatch="*", ContentType="application/json")
        return str(result["ETag"]) if result else None

    def read(self) -> tuple[str, str] | None:
        result = self._conditional("get_object")
        if result is None:
            return None
        return result["Body"].read().decode(), str(result["ETag"])

    def swap(self, body: str, token: str) -> str | None:
        result = self._conditional("put_object", Body=body.encode(), IfMatch=token, ContentType="application/json")
        return str(result["ETag"]) if result else None

    def delete(self, token: str | None) -> bool:
        return self._conditional("delete_object", **({"IfMatch": token} if token else {})) is not None


class DynamoLease(CasStore):
    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        self.table = location
        self.key = key
        self.where = f"dynamodb://{self.table} (LockID {key})"
        self.region = _region(target)
        self._db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            self._db = service_client("dynamodb", self.region)
        return self._db

    def _conditional(self, action: str, **params: Any) -> dict[str, Any] | None:
        try:
            with aws_errors(f"{action} on {self.where}"):
                result: dict[str, Any] = getattr(self.db, action)(TableName=self.table, **params)
                return result
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                return None
            raise

    def _item(self, body: str, version: str) -> dict[str, Any]:
        return {"LockID": {"S": self.key}, "body": {"S": body}, "version": {"S": version}}

    def create(self, body: str) -> str | None:
        version = uuid.uuid4().hex
        done = self._conditional(
            "put_item", Item=self._item(body, version), ConditionExpression="attribute_not_exists(LockID)"
        )
        return version if done is not None else None

    def read(self) -> tuple[str, str] | None:
        result = self._conditional("get_item", Key={"LockID": {"S": self.key}}, ConsistentRead=True)
        item = (result or {}).get("Item")
        if not item:
            return None
        return item["body"]["S"], item["version"]["S"]

    def swap(self, body: str, token: str) -> str | None:
        version = uuid.uuid4().hex
        done = self._conditional(
            "put_item",
            Item=self._item(body, version),
            ConditionExpression="version = :seen",
            ExpressionAttributeValues={":seen": {"S": token}},
        )
        return version if done is not None else None

    def delete(self, token: str | None) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "version = :seen", "ExpressionAttributeValues": {":seen": {"S": token}}}
            if token
            else {}
        )
        return self._conditional("delete_item", Key={"LockID": {"S": self.key}}, **condition) is not None
