import Foundation
import LabContainer

/// What a check or a demo reaches of an instance from the host: its first
/// process, its root, its control group. Built from the instance's
/// capabilities, so a kind without one is a visible "not applicable" error
/// in the check's results, never a silent skip.
struct Probed {
    let pid: pid_t
    /// `/proc/PID/root`: the instance's files as the host reaches them.
    let root: String
    let cgroups: any InstanceCgroup

    init(_ instance: any Instance, for purpose: String) throws {
        pid = try instance.require(instance.mainPID, "process of its own on the host", for: purpose)
        root = try instance.require(instance.rootPath, "root the host can reach", for: purpose)
        cgroups = try instance.require(instance.cgroup, "cgroup of the lab's", for: purpose)
    }

    func stats() -> CgroupStats { cgroups.stats() }
    func freeze() throws { try cgroups.freeze() }
    func thaw() throws { try cgroups.thaw() }
}
