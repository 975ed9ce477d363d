"""libvirt, in libvirt's words: hosts, domains, volumes, pools and networks.

Modules:
    connection  `Host`: one shared, self-healing connection per libvirt URI
    errors      the error tree, and the one place libvirt errors are translated
    xml         typed libvirt XML objects (domain, network, pool, volume)
    guest       which virtual hardware a guest gets (`GuestSpec`, `build_domain`)
    lifecycle   define, start, shutdown, destroy, undefine, inspect domains
    storage     directory pools, qcow2 overlays, uploaded volumes
    network     virtual networks and DHCP reservations
    seed        the NoCloud seed ISO
    media       a running guest's CD-ROM reopening a replaced seed
    backup      a running domain's disk copied to a standalone qcow2
    events      libvirt's event loop, domain lifecycle and reboot events
    accel       choosing `kvm` or `qemu` as the domain type

Nothing here imports the control plane, the API or SQLAlchemy.
"""
