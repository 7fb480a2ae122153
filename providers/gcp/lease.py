"""Deploy leases in Google Cloud Storage, for `lock: {store: "gs://bucket/prefix"}`.

`<prefix>/<app>/<target>.lock` is created with `ifGenerationMatch=0` (only if absent) and then
renewed, taken over or deleted only with `ifGenerationMatch=<generation read>`, so two runners
never both believe they hold it. STORAGE_EMULATOR_HOST points the SDK at an emulator (anonymous,
never a real token over plain http).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from scalectl.errors import ProviderError
from scalectl.lease import CasStore

from .api import credentials_for

if TYPE_CHECKING:
    from scalectl.schema import TargetBase

T = TypeVar("T")


class GcsLease(CasStore):
    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        bucket, _, prefix = location.partition("/")
        self.bucket_name = bucket
        self.name = f"{prefix.strip('/')}/{key}.lock".lstrip("/")
        self.where = f"gs://{bucket}/{self.name}"
        project = getattr(target, "project", None)
        self.project = project if isinstance(project, str) else None
        self._bucket: Any = None

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            import os

            try:
                from google.cloud import storage  # type: ignore[attr-defined]
            except ImportError:
                raise ProviderError(
                    "a gs:// lock store needs google-cloud-storage: pip install 'scalectl[gcp]'"
                ) from None
            endpoint = os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com")
            client = storage.Client(project=self.project or "scalectl", credentials=credentials_for(endpoint))
            self._bucket = client.bucket(self.bucket_name)
        return self._bucket

    def _call(self, what: str, fn: Callable[[], T]) -> T | None:
        """One request; None when its precondition failed or the object is not there."""
        from google.api_core import exceptions as gx

        try:
            return fn()
        except (gx.PreconditionFailed, gx.NotFound):
            return None
        except gx.GoogleAPICallError as exc:
            raise ProviderError(f"{what} {self.where}: {exc.message}") from None
        except Exception as exc:  # transport and auth errors of the SDK
            raise ProviderError(f"{what} {self.where}: {type(exc).__name__}: {exc}") from None

    def _write(self, body: str, generation: int) -> str | None:
        blob = self.bucket.blob(self.name)

        def upload() -> str:
            blob.upload_from_string(body, content_type="application/json", if_generation_match=generation)
            return str(blob.generation)

        return self._call("writing the lease", upload)

    def create(self, body: str) -> str | None:
        return self._write(body, 0)

    def read(self) -> tuple[str, str] | None:
        def get() -> tuple[str, str] | None:
            blob = self.bucket.get_blob(self.name)
            if blob is None:
                return None
            data = blob.download_as_bytes(if_generation_match=blob.generation)
            return data.decode(), str(blob.generation)

        return self._call("reading the lease", get)

    def swap(self, body: str, token: str) -> str | None:
        return self._write(body, int(token))

    def delete(self, token: str | None) -> bool:
        blob = self.bucket.blob(self.name)

        def remove() -> bool:
            blob.delete(if_generation_match=int(token) if token else None)
            return True

        return bool(self._call("deleting the lease", remove))
