import Foundation
import LabContainer
import LabCore
import LabModel
import LabVirt

extension Doctor {
    /// What a run records about the host, without the doctor's full checks
    /// (no namespace or cgroup probe): the cgroup mode and `favordynmods`,
    /// and, when the run boots VMs, the KVM verdict and the versions of
    /// libvirt and QEMU.
    public static func hostFacts(vm: Bool, kvm: AcceleratorVerdict? = nil) -> HostFacts {
        var facts = HostFacts()
        if let layout = try? CgroupLayout.detectHost() {
            facts.cgroupMode = layout.mode.rawValue
            facts.cgroupFavorDynmods = layout.favorDynmods
        }
        let device = KVMDeviceStatus.check()
        facts.kvmDevice = device.present ? device.detail : "no /dev/kvm"
        facts.kvmUsable = kvm?.usable
        facts.hostIsVirtualized = (FileSystem.readTextIfPresent("/proc/cpuinfo") ?? "")
            .split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("hypervisor")
        if vm {
            facts.libvirtVersion = LibvirtConnection.libraryVersion
            facts.qemuVersion = HostCommand.which("qemu-system-x86_64").flatMap { HostCommand.version(of: $0) }
        }
        return facts
    }

    /// The accelerator a run or a command uses for `request`: from this
    /// host's probe verdict, probing now (once, cached) when none is cached,
    /// so that the first run on a fresh KVM host measures KVM. `.tcg` probes nothing.
    /// Before that, the way to the guest's files is made (the lab's own
    /// directories) and checked (as QEMU's user, its ancestors too): a guest
    /// QEMU could not open fails here with the doctor's message, before any
    /// trial, not as libvirt's `Permission denied` at the first start.
    public func acceleratorDecision(_ request: AcceleratorRequest, kernel: GuestKernel) throws -> (AcceleratorDecision, AcceleratorVerdict?) {
        try options.paths.secureStateDirectory()
        try QEMUAccess.require(paths: options.paths, kernel: kernel.path)
        guard request != .tcg else { return (try AcceleratorChoice.decide(.tcg, kvm: nil), nil) }
        let qemu = HostCommand.which("qemu-system-x86_64")
        let facts = probeAccelerators(kernel: .success(kernel), qemu: qemu, qemuVersion: qemu.flatMap { HostCommand.version(of: $0) })
        var kvm = facts.verdicts.first { $0.accelerator == .kvm }
        if kvm == nil, !facts.kvmDevice.canCreateVM {
            kvm = AcceleratorVerdict(accelerator: .kvm, usable: false, detail: facts.kvmDevice.detail, seconds: 0, probedAt: "")
        }
        return (try AcceleratorChoice.decide(request, kvm: kvm), kvm)
    }
}
