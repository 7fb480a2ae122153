"""Deploy leases as Azure blob leases, for `lock: {store: "azblob://account/container"}`.

`<app>/<target>.lock` in the container is leased with Azure's own blob lease: acquiring is
atomic on the service, a lease not renewed within its duration (15 to 60 s, Azure's limits)
expires by itself, and an expired one is acquired by the next taker. The holder is kept in the
blob's metadata, written under the lease. Credentials: AZURE_STORAGE_CONNECTION_STRING when set
(Azurite, or an account key), else the standard Azure credential chain against
https://<account>.blob.core.windows.net.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from scalectl.errors import ProviderError
from scalectl.lease import Holder, LeaseLost, LeaseStore

from .api import default_credential

if TYPE_CHECKING:
    from scalectl.schema import TargetBase

T = TypeVar("T")
MIN_DURATION, MAX_DURATION = 15, 60  # what Azure accepts for a finite blob lease
META = "scalectlholder"


class AzureBlobLease(LeaseStore):
    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        self.account, _, self.container = location.partition("/")
        self.name = f"{key}.lock"
        self.where = f"azblob://{self.account}/{self.container}/{self.name}"
        self._blob: Any = None
        self.lease: Any = None  # our BlobLeaseClient while held

    def effective_ttl(self, ttl: int) -> int:
        return max(MIN_DURATION, min(MAX_DURATION, ttl))

    @property
    def blob(self) -> Any:
        if self._blob is None:
            try:
                from azure.storage.blob import BlobServiceClient
            except ImportError:
                raise ProviderError(
                    "an azblob:// lock store needs azure-storage-blob: pip install 'scalectl[azure]'"
                ) from None
            connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
            if connection:
                service = BlobServiceClient.from_connection_string(connection)
            else:
                url = f"https://{self.account}.blob.core.windows.net"
                service = BlobServiceClient(url, credential=default_credential())
            self._blob = service.get_blob_client(self.container, self.name)
        return self._blob

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            return fn()
        except HttpResponseError as exc:
            raise ProviderError(f"{what} {self.where}: {exc.reason or exc.status_code}: {_first_line(exc)}") from None
        except AzureError as exc:
            raise ProviderError(f"{what} {self.where}: {_first_line(exc)}") from None

    def _metadata(self, holder: Holder) -> dict[str, str]:
        return {META: base64.b64encode(holder.to_json().encode()).decode()}

    def acquire(self, holder: Holder) -> Holder | None:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.storage.blob import BlobLeaseClient

        def ensure_blob() -> None:
            with contextlib.suppress(ResourceExistsError):  # there already (perhaps leased): the lease decides
                self.blob.upload_blob(b"", overwrite=False)

        self._call("creating the lease blob", ensure_blob)
        duration = self.effective_ttl(round(holder.expires - holder.since))
        holder = replace(holder, expires=holder.since + duration)
        lease = BlobLeaseClient(self.blob)
        try:
            lease.acquire(lease_duration=duration)
        except HttpResponseError as exc:
            if exc.status_code != 409:  # 409 LeaseAlreadyPresent: someone holds it
                raise ProviderError(f"acquiring the lease {self.where}: {_first_line(exc)}") from None
            return self.current() or Holder("unknown", "unknown", 0, "an Azure blob lease", time.time(), time.time())
        self.lease = lease
        self._call("writing the holder of", lambda: self.blob.set_blob_metadata(self._metadata(holder), lease=lease))
        return None

    def renew(self, holder: Holder) -> None:
        from azure.core.exceptions import HttpResponseError

        if self.lease is None:
            raise LeaseLost(f"the lease {self.where} is not held")
        holder = replace(holder, expires=time.time() + self.effective_ttl(round(holder.expires - time.time())))
        try:
            self.lease.renew()
            self.blob.set_blob_metadata(self._metadata(holder), lease=self.lease)
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):  # LeaseIdMismatch / LeaseNotPresent: broken or taken over
                self.lease = None
                raise LeaseLost(f"the lease {self.where} was broken or taken over") from None
            raise ProviderError(f"renewing the lease {self.where}: {_first_line(exc)}") from None

    def release(self) -> None:
        from azure.core.exceptions import HttpResponseError

        if self.lease is None:
            return
        try:
            self.blob.set_blob_metadata({}, lease=self.lease)  # no stale name for the next taker's first moments
            self.lease.release()
        except HttpResponseError as exc:
            if exc.status_code not in (409, 412):  # no longer ours: nothing to give up
                raise ProviderError(f"releasing the lease {self.where}: {_first_line(exc)}") from None
        finally:
            self.lease = None

    def current(self) -> Holder | None:
        from azure.core.exceptions import ResourceNotFoundError

        def props() -> Any:
            try:
                return self.blob.get_blob_properties()
            except ResourceNotFoundError:
                return None

        # The holder writes its name just after acquiring (Azure cannot do both in one call): a
        # lease seen without one is re-read briefly before it is reported as nameless.
        for delay in (0.1, 0.2, 0.4, 0.8, 0.0):
            found = self._call("reading the lease", props)
            if found is None or found.lease.state != "leased":
                return None
            raw = (found.metadata or {}).get(META, "")
            if raw:
                try:
                    return Holder.from_json(base64.b64decode(raw).decode())
                except ValueError:
                    break
            time.sleep(delay)
        now = time.time()
        return Holder("unknown", "unknown", 0, "a holder that wrote no name", now, now + MIN_DURATION)

    def force_release(self) -> Holder | None:
        from azure.storage.blob import BlobLeaseClient

        holder = self.current()
        if holder is None:
            return None
        self._call("breaking the lease", lambda: BlobLeaseClient(self.blob).break_lease(lease_break_period=0))
        return holder


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
