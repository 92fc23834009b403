import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// Where one controller the lab needs lives on this host.
public struct CgroupPlacement: Codable, Sendable, Equatable {
    public enum Hierarchy: String, Codable, Sendable {
        case v1, v2, missing
    }
    public var controller: String
    public var hierarchy: Hierarchy
    /// The directory under which the lab makes `isolab/<id>` for it.
    public var mountPoint: String?
    /// The file a new group must show for the controller to be usable.
    public var controlFile: String?
}

/// Whether a new group can use a controller, found by making one.
public struct ControllerStatus: Codable, Sendable, Equatable {
    public var placement: CgroupPlacement
    public var usable: Bool
    public var detail: String
}

extension CgroupLayout {
    /// The controllers the lab limits, accounts and controls with.
    public static let labControllers = ["memory", "cpu", "cpuacct", "pids", "freezer"]

    /// Where a controller lives: its own v1 hierarchy where one is mounted
    /// (v1 and hybrid hosts), else the cgroup2 hierarchy when that offers it.
    /// On cgroup2, `cpuacct` is the core `cpu.stat` and `freezer` the core
    /// `cgroup.freeze`: neither needs a controller.
    /// `unifiedControllers` is the content of the cgroup2 root's `cgroup.controllers`.
    public func placement(of controller: String, unifiedControllers: [String]) -> CgroupPlacement {
        if let mountPoint = v1MountPoint(of: controller) {
            let file = [
                "memory": "memory.limit_in_bytes", "cpu": "cpu.cfs_quota_us", "cpuacct": "cpuacct.usage",
                "pids": "pids.max", "freezer": "freezer.state",
            ][controller]
            return CgroupPlacement(controller: controller, hierarchy: .v1, mountPoint: mountPoint, controlFile: file)
        }
        if let unified = unifiedMount {
            switch controller {
            case "cpuacct":
                return CgroupPlacement(controller: controller, hierarchy: .v2, mountPoint: unified, controlFile: "cpu.stat")
            case "freezer":
                return CgroupPlacement(controller: controller, hierarchy: .v2, mountPoint: unified, controlFile: "cgroup.freeze")
            default:
                if unifiedControllers.contains(controller) {
                    let file = ["memory": "memory.max", "cpu": "cpu.max", "pids": "pids.max"][controller]
                    return CgroupPlacement(controller: controller, hierarchy: .v2, mountPoint: unified, controlFile: file)
                }
            }
        }
        return CgroupPlacement(controller: controller, hierarchy: .missing, mountPoint: nil, controlFile: nil)
    }

    /// The controllers listed in the cgroup2 root's `cgroup.controllers`.
    public func unifiedControllers() -> [String] {
        guard let unified = unifiedMount,
              let text = FileSystem.readTextIfPresent(unified + "/cgroup.controllers") else { return [] }
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    /// Tries each lab controller for real: makes `isolab/<group>` under its
    /// hierarchy, checks that the controller's file appears, removes the group.
    public func probeControllers(group: String) -> [ControllerStatus] {
        let available = unifiedControllers()
        return Self.labControllers.map { controller in
            let placement = placement(of: controller, unifiedControllers: available)
            guard let mountPoint = placement.mountPoint, let file = placement.controlFile else {
                let fix = mode == .v2
                    ? "not in \(unifiedMount ?? "/sys/fs/cgroup")/cgroup.controllers; enable it in the parent's cgroup.subtree_control"
                    : "mount it: mount -t cgroup -o \(controller) cgroup /sys/fs/cgroup/\(controller)"
                return ControllerStatus(placement: placement, usable: false, detail: "missing: \(fix)")
            }
            do {
                let parent = mountPoint + "/isolab"
                try FileSystem.createDirectory(parent, mode: 0o755, parents: 0o755)
                if placement.hierarchy == .v2, let name = v2ControllerName(controller) {
                    try enable(name, in: mountPoint)
                    try enable(name, in: parent)
                }
                let child = parent + "/" + group
                guard mkdir(child, 0o755) == 0 else { throw LabError.syscall("create cgroup \(child)") }
                let present = FileSystem.exists(child + "/" + file)
                guard rmdir(child) == 0 else { throw LabError.syscall("remove cgroup \(child)") }
                return ControllerStatus(
                    placement: placement, usable: present,
                    detail: present ? "\(placement.hierarchy.rawValue) at \(mountPoint)" : "a new group under \(parent) has no \(file)")
            } catch {
                return ControllerStatus(placement: placement, usable: false, detail: "\(error)")
            }
        }
    }

    private func v2ControllerName(_ controller: String) -> String? {
        ["memory": "memory", "cpu": "cpu", "pids": "pids"][controller]
    }

    /// Adds `+controller` to a group's `cgroup.subtree_control` unless present.
    func enable(_ controller: String, in group: String) throws {
        let path = group + "/cgroup.subtree_control"
        let current = FileSystem.readTextIfPresent(path) ?? ""
        if current.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(controller)) { return }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        try FileSystem.writeAll(fd, Array("+\(controller)".utf8), path: path)
    }
}
