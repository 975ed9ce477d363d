"""libvirt errors become Shoal's by error code, with the original chained."""

from __future__ import annotations

import libvirt
import pytest

from shoal.hypervisor import errors
from shoal.hypervisor.connection import Host


def libvirt_error(
    code: int, domain: int = libvirt.VIR_FROM_QEMU
) -> libvirt.libvirtError:
    """A real `libvirtError` carrying the given code, as libvirt fills it."""
    err = libvirt.libvirtError("stand-in")
    err.err = (code, domain, f"message for code {code}", 2, None, None, None, 0, 0)
    return err


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (libvirt.VIR_ERR_NO_DOMAIN, errors.DomainNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_VOL, errors.VolumeNotFound),
        (libvirt.VIR_ERR_NO_STORAGE_POOL, errors.PoolNotFound),
        (libvirt.VIR_ERR_NO_NETWORK, errors.NetworkNotFound),
        (libvirt.VIR_ERR_DOM_EXIST, errors.AlreadyExists),
        (libvirt.VIR_ERR_STORAGE_VOL_EXIST, errors.AlreadyExists),
        (libvirt.VIR_ERR_NETWORK_EXIST, errors.AlreadyExists),
        (libvirt.VIR_ERR_OPERATION_INVALID, errors.InvalidState),
        (libvirt.VIR_ERR_OPERATION_FAILED, errors.OperationFailed),
        (libvirt.VIR_ERR_INVALID_ARG, errors.OperationFailed),
        (libvirt.VIR_ERR_NO_CONNECT, errors.HypervisorUnavailable),
        (libvirt.VIR_ERR_INVALID_CONN, errors.HypervisorUnavailable),
        (libvirt.VIR_ERR_RPC, errors.HypervisorUnavailable),
        (libvirt.VIR_ERR_AUTH_FAILED, errors.HypervisorUnavailable),
    ],
)
def test_translate_maps_code(code: int, expected: type) -> None:
    translated = errors.translate(libvirt_error(code))

    assert type(translated) is expected
    assert translated.code == code
    assert translated.message == f"message for code {code}"


def test_invalid_state_is_an_operation_failure() -> None:
    err = errors.translate(libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID))

    assert isinstance(err, errors.OperationFailed)


@pytest.mark.parametrize("domain", [libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE])
@pytest.mark.parametrize(
    "code", [libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR]
)
def test_dead_socket_errors_mean_unavailable(code: int, domain: int) -> None:
    # What a call on a connection to a killed libvirtd raises: "Cannot write
    # data: Broken pipe", then "internal error: client socket is closed".
    err = errors.translate(libvirt_error(code, domain))

    assert isinstance(err, errors.HypervisorUnavailable)


def test_system_error_inside_the_daemon_is_an_operation_failure() -> None:
    # e.g. "cannot create file: Permission denied" from the storage driver: the
    # daemon is fine, the operation is not.
    err = errors.translate(
        libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_STORAGE)
    )

    assert type(err) is errors.OperationFailed


def test_boundary_chains_the_original(host: Host) -> None:
    with pytest.raises(errors.DomainNotFound) as caught:
        with errors.libvirt_errors(domain="droplet-404"):
            host.connection().lookupByName("droplet-404")

    assert isinstance(caught.value.__cause__, libvirt.libvirtError)
    assert caught.value.code == libvirt.VIR_ERR_NO_DOMAIN
    assert "domain=droplet-404" in str(caught.value)


def test_boundary_lets_other_exceptions_through() -> None:
    with pytest.raises(KeyError):
        with errors.libvirt_errors():
            raise KeyError("not libvirt's")


def test_every_error_is_a_hypervisor_error() -> None:
    for name in (
        "NotFound",
        "DomainNotFound",
        "VolumeNotFound",
        "PoolNotFound",
        "NetworkNotFound",
        "AlreadyExists",
        "HypervisorUnavailable",
        "OperationFailed",
        "InvalidState",
        "SeedImageInvalid",
    ):
        assert issubclass(getattr(errors, name), errors.HypervisorError), name
