import Foundation
import LabCore
import LabImage
import LabModel

/// Whether an accelerator can boot a guest to user space on this host.
public struct AcceleratorVerdict: Codable, Sendable, Equatable {
    public var accelerator: Accelerator
    public var usable: Bool
    /// One line: what happened.
    public var detail: String
    /// Seconds from QEMU's start to the guest's marker (or to the give-up).
    public var seconds: Double
    /// When the probe ran (ISO 8601, UTC).
    public var probedAt: String

    public init(accelerator: Accelerator, usable: Bool, detail: String, seconds: Double, probedAt: String) {
        self.accelerator = accelerator
        self.usable = usable
        self.detail = detail
        self.seconds = seconds
        self.probedAt = probedAt
    }
}

/// What a cached verdict depends on: a change of any of these probes again.
public struct AcceleratorProbeKey: Codable, Sendable, Equatable {
    public var hostKernel: String
    public var qemuVersion: String
    public var libvirtVersion: String
    public var guestKernel: String

    public init(hostKernel: String, qemuVersion: String, libvirtVersion: String, guestKernel: String) {
        self.hostKernel = hostKernel
        self.qemuVersion = qemuVersion
        self.libvirtVersion = libvirtVersion
        self.guestKernel = guestKernel
    }
}

/// Boots a minimal guest (busybox initramfs whose /init prints a marker and
/// powers off) with each accelerator, under a time limit. This is the only
/// way to know that KVM works: on a host that is itself a VM, `/dev/kvm` can
/// open and `KVM_CREATE_VM` can succeed while a guest hangs once its kernel
/// starts. The probe runs QEMU directly rather than through libvirt, so that
/// its verdict does not depend on the daemon being up; the VMs libvirt starts
/// run the same QEMU binary with the same accelerator.
public struct AcceleratorProbe: Sendable {
    public static let marker = "ISOLAB-PROBE-USERSPACE"

    public var qemu: String
    public var kernel: GuestKernel
    public var busybox: String
    public var paths: LabPaths

    public init(qemu: String, kernel: GuestKernel, busybox: String = "/bin/busybox", paths: LabPaths) {
        self.qemu = qemu
        self.kernel = kernel
        self.busybox = busybox
        self.paths = paths
    }

    /// The probe's initramfs: busybox and an /init script that prints the marker.
    public func initramfs() throws -> [UInt8] {
        let busyboxBytes = try FileSystem.readBytes(busybox)
        var writer = CpioWriter()
        try writer.appendDirectory("bin")
        try writer.appendDirectory("dev")
        try writer.appendDirectory("proc")
        try writer.appendFile("bin/busybox", mode: 0o755, contents: busyboxBytes)
        let script = "#!/bin/busybox sh\n/bin/busybox echo \(Self.marker)\n/bin/busybox poweroff -f\n"
        try writer.appendFile("init", mode: 0o755, contents: Array(script.utf8))
        writer.finish()
        return writer.bytes
    }

    /// Boots the probe guest with `accelerator`, giving up after `timeout` seconds.
    public func run(_ accelerator: Accelerator, timeout: Double) throws -> AcceleratorVerdict {
        try paths.ensure(.run)
        let image = paths.run + "/accel-probe-\(getpid()).cpio"
        try FileSystem.writeAtomically(image, bytes: try initramfs())
        defer { unlink(image) }
        let arguments = [
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-machine", "pc", "-accel", accelerator.rawValue, "-m", "128",
            "-kernel", kernel.path, "-initrd", image, "-append", "console=ttyS0 quiet panic=-1",
        ]
        let start = MonotonicClock.now()
        let output = try HostCommand.run(qemu, arguments, timeout: timeout, until: Self.marker)
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        let now = ISO8601DateFormatter().string(from: Date())
        if output.stdout.contains(Self.marker) {
            return AcceleratorVerdict(
                accelerator: accelerator, usable: true,
                detail: String(format: "guest reached user space in %.1f s", seconds), seconds: seconds, probedAt: now)
        }
        let detail: String
        if output.timedOut {
            detail = "guest did not reach user space in \(Int(timeout)) s"
        } else {
            let reason = output.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(output.status)"
            detail = "QEMU stopped before the guest reached user space: \(reason)"
        }
        return AcceleratorVerdict(accelerator: accelerator, usable: false, detail: detail, seconds: seconds, probedAt: now)
    }
}

/// The probe's verdicts, kept in `<state>/cache/accelerators.json` so that
/// later runs choose an accelerator at once. A different key (host kernel,
/// QEMU, libvirt or guest kernel changed) makes the cache miss.
public struct AcceleratorCache: Codable, Sendable {
    public var key: AcceleratorProbeKey
    public var verdicts: [AcceleratorVerdict]

    public init(key: AcceleratorProbeKey, verdicts: [AcceleratorVerdict]) {
        self.key = key
        self.verdicts = verdicts
    }

    public static func path(_ paths: LabPaths) -> String { paths.cache + "/accelerators.json" }

    /// The cached verdicts for `key`, or nil when there are none or they are stale.
    public static func load(paths: LabPaths, key: AcceleratorProbeKey) -> AcceleratorCache? {
        guard let bytes = try? FileSystem.readBytes(path(paths)),
              let cache = try? JSONDecoder().decode(AcceleratorCache.self, from: Data(bytes)),
              cache.key == key else { return nil }
        return cache
    }

    public func store(paths: LabPaths) throws {
        try paths.ensure(.cache)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileSystem.writeAtomically(Self.path(paths), bytes: Array(try encoder.encode(self)) + [10])
    }

    /// Runs `body` holding an exclusive lock on the cache, so that lab
    /// processes started together boot one probe, not one each.
    public static func withProbeLock<T>(paths: LabPaths, _ body: () throws -> T) throws -> T {
        try paths.ensure(.cache)
        let lock = try FileLock.acquire(paths.cache + "/accelerators.lock", purpose: "accelerator probe", wait: true)
        defer { lock?.release() }
        return try body()
    }

    /// The verdict for one accelerator.
    public func verdict(_ accelerator: Accelerator) -> AcceleratorVerdict? {
        verdicts.first { $0.accelerator == accelerator }
    }
}
