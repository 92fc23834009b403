import Foundation
import LabContainer
import LabCore
import LabModel
import LabVirt
import Logging

/// Checks the host for everything the lab needs, by trying each thing.
public struct Doctor: Sendable {
    public struct Options: Sendable {
        public var libvirtURI: String = "qemu:///system"
        /// Seconds a KVM guest gets to reach user space before KVM is judged unusable.
        public var kvmTimeout: Double = 20
        /// Seconds a TCG guest gets (emulation is slow: seconds, not milliseconds).
        public var tcgTimeout: Double = 90
        /// Boot the probes again even when a cached verdict matches.
        public var reprobe: Bool = false
        public var paths: LabPaths = .fromEnvironment()
        public init() {}
    }

    public var options: Options
    var logger: Logger

    public init(options: Options, logger: Logger = Logger(label: "isolab.doctor")) {
        self.options = options
        self.logger = logger
    }

    /// The peers the lab measures itself against, when they are installed.
    /// Each is a backend a scenario may name (docs/peers.md): runc, crun,
    /// podman, nspawn (systemd-nspawn), unshare, qemu (qemu-system-x86_64).
    static let peerNames = ["runc", "crun", "podman", "systemd-nspawn", "unshare", "qemu-system-x86_64"]

    /// The backend name a scenario uses for a peer's executable.
    static func peerBackend(_ executable: String) -> String {
        switch executable {
        case "systemd-nspawn": "nspawn"
        case "qemu-system-x86_64": "qemu"
        default: executable
        }
    }

    public func run() async -> DoctorReport {
        let host = HostInfo.current()
        let capabilities = (try? Capabilities.effective()) ?? []
        let namespaces = NamespaceKind.allCases.map { kind -> DoctorReport.Namespace in
            switch kind.probe() {
            case .success: return .init(kind: kind, usable: true, error: nil)
            case .failure(let error): return .init(kind: kind, usable: false, error: error.description)
            }
        }
        let cgroups = probeCgroups()
        let libvirt = await probeLibvirt()
        let kernel = GuestKernel.find(paths: options.paths)
        let peers = Self.peerNames.map { name -> DoctorReport.Peer in
            let path = HostCommand.which(name)
            return .init(name: name, path: path, version: path.flatMap { HostCommand.version(of: $0) })
        }
        let qemuPeer = peers.first { $0.name == "qemu-system-x86_64" }
        let accelerators = probeAccelerators(kernel: kernel, qemu: qemuPeer?.path, qemuVersion: qemuPeer?.version)

        var report = DoctorReport(
            schemaVersion: DoctorReport.currentSchemaVersion,
            labVersion: LabVersion.current,
            generatedAt: ISO8601DateFormatter().string(from: Date()),
            host: host,
            capabilities: capabilities,
            namespaces: namespaces,
            cgroups: cgroups,
            libvirt: libvirt,
            accelerators: accelerators,
            guestKernel: try? kernel.get(),
            guestKernelError: { if case .failure(let e) = kernel { return e.message }; return nil }(),
            peers: peers,
            canRunContainers: false,
            canRunVMs: false,
            checks: [])
        report.qemuAccess = QEMUAccess.check(paths: options.paths, kernel: (try? kernel.get())?.path)
        report.deriveVerdicts()
        return report
    }

    func probeCgroups() -> DoctorReport.Cgroups {
        do {
            let layout = try CgroupLayout.detectHost()
            let statuses = layout.probeControllers(group: "doctor-\(getpid())")
            return .init(mode: layout.mode, unifiedMount: layout.unifiedMount, favorDynmods: layout.favorDynmods, controllers: statuses, error: nil)
        } catch {
            return .init(mode: nil, unifiedMount: nil, favorDynmods: nil, controllers: [], error: "\(error)")
        }
    }

    func probeLibvirt() async -> DoctorReport.Libvirt {
        var facts = DoctorReport.Libvirt(
            uri: options.libvirtURI, libraryVersion: LibvirtConnection.libraryVersion, reachable: false,
            daemonVersion: nil, qemuVersion: nil, error: nil)
        do {
            let connection = try await LibvirtConnection.open(uri: options.libvirtURI)
            facts.reachable = true
            facts.daemonVersion = try? await connection.daemonVersion()
            facts.qemuVersion = try? await connection.hypervisorVersion()
        } catch {
            facts.error = "\(error)"
        }
        return facts
    }

    func probeAccelerators(kernel: Result<GuestKernel, LabError>, qemu: String?, qemuVersion: String?) -> DoctorReport.Accelerators {
        let device = KVMDeviceStatus.check()
        var facts = DoctorReport.Accelerators(kvmDevice: device, verdicts: [], cached: false, cacheKey: nil, error: nil)
        let guest: GuestKernel
        switch kernel {
        case .success(let found): guest = found
        case .failure(let error):
            facts.error = "not probed: \(error.message)"
            return facts
        }
        guard let qemu else {
            facts.error = "not probed: qemu-system-x86_64 not found; apt-get install qemu-system-x86 (scripts/setup-host does)"
            return facts
        }
        guard FileSystem.exists("/bin/busybox") else {
            facts.error = "not probed: /bin/busybox not found; apt-get install busybox-static (scripts/setup-host does)"
            return facts
        }
        let key = AcceleratorProbeKey.current(kernel: guest, qemu: qemu, qemuVersion: qemuVersion)
        facts.cacheKey = key
        if !options.reprobe, let cache = AcceleratorCache.load(paths: options.paths, key: key) {
            facts.verdicts = cache.verdicts
            facts.cached = true
            return facts
        }
        let probe = AcceleratorProbe(qemu: qemu, kernel: guest, paths: options.paths)
        do {
            try AcceleratorCache.withProbeLock(paths: options.paths) {
                // Another lab process may have probed while this one waited for the lock.
                if !options.reprobe, let cache = AcceleratorCache.load(paths: options.paths, key: key) {
                    facts.verdicts = cache.verdicts
                    facts.cached = true
                    return
                }
                logger.info("booting a probe guest with TCG", metadata: ["timeout_s": "\(options.tcgTimeout)"])
                facts.verdicts.append(try probe.run(.tcg, timeout: options.tcgTimeout))
                if device.canCreateVM {
                    logger.info("booting a probe guest with KVM", metadata: ["timeout_s": "\(options.kvmTimeout)"])
                    facts.verdicts.append(try probe.run(.kvm, timeout: options.kvmTimeout))
                } else {
                    facts.verdicts.append(AcceleratorVerdict(
                        accelerator: .kvm, usable: false, detail: device.detail, seconds: 0,
                        probedAt: ISO8601DateFormatter().string(from: Date())))
                }
                try AcceleratorCache(key: key, verdicts: facts.verdicts).store(paths: options.paths)
            }
        } catch {
            facts.error = "probe failed: \(error)"
        }
        return facts
    }
}

extension DoctorReport {
    /// Fills `checks`, `canRunContainers` and `canRunVMs` from the facts.
    public mutating func deriveVerdicts() {
        var rows: [DoctorCheck] = []
        func row(_ id: String, _ found: String, _ usable: Bool, required: Bool = true, fix: String? = nil) {
            rows.append(DoctorCheck(id: id, found: found, usable: usable, required: required, fix: usable ? nil : fix))
        }
        row("host.kernel", "Linux \(host.kernelRelease) \(host.architecture)", true)
        row("host.root", host.isRoot ? "running as root" : "running as uid \(host.euid)", host.isRoot,
            fix: "run the lab as root (sudo isolab ...)")
        let sysAdmin = capabilities.contains("cap_sys_admin")
        row("host.cap_sys_admin", sysAdmin ? "cap_sys_admin effective" : "cap_sys_admin not effective", sysAdmin,
            fix: "run as root with full capabilities (not inside a restricted container)")
        for namespace in namespaces {
            let required = DoctorCheckPolicy.requiredNamespaces.contains(namespace.kind)
            row("namespace.\(namespace.kind.rawValue)", namespace.usable ? "can be created" : (namespace.error ?? "cannot be created"),
                namespace.usable, required: required,
                fix: namespace.kind == .user
                    ? "optional (--userns): allow user namespaces (sysctl user.max_user_namespaces=15000)"
                    : "the kernel needs CONFIG_\(namespace.kind == .mnt ? "" : namespace.kind.rawValue.uppercased() + "_")NS and the lab needs root")
        }
        if let mode = cgroups.mode {
            let where_ = switch mode {
            case .v2: "v2: one unified hierarchy at \(cgroups.unifiedMount ?? "?")"
            case .v1: "v1: one hierarchy per controller under /sys/fs/cgroup"
            case .hybrid: "hybrid: v1 controllers under /sys/fs/cgroup/<controller>, cgroup2 at \(cgroups.unifiedMount ?? "?")"
            }
            row("cgroup.mode", where_, true)
            let favor = cgroups.favorDynmods ?? false
            row("cgroup.favordynmods",
                favor ? "favordynmods: moving a task into a cgroup waits for no RCU grace period"
                    : "no favordynmods: each container start after a quiet spell waits for an RCU grace period (10-20 ms on a small VM)",
                favor, required: false,
                fix: "scripts/setup-host remounts the cgroup2 hierarchy with favordynmods (Linux 6.0 or later)")
        } else {
            row("cgroup.mode", cgroups.error ?? "no cgroup file system", false, fix: "mount cgroup2 on /sys/fs/cgroup")
        }
        for controller in cgroups.controllers {
            row("cgroup.\(controller.placement.controller)", controller.detail, controller.usable,
                fix: controller.placement.hierarchy == .missing
                    ? "the host offers no \(controller.placement.controller) controller to new groups"
                    : "the lab needs root to create groups under \(controller.placement.mountPoint ?? "/sys/fs/cgroup")/isolab")
        }
        row("libvirt.library", libvirt.libraryVersion.map { "libvirt \($0)" } ?? "libvirt library not loadable",
            libvirt.libraryVersion != nil, fix: "apt-get install libvirt0 (scripts/setup-host does)")
        row("libvirt.daemon",
            libvirt.reachable ? "reachable at \(libvirt.uri) (daemon \(libvirt.daemonVersion ?? "?"))" : (libvirt.error ?? "unreachable"),
            libvirt.reachable, fix: "start virtlogd and libvirtd (scripts/setup-host does), or pass --libvirt-uri")
        let qemuPeer = peers.first { $0.name == "qemu-system-x86_64" }
        row("libvirt.qemu", libvirt.qemuVersion.map { "QEMU \($0) through libvirt" } ?? (qemuPeer?.version ?? "QEMU not found"),
            libvirt.qemuVersion != nil, fix: "apt-get install qemu-system-x86 and start libvirtd (scripts/setup-host does)")
        let tcg = verdict(.tcg)
        row("accel.tcg", tcg.map { ($0.usable ? "usable: " : "unusable: ") + $0.detail + (accelerators.cached ? " (cached)" : "") }
            ?? (accelerators.error ?? "not probed"), tcg?.usable ?? false,
            fix: "install qemu-system-x86 and a guest kernel (scripts/setup-host)")
        let device = accelerators.kvmDevice
        row("kvm.device", device.present ? "/dev/kvm \(device.detail), group \(device.group ?? "?") mode \(device.mode ?? "?")" : device.detail,
            device.present && device.canCreateVM, required: false,
            fix: "optional: enable virtualisation in firmware or nested virtualisation on the host, and load kvm_intel or kvm_amd")
        if device.present {
            let good = device.group == "kvm" && device.mode == "0660"
            row("kvm.permissions", "group \(device.group ?? "?") mode \(device.mode ?? "?")", good, required: false,
                fix: "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (scripts/setup-host does); otherwise libvirt re-probes QEMU on every start")
        }
        let kvm = verdict(.kvm)
        let kvmFound: String
        if let kvm {
            kvmFound = kvm.usable
                ? "usable: \(kvm.detail)" + (accelerators.cached ? " (cached)" : "")
                : (device.present ? "KVM present but unusable (\(kvm.detail))" : "unusable: \(kvm.detail)") + (accelerators.cached ? " (cached)" : "")
        } else {
            kvmFound = accelerators.error ?? "not probed"
        }
        row("accel.kvm", kvmFound, kvm?.usable ?? false, required: false,
            fix: "optional: the lab uses TCG instead (--accel auto); TCG timings are not KVM timings")
        if let qemuAccess {
            // The way QEMU walks, asked as its user: the VM side of the doctor.
            row("guest.qemu_access", qemuAccess.found, qemuAccess.reachable && qemuAccess.closedToOthers != false, fix: qemuAccess.fix)
        }
        if let guestKernel {
            row("guest.kernel", "\(guestKernel.path) (\(guestKernel.version), \(guestKernel.sizeBytes / 1024) KiB)", true)
        } else {
            row("guest.kernel", guestKernelError ?? "not found", false, fix: "run scripts/setup-host to download Debian's cloud kernel")
        }
        for peer in peers {
            let backend = Doctor.peerBackend(peer.name)
            var detail = peer.path.map { "backend \(backend): \($0)" + (peer.version.map { " (\($0))" } ?? "") } ?? "not on PATH"
            // crun refuses a hybrid host whose cgroup2 mount has controllers (libcrun's own check).
            if peer.name == "crun", peer.path != nil, cgroups.mode == .hybrid { detail += "; on this hybrid host crun refuses to start, and a run skips it" }
            row("peer.\(peer.name)", detail, peer.path != nil, required: false,
                fix: "optional: scripts/setup-host --peers installs the peers; scenarios name this one as backend \(backend)")
        }
        checks = rows

        let requiredNamespacesOK = namespaces.filter { DoctorCheckPolicy.requiredNamespaces.contains($0.kind) }.allSatisfy(\.usable)
        let controllersOK = !cgroups.controllers.isEmpty && cgroups.controllers.allSatisfy(\.usable)
        canRunContainers = host.isRoot && requiredNamespacesOK && controllersOK
        canRunVMs = libvirt.reachable && guestKernel != nil && ((tcg?.usable ?? false) || (kvm?.usable ?? false)) && (qemuAccess?.reachable ?? true)
    }
}

enum DoctorCheckPolicy {
    static let requiredNamespaces: Set<NamespaceKind> = [.pid, .mnt, .uts, .ipc, .net, .cgroup]
}
