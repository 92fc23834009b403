/// How QEMU executes guest code. Compared as a value everywhere: a TCG
/// figure is never a KVM figure.
public enum Accelerator: String, Codable, Sendable, CaseIterable {
    /// Hardware virtualisation through /dev/kvm.
    case kvm
    /// QEMU's software emulation (the Tiny Code Generator): slower, always there.
    case tcg

    /// `KVM`, `TCG`: as results and reports name it.
    public var label: String { rawValue.uppercased() }
}

/// What the user asked for: `--accel auto|kvm|tcg`.
public enum AcceleratorRequest: String, Sendable, CaseIterable, Codable {
    case auto, kvm, tcg
}

/// The accelerator a run uses and why: every result records it, since TCG
/// timings are not KVM timings.
public struct AcceleratorDecision: Sendable, Equatable, Codable {
    public var accelerator: Accelerator
    public var reason: String

    public init(accelerator: Accelerator, reason: String) {
        self.accelerator = accelerator
        self.reason = reason
    }
}

/// QEMU's machine type for a guest.
public enum MachineType: String, Sendable, CaseIterable, Codable {
    case pc, q35, microvm
}

/// The kernel the lab boots its VMs with (Debian's cloud kernel, extracted
/// by `scripts/setup-host`); LabVirt finds it.
public struct GuestKernel: Codable, Sendable, Equatable {
    public var path: String
    public var version: String
    public var sizeBytes: Int

    public init(path: String, version: String, sizeBytes: Int) {
        self.path = path
        self.version = version
        self.sizeBytes = sizeBytes
    }
}
