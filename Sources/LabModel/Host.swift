/// Facts about the host that every result records.
public struct HostInfo: Codable, Sendable, Equatable {
    public var kernelRelease: String
    public var architecture: String
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryTotalKiB: Int
    public var euid: UInt32
    /// `/proc/sys/kernel/random/boot_id`: one value per booted kernel, the
    /// same in every namespace (there is no boot-id namespace).
    public var bootID: String?
    /// `uname -v`.
    public var kernelVersion: String?

    public var isRoot: Bool { euid == 0 }

    public init(kernelRelease: String, architecture: String, cpuModel: String, cpuCount: Int, memoryTotalKiB: Int, euid: UInt32,
                bootID: String? = nil, kernelVersion: String? = nil) {
        self.kernelRelease = kernelRelease
        self.architecture = architecture
        self.cpuModel = cpuModel
        self.cpuCount = cpuCount
        self.memoryTotalKiB = memoryTotalKiB
        self.euid = euid
        self.bootID = bootID
        self.kernelVersion = kernelVersion
    }
}

/// What a run needs to know about the host's virtualisation and cgroups to
/// read its figures: gathered by LabDoctor's library before the trials, as
/// plain values (no doctor types inside the results).
public struct HostFacts: Codable, Sendable, Equatable {
    /// `v1`, `v2` or `hybrid`.
    public var cgroupMode: String?
    /// Whether a cgroup2 mount has `favordynmods`: on v1 and v2 without it,
    /// moving a task into a cgroup after a quiet spell waits for an RCU grace
    /// period, which shows in a container's start (docs/containers.md).
    public var cgroupFavorDynmods: Bool?
    /// `/dev/kvm`: present, and whether a VM can be created on it.
    public var kvmDevice: String?
    /// Whether a KVM guest reached user space in the doctor's probe (nil: not probed).
    public var kvmUsable: Bool?
    public var libvirtVersion: String?
    public var qemuVersion: String?
    /// Whether the host itself runs under a hypervisor (`hypervisor` in /proc/cpuinfo's flags).
    public var hostIsVirtualized: Bool?

    public init(cgroupMode: String? = nil, cgroupFavorDynmods: Bool? = nil, kvmDevice: String? = nil, kvmUsable: Bool? = nil,
                libvirtVersion: String? = nil, qemuVersion: String? = nil, hostIsVirtualized: Bool? = nil) {
        self.cgroupMode = cgroupMode
        self.cgroupFavorDynmods = cgroupFavorDynmods
        self.kvmDevice = kvmDevice
        self.kvmUsable = kvmUsable
        self.libvirtVersion = libvirtVersion
        self.qemuVersion = qemuVersion
        self.hostIsVirtualized = hostIsVirtualized
    }
}
