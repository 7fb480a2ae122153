"""The deploy lease of a Docker target, kept on the engine itself so every machine using it agrees.

The lease is a created-never-started container named `scalectl-lease-<app>_<target>` (neither
name may hold `_`, so no two targets share one). Creating a named container is atomic on the
engine: a name conflict (409) means held. Its labels hold the holder; renewals write the new
expiry into a file inside it (labels cannot change). An expired lease is taken over by renaming
that exact container id away (only one taker can) and then creating the name again (only one
can); the renamed one is removed.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from typing import TYPE_CHECKING, Any

from scalectl.errors import ProviderError
from scalectl.lease import Holder, LeaseLost, LeaseStore

from . import api as eng

if TYPE_CHECKING:
    from docker import DockerClient

    from scalectl.schema import TargetBase

HOLDER_LABEL = f"{eng.LABEL}.lease.holder"  # not io.scalectl.app/target: replicas are found by those
FILE = "scalectl-lease.json"


class DockerLease(LeaseStore):
    def __init__(self, location: str, key: str, target: TargetBase) -> None:
        app, _, target_name = key.partition("/")
        self.name = f"scalectl-lease-{app}_{target_name}"
        self.where = f"docker container {self.name}"
        self.image: str = getattr(target, "gateway_image", "nginx:1.27-alpine")
        self.labels = {f"{eng.LABEL}.lease.app": app, f"{eng.LABEL}.lease.target": target_name}
        self.id: str | None = None
        self._client: DockerClient | None = None

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = eng.connect()
        return self._client

    # ------------------------------------------------------------ engine calls

    def _create(self, holder: Holder) -> str | None:
        """The new container's id, or None when the name is taken (409)."""
        from docker.errors import APIError, ImageNotFound

        api = self.client.api
        for attempt in range(2):
            try:
                created = api.create_container(
                    self.image,
                    command=["true"],
                    name=self.name,
                    labels={**self.labels, HOLDER_LABEL: holder.to_json()},
                    host_config=api.create_host_config(network_mode="none"),
                )
                return str(created["Id"])
            except ImageNotFound:
                if attempt:
                    raise
                self._pull()
            except APIError as exc:
                if exc.status_code == 409:
                    return None
                raise ProviderError(f"could not create the lease container {self.name}: {eng.api_error(exc)}") from None
        return None

    def _pull(self) -> None:
        from docker.errors import APIError

        try:
            self.client.images.pull(self.image)
        except APIError as exc:
            raise ProviderError(
                f"the lease container needs the gateway image {self.image}, which is not on this engine and "
                f"could not be pulled: {eng.api_error(exc)}"
            ) from None

    def _inspect(self) -> dict[str, Any] | None:
        from docker.errors import NotFound

        try:
            attrs: dict[str, Any] = self.client.api.inspect_container(self.name)
        except NotFound:
            return None
        return attrs

    def _holder_of(self, attrs: dict[str, Any]) -> Holder:
        """The latest renewal written inside, else the holder it was created with."""
        from docker.errors import APIError, NotFound

        try:
            stream, _ = self.client.api.get_archive(attrs["Id"], f"/{FILE}")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member is not None else None
                if handle is not None:
                    return Holder.from_json(handle.read())
        except (NotFound, APIError, tarfile.TarError):
            pass
        return Holder.from_json((attrs.get("Config", {}).get("Labels") or {}).get(HOLDER_LABEL, ""))

    def _remove(self, ref: str) -> None:
        from docker.errors import NotFound

        with contextlib.suppress(NotFound):
            self.client.api.remove_container(ref, force=True)

    # ------------------------------------------------------------ the protocol

    def acquire(self, holder: Holder) -> Holder | None:
        from docker.errors import APIError, NotFound

        for _ in range(5):
            created = self._create(holder)
            if created is not None:
                self.id = created
                return None
            attrs = self._inspect()
            if attrs is None:
                continue  # released between our create and inspect
            current = self._holder_of(attrs)
            if not current.takeable():
                return current
            stale = f"{self.name}-expired-{attrs['Id'][:12]}"
            try:
                self.client.api.rename(attrs["Id"], stale)  # by id: only one taker renames this one
            except (NotFound, APIError):
                continue  # another taker was first
            self._remove(attrs["Id"])
        return self.current() or Holder("unknown", "unknown", 0, "a contended lease", time.time(), time.time())

    def renew(self, holder: Holder) -> None:
        attrs = self._inspect()
        if self.id is None or attrs is None or attrs["Id"] != self.id:
            raise LeaseLost(f"the lease {self.where} was removed or taken over")
        data = holder.to_json().encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(FILE)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
        from docker.errors import APIError, NotFound

        try:
            self.client.api.put_archive(self.id, "/", buffer.getvalue())
        except NotFound:
            raise LeaseLost(f"the lease {self.where} was removed") from None
        except APIError as exc:
            raise ProviderError(f"could not renew the lease {self.where}: {eng.api_error(exc)}") from None

    def release(self) -> None:
        if self.id is not None:
            self._remove(self.id)  # by id: never someone else's lease that took the name over
            self.id = None

    def current(self) -> Holder | None:
        attrs = self._inspect()
        return self._holder_of(attrs) if attrs is not None else None

    def force_release(self) -> Holder | None:
        attrs = self._inspect()
        if attrs is None:
            return None
        holder = self._holder_of(attrs)
        self._remove(attrs["Id"])
        return holder


def lease(location: str, key: str, target: TargetBase) -> DockerLease:
    """`Platform.lease`: every Docker target's lease lives on its engine."""
    return DockerLease(location, key, target)
