import LabContainer
import LabCore
import LabModel
import LabVirt

/// One row of `isolab doctor`: what was found, whether it is usable, and,
/// when it is not, one line on how to fix it.
public struct DoctorCheck: Codable, Sendable, Equatable {
    /// Stable key, `group.item` (`namespace.pid`, `cgroup.memory`, `accel.kvm`).
    public var id: String
    public var found: String
    public var usable: Bool
    /// Whether the lab needs this; a missing optional item (a peer runtime) does not fail doctor.
    public var required: Bool
    public var fix: String?
}

/// Everything `isolab doctor --json` prints. Keys are stable; see docs/doctor.md.
public struct DoctorReport: Codable, Sendable {
    public static let currentSchemaVersion = 1

    public struct Namespace: Codable, Sendable, Equatable {
        public var kind: NamespaceKind
        public var usable: Bool
        public var error: String?
    }

    public struct Cgroups: Codable, Sendable, Equatable {
        public var mode: CgroupMode?
        public var unifiedMount: String?
        /// A hierarchy mounted with `favordynmods` (no RCU grace period per cgroup move).
        public var favorDynmods: Bool?
        public var controllers: [ControllerStatus]
        public var error: String?
    }

    public struct Libvirt: Codable, Sendable, Equatable {
        public var uri: String
        public var libraryVersion: String?
        public var reachable: Bool
        public var daemonVersion: String?
        public var qemuVersion: String?
        public var error: String?
    }

    public struct Accelerators: Codable, Sendable, Equatable {
        public var kvmDevice: KVMDeviceStatus
        public var verdicts: [AcceleratorVerdict]
        /// Whether the verdicts came from the cache rather than a boot just now.
        public var cached: Bool
        public var cacheKey: AcceleratorProbeKey?
        /// Why no probe ran, when none did.
        public var error: String?
    }

    public struct Peer: Codable, Sendable, Equatable {
        public var name: String
        public var path: String?
        public var version: String?
    }

    public var schemaVersion: Int
    public var labVersion: String
    public var generatedAt: String
    public var host: HostInfo
    public var capabilities: [String]
    public var namespaces: [Namespace]
    public var cgroups: Cgroups
    public var libvirt: Libvirt
    public var accelerators: Accelerators
    public var guestKernel: GuestKernel?
    public var guestKernelError: String?
    public var peers: [Peer]
    /// Whether QEMU's user reaches the lab's guest files (nil in a report of an older lab).
    public var qemuAccess: QEMUAccess.Report?
    public var canRunContainers: Bool
    public var canRunVMs: Bool
    public var checks: [DoctorCheck]

    /// 0 when the lab can run containers and at least one kind of VM.
    public var exitStatus: Int32 { canRunContainers && canRunVMs ? 0 : 1 }

    /// The accelerator verdict for `accelerator`, if probed.
    public func verdict(_ accelerator: Accelerator) -> AcceleratorVerdict? {
        accelerators.verdicts.first { $0.accelerator == accelerator }
    }
}
