import LabCore
import LabModel

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
    /// The accelerator for `request`, given the doctor's KVM verdict for this
    /// host (nil: no probe could run). `auto` takes KVM only where a KVM
    /// guest reached user space; `kvm` fails at once where KVM is unusable.
    public static func decide(_ request: AcceleratorRequest, kvm: AcceleratorVerdict?) throws -> AcceleratorDecision {
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
            return AcceleratorDecision(accelerator: .kvm, reason: kvm == nil ? "KVM as asked (not probed)" : "KVM as asked")
        case .auto:
            guard let kvm else {
                return AcceleratorDecision(accelerator: .tcg, reason: "TCG: KVM could not be probed on this host")
            }
            return kvm.usable
                ? AcceleratorDecision(accelerator: .kvm, reason: "KVM: a probe guest reached user space with it")
                : AcceleratorDecision(accelerator: .tcg, reason: "TCG: KVM present but unusable here (\(kvm.detail))")
        }
    }
}
