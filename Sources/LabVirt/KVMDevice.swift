import CLabHost
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// What `/dev/kvm` says about itself, without booting anything.
public struct KVMDeviceStatus: Codable, Sendable, Equatable {
    public var present: Bool
    /// `KVM_GET_API_VERSION` (12 on every current kernel), when it could be read.
    public var apiVersion: Int?
    /// Whether `KVM_CREATE_VM` succeeded. Necessary, not sufficient: see `AcceleratorProbe`.
    public var canCreateVM: Bool
    /// Group and mode; libvirt re-probes QEMU on every start unless it is group kvm, 0660.
    public var group: String?
    public var mode: String?
    public var detail: String

    public static func check(device: String = "/dev/kvm") -> KVMDeviceStatus {
        var st = stat()
        guard stat(device, &st) == 0 else {
            return KVMDeviceStatus(present: false, apiVersion: nil, canCreateVM: false, group: nil, mode: nil,
                                   detail: "\(device) not found: no hardware virtualisation here")
        }
        let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } ?? String(st.st_gid)
        let mode = String(st.st_mode & 0o7777, radix: 8)
        var api: Int32 = -1
        var step: Int32 = 0
        let err = lab_kvm_check(&api, &step)
        let steps = [1: "open \(device)", 2: "KVM_GET_API_VERSION", 3: "KVM_CREATE_VM"]
        return KVMDeviceStatus(
            present: true, apiVersion: api >= 0 ? Int(api) : nil, canCreateVM: err == 0, group: group, mode: "0" + mode,
            detail: err == 0 ? "API \(api), KVM_CREATE_VM ok" : "\(steps[Int(step)] ?? "check"): \(Errno.describe(err))")
    }
}
