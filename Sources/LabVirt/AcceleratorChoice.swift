import LabCore

/// What the user asked for: `--accel auto|kvm|tcg`.
public enum AcceleratorRequest: String, Sendable, CaseIterable, Codable {
    case auto, kvm, tcg
}

/// The accelerator a run uses and why: every result records it, since TCG
/// timings are not KVM timings.
public struct AcceleratorDecision: Sendable, Equatable, Codable {
    public var accelerator: Accelerator
    public var reason: String
}

extension AcceleratorProbeKey {
    /// The key of this host's cached verdicts: host kernel, QEMU, libvirt and
    /// guest kernel. `qemuVersion`, when the caller knows it, spares a run of `qemu --version`.
    public static func current(
        kernel: GuestKernel, qemu: String? = HostCommand.which("qemu-system-x86_64"), qemuVersion: String? = nil
    ) -> AcceleratorProbeKey {
        AcceleratorProbeKey(
            hostKernel: HostInfo.current().kernelRelease,
            qemuVersion: qemuVersion ?? qemu.flatMap { HostCommand.version(of: $0) } ?? "unknown",
            libvirtVersion: LibvirtConnection.libraryVersion ?? "unknown",
            guestKernel: "\(kernel.version) \(kernel.sizeBytes)")
    }
}

public enum AcceleratorChoice {
    /// `auto` takes isolab doctor's cached verdict and falls back to TCG;
    /// `kvm` fails at once where KVM is known to be unusable.
    public static func decide(_ request: AcceleratorRequest, kernel: GuestKernel, paths: LabPaths) throws -> AcceleratorDecision {
        let cache = request == .tcg ? nil : AcceleratorCache.load(paths: paths, key: .current(kernel: kernel))
        let kvm = cache?.verdict(.kvm)
        switch request {
        case .tcg:
            return AcceleratorDecision(accelerator: .tcg, reason: "TCG as asked (--accel tcg)")
        case .kvm:
            if let kvm, !kvm.usable {
                throw LabError(.unsupported, "KVM is unusable on this host (isolab doctor: \(kvm.detail)); use --accel tcg or auto")
            }
            let device = KVMDeviceStatus.check()
            guard device.canCreateVM else {
                throw LabError(.unsupported, "KVM is not available: \(device.detail); use --accel tcg or auto")
            }
            return AcceleratorDecision(accelerator: .kvm, reason: kvm == nil ? "KVM as asked (not probed yet: run isolab doctor)" : "KVM as asked")
        case .auto:
            guard let kvm else {
                return AcceleratorDecision(accelerator: .tcg, reason: "TCG: no KVM verdict cached for this host (isolab doctor probes it)")
            }
            return kvm.usable
                ? AcceleratorDecision(accelerator: .kvm, reason: "KVM: isolab doctor booted a guest with it")
                : AcceleratorDecision(accelerator: .tcg, reason: "TCG: KVM present but unusable here (\(kvm.detail))")
        }
    }
}
